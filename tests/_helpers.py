"""Helpers shared by test files (a module, not a conftest, so that a test names what it uses): the report tests'
hand-made result rows (`row`, `inpainting_rows`, `svhn_rows`), `tables` (tasks.report.build_tables on them) and
the readers of a tables.md (`block`, `table_lines`, `orderings`, `said`)."""
import re

import pandas as pd

from tasks import report


def row(**kw):
    base = dict(experiment="inpainting", method="multigrid", setting="square", seed=0, metric="mae_masked",
                value=0.05, ci_low=0.04, ci_high=0.06, profile="paper", dataset="celeba", n_images=1000,
                device="cuda:H100", commit="641704376e00", date="2026-11-25T00:00:00+00:00")
    return {**base, **kw}


def inpainting_rows(mg=(0.05, 0.04, 0.06)):
    rows = [row(method="multigrid", value=mg[0], ci_low=mg[1], ci_high=mg[2]),
            row(method="singlegrid", value=0.08, ci_low=0.07, ci_high=0.09),
            row(method="cd1", value=0.09, ci_low=0.08, ci_high=0.10),
            row(method="pcd", value=0.07, ci_low=0.06, ci_high=0.08),
            row(method="biharmonic", value=0.045, ci_low=0.04, ci_high=0.05),
            row(method="multigrid", setting="doodle", value=0.04, ci_low=0.03, ci_high=0.05),
            row(method="multigrid", metric="psnr11_masked", value=16.0, ci_low=15.5, ci_high=16.5)]
    return rows


def svhn_rows():
    out = []
    for method, base in (("multigrid", 14.0), ("singlegrid", 20.0), ("cd1", 25.0), ("untrained", 30.0)):
        for labels in (100, 200):
            for seed, d in ((0, -0.1), (1, 0.1)):
                out.append(row(experiment="svhn_l2svm", method=method, setting=f"labels={labels}", seed=seed,
                               metric="test_error", value=base + d - labels / 100, ci_low="", ci_high="",
                               profile="smoke", dataset="digits", n_images=360, device="cpu"))
    return out


def tables(rows, paper=None) -> str:
    df = pd.DataFrame(rows, columns=list(rows[0].keys())).astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce")  # '' → nan
    for col in ("run", "iterations"):
        if col not in df:
            df[col] = ""
    return report.build_tables(df, report.paper_numbers() if paper is None else paper)


def block(md: str, heading: str) -> list[str]:
    """Lines of the first block under the table whose title contains heading."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## ") and heading in line)
    start = next(i for i in range(start, len(lines)) if lines[i].startswith("### "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return lines[start:end]


def table_lines(lines):
    """The rows of the block's first table (the paper's cells; the orderings table comes after it)."""
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[first:end]


def orderings(md: str, heading: str, where: str) -> dict[str, dict]:
    """{ordering: its row of the orderings table} for the rows checked in `where`, in the first block under heading."""
    lines = block(md, heading)
    first = next(i for i, line in enumerate(lines) if line.startswith("| where |"))
    out = {}
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        r = dict(zip(report.ORDERING_COLUMNS, cells))
        if r["where"] == where:
            out[r["ordering"]] = r
    return out


def said(r: dict) -> str:
    """One ordering as a line: 'a < b: verdict (ours; difference; level; runs)'."""
    return (f"{r['ordering']}: {r['verdict']} ({r['ours']}; {r['difference [interval]']}; {r['level']}; "
            f"{r['runs per side']})")
