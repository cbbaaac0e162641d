"""The report reads result folders that travel between machines: every damaged input is one line naming the file, a
value that is not finite is warned about, and a report killed part-way leaves nothing that the next one keeps.

Each case here was a traceback or a silent pass before: a per-image CSV with a foreign header (AttributeError), with
an extra field or a stray quote (a pandas message that named no file), an empty CSV ("No columns to parse from
file"), `inf` in a cell (shown with no word), and `.tmp-*` files of a killed report (left in figures/ for good)."""
import os
import shutil

import pytest

from tasks import report

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture
def results(tmp_path):
    """A copy of the committed smoke results' CSVs (no PNGs): a folder the report reads without error."""
    out = tmp_path / "results"
    (out / "per_image").mkdir(parents=True)
    for name in ("inpainting.csv", "svhn_l2svm.csv", "score_diagnostics.csv"):
        shutil.copy(os.path.join(ROOT, "results", name), out / name)
    shutil.copy(os.path.join(ROOT, "results", "per_image", "inpainting.csv"), out / "per_image" / "inpainting.csv")
    return out


def run_report(results, capsys, *extra) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = report.main(["--results", str(results), "--runs", str(results / "no-runs"), "--no-figures", *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def test_the_copied_results_make_a_report(results, capsys):
    code, err = run_report(results, capsys)
    assert code == 0 and (results / "tables.md").exists(), err


PER_IMAGE_DAMAGE = {
    "foreign header": lambda text: text.replace("experiment,method", "experiment,approach", 1),
    "extra field": lambda text: text + "inpainting,cd1,square,0,mae_masked,0,0.1,smoke,lfw_faces,,surplus\n",
    "stray quote": lambda text: text + 'inpainting,cd1,"square,0,mae_masked,0,0.1,smoke,lfw_faces,\n',
    "empty file": lambda text: "",
}


# A CSV directly in the results folder with another header is some other table (bench.csv, a timing) and is
# skipped by design; the per-image and curve files have one known header, so a foreign one is damage there.
CASES = [(d, w) for w in ("per_image/inpainting.csv", "inpainting_curve.csv", "gconvnet.csv") for d in PER_IMAGE_DAMAGE
         if not (w == "gconvnet.csv" and d == "foreign header")]


@pytest.mark.parametrize("damage,where", CASES)
def test_a_damaged_input_is_one_line_naming_the_file(damage, where, results, capsys):
    path = results / where
    text = path.read_text() if path.exists() else (results / "inpainting.csv").read_text()
    path.write_text(PER_IMAGE_DAMAGE[damage](text))
    code, err = run_report(results, capsys)
    assert code == 2 and len(err) == 1, err
    assert where.split("/")[-1] in err[0] and err[0].startswith("error: "), err
    assert not (results / "tables.md").exists()


def test_an_infinite_value_is_warned_like_a_missing_one(results, capsys):
    path = results / "svhn_l2svm.csv"
    lines = path.read_text().splitlines()
    fields = lines[1].split(",")
    fields[5] = "inf"
    path.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    code, err = run_report(results, capsys)
    assert code == 0
    assert any("is not a finite number" in e and "inf" in e and fields[1] in e for e in err), err


def test_temporary_files_of_a_killed_report_are_removed_and_others_kept(results, capsys):
    """The report removes the temporary files it left when killed (figures/, and its own outputs' in the folder),
    and keeps those a task writing the folder may be in the middle of."""
    (results / "figures").mkdir()
    own = [results / "figures" / ".tmp-abc123inpainting_celeba_smoke.png", results / ".tmp-x1y2tables.md",
           results / ".tmp-q9cells.csv"]
    task = results / ".tmp-k7inpainting.csv"  # a task's atomic write in flight
    for f in (*own, task):
        f.write_text("partial")
    code, err = run_report(results, capsys)
    assert code == 0, err
    assert not any(f.exists() for f in own) and task.exists()
