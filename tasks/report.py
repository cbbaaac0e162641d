"""Assemble a results folder into the paper's tables and figures: ``python -m tasks.report [--results DIR]``.

Reads only the tidy result CSVs (``DIR/*.csv``), the paper's published numbers
(``repro/data/paper_numbers.csv``), the task-written PNG panels in DIR and, for learning curves, the
``log.csv`` of each run folder under ``--runs`` that the result rows name. Writes:

* ``DIR/tables.md``: one block per paper table and per (profile, dataset) that ran, in the paper's shape
  (its rows, its columns), each cell ``ours [95% interval] · paper value``; floors and controls set apart;
  provenance once per block; the paper's orderings checked from the intervals under each block;
* ``DIR/cells.csv``: the same cells in long form, plus every result row no block shows;
* ``DIR/figures/``: bar charts per block, learning curves per run, labeled sample and inpainting panels.

The pieces: tasks.report_inputs (reading the CSVs), tasks.tables (the paper's tables as specs, and what the report
calls each model family: repro/families/names.py), tasks.blocks (a block's cells and their text), tasks.verdicts
(the orderings judged under a block), tasks.figures (matplotlib); this module lays the blocks out and writes.
Imports only the standard library, pandas and matplotlib (no torch): it runs in seconds anywhere.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import io
import math
import os
import sys

import pandas as pd

from tasks.blocks import Block, build_block, cell_text, esc, fmt_stat, unsigned_zero  # noqa: F401 (tests use them)
from tasks.files import TMP_PREFIX, atomic_write_bytes, check_csv, safe_name
from tasks.report_inputs import (
    DATA_FOLDERS,
    data_folders,
    known_data_folders,
    load_curves,
    load_per_image,
    load_results,
    paper_numbers,
)
from tasks.tables import TABLES, TableSpec, match, summarise
from tasks.verdicts import ORDERING_COLUMNS, ordering_lines  # noqa: F401 (tests use ORDERING_COLUMNS)

DATASET_NAMES = {"celeba": "CelebA", "svhn": "SVHN", "cifar10": "CIFAR-10"}
PROFILE_ORDER = {"paper": 0, "reduced": 1, "smoke": 2}
CELL_COLUMNS = ["table", "profile", "dataset", "row", "column", "floor", "method", "setting", "metric", "value",
                "ci_low", "ci_high", "n", "sd", "paper", "paper_note", "status"]


# ----------------------------------------------------------------------------- one block

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
