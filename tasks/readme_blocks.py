"""Keep the README's copies of report blocks equal to the report's own (``tables.md``).

    python -m tasks.readme_blocks README.md results/reduced/tables.md           # rewrite stale copies
    python -m tasks.readme_blocks README.md results/reduced/tables.md --check   # exit 1 if any copy is stale

A block of ``tables.md`` is its provenance line, the table under it and, where present, the ordering lines
("The paper's orderings in this run ...") and the table of the run's other settings ("Other settings of this
run ...") that follows them. A README copy is found by its provenance line's first two fields
(profile · dataset) and the first cells of its table's header row, the n-th copy matching the n-th block with
that key; prose around the copies is left as it is, and so is a copy without ordering lines (the README states
them in words) or without the other settings' table.
Copies of another tables.md (another profile) match nothing here and are left alone.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass

from tasks.files import atomic_write_bytes

ORDERINGS = "The paper's orderings in this run"
OTHERS = "Other settings of this run"


@dataclass(frozen=True)
class Span:
    prov: int  # the provenance line
    table: tuple[int, int]  # [first, end) lines of the table
    orderings: tuple[int, int] | None  # [first, end) lines of the ordering paragraph, if any
    others: tuple[int, int] | None = None  # [first, end) lines of the other settings' line and table, if any


def _next_text(lines: list[str], start: int) -> int:
    return next((j for j in range(start, len(lines)) if lines[j].strip()), len(lines))


def _others(lines: list[str], start: int) -> tuple[int, int] | None:
    """The other settings' line and its table, when they are the next text from start; else None."""
    k = _next_text(lines, start)
    if k >= len(lines) or not lines[k].startswith(OTHERS):
        return None
    t0 = _next_text(lines, k + 1)
    if t0 >= len(lines) or not lines[t0].startswith("|"):
        return None
    return k, next((j for j in range(t0, len(lines)) if not lines[j].startswith("|")), len(lines))


def find_blocks(lines: list[str]) -> dict[tuple[str, str], list[Span]]:
    """{(profile · dataset, table header): [Span, ...] in order of appearance}."""
    out: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for i, line in enumerate(lines):
        if not line.startswith("Provenance: "):
            continue
        t0 = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("|")), None)
        if t0 is None:
            continue
        t1 = next((j for j in range(t0, len(lines)) if not lines[j].startswith("|")), len(lines))
        k = _next_text(lines, t1)
        orderings = None
        if k < len(lines) and lines[k].startswith(ORDERINGS):
            end = next((j for j in range(k + 1, len(lines))  # the orderings: bullets, or a table since Holm
                        if lines[j].strip() and not lines[j].startswith(("- ", "|"))), len(lines))
            while not lines[end - 1].strip():
                end -= 1
            orderings = (k, end)
        # keyed by the header's first cells, so a copy still matches its block when a column is added at the end
        head = "|".join(lines[t0].split("|")[:4])
        others = _others(lines, orderings[1] if orderings else t1)
        out[(" · ".join(line.split(" · ")[:2]), head)].append(Span(i, (t0, t1), orderings, others))
    return out


def sync(readme: str, tables: str) -> tuple[str, list[str]]:
    """The README with every copy of a tables.md block replaced by the block; and the keys of the copies
    that changed ("profile · dataset | header")."""
    r, t = readme.split("\n"), tables.split("\n")
    ours = find_blocks(t)
    edits, changed = [], []
    for key, spans in find_blocks(r).items():
        for n, copy in enumerate(spans):
            if n >= len(ours.get(key, [])):
                continue
            block = ours[key][n]
            parts = [((copy.prov, copy.prov + 1), (block.prov, block.prov + 1)), (copy.table, block.table)]
            if copy.orderings and block.orderings:
                parts.append((copy.orderings, block.orderings))
            if copy.others and block.others:
                parts.append((copy.others, block.others))
            if any(r[a:z] != t[b:y] for (a, z), (b, y) in parts):
                changed.append(f"{key[0].removeprefix('Provenance: ')} | {key[1][:60]}")
            edits += [(a, z, t[b:y]) for (a, z), (b, y) in parts]
    for a, z, new in sorted(edits, reverse=True):  # from the end, so earlier line numbers stay valid
        r[a:z] = new
    return "\n".join(r), changed


# A sentence that states an ordering cites the report's verdict it rests on, as a link whose text is the verdict and
# whose title names the row: [holds](reduced/tables.md "L2-SVM · 1000 labels · multi-grid < one-step CD"), the title
# being a word of the table's section title, the row's "where" and its ordering. check_citations holds every such link
# to the committed report, so a verdict in the prose cannot drift from the rows.
VERDICTS = ("holds", "does not hold", "cannot tell", "too few runs", "not run", "holds on one training run")
CITATION = re.compile(r"\[(?P<said>[^\]]+)\]\((?P<path>[^)\s]*tables\.md) \"(?P<key>[^\"]+)\"\)")


def report_verdict(tables: str, key: str) -> str | None:
    """The verdict of the orderings-table row that key ("section word · where · ordering") names, in the first block of
    the first section whose title contains the section word; None where there is no such row."""
    section, _, rest = key.partition(" · ")
    where, _, ordering = rest.rpartition(" · ")  # a "where" may hold " · " itself (error · square)
    if not (section and where and ordering):
        return None
    in_section = False
    for line in tables.split("\n"):
        if line.startswith("## "):
            in_section = section in line
        elif in_section and line.startswith("| "):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) >= 3 and cells[0] == where and cells[1] == ordering:
                return cells[2]
    return None


def check_citations(readme_path: str) -> list[str]:
    """Every verdict that readme_path cites, checked against the tables.md it links (relative to the README): one
    problem per citation whose row is missing or whose verdict differs from the link's text."""
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    problems, cache = [], {}
    for m in CITATION.finditer(text):
        path = os.path.normpath(os.path.join(os.path.dirname(readme_path), m["path"]))
        if path not in cache:
            with open(path, encoding="utf-8") as g:
                cache[path] = g.read()
        found = report_verdict(cache[path], m["key"])
        if m["said"] not in VERDICTS:
            problems.append(f"{readme_path}: [{m['said']}] is no verdict (one of {', '.join(VERDICTS)})")
        elif found != m["said"]:
            problems.append(f"{readme_path}: says [{m['said']}] for {m['key']!r} but {m['path']} says "
                            f"{found or 'nothing (no such row)'}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("readme")
    p.add_argument("tables", help="a tables.md written by python -m tasks.report")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a copy is stale")
    args = p.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f, open(args.tables, encoding="utf-8") as g:
        readme, tables = f.read(), g.read()
    new, changed = sync(readme, tables)
    for key in changed:
        print(("stale: " if args.check else "updated: ") + key)
    if args.check:
        return 1 if changed else 0
    if changed:
        atomic_write_bytes(args.readme, new.encode("utf-8"))
    print(f"[readme_blocks] {len(changed)} of the copies in {args.readme} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
