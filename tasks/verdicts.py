"""The paper's orderings under a block, judged: each ordering's test over training runs (paired image by image where
per-image values exist), Holm's procedure over the block, and the orderings table the report shows under it
(docs/method.md says why these tests). Only the standard library and pandas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from tasks.blocks import Block, esc, fmt_stat
from tasks.stats import Difference, holm
from tasks.tables import (
    ALPHA,
    SEEDED_CONTROLS,
    Z95,
    Axis,
    Claim,
    Stat,
    cell_stat,
    match,
    run_test,
    runs_label,
    unit_means,
    verdict,
)


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

