"""One block of the report: a paper table's cells for one (profile, dataset) that ran it, each cell our summary of
the rows its keys select beside the paper's value, and the text a cell shows. Only the standard library and pandas.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from tasks.tables import Axis, Stat, TableSpec, cell_keys, cell_stat


def paper_cell(paper: pd.DataFrame, table: str, row: str | None, col: str | None) -> tuple[float | None, str]:
    hit = paper[(paper.table == table) & (paper.row == row) & (paper.column == col)]
    return (float(hit.value.iloc[0]), str(hit.note.iloc[0])) if len(hit) else (None, "")


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


def esc(text: str) -> str:
    """A label inside a markdown table cell (settings like 'square|test_steps=1' hold a pipe)."""
    return text.replace("|", "\\|")

