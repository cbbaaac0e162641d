"""Hold every number in the READMEs' prose to the committed rows (torch-free).

    python -m tasks.prose README.md results/README.md        # list bad citations and uncited numbers; exit 1 if any

A number in the prose is one of three things:

1. **Inside a copy of the report**: a block copied from a ``tables.md`` (``tasks.readme_blocks.sync`` keeps those
   equal), or any other markdown table whose lines stand, in the same order and digit for digit, in a ``tables.md``
   that the README links (checked here: a table that no longer stands there is reported as uncited numbers).
2. **Cited**: a markdown link whose text is the number as printed and whose title names the row(s) it comes from::

       [0.108](reduced/cells.csv "table=inpainting_celeba · method=multigrid · setting=square · metric=mae_masked")

   The path is a CSV relative to the README (a results CSV with RESULT_COLUMNS, a report's ``cells.csv``, a
   curve CSV, ``../repro/data/paper_numbers.csv``); ``path@REV`` reads the file as committed at git revision REV
   (rows that later runs replaced, e.g. ``reduced/inpainting.csv@80fcac7``). The title is a selection: ``column=value``
   items joined by `` · ``; the rows whose columns equal every item are selected, and exactly one row must be
   selected, except that

   - ``column=mean`` averages the ``value`` of all selected rows over that column (``seed=mean``: the mean over the
     training seeds, as the report's cells take it); ``column=any`` says the column may vary, all selected rows
     must then print the same;
   - one item may list values separated by `` / `` (``setting=square / doodle / pepper``): the link's text then
     holds as many numbers, separated by `` / `` too, one per value, in order;
   - two selections joined by `` − `` (U+2212, spaced) give their difference (left minus right; a list item
     applies to both), joined by `` ÷ `` their ratio;
   - ``scale=100`` multiplies the resolved value (a fraction printed as a percentage);
   - ``col=NAME`` reads column NAME instead of ``value`` (e.g. ``col=paper`` of a cells.csv row).

   A number printed with an interval, ``0.109 [0.095, 0.122]``, is checked against ``value``, ``ci_low`` and
   ``ci_high``. The check: the printed text equals the resolved value rounded to the printed number of decimals
   (of the mantissa, for ``5.53e4``); thousands separators, a leading ``+``/``−``/``-`` sign and a trailing ``%``
   are accepted, and ``−`` reads as minus.
3. **A setting, a count or a reference** of one of the forms on the allow-list below, or in a part of the
   markdown that is not prose.

Not prose (never read): fenced code blocks, code spans, link targets and titles, HTML comments, headings.

The allow-list (``ALLOWED``): a number followed by a unit of a setting, a count or a duration (``UNITS``: 1,600
iterations, 200 faces, 3 runs, 64×64, 7 min 10 s, ...); a number after a word that names what it is
(``LEADS``: Table 1, §7.3, figure 6, grid 3, seed 2, width 0.25, step 0.3, torch 2.5, ...); an assignment
(``σ² = 1``, ``L = 10``); dates (2026-12-07), times of day and clock durations (9:31); git commit hashes (7 to 12
digits, or hex digits such as 94946e0, which would otherwise read as 94946 × 10⁰); integers from 0 to 10 (counts and
indices: "3 a side", "2 of 3"); a year after a venue (CVPR 2018). Four narrow forms more:

- an iteration count followed by the time it took, ``1,600 in about 1 h 35 min``, ``1,000 in 55–60 min`` (an
  integer, then ``in``, an optional ``about`` and a duration in h, min or s);
- a filter count before a kernel size, ``96 5×5 stride 2``, ``100 15×15`` (an integer, then a size N×M);
- a confidence level, ``[95% interval]`` (an integer percentage followed by ``interval`` or ``confidence``);
- in a markdown table: every number of a table whose first header cell is ``setting`` (a table of settings and
  where each comes from), and the leading integer of a cell whose column header is a unit of UNITS (an
  ``iterations`` column of a learning-curve table: ``| 1,600 (the table's run) |``); a result in another column of
  the same table is still reported.

Everything else is reported: a result quoted in prose must be cited, or go.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from tasks.readme_blocks import find_blocks

MINUS = "\u2212"

# --- the numbers -------------------------------------------------------------------------------------------------

# a number as printed: sign, digits (thousands separated by commas), decimals, exponent, percent
NUMBER = re.compile(r"(?<![\w.\\/#§@$-])(?P<sign>[+\-\u2212±]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?"
                    r"(?P<exp>e[+\-\u2212]?\d+)?(?P<pct>%)?(?![\w])")

# units of settings, counts and durations: a number followed by one of these is a setting, not a result
UNITS = (
    "iterations iteration images image faces face labels label labeled runs run steps step seeds seed passes pass "
    "epochs epoch px pixels pixel channels channel dimensions tests test processes process GPUs GPU cores core "
    "threads thread layers layer chains chain classes class collectives draws draw values fits fit samples sample "
    "min minutes minute s h hours hour ms days day nodes node outputs output digits digit photographs files file "
    "JPEGs masks mask orderings ordering outcomes sessions session commits commit models model nets networks network "
    "grids grid a side filters filter sets set source sources schemes scheme columns column rows row "
    "tested positions CPU machines machine split times bytes characters lines ×"
).split()
# words that may stand between a number and its unit: 2,000 training faces, 50,000 pooled samples
BETWEEN = ("training test held-out pooled labeled unlabeled validation LFW real aligned Langevin CD inference more "
           "other random new CelebA CIFAR-10 SVHN JPEG CPU Slurm CUDA gloo NCCL learning test-time noisy coarse "
           "fine finest grey colour unlabelled fixed seeded").split()
UNIT = re.compile(r"\s*(?:-|\s)?(?:(?:" + "|".join(map(re.escape, BETWEEN)) + r")\s+){0,2}(?:"
                  + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + r")(?![\w])")
SIZE = re.compile(r"\d+(?:×\d+)+")  # 64×64, 1×1, 2×2 GPUs
# words that name what the number after them is (a reference or a setting)
LEADS = (
    "Table Tables table tables Figure Figures figure figures § §§ grid grids seed seeds width torch torchvision "
    "Python version step size rate σ σ_G β1 batch ReLU Adam level M arXiv CVPR ICML ICLR issue PR status default "
    "crop resolution ratio T L n kernel layer layers chains noise sub-sampling stride outputs Batch tolerance"
).split()
LEAD = re.compile(r"(?:^|[\s(])(?:" + "|".join(sorted(map(re.escape, LEADS), key=len, reverse=True))
                  + r")\s*\(?(?:\d+(?:\.\d+)?(?:,\s*|\s+and\s+|\s+or\s+|–|/))*$")
# words that name a count or a position only: an integer after them is a setting (the 100 crops, at 1,600
# iterations, a batch of 50); a decimal or a percentage after them is a result, to be cited
INT_LEADS = "at of the paper's".split()
INT_LEAD = re.compile(r"(?:^|[\s(])(?:" + "|".join(map(re.escape, INT_LEADS)) + r")\s*$")
# phrases that name a tolerance or an error level, after which a percentage or decimal is a setting
LEVEL_LEADS = ("tolerance of", "at most", "stays at", "than the", "Adam at")
LEVEL_LEAD = re.compile(r"(?:" + "|".join(map(re.escape, LEVEL_LEADS)) + r")\s*$")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CLOCK = re.compile(r"\d+:\d{2}(?::\d{2})?")
HEX_HASH = re.compile(r"[0-9a-f]{7,12}")  # a commit hash with hex letters: 94946e0
# an iteration count and the time it took: 1,600 in about 1 h 35 min, 1,000 in 55–60 min
TOOK = re.compile(r"\s+in\s+(?:about\s+)?\d+(?:[–-]\d+)?\s*(?:h|min|s)(?![\w])")
KERNEL = re.compile(r"\s+\d+×\d+(?![\d×])")  # a filter count before a kernel size: 96 5×5
LEVEL = re.compile(r"\s+(?:interval|intervals|confidence)(?![\w])")  # a confidence level: 95% interval

ALLOWED = ("a number followed by a unit of UNITS", "a size N×M", "a number after a word of LEADS",
           "an assignment (= before it)", "a date", "a clock time", "a commit hash of 7-12 (hex) digits",
           "an integer from 0 to 10", "in code, a link target or title, a heading, an HTML comment",
           "in a report block copy or a table copied verbatim from a linked tables.md",
           "an iteration count and the time it took (1,600 in about 1 h 35 min)",
           "a filter count before a kernel size (96 5×5)", "a confidence level (95% interval)",
           "in a table of settings (first header cell 'setting')",
           "the leading integer of a table cell under a unit header (an 'iterations' column)",
           "an integer after a word of INT_LEADS (at 1,600, a batch of 50)",
           "a level after a phrase of LEVEL_LEADS (a tolerance of 20%, at most 5%)")

# a link whose target is a CSV and whose title names the row; its text may hold one level of brackets
CITATION = re.compile(r"\[(?P<said>(?:[^\[\]]|\[[^\[\]]*\])+)\]\((?P<path>[^)\s\"]+?\.csv)(?:@(?P<rev>[0-9a-f]{4,40}))?"
                      r" \"(?P<key>[^\"]+)\"\)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\([^)]*\)")


@dataclass(frozen=True)
class Printed:
    text: str
    value: float
    decimals: int  # of the mantissa
    exp: int  # the printed exponent (5.53e4: 4), 0 without


def parse(text: str) -> Printed:
    """A printed number (one match of NUMBER) as value and precision."""
    m = NUMBER.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a number: {text!r}")
    sign = -1.0 if m["sign"] in ("-", MINUS) else 1.0
    mant = float(m["int"].replace(",", "") + (m["dec"] or ""))
    exp = int(m["exp"][1:].replace(MINUS, "-")) if m["exp"] else 0
    return Printed(text.strip(), sign * mant * 10.0 ** exp, len(m["dec"]) - 1 if m["dec"] else 0, exp)


def rounds_to(value: float, printed: Printed) -> bool:
    """Whether value, rounded as printed, is the printed number."""
    def fmt(v):
        s = f"{v:.{printed.decimals}f}"
        return s[1:] if s.startswith("-") and float(s) == 0 else s
    return fmt(value / 10.0 ** printed.exp) == fmt(printed.value / 10.0 ** printed.exp)


# --- resolving a citation ----------------------------------------------------------------------------------------

def _read_rows(path: str, rev: str | None, cache: dict) -> list[dict]:
    if (path, rev) not in cache:
        if rev is None:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
        else:
            root = subprocess.run(["git", "-C", os.path.dirname(path) or ".", "rev-parse", "--show-toplevel"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root)).replace(os.sep, "/")
            text = subprocess.run(["git", "-C", root, "show", f"{rev}:{rel}"], capture_output=True, text=True,
                                  check=True).stdout
        cache[(path, rev)] = list(csv.DictReader(io.StringIO(text)))
    return cache[(path, rev)]


class Unresolved(Exception):
    pass


def _select(rows: list[dict], items: list[tuple[str, str]]) -> float:
    col, scale, avg, free, want = "value", 1.0, [], [], []
    for k, v in items:
        if k == "col":
            col = v
        elif k == "scale":
            scale = float(v)
        elif v == "mean":
            avg.append(k)
        elif v == "any":
            free.append(k)
        else:
            want.append((k, v))
    if rows and any(k not in rows[0] for k, _ in want + [(c, "") for c in avg + free + [col]]):
        missing = [k for k, _ in want + [(c, "") for c in avg + free + [col]] if k not in rows[0]]
        raise Unresolved(f"no column {', '.join(missing)}")
    hit = [r for r in rows if all(r[k] == v for k, v in want)]
    if not hit:
        raise Unresolved("no row matches")
    vals = [float(r[col]) for r in hit]
    if avg:
        return scale * sum(vals) / len(vals)
    if len(hit) > 1 and not (free and len({round(v, 12) for v in vals}) == 1):
        cols = [k for k in hit[0] if len({r[k] for r in hit}) > 1]
        raise Unresolved(f"{len(hit)} rows match (they differ in {', '.join(cols[:4])}; name one, or =mean)")
    return scale * vals[0]


def resolve(rows: list[dict], key: str, n: int = 1, col: str | None = None) -> list[float]:
    """The n values that key names (n > 1: an item listing n values separated by ' / ')."""
    op = next((o for o in (f" {MINUS} ", " ÷ ") if o in key), None)
    sides = key.split(op) if op else [key]
    if len(sides) > 2:
        raise Unresolved("more than one operator")
    out = []
    for i in range(n):
        vals = []
        for side in sides:
            items = []
            for item in side.split(" · "):
                k, eq, v = item.strip().partition("=")
                if not eq:
                    raise Unresolved(f"{item.strip()!r} is no column=value")
                opts = v.split(" / ")
                if len(opts) > 1 and len(opts) != n:
                    raise Unresolved(f"{k} lists {len(opts)} values for {n} printed numbers")
                items.append((k.strip(), opts[i] if len(opts) > 1 else v))
            if col:
                items = [(k, v) for k, v in items if k != "col"] + [("col", col)]
            vals.append(_select(rows, items))
        if op is None:
            out.append(vals[0])
        elif op.strip() == MINUS:
            out.append(vals[0] - vals[1])
        else:
            out.append(vals[0] / vals[1])
    return out


def check_citation(said: str, rows: list[dict], key: str) -> str | None:
    """None where the printed text matches the rows; else what the rows give."""
    parts = [p.strip() for p in said.split(" / ")]
    try:
        for i, part in enumerate(parts):
            m = re.fullmatch(r"(?P<v>\S+)\s*\[(?P<lo>\S+),\s*(?P<hi>\S+)\]", part)
            checks = [("value", m["v"]), ("ci_low", m["lo"]), ("ci_high", m["hi"])] if m else [(None, part)]
            for col, text in checks:
                printed = parse(text)
                value = resolve(rows, key, len(parts), col=col if col != "value" else None)[i]
                if not rounds_to(value, printed):
                    shown = f"{value / 10.0 ** printed.exp:.{printed.decimals}f}" + (
                        f"e{printed.exp}" if printed.exp else "")
                    return f"the rows give {value:.6g} ({shown} as printed)" + (f" for {col}" if col else "")
    except (Unresolved, ValueError) as e:
        return str(e)
    return None


def check_citations(readme_path: str) -> list[str]:
    """One problem per number citation in readme_path that does not resolve or whose rows print otherwise:
    'file:line: [text](path "key"): why'."""
    with open(readme_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    problems, cache = [], {}
    base = os.path.dirname(readme_path)
    for no, line in enumerate(lines, 1):
        for m in CITATION.finditer(line):
            path = os.path.normpath(os.path.join(base, m["path"]))
            try:
                rows = _read_rows(path, m["rev"], cache)
            except (OSError, subprocess.CalledProcessError) as e:
                problems.append(f"{readme_path}:{no}: [{m['said']}]({m['path']}): cannot read the rows ({e})")
                continue
            why = check_citation(m["said"], rows, m["key"].replace("\\|", "|"))  # escaped inside a table
            if why:
                problems.append(f"{readme_path}:{no}: [{m['said']}] ({m['path']}{'@' + m['rev'] if m['rev'] else ''}"
                                f" \"{m['key']}\"): {why}")
    return problems


# --- the numbers nobody cites ------------------------------------------------------------------------------------

def _tables_copied(lines: list[str], base: str) -> set[int]:
    """The lines of markdown tables that stand, line for line, in a tables.md the text links."""
    reports = []
    for target in sorted(set(re.findall(r"\]\(([^)\s\"]*tables\.md)", "\n".join(lines)))):
        path = os.path.normpath(os.path.join(base, target))
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                reports.append("\n" + f.read() + "\n")
    out, i = set(), 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        j = next((k for k in range(i, len(lines)) if not lines[k].startswith("|")), len(lines))
        table = "\n" + "\n".join(lines[i:j]) + "\n"
        if any(table in r for r in reports):
            out.update(range(i, j))
        i = j
    return out


def _blank(s: str) -> str:
    return re.sub(r"[^\n]", " ", s)


def _split_cells(line: str) -> list[tuple[int, int]]:
    """The (start, end) of each cell of a markdown table line, between its unescaped pipes."""
    bars = [i for i, c in enumerate(line) if c == "|" and (i == 0 or line[i - 1] != "\\")]
    return [(a + 1, b) for a, b in zip(bars, bars[1:])]


def _table_settings(lines: list[str]) -> list[str]:
    """lines with the table numbers on the allow-list blanked: every line of a table whose first header cell is
    'setting', and the leading integer of a cell whose column header is a unit of UNITS ('iterations')."""
    out, i = list(lines), 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        j = next((k for k in range(i, len(lines)) if not lines[k].startswith("|")), len(lines))
        header = [lines[i][a:b].strip() for a, b in _split_cells(lines[i])]
        if header and header[0].lower() == "setting":
            out[i:j] = [_blank(x) for x in lines[i:j]]
        else:
            units = {c for c, h in enumerate(header) if h in UNITS}
            for k in range(i + 2, j):
                for c, (a, b) in enumerate(_split_cells(lines[k])):
                    m = re.match(r"\s*(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,%])", lines[k][a:b])
                    if c in units and m:
                        out[k] = out[k][:a + m.start(1)] + _blank(m[1]) + out[k][a + m.end(1):]
        i = j
    return out


def prose_lines(text: str, base: str = ".") -> list[str]:
    """text's lines with everything that is not prose blanked out (same lengths): code, link targets and titles,
    cited numbers, report block copies, verbatim copies of tables.md tables, headings, HTML comments."""
    skip = set(_tables_copied(text.split("\n"), base))
    for spans in find_blocks(text.split("\n")).values():
        for s in spans:
            skip.add(s.prov)
            skip.update(range(*s.table))
            if s.orderings:
                skip.update(range(*s.orderings))
    text = re.sub(r"<!--.*?-->", lambda m: _blank(m[0]), text, flags=re.S)
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", lambda m: _blank(m[0]), text, flags=re.S | re.M)
    text = re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", lambda m: _blank(m[0]), text, flags=re.S)
    text = CITATION.sub(lambda m: _blank(m[0]), text)
    # a link keeps its text (unless the text is itself a path or a number-free label), its target goes
    text = LINK.sub(lambda m: re.sub(r"\]\([^)]*\)$", lambda t: _blank(t[0]), m[0]), text)
    lines = _table_settings(text.split("\n"))
    return [_blank(line) if (i in skip or line.startswith("#")) else line for i, line in enumerate(lines)]


def allowed(line: str, m: re.Match) -> bool:
    """Whether the number m in line is a setting, a count or a reference on the allow-list."""
    before, after = line[:m.start()], line[m.end():]
    if m["pct"] is None and m["sign"] == "" and m["dec"] is None and m["exp"] is None:
        digits = m["int"].replace(",", "")
        if int(digits) <= 10 or (len(digits) >= 7 and "," not in m["int"]):
            return True
    if m["sign"] == "" and (SIZE.match(line, m.start()) or DATE.match(line, m.start())
                            or CLOCK.match(line, m.start()) or HEX_HASH.fullmatch(m[0])):
        return True
    if m["sign"] == "" and m["dec"] is None and m["exp"] is None:
        if m["pct"] is None and (TOOK.match(after) or KERNEL.match(after)):
            return True
        if m["pct"] and LEVEL.match(after):
            return True
    if re.search(r"(?:\d|\d×|\d:)$", before) or re.match(r"×\d", after) or re.match(r":\d{2}", after):
        return True  # the rest of a size, a date or a clock time
    if re.search(r"\d-$", before) and DATE.search(line[max(0, m.start() - 8):m.end() + 3]):
        return True
    if m["pct"] is None and UNIT.match(after):
        return True
    if re.search(r"[=≤≥<>]\s*$", before) or re.search(r"\b(?:CVPR|ICML|ICLR|NeurIPS|NIPS|arXiv)\s*$", before):
        return True
    if LEAD.search(before) or LEVEL_LEAD.search(before):
        return True
    if INT_LEAD.search(before) and m["dec"] is None and m["exp"] is None and m["pct"] is None:
        return True
    # a range or list whose last member has a unit: 1,000/2,000/4,000 labels, 0.75–0.78 s
    tail = re.match(r"(?:\s*(?:–|/|,|and|or|to|of|→)\s*[\d.,]+)+", after)
    if tail and m["pct"] is None and UNIT.match(after[tail.end():]):
        return True
    return False


def uncited(readme_path: str) -> list[str]:
    """'file:line: number in «context»' for each number of readme_path's prose that is neither cited nor allowed."""
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    out, lines = [], prose_lines(text, os.path.dirname(readme_path))
    for no, line in enumerate(lines, 1):
        # a sentence goes on over line breaks: the next line's words may hold the unit, the last line's the lead
        prev, nxt = (lines[no - 2] if no > 1 else ""), (lines[no] if no < len(lines) else "")
        joined, shift = prev + " " + line + " " + nxt, len(prev) + 1
        for m in NUMBER.finditer(joined, shift, shift + len(line)):
            if not allowed(joined, m):
                ctx = joined[max(0, m.start() - 40):m.end() + 30].strip()
                out.append(f"{readme_path}:{no}: {m[0]} uncited in «{ctx}»")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("readmes", nargs="+")
    args = p.parse_args(argv)
    problems = [x for r in args.readmes for x in check_citations(r) + uncited(r)]
    print("\n".join(problems) if problems else f"[prose] every number in {', '.join(args.readmes)} is accounted for")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
