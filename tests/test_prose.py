"""The READMEs' prose numbers against the committed rows (tasks/prose.py): torch-free, a few seconds."""
import os

import pytest

from tasks import prose

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READMES = ("README.md", os.path.join("results", "README.md"))

ROWS = """experiment,method,setting,seed,metric,value,ci_low,ci_high
inpainting,multigrid,square,0,mae_masked,0.1084,0.0991,0.1177
inpainting,multigrid,square,1,mae_masked,0.1070,0.0980,0.1160
inpainting,multigrid,doodle,0,mae_masked,0.07149,,
inpainting,cd1,square,0,mae_masked,0.1790,,
inpainting,cd1,doodle,0,mae_masked,0.1750,,
svhn_l2svm,raw_pixels,labels=1000,0,test_error,66.60,,
score,multigrid,training,0,grid2_mean,1031234.5,,
"""


def write(tmp_path, prose_text):
    (tmp_path / "rows.csv").write_text(ROWS)
    (tmp_path / "README.md").write_text(prose_text)
    return str(tmp_path / "README.md")


def cite(text, key):
    return f'[{text}](rows.csv "{key}")'


MG_SQ0 = "experiment=inpainting · method=multigrid · setting=square · seed=0 · metric=mae_masked"


@pytest.mark.parametrize("readme", READMES)
def test_every_number_the_readmes_cite_is_the_rows(readme):
    """(a) each [number](file.csv "row") link resolves to its row(s) and prints as they round."""
    assert prose.check_citations(os.path.join(ROOT, readme)) == []


@pytest.mark.parametrize("readme", READMES)
def test_no_result_number_in_the_readmes_prose_goes_uncited(readme):
    """(b) every number of the prose is cited, inside a copy of the report, or a setting on the allow-list."""
    problems = prose.uncited(os.path.join(ROOT, readme))
    assert problems == [], f"{len(problems)} uncited numbers:\n" + "\n".join(problems)


def test_a_right_citation_passes_in_every_form(tmp_path):
    text = "\n".join([
        cite("0.108", MG_SQ0),
        cite("0.108 [0.099, 0.118]", MG_SQ0),
        cite("0.108", "experiment=inpainting · method=multigrid · setting=square · seed=mean · metric=mae_masked"),
        cite("0.108 / 0.071", "experiment=inpainting · method=multigrid · setting=square / doodle · seed=0"
                              " · metric=mae_masked"),
        cite("−0.071", f"{MG_SQ0} − experiment=inpainting · method=cd1 · setting=square · seed=0 · metric=mae_masked"),
        cite("66.60%", "method=raw_pixels · metric=test_error"),
        cite("1.03e6", "method=multigrid · metric=grid2_mean"),
        cite("1,031,234", "method=multigrid · metric=grid2_mean"),
        cite("+10.8", f"{MG_SQ0} · scale=100"),
    ])
    assert prose.check_citations(write(tmp_path, text)) == []


def test_a_wrong_number_is_named_with_its_line_text_and_the_rows_value(tmp_path):
    path = write(tmp_path, "Prose.\n\nMulti-grid scores " + cite("0.112", MG_SQ0) + " here.\n")
    [problem] = prose.check_citations(path)
    assert problem.startswith(f"{path}:3: [0.112]") and "0.1084" in problem and "0.108 as printed" in problem


def test_more_decimals_than_the_row_rounds_to_fail(tmp_path):
    # 0.1084 printed to four decimals is 0.1084, not 0.1080; and 0.07149 to three is 0.071, not 0.072
    path = write(tmp_path, cite("0.1080", MG_SQ0) + "\n" + cite(
        "0.072", "experiment=inpainting · method=multigrid · setting=doodle · seed=0 · metric=mae_masked") + "\n")
    problems = prose.check_citations(path)
    assert len(problems) == 2 and "0.1084 as printed" in problems[0] and "0.071 as printed" in problems[1]


def test_an_interval_is_checked_bound_by_bound(tmp_path):
    [problem] = prose.check_citations(write(tmp_path, cite("0.108 [0.099, 0.119]", MG_SQ0) + "\n"))
    assert "ci_high" in problem


def test_a_missing_or_ambiguous_row_fails(tmp_path):
    path = write(tmp_path, "\n".join([
        cite("0.108", MG_SQ0.replace("multigrid", "pcd")),
        cite("0.108", "experiment=inpainting · method=multigrid · setting=square · metric=mae_masked"),
        cite("0.108", MG_SQ0 + " · nocolumn=1"),
        cite("0.108 / 0.071", MG_SQ0),
    ]) + "\n")
    problems = prose.check_citations(path)
    assert len(problems) == 4
    assert "no row matches" in problems[0] and "2 rows match" in problems[1] and "seed" in problems[1]
    assert "no column nocolumn" in problems[2] and ":4:" in problems[3]


def test_an_uncited_result_is_found_and_settings_are_not(tmp_path):
    text = "\n".join([
        "Multi-grid scores 0.108 on the square, and the paper's ContextEncoder 0.045.",  # two results: found
        "We train 1,600 iterations on 2,000 training faces at width 0.25, batch 50, in 1 h 35 min, on 2026-12-07.",
        "CVPR Table 4 and §7.3 (figure 6), grid 3, seed 2, torch 2.5 or later, 64×64 images, 3 runs a side.",
        "Cited: " + cite("0.108", MG_SQ0) + "; in code: `--width 0.25 --n-iters 1600`; σ = 0.016.",
        "```bash", "python -m tasks.inpainting --n-test 200  # 0.108", "```",
        "Commit 4135982 at 9:31; a [link](figures/fig_0.108.png \"title 0.5\").",
        "The square error falls by 12.5% and",
        "by 0.011 at 1,300",
        "iterations.",
    ])
    found = prose.uncited(write(tmp_path, text + "\n"))
    assert [f.split(" uncited")[0].split(": ", 1)[1] for f in found] == ["0.108", "0.045", "12.5%", "0.011"]
    assert found[0].startswith(str(tmp_path / "README.md") + ":1: ")


def test_a_table_copied_from_a_linked_report_counts_as_the_report_and_a_stale_one_does_not(tmp_path):
    table = "| | square |\n|---|---|\n| multi-grid | 0.108 [0.099, 0.118] |\n"
    (tmp_path / "tables.md").write_text("# Tables\n\n" + table)
    path = write(tmp_path, "See [the report](tables.md).\n\n" + table)
    assert prose.uncited(path) == []
    path = write(tmp_path, "See [the report](tables.md).\n\n" + table.replace("0.108", "0.109"))
    assert len(prose.uncited(path)) == 3


def test_a_citation_can_read_rows_as_committed(tmp_path):
    """path@REV reads the file at a git revision: rows a later run replaced stay citable."""
    readme = os.path.join(ROOT, "results", "README.md")
    rows = prose._read_rows(os.path.join(ROOT, "results", "reduced", "cells.csv"), "HEAD", {})
    assert rows and "value" in rows[0] and os.path.exists(readme)


def found_numbers(tmp_path, text):
    return [f.split(" uncited")[0].split(": ", 1)[1] for f in prose.uncited(write(tmp_path, text + "\n"))]


def test_an_iteration_count_and_its_time_are_settings_but_a_result_before_in_is_not(tmp_path):
    text = "\n".join([
        "Multi-grid 3.2–4.5 s per iteration (1,600 in about 1 h 35 min), CIFAR-10 (1,000 in 55–60 min), PCD (1,600 in",
        "4 h 5 min of iteration time).",
        "The error fell to 0.108 in 3 min; 1,600 in the square; 12.5% in about 2 h.",  # results: still found
    ])
    assert found_numbers(tmp_path, text) == ["0.108", "1,600", "12.5%"]


def test_a_commit_hash_with_hex_letters_is_a_reference_but_an_exponent_is_not(tmp_path):
    text = "Commits 94946e0 and a079492 for the curve; the energies part: +3.5e8 against 2.0e7, about 1e6."
    assert found_numbers(tmp_path, text) == ["+3.5e8", "2.0e7", "1e6"]


def test_a_filter_count_before_a_kernel_size_is_a_setting_but_a_result_there_is_not(tmp_path):
    text = "Descriptor: 96 5×5 stride 2; textures: 100 15×15 sub-sampling 3, 30 3×3; error 0.534 3×3 and 12 on 5×5."
    assert found_numbers(tmp_path, text) == ["0.534", "12"]


def test_a_confidence_level_is_a_setting_but_another_percentage_is_not(tmp_path):
    text = "Error on the occluded square [95% interval]; 95% intervals over the chains; 75.8% interval; 56.7% off."
    assert found_numbers(tmp_path, text) == ["75.8%", "56.7%"]


def test_a_settings_table_and_an_iterations_column_are_settings_but_results_in_other_columns_are_not(tmp_path):
    text = "\n".join([
        "| setting | value | source |",
        "|---|---|---|",
        "| descriptor reference σ | 0.016 | release; the paper's \"0.07\" |",
        "",
        "| model | iterations | square | doodle |",
        "|---|---|---|---|",
        "| multi-grid | 1,600 (the table's run) | 0.112 | " + cite("0.071", MG_SQ0) + " |",
        "|  | 300 | 0.119 | 46 |",
        "",
        "| model | value |",
        "|---|---|",
        "| multi-grid | 0.108 |",
    ])
    assert found_numbers(tmp_path, text) == ["0.112", "0.119", "46", "0.108"]


def test_a_count_word_allows_an_integer_but_not_a_result(tmp_path):
    """'at', 'of', 'the' name a position or a count (at 1,600 iterations' checkpoint, a batch of 50, the 100 crops)
    only when an integer follows; a decimal or a percentage after them is a result, and must be cited. A
    tolerance or an error level ('a tolerance of 20%', 'at most 5%') is a setting."""
    text = "\n".join([
        "Its lowest point is at 1,200, a batch of 50 held one class, the 100 crops of the test set.",
        "A tolerance of 20% and at most 5% false holds.",
        "Multi-grid lies at 0.108, a gain of 0.036 and the 12.5% drop.",  # results: still found
    ])
    assert found_numbers(tmp_path, text) == ["0.108", "0.036", "12.5%"]
