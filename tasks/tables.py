"""The paper's tables as specs: which result rows fill which cell, which rows are floors, which orderings to check.

A table is a list of rows and a list of columns; each carries part of the key of our result rows
(``method``, ``setting``, ``metric``) and part of the key of the paper's cell (``paper_numbers.csv``'s
``row`` and ``column``). A cell is the union of its row's and its column's keys. Floors and controls
(training-free methods, untrained networks, supervised training) are marked ``floor=True`` and set apart
under a rule. Orderings are the paper's claims, evaluated from the cells' intervals (see ``verdict``).

Only the standard library and pandas: the report must run without torch.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from tasks.files import INPAINT_MASKS
from tasks.stats import Difference, welch

NAMES_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "repro", "families", "names.py")


def family_names():
    """repro.families.names, what the report calls each model family: the module itself where the torch side has
    imported it, else its file read by path (the standard library alone; importing it by name would run repro's
    __init__, which imports torch)."""
    loaded = sys.modules.get("repro.families.names") or sys.modules.get("tasks._family_names")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("tasks._family_names", NAMES_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up while it is built
    spec.loader.exec_module(module)
    return module


NAMES = family_names()
MG, SG, CD1, PCD, DCGAN = NAMES.MULTIGRID, NAMES.SINGLEGRID, NAMES.CD1, NAMES.PCD, NAMES.DCGAN

# Student-t 0.975 quantiles for 1..30 degrees of freedom (mathematical constants); beyond 30 the
# Cornish-Fisher expansion around the normal quantile Z95 is exact to 1e-4.
Z95 = 1.959964
T95 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
       2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
       2.0518, 2.0484, 2.0452, 2.0423)


def t95(df: int) -> float:
    """0.975 quantile of Student's t with df degrees of freedom: the half-width of a 95% interval built from a
    mean and an sd of df + 1 values is t95(df)·sd/√(df + 1). With 2 values it is 12.71, not the normal 1.96."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df ≥ 1), got df={df}")
    if df <= len(T95):
        return T95[df - 1]
    z = Z95
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


@dataclass(frozen=True)
class Axis:
    """One row or column: its label, its share of our row key, its share of the paper's cell key."""
    label: str
    keys: tuple[tuple[str, str], ...]  # (("method", "multigrid"), ...)
    paper: str | None = None  # paper_numbers.csv row (for rows) or column (for columns)
    floor: bool = False       # a floor or control, set apart under a rule


@dataclass(frozen=True)
class Stat:
    """A summarised cell: value, 95% interval (None when there is none), count, spread."""
    value: float
    low: float | None = None
    high: float | None = None
    n: int = 1
    sd: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None and not math.isnan(self.low)


@dataclass(frozen=True)
class Claim:
    """One of the paper's orderings: a OP b, OP in '<', '>', '≈'; `where` names the column it is checked in."""
    a: Axis
    op: str
    b: Axis
    where: Axis


@dataclass(frozen=True)
class TableSpec:
    key: str              # table name in paper_numbers.csv
    title: str
    experiment: str       # our rows: results with this experiment
    metrics: tuple[str, ...]  # metrics the block shows
    paper_dataset: str
    rules: str            # reading rules, stated once above the blocks
    layout: Callable[[pd.DataFrame], tuple[list[Axis], list[Axis]]]  # block rows → (rows, columns)
    claims: Callable[[list[Axis], list[Axis]], list[Claim]] = lambda rows, cols: []
    paper_cell: Callable[[Axis, Axis], tuple[str | None, str | None]] = lambda r, c: (r.paper, c.paper)
    stat: Callable[[pd.DataFrame, dict], Stat | None] | None = None  # default: summarise(match(...))
    fmt: Callable[[float], str] = field(default=lambda v: fmt_short(v))
    floors_as_columns: bool = False


# ----------------------------------------------------------------------------- summaries

def match(rows: pd.DataFrame, keys: dict) -> pd.DataFrame:
    m = pd.Series(True, index=rows.index)
    for k, v in keys.items():
        m &= rows[k] == v
    return rows[m]


def half_width(sd: float, n: int) -> float:
    """Half-width t95(n−1)·sd/√n of the 95% t interval of a mean of n ≥ 2 values."""
    return t95(n - 1) * sd / math.sqrt(n)


def mean_interval(v: pd.Series) -> Stat:
    """Mean, sd and the t interval of n ≥ 2 values."""
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    half = half_width(sd, len(v))
    return Stat(mean, mean - half, mean + half, len(v), sd)


def pooled_interval(v: pd.Series, halves: pd.Series) -> Stat:
    """Mean of n ≥ 2 runs' values v, each a mean over the same test images with an interval of half-width
    `halves` over them: the half-width adds the t interval over the runs and the runs' mean image half-width
    in quadrature, √(h_runs² + h_images²), since a new seed and a new draw of test images each move the mean.
    Two runs that happen to agree thus keep at least the test images' interval."""
    spread = mean_interval(v)
    half = math.hypot(spread.value - spread.low, float(halves.mean()))
    return Stat(spread.value, spread.value - half, spread.value + half, len(v), spread.sd)


def summarise(rows: pd.DataFrame) -> Stat | None:
    """Several rows (seeds, label draws): mean_interval; one row: its value and interval. Several rows that
    each carry an interval of their own (training seeds of a task whose rows are means over test images, with
    a bootstrap interval over them) are pooled by pooled_interval."""
    v = rows.value.astype(float).dropna()
    if v.empty:  # no row: not run; rows whose values are not numbers: shown as nan, never as "not run"
        return Stat(float("nan")) if len(rows) else None
    own = rows.loc[v.index, ["ci_low", "ci_high"]].apply(pd.to_numeric, errors="coerce") if "ci_low" in rows else None
    if len(v) > 1 and own is not None and own.notna().all(axis=None):
        return pooled_interval(v, (own.ci_high - own.ci_low) / 2)
    if len(v) > 1:
        return mean_interval(v)
    r = rows.loc[v.index[0]]
    low, high = (float(r.ci_low), float(r.ci_high)) if pd.notna(r.ci_low) and pd.notna(r.ci_high) else (None, None)
    return Stat(float(r.value), low, high, 1)


# The range each metric's true value lies in. A t interval over two or three values can reach past it (an error
# rate of 14.44 [-13.79, 42.68]); cut to the range it keeps its coverage exactly, since the true value is inside the
# range: whenever the interval covers it, the cut interval does too.
METRIC_RANGE = {"test_error": (0.0, 100.0), "mae_masked": (0.0, None), "mae_whole": (0.0, None),
                "rmse_masked": (0.0, None), "missing_fraction": (0.0, 1.0), "recon_error": (0.0, None)}


def within_range(s: Stat | None, metric: str) -> Stat | None:
    """s with its interval cut to the metric's range (METRIC_RANGE); unchanged for a metric without one."""
    low_bound, high_bound = METRIC_RANGE.get(metric, (None, None))
    if s is None or not s.has_interval:
        return s
    low = s.low if low_bound is None else max(s.low, low_bound)
    high = s.high if high_bound is None else min(s.high, high_bound)
    return dataclasses.replace(s, low=low, high=high)


def cell_stat(spec: TableSpec, rows: pd.DataFrame, keys: dict) -> Stat | None:
    if spec.stat:
        return spec.stat(rows, keys)
    return within_range(summarise(match(rows, keys)), keys.get("metric", ""))


def cell_keys(row: Axis, col: Axis) -> dict:
    return {**dict(row.keys), **dict(col.keys)}


def verdict(op: str, a: Stat | None, b: Stat | None) -> str:
    """'<' / '>': holds when the intervals separate in the claimed direction, does not hold when they separate
    the other way, cannot tell when they overlap. '≈': holds when they overlap, does not hold when apart.
    Cells without an interval are compared as points."""
    if a is None or b is None:
        return "not run"
    lo = lambda s: s.low if s.has_interval else s.value  # noqa: E731
    hi = lambda s: s.high if s.has_interval else s.value  # noqa: E731
    below, above = hi(a) < lo(b), lo(a) > hi(b)
    if op == "≈":
        return "does not hold" if below or above else "holds"
    if op == ">":
        below, above = above, below
    return "holds" if below else "does not hold" if above else "cannot tell"


# a classification row's seed is SEED_STRIDE × training seed + label draw (tasks.svhn_protocol.row_seed)
SEED_STRIDE = 1_000_000
# Controls whose value depends on a seed (an initialisation, a supervised training run): compared run by run, like
# learned methods. Every other floor trains nothing and draws nothing: a fixed value.
SEEDED_CONTROLS = {"untrained", "supervised"}


def unit_means(rows: pd.DataFrame) -> dict[str, float]:
    """{training unit: mean of its rows}. The unit of an ordering is the training run: a row's run folder; a row
    without one counts by its training seed (seed // SEED_STRIDE), so that a control with seeds (the untrained
    network's initialisations, the supervised baseline) is compared run by run, and a floor that trains nothing
    (raw pixels, biharmonic) is one unit whatever its label draws or masks. The label draws and test images
    inside a unit only make that unit's own mean."""
    if rows.empty:
        return {}
    seeds = "seed" + (pd.to_numeric(rows.seed, errors="coerce").fillna(0).astype("int64") // SEED_STRIDE).astype(str)
    unit = seeds
    if "run" in rows:
        named = rows.run.notna() & rows.run.astype(str).str.strip().ne("")
        unit = rows.run.astype(str).where(named, seeds)
    return {str(k): float(v) for k, v in rows.value.astype(float).groupby(unit).mean().items()}


MIN_RUNS = 3  # training runs each learned side of an ordering needs before it is called either way
ALPHA = 0.05  # the chance of any false "holds" or "does not hold" in one block's orderings (Holm over the block)


def run_test(a: list[float], b: list[float], *, a_fixed: bool = False, b_fixed: bool = False,
             extra_se: float = 0.0, extra_df: float = math.inf) -> Difference | str | None:
    """mean(a) − mean(b) over training units (a, b: one mean per training run), as a Welch test (tasks.stats.welch).

    A fixed side (a floor that trains nothing: one value, no seed to vary) against learned runs: the one-sample t of
    the runs about it. extra_se, extra_df: a standard error added in quadrature and its degrees of freedom (the test
    images', for rows that are means over test images; tasks.stats.welch). Returns why there is no test where a
    learned side has fewer than MIN_RUNS runs ("too few runs: 2 runs vs 1 run, 3 a side needed"): two runs that
    happen to agree say nothing of how far a third would move; None for two floors (compare those by their cells'
    intervals)."""
    if a_fixed and b_fixed:
        return None
    short = [n for n, fixed in ((len(a), a_fixed), (len(b), b_fixed)) if not fixed and n < MIN_RUNS]
    if short:
        return f"too few runs: {runs_label(a, a_fixed)} vs {runs_label(b, b_fixed)}, {MIN_RUNS} a side needed"
    if a_fixed:
        t = welch(b, a, b_fixed=True, extra_se=extra_se, extra_df=extra_df)
        return Difference(-t.diff, t.se, t.df, t.p)
    return welch(a, b, b_fixed=b_fixed, extra_se=extra_se, extra_df=extra_df)


def runs_label(values: list[float], fixed: bool) -> str:
    return "a floor" if fixed else f"{len(values)} run{'s' if len(values) != 1 else ''}"


# ----------------------------------------------------------------------------- shared pieces

def fmt_short(v: float) -> str:
    """3 significant digits; large numbers as 5.02e5, never as 5.02e+05."""
    if abs(v) >= 1e4:
        mant, exp = f"{v:.2e}".split("e")
        return f"{mant}e{int(exp)}"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt_error(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


def settings_of(rows: pd.DataFrame, metrics) -> list[str]:
    return sorted(set(rows[rows.metric.isin(metrics)].setting))


def ax(label, paper=None, floor=False, **keys) -> Axis:
    return Axis(label, tuple(keys.items()), paper, floor)


def with_paper_order(found: list[str], paper_order: list[str]) -> list[str]:
    """The paper's entries (all of them: a missing one reads "not run"), then the run's others."""
    return list(paper_order) + [s for s in found if s not in paper_order]


# ----------------------------------------------------------------------------- inpainting (CVPR Table 4)

MASKS = list(INPAINT_MASKS)
INPAINT_FLOORS = [("observed mean", "observed_mean"), ("mean face", "mean_face"), ("biharmonic", "biharmonic"),
                  ("multi-grid start", "multigrid_start")]
FLOOR_LONG_NAMES = {"multigrid_start": "its start (no model)"}  # a floor as an ordering names it (else its label)
INPAINT_METRICS = {"error": "mae_masked", "PSNR": "psnr11_masked"}  # the paper's row → our metric


def inpaint_methods(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, method) of the learned columns: CVPR Table 4's, in its order (repro/families/names.py), then any
    other learned method of the rows under its own name (a family the names table does not place: a new family's
    rows have a column without any change here). Floors and the families' variants are no columns."""
    paper = NAMES.table4_columns()
    known = {m for _, m in paper} | {v.label for v in NAMES.variants()} | {m for _, m in INPAINT_FLOORS}
    mine = rows[rows.metric.isin(INPAINT_METRICS.values()) & ~rows.setting.str.contains("|", regex=False)]
    return paper + [(NAMES.long_name(m), m) for m in sorted(set(mine.method) - known)]


def inpaint_layout(rows: pd.DataFrame):
    masks = with_paper_order([s for s in settings_of(rows, INPAINT_METRICS.values()) if "|" not in s], MASKS)
    rws = [ax(f"{name} · {mask}", paper=f"{name.lower()}|{mask}", metric=metric, setting=mask)
           for name, metric in INPAINT_METRICS.items() for mask in masks]
    cols = [ax(lab, paper=lab if m in NAMES.NAMES else None, method=m) for lab, m in inpaint_methods(rows)]
    cols += [ax(lab, floor=True, method=m) for lab, m in INPAINT_FLOORS]
    return rws, cols


def inpaint_paper_cell(r: Axis, c: Axis):
    if c.paper is None:
        return None, None
    metric, mask = r.paper.split("|")
    return metric, f"{mask}_{c.paper}"


def inpaint_claims(rws, cols):
    """The paper's orderings under each mask: its method below each rival (repro/families/names.py: Names.rival) and
    the biharmonic floor (on the square). Ours: below the chains' own start; below the other schemes started from
    its start; below each rival's variants (trained from the fill, the ContextEncoder as their code trains and
    tests it); below itself trained from the fill (the start it is tested from), which says whether the training
    start, the whole true image's 1×1 mean or the observed one, moves the error."""
    long = lambda m, label: NAMES.long_name(m, FLOOR_LONG_NAMES.get(m, label))  # noqa: E731
    col = {dict(c.keys)["method"]: Axis(long(dict(c.keys)["method"], c.label), c.keys, floor=c.floor) for c in cols}
    ours, rivals = col.get(NAMES.PAPER_METHOD), NAMES.rivals()
    out = []
    for r in rws:
        if dict(r.keys)["metric"] != "mae_masked" or ours is None:
            continue
        others = rivals + (["biharmonic"] if "square" in r.label else [])
        others += ["multigrid_start"]  # ours: what the learned steps add to the chain's own start
        out += [Claim(ours, "<", col[m], r) for m in others if m in col]
        # ours: learning against learning. The other schemes from multi-grid's own start (the test-time
        # procedure start=multigrid), and the variants trained from the masked image's fill (--cond-start fill)
        mask = dict(r.keys)["setting"]
        out += [Claim(ours, "<", Axis(f"{NAMES.long_name(m)} from the multi-grid start",
                                      (("method", m), ("setting", f"{mask}|start=multigrid"))), r)
                for m in rivals if NAMES.NAMES[m].scheme]
        out += [Claim(ours, "<", Axis(v.long, (("method", v.label),)), r) for m in rivals
                for v in NAMES.NAMES[m].variants]
        # ours against itself trained from the fill (as it is tested): does the training start move the error?
        out += [Claim(ours, "<", Axis(v.long, (("method", v.label),)), r)
                for v in NAMES.NAMES[NAMES.PAPER_METHOD].variants]
    return out


# ----------------------------------------------------------------------------- SVHN (CVPR Tables 2 and 3)

PAPER_LABELS = [1000, 2000, 4000]


def label_columns(rows: pd.DataFrame) -> list[Axis]:
    counts = sorted({int(m.group(1)) for s in settings_of(rows, ["test_error"])
                     if (m := re.fullmatch(r"labels=(\d+)", s))}) or PAPER_LABELS
    return [ax(f"{n} labels", paper=f"error_{n}", setting=f"labels={n}", metric="test_error") for n in counts]


SVHN_ROWS = {
    "svhn_l2svm": [("persistent CD", PCD), ("one-step CD", CD1), ("Wasserstein GAN", None),
                   ("deep directed generative models", None), ("DCGAN", DCGAN), ("single-grid", SG),
                   ("multi-grid", MG)],
    "svhn_cnn": [("DGN", None), ("Virtual Adversarial", None), ("Auxiliary Deep Generative Model", None),
                 ("DCGAN+L2-SVM", None), ("persistent CD", PCD), ("one-step CD", CD1),
                 ("single-grid CD", SG), ("multi-grid + CNN classifier", MG)],
}
SVHN_FLOORS = {"svhn_l2svm": [("untrained network", "untrained", None), ("raw pixels", "raw_pixels", None)],
               "svhn_cnn": [("supervised CNN same structure", "supervised", "supervised CNN same structure"),
                            ("untrained network", "untrained", None), ("raw pixels", "raw_pixels", None)]}


def svhn_layout(table: str):
    def layout(rows: pd.DataFrame):
        rws = [ax(lab, paper=lab, method=m or "") for lab, m in SVHN_ROWS[table]]
        rws += [ax(lab, paper=p, floor=True, method=m) for lab, m, p in SVHN_FLOORS[table]]
        return rws, label_columns(rows)
    return layout


def svhn_claims(rws, cols):
    """The paper's orderings: multi-grid below every other scheme (and DCGAN, in the L2-SVM table), single-grid
    below CD1 and PCD; learned features below the untrained network below raw pixels."""
    row = {dict(r.keys)["method"]: r for r in rws}
    pairs = [(MG, "<", SG), (MG, "<", CD1), (MG, "<", PCD), (MG, "<", DCGAN), (SG, "<", CD1), (SG, "<", PCD),
             (MG, "<", "untrained"), ("untrained", "<", "raw_pixels")]
    return [Claim(row[a], op, row[b], c) for c in cols for a, op, b in pairs if a in row and b in row]


# ----------------------------------------------------------------------------- score diagnostics (arXiv Table 1)

SETS = ["training", "testing", "synthesized", "negative"]


def recorded_sets(found: list[str], paper_sets: list[str]) -> list[tuple[str, str]]:
    """(the paper's set, the setting this run recorded it under) for each of the paper's sets, then (s, s) for the
    run's other settings. A set recorded only with options of its own ("negative|negatives=imagefolder": other
    images than the default negatives) stands in the paper's row, under its own key."""
    out = []
    for s in paper_sets:
        variants = [f for f in found if f.startswith(s + "|")]
        out.append((s, variants[0] if s not in found and len(variants) == 1 else s))
    used = {v for _, v in out}
    return out + [(f, f) for f in found if f not in used]


def set_label(setting: str) -> str:
    """A setting as a row label: "negative|negatives=imagefolder" → "negative (negatives=imagefolder)"."""
    base, _, rest = setting.partition("|")
    return base + (f" ({rest.replace('|', ', ')})" if rest else "")


def score_layout(rows: pd.DataFrame):
    sets = recorded_sets(settings_of(rows, rows.metric.unique()), SETS)
    trained = sorted(set(rows.method) - {"untrained"}) or [MG]
    grids = sorted({int(m.group(1)) for s in rows.metric if (m := re.fullmatch(r"grid(\d+)_mean", s))}) or [1, 2, 3]
    rws = [ax(set_label(s) if len(trained) == 1 else f"{set_label(s)} ({t})", paper=p, method=t, setting=s)
           for t in trained for p, s in sets]
    rws += [ax(f"untrained · {set_label(s)}", floor=True, method="untrained", setting=s) for _, s in sets]
    cols = [ax(f"grid {g}", paper=f"grid{g}_mean", metric=f"grid{g}_mean") for g in grids]
    return rws, cols


def score_stat(rows: pd.DataFrame, keys: dict) -> Stat | None:
    """Mean of f over the images, sd over the images, interval mean ± t95(images−1)·sd/√(images)."""
    mean = match(rows, keys)
    sd = match(rows, {**keys, "metric": keys["metric"].replace("_mean", "_std")})
    if mean.empty:
        return None
    r = mean.iloc[0]
    n = int(float(r.n_images)) if str(r.n_images).strip() else 1
    s = float(sd.value.iloc[0]) if not sd.empty else float("nan")
    half = half_width(s, n) if not math.isnan(s) and n > 1 else None
    low, high = (float(r.value) - half, float(r.value) + half) if half is not None else (None, None)
    return Stat(float(r.value), low, high, n, s)


def score_claims(rws, cols):
    row = {(dict(r.keys)["method"], r.paper or dict(r.keys)["setting"]): r for r in rws}  # by the paper's set
    trained = [m for m, _ in row if m != "untrained"]
    out = []
    for t in dict.fromkeys(trained):
        get = lambda s: row.get((t, s))  # noqa: E731
        pairs = [("training", "≈", "testing"), ("testing", "≈", "synthesized"), ("training", "≈", "synthesized"),
                 ("training", ">", "negative"), ("testing", ">", "negative"), ("synthesized", ">", "negative")]
        out += [Claim(get(a), op, get(b), c) for c in cols for a, op, b in pairs if get(a) and get(b)]
    return out


# ----------------------------------------------------------------------------- synthesis

FIDELITY_ROWS = [("real images", "real"), ("DCGAN", DCGAN), ("multi-grid", MG)]


def real_setting(sample_setting: str) -> str:
    """The real images' setting beside samples of `sample_setting`: same Inception size, no noise flag
    ("final_noise=off|inception_size=32" → "training_images|inception_size=32")."""
    rest = sample_setting.partition("|")[2]
    return "training_images" + (f"|{rest}" if rest else "")


def fidelity_layout(rows: pd.DataFrame):
    found = settings_of(rows, ["inception_score", "fid"])
    settings = [s for s in found if not s.startswith("training_images")] or ["final_noise=off|inception_size=32"]
    rws = [ax(lab if len(settings) == 1 else f"{lab} ({s})", paper=lab, method=m,
              setting=real_setting(s) if m == "real" else s)
           for s in settings for lab, m in FIDELITY_ROWS]
    cols = [ax("Inception score", paper="inception_score", metric="inception_score"), ax("FID", metric="fid")]
    return rws, cols


NEAREST_ROWS = [("DCGAN", DCGAN), ("single-grid", SG), ("multi-grid", MG)]


def nearest_layout(rows: pd.DataFrame):
    found = sorted(set(rows.method))
    known = [m for _, m in NEAREST_ROWS]
    rws = [ax(lab, method=m) for lab, m in NEAREST_ROWS] + [ax(m, method=m) for m in found if m not in known]
    cols = [ax("synthesized → nearest training image", setting="nearest_train_synthesized", metric="nn_l2_mean"),
            ax("held-out test → nearest training image", setting="nearest_train_test", metric="nn_l2_mean")]
    return rws, cols


def nearest_claims(rws, cols):
    return [Claim(r_as(r, cols[0]), "≈", r_as(r, cols[1]), r) for r in rws]


def r_as(r: Axis, c: Axis) -> Axis:
    """A row read in one column, as the operand of a claim checked along the row."""
    return Axis(f"{c.label.split(' →')[0]}", r.keys + c.keys)


# ----------------------------------------------------------------------------- CoopNets (ICLR 2017 Table 1)

COOP_MASKS = ["M20", "M30", "M40"]
COOP_METHODS = [("CoopNets", NAMES.COOPNETS, "CoopNets"), ("DCGAN", DCGAN, "DCGAN")]  # label, method, paper column
COOP_FLOORS = [("biharmonic", "biharmonic", "interp-6"), ("MRF ℓ2", "mrf_l2", "MRF-l2"), ("MRF ℓ1", "mrf_l1", "MRF-l1")]


def coop_layout(rows: pd.DataFrame):
    rws = [ax(f"error · {m}", paper=m, metric="mae_masked", setting=m) for m in COOP_MASKS]
    cols = [ax(lab, paper=p, method=m) for lab, m, p in COOP_METHODS]
    cols += [ax(lab, paper=p, floor=True, method=m) for lab, m, p in COOP_FLOORS]
    return rws, cols


def coop_claims(rws, cols):
    """The paper's Table 1: CoopNets below DCGAN and below every classical method, at each mask size."""
    col = {dict(c.keys)["method"]: c for c in cols}
    return [Claim(col[NAMES.COOPNETS], "<", col[m], r) for r in rws for m in (DCGAN, "biharmonic", "mrf_l2", "mrf_l1")]


# ----------------------------------------------------------------------------- generative ConvNet (ICML 2016 §7)

def gcn_synthesis_layout(rows: pd.DataFrame):
    rws = [ax(s.replace(":", " · "), setting=s) for s in settings_of(rows, ["gram_distance"])] or [ax("textures")]
    cols = [ax("generative ConvNet", method=NAMES.GCONVNET, metric="gram_distance"),
            ax("noise (floor)", floor=True, method="noise_floor", metric="gram_distance"),
            ax("real (ceiling)", floor=True, method="ceiling", metric="gram_distance")]
    return rws, cols


def gcn_synthesis_claims(rws, cols):
    """Ours: the model's samples are closer to the training statistics than noise of the same mean and variance."""
    return [Claim(cols[0], "<", cols[1], r) for r in rws if r.keys]


def gcn_autoencode_layout(rows: pd.DataFrame):
    rws = [ax("reconstruction error ‖I − B(I)‖ / ‖I‖", setting="final", metric="recon_error")]
    cols = [ax("one-step CD, learned", method="gconvnet_cd1"), ax("untrained network", floor=True, method="untrained"),
            ax("learned weights shuffled", floor=True, method="shuffled_weights")]
    return rws, cols


def gcn_autoencode_claims(rws, cols):
    """Proposition 3, measured: one-step CD learns to reconstruct: error below the untrained network's (whose weights,
    near 0, reconstruct nothing by construction) and below the same weights shuffled (a control that could fail)."""
    return [Claim(cols[0], "<", cols[1], rws[0]), Claim(cols[0], "<", cols[2], rws[0])]


# ----------------------------------------------------------------------------- the tables

RULE_ORDERINGS = ("Orderings take the training run as the unit: each run's rows (label draws, test images) are "
                  "averaged first, then the difference of the two sides' means is tested over the runs (Welch's t, "
                  "each side's spread from its own runs; against a floor that trains nothing, one-sample t; where "
                  "rows are means over test images, their standard error is added in quadrature). A learned side "
                  "needs at least 3 runs, else \"too few runs\". The block's orderings are judged together (Holm, "
                  "5% chance of any false verdict in the block): an ordering holds when its interval at its "
                  "adjusted level lies on the claimed side of 0, does not hold when it lies on the other, and is "
                  "\"cannot tell\" otherwise.")
RULE_ERRORS = ("Cells: ours [95% interval] · paper value. Inpainting error is the mean absolute error on the "
               "masked (missing) pixels, pixels in [0, 1], averaged over test images (the paper's \"per-pixel "
               "difference\"); PSNR is on the masked pixels under the [−1, 1] convention (add 20·log10 2 ≈ 6.02 dB "
               "for the [0, 1] convention: both are in cells.csv; only the [−1, 1] reading fits the paper's error "
               "and PSNR together, see results/README.md). Intervals: 95% bootstrap over test images. Lower "
               "error and higher PSNR are better. Floors need no learning and see the same masks. " + RULE_ORDERINGS)
RULE_SVHN = ("Cells: test error in % · paper value; ours is the mean over label draws × training seeds, its "
             "interval mean ± t·sd/√n, t the 0.975 quantile of Student's t with n − 1 degrees of freedom (12.71 "
             "at n = 2, 3.18 at n = 4, 2.31 at n = 9). " + RULE_ORDERINGS + " "
             "Where a profile uses other label counts than the paper's, the columns are that profile's and "
             "there is no paper cell. Rows cited from other work are shown with the paper's value only.")
RULE_SCORES = ("Cells: mean of f(Y) over the images ± its sd over the images [mean ± t·sd/√n, Student's t] · "
               "paper mean ± sd. f is computed in batches of the training batch size (batch norm uses batch "
               "statistics). The untrained network (the trained model's initial weights) scores the same images: "
               "gaps between the sets are read against it.")
RULE_FIDELITY = ("Inception score via torch-fidelity (10 splits) with the standard Inception weights; real images "
                 "scored by the same code. A paper value marked (cited) is one the paper cites from other work.")
RULE_COOP = ("Cells: ours [95% interval] · paper value. Error: mean absolute difference on the occluded square, "
             "pixels in [0, 1] (the paper's per-pixel difference relative to the range), averaged over the test "
             "faces; the same masks for every column. CoopNets and DCGAN complete g(X) with X inferred by Langevin "
             "dynamics on the observed pixels. Floors need no learning: biharmonic (beside it the paper's best "
             "interpolation, its method 6), MRF priors with ℓ2 and ℓ1 nearest-neighbour potentials (its methods 1, 2). "
             + RULE_ORDERINGS)
RULE_GCN = ("Not a paper table: the paper shows pictures (figures 1, 2). Cells: relative distance between the Gram "
            "matrix of a fixed random 5×5 conv layer of each synthesized image and the training image's (textures) "
            "or the training images' mean (objects), averaged over the chains [95% bootstrap interval]. Floor: white "
            "noise with the training mean and variance; ceiling: random crops of the training texture, or held-out "
            "images of the category. Lower is closer. " + RULE_ORDERINGS)
RULE_CD1 = ("Not a paper table: the paper shows reconstructions (figure 3). Cell: ‖I − B(I)‖ / ‖I‖ over the training "
            "images (centred), B(I) = σ²∂f/∂I the mean the one-step Langevin chain moves towards (Proposition 3), "
            "after training and under the run's initial weights [95% bootstrap interval]; the curve against the "
            "iteration is in gconvnet_autoencode_curve.csv/.png. " + RULE_ORDERINGS)
RULE_NEAREST = ("Mean pixel L2 distance (pixels in [0, 1]) from each image to its nearest training image [95% "
                "bootstrap interval]. Samples that copy training images would sit much closer than held-out test "
                "images; samples comparable to test images are not copies.")

TABLES = [
    TableSpec("inpainting_celeba", "CVPR Table 4 / arXiv Table 3: inpainting", "inpainting",
              tuple(INPAINT_METRICS.values()), "celeba", RULE_ERRORS, inpaint_layout, inpaint_claims,
              inpaint_paper_cell, fmt=fmt_error, floors_as_columns=True),
    TableSpec("svhn_l2svm", "CVPR Table 2: SVHN test error (%) of an L2-SVM on learned features", "svhn_l2svm",
              ("test_error",), "svhn", RULE_SVHN, svhn_layout("svhn_l2svm"), svhn_claims, fmt=lambda v: f"{v:.2f}"),
    TableSpec("svhn_cnn", "CVPR Table 3 / arXiv Table 2: SVHN test error (%) of a CNN on the grids' top maps",
              "svhn_cnn", ("test_error",), "svhn", RULE_SVHN, svhn_layout("svhn_cnn"), svhn_claims,
              fmt=lambda v: f"{v:.2f}"),
    TableSpec("score_diagnostics_celeba", "arXiv Table 1: f(Y) at each grid", "score_diagnostics",
              tuple(f"grid{g}_{s}" for g in range(1, 10) for s in ("mean", "std")), "celeba", RULE_SCORES,
              score_layout, score_claims, stat=score_stat),
    TableSpec("inception_cifar10", "CVPR Table 1: Inception score", "synthesis", ("inception_score", "fid"),
              "cifar10", RULE_FIDELITY, fidelity_layout, fmt=lambda v: f"{v:.2f}"),
    TableSpec("coopnets_completion", "CoopNets (ICLR 2017) Table 1: face completion", "coopnets", ("mae_masked",),
              "celeba", RULE_COOP, coop_layout, coop_claims, fmt=fmt_error, floors_as_columns=True),
    TableSpec("gconvnet_synthesis", "Generative ConvNet (ICML 2016) §7.1–7.2: texture statistic of synthesized images",
              "gconvnet_synthesis", ("gram_distance",), "", RULE_GCN, gcn_synthesis_layout,
              gcn_synthesis_claims, fmt=lambda v: f"{v:.3f}"),
    TableSpec("gconvnet_autoencode", "Generative ConvNet (ICML 2016) §7.3: one-step CD learns to auto-encode",
              "gconvnet_autoencode", ("recon_error",), "", RULE_CD1, gcn_autoencode_layout,
              gcn_autoencode_claims, fmt=lambda v: f"{v:.3f}"),
    TableSpec("nearest_train", "Figure 4's check: distance to the nearest training image (not a paper table)",
              "synthesis", ("nn_l2_mean",), "celeba", RULE_NEAREST, nearest_layout, nearest_claims,
              fmt=lambda v: f"{v:.2f}"),
]
TABLE_BY_KEY = {t.key: t for t in TABLES}
