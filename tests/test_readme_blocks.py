"""The README's copies of report blocks: found, replaced in place, and checked against the committed report."""
import os

from tasks import readme_blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TABLES = """# Tables

Provenance: profile reduced · dataset images · seeds 0 · commit bbb.

| | square |
|---|---|
| multi-grid | 0.108 |

The paper's orderings in this run (holds / does not hold / cannot tell):

- square: multi-grid < CD1: holds.
- doodle: multi-grid < CD1: holds.

Provenance: profile reduced · dataset images · seeds 0, 1 · commit ccc.

| | 1000 labels |
|---|---|
| multi-grid | 58.02 |
"""

README = """# Results

Some prose.

Provenance: profile reduced · dataset images · seeds 0 · commit aaa.

| | square |
|---|---|
| multi-grid | 0.119 |
| CD1 | 0.179 |

The paper's orderings in this run (old):

- square: multi-grid < CD1: cannot tell.

Prose after the block stays.

Provenance: profile smoke · dataset lfw · seeds 0.

| | square |
|---|---|
| multi-grid | 0.2 |

Provenance: profile reduced · dataset images · seeds 0 · commit aaa.

| | 1000 labels |
|---|---|
| multi-grid | 61.00 |

The classification prose keeps its own words.
"""


def test_sync_replaces_each_copy_with_its_block_and_keeps_the_prose():
    new, changed = readme_blocks.sync(README, TABLES)
    assert len(changed) == 2
    assert "0.119" not in new and "| CD1 | 0.179 |" not in new and "(old)" not in new and "61.00" not in new
    assert "- square: multi-grid < CD1: holds.\n- doodle: multi-grid < CD1: holds.\n\nProse after the block" in new
    assert "Provenance: profile reduced · dataset images · seeds 0, 1 · commit ccc.\n\n| | 1000 labels |" in new
    assert "| multi-grid | 0.2 |" in new  # another profile's copy: no block here, left alone
    assert new.startswith("# Results\n\nSome prose.\n") and new.endswith("prose keeps its own words.\n")
    assert readme_blocks.sync(new, TABLES) == (new, [])  # a second sync changes nothing


def test_check_reports_a_stale_copy_and_changes_nothing(tmp_path, capsys):
    readme, tables = tmp_path / "README.md", tmp_path / "tables.md"
    readme.write_text(README, encoding="utf-8")
    tables.write_text(TABLES, encoding="utf-8")
    assert readme_blocks.main([str(readme), str(tables), "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == README and "stale: profile reduced" in capsys.readouterr().out
    assert readme_blocks.main([str(readme), str(tables)]) == 0
    assert readme_blocks.main([str(readme), str(tables), "--check"]) == 0


def test_the_results_readme_states_the_committed_reduced_results_as_the_report_wrote_them():
    """Every copy in results/README.md (the analysis) of a block of results/reduced/tables.md (real images) is that
    block, digit for digit. (The smoke blocks are not checked: bash run_all.sh rewrites results/tables.md on the
    user's machine.)"""
    with open(os.path.join(ROOT, "results", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(ROOT, "results", "reduced", "tables.md"), encoding="utf-8") as f:
        tables = f.read()
    assert sum(len(v) for k, v in readme_blocks.find_blocks(readme.split("\n")).items()
               if k[0].startswith("Provenance: profile reduced")) >= 3
    assert readme_blocks.sync(readme, tables)[1] == []


def test_every_verdict_the_readmes_cite_is_the_reports():
    """A sentence that states an ordering cites the report's row as a link whose text is the verdict; each such link
    in README.md and results/README.md must name a row of the committed tables.md with that very verdict."""
    for readme in ("README.md", os.path.join("results", "README.md")):
        assert readme_blocks.check_citations(os.path.join(ROOT, readme)) == [], readme


def test_a_citation_that_drifts_from_the_report_is_found(tmp_path):
    tables = tmp_path / "tables.md"
    tables.write_text("## CVPR Table 2: SVHN\n\n| where | ordering | verdict |\n|---|---|---|\n"
                      "| 1000 labels | multi-grid < CD1 | too few runs |\n")
    good = '[too few runs](tables.md "Table 2 · 1000 labels · multi-grid < CD1")'
    (tmp_path / "README.md").write_text(f"Multi-grid < CD1: {good}.\n")
    assert readme_blocks.check_citations(str(tmp_path / "README.md")) == []
    (tmp_path / "README.md").write_text(good.replace("[too few runs]", "[holds]") + "\n"
                                        + good.replace("CD1", "PCD") + "\n" + good.replace("[too few runs]", "[yes]"))
    problems = readme_blocks.check_citations(str(tmp_path / "README.md"))
    assert len(problems) == 3 and "says [holds]" in problems[0] and "no such row" in problems[1]
    assert "is no verdict" in problems[2]


def test_the_other_settings_table_after_a_block_is_synced_too():
    """The report writes a run's other settings (variant rows) as a table after the orderings; a README copy of it
    is the block's too, found after the copy's orderings, and a copy that has none is left without one."""
    others = "Other settings of this run (not in the paper's table):\n\n| method | square |\n|---|---|\n"
    stale = others + "| multigrid_fill_start | 0.2 |\n"
    tables = TABLES.replace("- doodle: multi-grid < CD1: holds.\n",
                            "- doodle: multi-grid < CD1: holds.\n\n" + others + "| multigrid_fill_start | 0.105 |\n")
    readme = README.replace("- square: multi-grid < CD1: cannot tell.\n",
                            "- square: multi-grid < CD1: cannot tell.\n\n" + stale, 1)
    new, changed = readme_blocks.sync(readme, tables)
    assert "| multigrid_fill_start | 0.105 |\n\nProse after the block stays." in new
    assert "| multigrid_fill_start | 0.2 |" not in new
    assert readme_blocks.sync(new, tables) == (new, [])
    only_orderings, _ = readme_blocks.sync(README, tables)  # the copy had no other settings: none is added
    assert "multigrid_fill_start" not in only_orderings
    stale_only_there = new.replace("| multigrid_fill_start | 0.105 |", "| multigrid_fill_start | 0.999 |")
    assert len(readme_blocks.sync(stale_only_there, tables)[1]) == 1  # a stale other-settings table alone is seen
