"""Assemble a results folder into the paper's tables and figures: ``python -m tasks.report [--results DIR]``.

Reads only the tidy result CSVs (``DIR/*.csv``), the paper's published numbers
(``repro/data/paper_numbers.csv``), the task-written PNG panels in DIR and, for learning curves, the
``log.csv`` of each run folder under ``--runs`` that the result rows name. Writes:

* ``DIR/tables.md``: one block per paper table and per (profile, dataset) that ran, in the paper's shape
  (its rows, its columns), each cell ``ours [95% interval] · paper value``; floors and controls set apart;
  provenance once per block; the paper's orderings checked from the intervals under each block;
* ``DIR/cells.csv``: the same cells in long form, plus every result row no block shows;
* ``DIR/figures/``: bar charts per block, learning curves per run, labeled sample and inpainting panels.

Imports only the standard library, pandas and matplotlib (no torch): it runs in seconds anywhere.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import glob
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass

import pandas as pd

from tasks.files import (OPTIONAL_COLUMNS, PER_IMAGE_COLUMNS, RESULT_COLUMNS, TMP_PREFIX, atomic_write_bytes,
                         check_csv, read_csv_strict, safe_name)
from tasks.stats import Difference, holm
from tasks.tables import (ALPHA, SEEDED_CONTROLS, TABLES, Z95, Axis, Claim, Stat, TableSpec, cell_keys, cell_stat,
                          match, run_test, runs_label, summarise, unit_means, verdict)

BASE_COLUMNS = [c for c in RESULT_COLUMNS if c not in OPTIONAL_COLUMNS]  # what every result CSV has
PAPER_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "repro", "data",
                         "paper_numbers.csv")
DATASET_NAMES = {"celeba": "CelebA", "svhn": "SVHN", "cifar10": "CIFAR-10"}
PROFILE_ORDER = {"paper": 0, "reduced": 1, "smoke": 2}
CELL_COLUMNS = ["table", "profile", "dataset", "row", "column", "floor", "method", "setting", "metric", "value",
                "ci_low", "ci_high", "n", "sd", "paper", "paper_note", "status"]


# ----------------------------------------------------------------------------- inputs

def read_frame(path: str, columns=None, required=()) -> pd.DataFrame:
    """A CSV as a frame of strings, read strictly (tasks.files.read_csv_strict): any damage, a foreign header (one
    outside `columns`, or without `required`) or an empty file is one ValueError naming the file, never a pandas
    message without it or an AttributeError later."""
    rows = read_csv_strict(path, columns, required, after="no table was written")
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise ValueError(f"{path} is empty (not even a header line); no table was written: remove it, or run again "
                         f"the task that writes it")
    return pd.DataFrame(rows, columns=header, dtype=str)


def load_results(results_dir: str) -> pd.DataFrame:
    """Every tidy result CSV directly in results_dir (other CSVs are skipped), as one frame of strings
    with value/ci_low/ci_high numeric; optional columns missing from old files are filled with ''."""
    frames = []
    for f in sorted(glob.glob(os.path.join(results_dir, "*.csv"))):
        if os.path.basename(f) == "inpainting_curve.csv":  # a figure's points (load_curves), never a table's
            continue
        df = read_frame(f)  # strings: commit hashes stay as written
        if {"experiment", "method", "setting", "metric", "value", "profile"} <= set(df.columns):
            frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASE_COLUMNS)
    for col in BASE_COLUMNS + OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col].replace("", "nan"), errors="coerce")
    return df


def paper_numbers(path: str = PAPER_CSV) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"note": str}, keep_default_na=False)
    df["value"] = pd.to_numeric(df["value"])
    return df


def paper_cell(paper: pd.DataFrame, table: str, row: str | None, col: str | None) -> tuple[float | None, str]:
    hit = paper[(paper.table == table) & (paper.row == row) & (paper.column == col)]
    return (float(hit.value.iloc[0]), str(hit.note.iloc[0])) if len(hit) else (None, "")


# ----------------------------------------------------------------------------- one block

@dataclass
class Cell:
    row: Axis
    col: Axis
    keys: dict
    stat: Stat | None
    paper: float | None
    paper_sd: float | None
    note: str

    @property
    def cited_only(self) -> bool:
        return "cited only" in self.note

    @property
    def cited(self) -> bool:
        return not self.cited_only and "cited" in self.note


@dataclass
class Block:
    spec: TableSpec
    profile: str
    dataset: str
    rows: pd.DataFrame  # our result rows shown in this block
    row_axes: list
    col_axes: list
    cells: list
    per_image: pd.DataFrame | None = None  # per-image values behind rows that are means over test images

    def cell(self, r: Axis, c: Axis) -> Cell:
        return next(x for x in self.cells if x.row == r and x.col == c)


def build_block(spec: TableSpec, rows: pd.DataFrame, paper: pd.DataFrame, profile: str, dataset: str,
                per_image: pd.DataFrame | None = None) -> Block:
    row_axes, col_axes = spec.layout(rows)
    mine = paper[paper.table == spec.key]
    cited_rows = set(mine[mine.note.str.contains("cited only")].row)  # rows the paper cites from other work
    cells = []
    for r in row_axes:
        for c in col_axes:
            keys = cell_keys(r, c)
            prow, pcol = spec.paper_cell(r, c)
            value, note = paper_cell(paper, spec.key, prow, pcol)
            note = "cited only" if prow in cited_rows else note
            sd, _ = paper_cell(paper, spec.key, prow, pcol.replace("_mean", "_std")) if pcol else (None, "")
            stat = None if "cited only" in note else cell_stat(spec, rows, keys)
            cells.append(Cell(r, c, keys, stat, value, sd if pcol and pcol.endswith("_mean") else None, note))
    return Block(spec, profile, dataset, rows, row_axes, col_axes, cells, per_image)


def unsigned_zero(fmt):
    """fmt, but a value that rounds to zero is shown without a sign ("0.00", never "-0.00")."""
    def shown(v: float) -> str:
        text = fmt(v)
        return text[1:] if text.startswith("-") and not re.search(r"[1-9]", text.split("e")[0]) else text
    return shown


def fmt_stat(spec: TableSpec, s: Stat) -> str:
    f = unsigned_zero(spec.fmt)
    text = f(s.value)
    if spec.stat is not None and s.sd is not None and not math.isnan(s.sd):  # score diagnostics: ± sd over images
        text += f" ± {f(s.sd)}"
    return text + (f" [{f(s.low)}, {f(s.high)}]" if s.has_interval else "")


def cell_text(spec: TableSpec, c: Cell) -> str:
    if c.cited_only:  # a row the paper quotes from other work: never run here; say so, and what it quotes
        return ("not run here · paper " + spec.fmt(c.paper) + " (cited from other work)" if c.paper is not None
                else "not run here (the paper cites this row from other work, at its own settings)")
    text = fmt_stat(spec, c.stat) if c.stat else "not run"
    if c.paper is not None:
        text += f" · paper {spec.fmt(c.paper)}" + (f" ± {spec.fmt(c.paper_sd)}" if c.paper_sd else "")
        text += " (cited)" if c.cited else ""
    return text


def block_title(b: Block) -> str:
    ds = b.dataset
    paper_ds = b.spec.paper_dataset
    if ds and paper_ds and ds != paper_ds:  # tables of no paper dataset (paper_dataset "") name none
        ds = f"{ds} (stand-in for {DATASET_NAMES.get(paper_ds, paper_ds)})"
    if not b.profile:
        return "### not run"
    status = ("reproduction" if b.profile == "paper" and b.dataset == paper_ds
              else "paper settings, other data" if b.profile == "paper" else "not a reproduction")
    return f"### {b.profile} profile · dataset {ds} · {status}"


def joined(rows: pd.DataFrame, col: str) -> str:
    vals = sorted({v for v in rows[col] if v not in ("", "nan")}, key=lambda v: (len(v), v))
    return ", ".join(vals)


def data_folders(runs_dir: str | None) -> dict[str, str]:
    """Run folder name → name of the data folder it learned from (its config's data_root), for the runs under
    `runs_dir` that read a user's folder; {} when there is none. Folder datasets (images, imagefolder) are named
    by their loader in the result rows, so this is what says which images they were."""
    out = {}
    if not runs_dir or not os.path.isdir(runs_dir):
        return out
    for name in sorted(os.listdir(runs_dir)):
        try:
            with open(os.path.join(runs_dir, name, "config.json")) as f:
                root = json.load(f).get("data_root")
        except (OSError, ValueError):
            continue
        if root:
            out[name] = os.path.basename(os.path.normpath(root))
    return out


DATA_FOLDERS = "data_folders.json"  # <results>/data_folders.json: run folder → data folder, kept with the results


def known_data_folders(results_dir: str, found: dict[str, str]) -> dict[str, str]:
    """The data folders of the runs behind the results: those read from the run folders now (``data_folders``),
    over those recorded in <results>/data_folders.json, which is updated with any new ones. So the provenance
    keeps naming the data after the run folders are gone (they are not committed)."""
    path = os.path.join(results_dir, DATA_FOLDERS)
    try:
        with open(path) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    merged = {**known, **found}
    if merged != known:
        atomic_write_bytes(path, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())
    return merged


def provenance_line(rows: pd.DataFrame, data: dict[str, str] | None = None) -> str:
    """Profile, dataset and sizes, seeds, device, commit, date (and run folders, iterations, and the data
    folder the runs learned from, when known)."""
    folders = sorted({data[r] for r in rows.run if r in (data or {})})
    parts = [f"profile {joined(rows, 'profile')}",
             f"dataset {joined(rows, 'dataset')}" + (f" (data folder {', '.join(folders)})" if folders else ""),
             f"images {joined(rows, 'n_images')}", f"seeds {joined(rows, 'seed')}", f"device {joined(rows, 'device')}",
             f"commit {joined(rows, 'commit')}", f"date {', '.join(sorted({d[:10] for d in rows.date if d}))}"]
    parts += [f"{label} {joined(rows, col)}" for col, label in (("run", "runs"), ("iterations", "iterations"))
              if joined(rows, col)]
    partial = sorted({str(i) for i in rows.iterations if "/" in str(i)})
    warn = (f" **Partial models** (trained {', '.join(partial)} of their iterations, `--stop-at`): not the profile's "
            "result." if partial else "")
    return "Provenance: " + " · ".join(parts) + "." + warn


def esc(text: str) -> str:
    """A label inside a markdown table cell (settings like 'square|test_steps=1' hold a pipe)."""
    return text.replace("|", "\\|")


def markdown_table(b: Block) -> list[str]:
    spec = b.spec
    if spec.floors_as_columns:  # floors are columns: a blank column sets them apart
        main = [c for c in b.col_axes if not c.floor]
        floors = [c for c in b.col_axes if c.floor]
        header = [""] + [esc(c.label) for c in main] + (["‖"] + [f"floor: {esc(c.label)}" for c in floors]
                                                              if floors else [])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in b.row_axes:
            cells = [cell_text(spec, b.cell(r, c)) for c in main]
            cells += (["‖"] + [cell_text(spec, b.cell(r, c)) for c in floors]) if floors else []
            lines.append(f"| {esc(r.label)} | " + " | ".join(cells) + " |")
        return lines
    header = [""] + [esc(c.label) for c in b.col_axes]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ruled = False
    for r in b.row_axes:
        if r.floor and not ruled:
            lines.append("| *floors and controls* |" + " |" * len(b.col_axes))
            ruled = True
        lines.append(f"| {esc(r.label)} | " + " | ".join(cell_text(spec, b.cell(r, c)) for c in b.col_axes) + " |")
    return lines


def operand_keys(operand: Axis, where: Axis) -> dict:
    """The rows of a claim's operand checked in `where`: where's keys, then the operand's (an operand may name its
    own setting, e.g. a scheme under a shared test-time start)."""
    return {**dict(where.keys), **dict(operand.keys)}


def claim_stat(b: Block, operand: Axis, where: Axis) -> Stat | None:
    return cell_stat(b.spec, b.rows, operand_keys(operand, where))


def image_se(rows: pd.DataFrame) -> float:
    """Standard error of the rows' means over test images, from their own 95% intervals (half-width / 1.96); 0 for
    rows without one."""
    lo, hi = (pd.to_numeric(rows[c], errors="coerce") for c in ("ci_low", "ci_high"))
    half = ((hi - lo) / 2).dropna()
    return float(half.mean()) / Z95 if len(half) else 0.0


def claim_test(b: Block, cl: Claim) -> tuple[Difference | str | None, str]:
    """(the test of a − b over training runs, or why there is none; how many runs each side has) for a '<' or '>'
    claim: the unit of replication is the training run (tasks.tables.run_test)."""
    ra, rb = (match(b.rows, operand_keys(x, cl.where)) for x in (cl.a, cl.b))
    ua, ub = unit_means(ra), unit_means(rb)
    fixed = [x.floor and dict(x.keys).get("method") not in SEEDED_CONTROLS for x in (cl.a, cl.b)]
    paired = paired_image_se(b, cl)
    images = math.hypot(image_se(ra), image_se(rb)) if paired is None else paired[0]
    test = run_test(list(ua.values()), list(ub.values()), a_fixed=fixed[0], b_fixed=fixed[1], extra_se=images,
                    extra_df=math.inf if paired is None else paired[1] - 1)
    how = f"{runs_label(list(ua), fixed[0])} vs {runs_label(list(ub), fixed[1])}"
    return test, how + (f", paired over {paired[1]} images" if paired else "")


def paired_image_se(b: Block, cl: Claim) -> tuple[float, int] | None:
    """(standard error, images) of a − b paired image by image, each side's value of an image averaged over its
    training runs; None without per-image values for both sides. Two methods see the same test images, masks and
    noise, so the paired difference leaves out what an image moves in both."""
    if b.per_image is None or b.per_image.empty:
        return None
    side = [match(b.per_image, {k: v for k, v in operand_keys(x, cl.where).items() if k in b.per_image})
            .groupby("image").value.mean() for x in (cl.a, cl.b)]
    shared = side[0].index.intersection(side[1].index)
    if len(shared) < 2:
        return None
    diff = side[0][shared] - side[1][shared]
    return float(diff.std(ddof=1)) / math.sqrt(len(diff)), len(diff)


@dataclass(frozen=True)
class Judged:
    """One ordering's verdict and what it rests on, as the block's orderings table shows it."""
    where: str
    claim: str
    verdict: str
    values: str  # the two cells compared
    difference: str  # a − b [interval at the level], or "—"
    level: str  # the level the interval is at
    runs: str  # training runs per side


def judge_block(b: Block) -> list[Judged]:
    """Every ordering of a block, judged together: the run-level tests (claim_test) go through Holm's procedure over
    the block (tasks.stats.holm, ALPHA), and each interval is shown at the level its ordering was judged at. '≈'
    claims and per-image statistics are read from the cells' 95% intervals, outside the Holm family."""
    claims = b.spec.claims(b.row_axes, b.col_axes)
    stats = [(claim_stat(b, cl.a, cl.where), claim_stat(b, cl.b, cl.where)) for cl in claims]
    on_runs = [cl.op != "≈" and b.spec.stat is None and bool(sa and sb) for cl, (sa, sb) in zip(claims, stats)]
    tests = [claim_test(b, cl) if run else (None, "") for cl, run in zip(claims, on_runs)]
    family = [i for i, (t, _) in enumerate(tests) if isinstance(t, Difference)]
    levels = dict(zip(family, holm([tests[i][0].p for i in family], ALPHA)))
    shown = lambda s: fmt_stat(b.spec, s) if s else "not run"  # noqa: E731
    m = len(family)
    out = []
    for i, (cl, (sa, sb), run) in enumerate(zip(claims, stats, on_runs)):
        test, runs = tests[i]
        values = f"{shown(sa)} vs {shown(sb)}"
        if isinstance(test, Difference):
            level = levels[i][1]
            low, high = test.interval(level)
            d = Stat(test.diff, low, high)
            v = verdict(cl.op, d, Stat(0.0))
            out.append(Judged(cl.where.label, f"{cl.a.label} {cl.op} {cl.b.label}", v, values, shown(d),
                              f"{100 * (1 - level):.4g}% (Holm, {m})", runs))
        elif isinstance(test, str):
            out.append(Judged(cl.where.label, f"{cl.a.label} {cl.op} {cl.b.label}", "too few runs", values, "—",
                              "—", test.removeprefix("too few runs: ")))
        else:  # two floors, '≈', per-image statistics: the cells' own intervals
            v = verdict(cl.op, sa, sb)
            if run is False and cl.op != "≈" and v in ("holds", "does not hold") and not (cl.a.floor or cl.b.floor):
                units = {u for x in (cl.a, cl.b) for u in unit_means(match(b.rows, operand_keys(x, cl.where)))}
                v += " on one training run" if len(units) == 1 else ""
            out.append(Judged(cl.where.label, f"{cl.a.label} {cl.op} {cl.b.label}", v, values, "—",
                              "—" if v == "not run" else "cells' 95%", runs or "—"))
    return out


ORDERING_COLUMNS = ("where", "ordering", "verdict", "ours", "difference [interval]", "level", "runs per side")


def ordering_lines(b: Block) -> list[str]:
    if not b.profile:
        return []
    judged = judge_block(b)
    if not judged:
        return []
    head = ("The paper's orderings in this run (rules above; the interval is at the level Holm's procedure judged "
            "the ordering at, so that the block's chance of any false verdict stays at 5%):")
    lines = [head, "", "| " + " | ".join(ORDERING_COLUMNS) + " |", "|" + "---|" * len(ORDERING_COLUMNS)]
    for j in judged:
        cells = (j.where, j.claim, j.verdict, j.values, j.difference, j.level, j.runs)
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return lines


def covered(b: Block) -> set:
    return {(c.keys.get("method"), c.keys.get("setting")) for c in b.cells}


def extra_rows(b: Block) -> pd.DataFrame:
    """Rows of the block's metrics under settings the paper's shape has no place for (test-time variants)."""
    rows = b.rows[b.rows.metric.isin(b.spec.metrics)]
    keep = [(m, s) not in covered(b) for m, s in zip(rows.method, rows.setting)]
    return rows[keep]


def extra_lines(b: Block) -> list[str]:
    rows = extra_rows(b)
    if rows.empty:
        return []
    cols = sorted({(s, m) for s, m in zip(rows.setting, rows.metric)})
    out = ["Other settings of this run (not in the paper's table):", "",
           "| method | " + " | ".join(esc(f"{s} · {m}") for s, m in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for method in dict.fromkeys(rows.method):
        cells = []
        for s, m in cols:
            st = summarise(match(rows, {"method": method, "setting": s, "metric": m}))
            cells.append(fmt_stat(b.spec, st) if st else "—")
        out.append(f"| {esc(method)} | " + " | ".join(cells) + " |")
    return out


def block_lines(b: Block, data: dict[str, str] | None = None) -> list[str]:
    out = [block_title(b), ""]
    if b.profile:
        out += [provenance_line(b.rows, data), ""]
    out += markdown_table(b) + [""]
    for part in (ordering_lines(b), extra_lines(b)):
        out += part + ([""] if part else [])
    return out


# ----------------------------------------------------------------------------- all blocks

def blocks_of(spec: TableSpec, results: pd.DataFrame, paper: pd.DataFrame,
              per_image: pd.DataFrame | None = None) -> list[Block]:
    """One block per (profile, dataset) that ran this table (paper profile first); a 'not run' block if none."""
    rows = results[(results.experiment == spec.experiment) & results.metric.isin(spec.metrics)]
    groups = sorted({(p, d) for p, d in zip(rows.profile, rows.dataset)},
                    key=lambda pd_: (PROFILE_ORDER.get(pd_[0], 9), pd_[0], pd_[1] != spec.paper_dataset, pd_[1]))
    if not groups:
        return [build_block(spec, rows, paper, "", "")]
    mine = lambda df, p, d: match(df[df.experiment == spec.experiment], {"profile": p, "dataset": d})  # noqa: E731
    return [build_block(spec, mine(results, p, d).pipe(lambda df: df[df.metric.isin(spec.metrics)]), paper, p, d,
                        None if per_image is None else mine(per_image, p, d)) for p, d in groups]


def all_blocks(results: pd.DataFrame, paper: pd.DataFrame, per_image: pd.DataFrame | None = None) -> list[Block]:
    return [b for spec in TABLES for b in blocks_of(spec, results, paper, per_image)]


def load_curves(folders: list[str]) -> pd.DataFrame:
    """The learning-curve rows (<folder>/inpainting_curve.csv, tasks.inpainting --curve-every) of the folders, as
    one frame of strings with a numeric value; empty where there are none."""
    files = [f for d in folders if os.path.exists(f := os.path.join(d, "inpainting_curve.csv"))]
    for f in files:
        check_csv(f)
    if not files:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    df = pd.concat([read_frame(f, RESULT_COLUMNS, BASE_COLUMNS) for f in files], ignore_index=True)
    df["value"] = pd.to_numeric(df.value, errors="coerce")
    return df.drop_duplicates(subset=["method", "setting", "seed", "profile", "run", "iterations"])


def load_per_image(results_dir: str) -> pd.DataFrame | None:
    """<results>/per_image/*.csv (tasks.common.write_per_image) as one frame, or None where there is none."""
    files = sorted(glob.glob(os.path.join(results_dir, "per_image", "*.csv")))
    if not files:
        return None
    required = [c for c in PER_IMAGE_COLUMNS if c != "run"]  # files from before the run column lack it
    df = pd.concat([read_frame(f, PER_IMAGE_COLUMNS, required) for f in files], ignore_index=True)
    df["value"] = pd.to_numeric(df.value, errors="coerce")
    return df


HEADER = """# Results: the paper's tables, rebuilt from {results}/*.csv

Written by `python -m tasks.report --results {results}`; the same cells in long form are in `cells.csv`,
the figures in `figures/`.

How to read: each cell is **ours [95% interval] · paper value**. "not run" marks a cell this run did not
produce; "not run here" marks a row the paper cites from other work (with its value where the paper gives one
at this column). Floors and controls need no learning (or no learned weights) and are set apart from the
methods. Each block states its provenance once. A block from the **smoke** profile runs the whole pipeline at
toy scale on an embedded dataset: **smoke numbers are not a reproduction**, and the paper's values beside them
are for orientation only. A dataset other than the paper's is named as a stand-in. An interval over seeds and
label draws is Student-t (with 2 values it is 6.5 times wider than mean ± 1.96·sd/√2); a cell that pools
training runs of a mean over test images adds that t interval over the runs and the images' interval in
quadrature. An interval is cut to its metric's range (an error rate to [0, 100], an error at 0), which keeps
its coverage since the true value lies in the range. Under each block, the paper's orderings are checked with
the training run as the unit, since a new seed can move a learned number more than an interval over test
images or label draws shows: each run's rows are averaged first, then the difference of the two sides is
tested over the runs with Welch's t (each side's spread from its own runs, Welch–Satterthwaite degrees of
freedom; against a floor that trains nothing, one-sample t; for means over test images, the images' standard
error added in quadrature). A learned side needs at least 3 training runs: with fewer the verdict is *too few
runs*, never a guess. A block's orderings are judged together by Holm's procedure, so that the chance of any
false *holds* or *does not hold* in the block stays at 5%; each interval is shown at the level its ordering
was judged at. *Holds* when that interval lies on the claimed side of 0, *does not hold* when it lies on the
other side, *cannot tell* otherwise. tests/test_verdicts.py measures the false-verdict rate of one ordering
over a grid of nulls (unequal spreads, floors, test-image and label-draw terms) and prints the power. Two
floors, and "≈" claims, are read from the cells' intervals (for "≈", *holds* when they overlap).
"""


def build_tables(results: pd.DataFrame, paper: pd.DataFrame, results_name: str = "results",
                 data: dict[str, str] | None = None, per_image: pd.DataFrame | None = None) -> str:
    """tables.md; `data` (run folder → data folder name, from data_folders) names the images of folder datasets;
    per_image (load_per_image): per-image values, for orderings paired image by image."""
    out = [HEADER.format(results=results_name)]
    specs_done = []
    for b in all_blocks(results, paper, per_image):
        if b.spec.key not in specs_done:
            specs_done.append(b.spec.key)
            out += [f"## {b.spec.title}", "", b.spec.rules, ""]
        out += block_lines(b, data)
    return "\n".join(out)


def cell_records(blocks: list[Block], results: pd.DataFrame) -> pd.DataFrame:
    """Long form: one record per block cell, then every result row no block shows (summarised per key)."""
    recs = []
    for b in blocks:
        for c in b.cells:
            s = c.stat
            recs.append({"table": b.spec.key, "profile": b.profile, "dataset": b.dataset, "row": c.row.label,
                         "column": c.col.label, "floor": c.row.floor or c.col.floor,
                         "method": c.keys.get("method", ""), "setting": c.keys.get("setting", ""),
                         "metric": c.keys.get("metric", ""), "value": s.value if s else None,
                         "ci_low": s.low if s else None, "ci_high": s.high if s else None, "n": s.n if s else None,
                         "sd": s.sd if s else None, "paper": c.paper, "paper_note": c.note,
                         "status": "cited" if c.cited_only else "ok" if s else "not run"})
    shown = {(b.spec.experiment, b.profile, b.dataset, c.keys.get("method"), c.keys.get("setting"),
              c.keys.get("metric")) for b in blocks for c in b.cells}
    keys = ["experiment", "profile", "dataset", "method", "setting", "metric"]
    for k, g in results.groupby(keys, sort=True):
        if k in shown:
            continue
        s = summarise(g)
        recs.append({"table": "", "profile": k[1], "dataset": k[2], "row": k[3], "column": f"{k[4]} · {k[5]}",
                     "floor": False, "method": k[3], "setting": k[4], "metric": k[5],
                     "value": s.value if s else None, "ci_low": s.low if s else None, "ci_high": s.high if s else None,
                     "n": s.n if s else None, "sd": s.sd if s else None, "paper": None, "paper_note": "",
                     "status": f"other row of {k[0]}"})
    return pd.DataFrame(recs, columns=CELL_COLUMNS)


def figure_section(paths: list[str], results_dir: str, kept: list[str] = ()) -> str:
    """The figures' links; `kept`: learning curves drawn earlier from run folders that this checkout lacks."""
    if not paths and not kept:
        return ""
    links = [f"- [{r}]({r})" for r in (os.path.relpath(p, results_dir) for p in paths)]
    links += [f"- [{r}]({r}) (run folder not in this checkout: the figure drawn when it was)"
              for r in (os.path.relpath(p, results_dir) for p in kept)]
    return "\n".join(["## Figures", ""] + links + [""])


def kept_curves(figures_dir: str, runs_dir: str, runs_used: set[str]) -> list[str]:
    """Learning-curve figures of the runs the rows name whose folders are not under runs_dir (a fresh clone has no
    runs/): the committed figure is kept and linked, so the report of a clone rewrites the committed tables.md."""
    out = []
    for name in sorted(runs_used):
        path = os.path.join(figures_dir, safe_name(f"learning_{name}") + ".png")
        if not os.path.isdir(os.path.join(runs_dir, name)) and os.path.exists(path):
            out.append(path)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="folder of result CSVs and task PNGs")
    parser.add_argument("--runs", default="runs",
                        help="folder of run folders (learning curves of the runs the rows name; skipped if absent)")
    parser.add_argument("--out", default=None, help="output markdown (default: RESULTS/tables.md)")
    parser.add_argument("--no-figures", action="store_true", help="write tables.md and cells.csv only")
    parser.add_argument("--curves", nargs="*", default=[], metavar="DIR",
                        help="other results folders whose inpainting_curve.csv is drawn with this folder's in "
                             "figures/inpainting_curve.png (e.g. the paper-scale ContextEncoder beside reduced runs)")
    args = parser.parse_args(argv)
    try:
        return report(args)
    except (OSError, ValueError, pd.errors.ParserError) as err:  # one line, not a traceback
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2


def report(args) -> int:
    if not os.path.isdir(args.results):
        raise FileNotFoundError(f"--results {args.results!r} is not a folder of results (a typo? run a task first, "
                                f"or bash run_all.sh)")
    with report_lock(args.results):
        return write_report(args)


@contextlib.contextmanager
def report_lock(results: str):
    """One report at a time per results folder (a lock on the folder itself, so no file is added), under which the
    temporary files that a killed report left behind are removed: those in figures/ (only the report writes there)
    and those of its own outputs in the folder. A task writing the folder meanwhile keeps its own temporary files."""
    fd = os.open(results, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: the report runs unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        own = ("tables.md", "cells.csv", DATA_FOLDERS)
        stale = glob.glob(os.path.join(results, "figures", TMP_PREFIX + "*"))
        stale += [f for name in own for f in glob.glob(os.path.join(results, TMP_PREFIX + "*" + name))]
        for f in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_report(args) -> int:
    for name in sorted(glob.glob(os.path.join(args.results, "*.csv"))):  # a malformed CSV: file and line, not pandas
        check_csv(name)
    results, paper, per_image = load_results(args.results), paper_numbers(), load_per_image(args.results)
    for r in results[~results.value.map(math.isfinite) & results.metric.ne("")].itertuples():
        print(f"warning: {r.experiment} {r.method} {r.setting} {r.metric} (seed {r.seed}) is not a finite number; "
              f"its cell shows {r.value}", file=sys.stderr)
    blocks = all_blocks(results, paper, per_image)
    curve = load_curves([args.results, *args.curves])
    runs_used = {r for r in (*results.run, *curve.run) if isinstance(r, str) and r}  # the runs behind the rows
    data = known_data_folders(args.results, {k: v for k, v in data_folders(args.runs).items() if k in runs_used})
    text = build_tables(results, paper, args.results.rstrip("/") or ".", data, per_image)
    figs = []
    if not args.no_figures:
        from tasks.figures import write_figures  # matplotlib only when figures are wanted
        figs = write_figures(blocks, args.results, args.runs, os.path.join(args.results, "figures"),
                             curve=curve, paper=paper, runs_used=runs_used)
    kept = [] if args.no_figures else kept_curves(os.path.join(args.results, "figures"), args.runs, runs_used)
    path = args.out or os.path.join(args.results, "tables.md")
    section = figure_section(figs, os.path.dirname(os.path.abspath(path)), kept)
    atomic_write_bytes(path, (text + "\n" + section).encode())
    buf = io.StringIO()
    cell_records(blocks, results).to_csv(buf, index=False, lineterminator="\n")
    atomic_write_bytes(os.path.join(args.results, "cells.csv"), buf.getvalue().encode())
    print(f"[report] wrote {path}, cells.csv and {len(figs)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
