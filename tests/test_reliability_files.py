"""Issue 13, the result files' side: nothing lost, nothing silently wrong in what the tasks write. Result
rows name their run and keep their first provenance, concurrent writers lose no row, a malformed CSV stops a
task before it writes, every writer is atomic or named in IN_PLACE_WRITERS, files get the user's umask.
The runs' side (kills, resume, checkpoints, settings refused before any work): tests/test_reliability.py."""
import dataclasses
import multiprocessing as mp
import os
import stat
import time

import pytest
import torch
from PIL import Image

from repro.base.io import append_csv, atomic_save_image, atomic_write_bytes, provenance, read_csv

# --- 3. concurrent writers of one results CSV ------------------------------------------------

def _write_rows(out: str, k: int, barrier) -> None:
    import tasks.common as common
    real = common.write_csv

    def slow(*a, **kw):  # a slow disk widens the read-merge-replace window
        time.sleep(0.2)
        real(*a, **kw)
    common.write_csv = slow
    from repro.base.config import get_config
    cfg = get_config("smoke")
    prov = {"device": "cpu", "commit": "x", "date": "d"}
    rows = [common.result_row(cfg, experiment="inpainting", method=f"m{k}", setting=f"s{j}", metric="mae",
                              value=k + j, n_images=1, prov=prov) for j in range(6)]
    barrier.wait()
    common.write_results(out, "inpainting", rows)


def test_concurrent_writers_keep_every_row(tmp_path):
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_write_rows, args=(str(tmp_path), k, barrier)) for k in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    rows = read_csv(str(tmp_path / "inpainting.csv"))
    assert len(rows) == 48 and {r["method"] for r in rows} == {f"m{k}" for k in range(8)}


# --- 8. every result row names its run and iteration count --------------------------------------

def test_result_rows_record_run_and_iterations_and_old_csvs_still_merge(tmp_path):
    from repro.base.config import get_config
    from tasks.common import RESULT_COLUMNS, result_row, run_columns, write_results

    cfg, prov = get_config("smoke"), {"device": "cpu", "commit": "c", "date": "d"}

    class Trained:  # a finished run of 400 iterations (run_columns reads cfg.n_iters since --stop-at)
        iteration = 400
        cfg = dataclasses.replace(get_config("smoke"), n_iters=400)
    old_columns = RESULT_COLUMNS[:RESULT_COLUMNS.index("run")]
    old = {**{c: "" for c in old_columns}, "experiment": "inpainting", "method": "floor", "setting": "square",
           "seed": "0", "metric": "mae", "value": "0.1", "profile": "smoke", "dataset": "lfw_faces"}
    (tmp_path / "inpainting.csv").write_text(",".join(old_columns) + "\n" + ",".join(old[c] for c in old_columns)
                                             + "\n")
    run = run_columns([(Trained(), str(tmp_path / "runs" / "smoke-lfw_faces-cd1-seed0-inpaint-1234abcd"))])
    new = result_row(cfg, experiment="inpainting", method="cd1", setting="square", metric="mae", value=0.2,
                     n_images=20, prov=prov, **run)
    write_results(str(tmp_path), "inpainting", [new])
    rows = read_csv(str(tmp_path / "inpainting.csv"))
    assert list(rows[0]) == RESULT_COLUMNS and RESULT_COLUMNS[-2:] == ["run", "iterations"]
    assert (rows[0]["run"], rows[0]["iterations"]) == ("", "")  # the old row, kept
    assert (rows[1]["run"], rows[1]["iterations"]) == ("smoke-lfw_faces-cd1-seed0-inpaint-1234abcd", "400")


# --- 11. files with the user's umask (true messages: tests/test_reliability.py) -----------------------

def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(str(tmp_path / "a.json"), b"{}")
        atomic_save_image(torch.zeros(1, 1, 2, 2), str(tmp_path / "b.png"))
        append_csv(str(tmp_path / "c.csv"), [{"x": 1}], ["x"])
    finally:
        os.umask(old)
    for name in ("a.json", "b.png", "c.csv"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640, name


def test_a_reproduced_row_keeps_its_first_provenance_and_a_changed_one_is_replaced(tmp_path):
    from repro.base.config import get_config
    from tasks.common import result_row, write_results

    cfg = get_config("smoke")

    def row(method, value, commit, ci=(0.05, 0.15)):
        return result_row(cfg, experiment="inpainting", method=method, setting="square", metric="mae",
                          value=value, ci=ci, n_images=20, run=f"run-{method}", iterations=400,
                          prov={"device": "cpu", "commit": commit, "date": f"date-{commit}"})
    write_results(str(tmp_path), "inpainting", [row("cd1", 0.1 / 3, "old"), row("multigrid", 0.2, "old"),
                                                row("pcd", 0.3, "old")])
    # re-read cached models at a new commit: cd1 reproduced bit for bit, multigrid's value moved,
    # pcd's interval moved
    write_results(str(tmp_path), "inpainting", [row("cd1", 0.1 / 3, "new"), row("multigrid", 0.2 + 1e-12, "new"),
                                                row("pcd", 0.3, "new", ci=(0.05, 0.16))])
    rows = {r["method"]: r for r in read_csv(str(tmp_path / "inpainting.csv"))}
    assert len(rows) == 3
    assert (rows["cd1"]["commit"], rows["cd1"]["date"], float(rows["cd1"]["value"])) == ("old", "date-old", 0.1 / 3)
    assert rows["multigrid"]["commit"] == "new" and float(rows["multigrid"]["value"]) == 0.2 + 1e-12
    assert rows["pcd"]["commit"] == "new" and float(rows["pcd"]["ci_high"]) == 0.16
    assert list(rows) == ["cd1", "multigrid", "pcd"]  # the kept row stays in place, replaced ones follow


def test_cpu_provenance_names_the_torch_threads_of_the_process():
    # One thread instead of two reorders the float sums and moves trained results as much as a new seed does:
    # the device column must tell such runs apart.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = provenance(torch.device("cpu"))["device"]
        torch.set_num_threads(2)
        two = provenance(torch.device("cpu"))["device"]
    finally:
        torch.set_num_threads(before)
    assert one.startswith("cpu:") and one.endswith("/1thread"), one
    assert two.endswith("/2threads") and one != two, two


@pytest.mark.parametrize("damage", ["stray quote", "foreign header", "extra field"])
def test_a_malformed_results_csv_stops_the_task_and_stays_as_it_was(tmp_path, capsys, damage):
    """Issue 28, probe 1: a stray quote on line 3 of a results CSV made the next task's merge swallow 53 of 72
    rows into one cell (exit 0); a header of other columns blanked every row. Now the task stops with one line
    naming the file and line, before writing, and the file is byte for byte as it was."""
    from tasks.common import RESULT_COLUMNS, cli
    from tasks.inpainting import main
    out = tmp_path / "out"
    args = ["--methods", "--floors", "observed_mean", "--out", str(out), "--runs", str(tmp_path / "runs"),
            "--no-progress"]
    assert cli(lambda: main(args)) == 0
    path = out / "inpainting.csv"
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].strip() == ",".join(RESULT_COLUMNS) and len(lines) > 10
    if damage == "stray quote":
        lines[2] = lines[2].replace("observed_mean", '"observed_mean', 1)
    elif damage == "foreign header":
        lines[0] = lines[0].replace("experiment", "experiment_id")
    else:
        lines[4] = lines[4].rstrip("\n") + ",surplus\n"
    path.write_text("".join(lines))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}  # the CSV, its per-image file, the panels
    capsys.readouterr()
    assert cli(lambda: main(args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "line " in err[0] and "left as it was" in err[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_refused_run_leaves_the_results_folder_as_it_was(tmp_path, capsys):
    """Issue 28, probe 2: a run refused for its batch size (larger than the training set) had first redrawn the
    floors' panels over the good ones, which no longer matched the CSV. Now every check runs before any write."""
    import numpy as np

    from tasks.common import cli
    from tasks.inpainting import main
    out, runs = tmp_path / "out", tmp_path / "runs"
    assert cli(lambda: main(["--methods", "--out", str(out), "--runs", str(runs), "--no-progress"])) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert any(p.suffix == ".png" for p in before)
    few = tmp_path / "few"
    few.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(few / f"{i}.png")
    capsys.readouterr()
    code = cli(lambda: main(["--methods", "cd1", "--dataset", "images", "--data-root", str(few), "--batch-size",
                             "50", "--data-cache", "off", "--out", str(out), "--runs", str(runs), "--no-progress"]))
    assert code == 2 and "exceeds the" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


# Every place that writes a file in place, and why it may: the rest of the suite writes through an atomic writer
# (repro.base.io.atomic_path / atomic_write_bytes / write_csv on the torch side, tasks.files on the torch-free side).
IN_PLACE_WRITERS = {
    ("tasks/common.py", 'sys.stdout = open(os.devnull, "w")'): "not a file: silences ranks other than 0",
    ("tasks/common.py", 'with open(path + ".lock", "a") as lock:'): "a lock file, never written to",
    ("repro/runner/lock.py", 'fh = open(lock, "a")'): "a run folder's lock (run_lock), never written",
    ("repro/base/io.py", 'with open(path, "a", newline="") as fh:'):
        "log.csv, append-only and fsynced; a resume cuts it back to the checkpoint (the commit point)",
    ("tools/spread.py", 'log = open(os.path.join(logs, f"{line}.log"), "w")'): "a command's live log, streamed",
    ("tools/time_l2svm.py", 'with open(args.out, "w", newline="") as fh:'): "a timing tool's rows, streamed as "
                                                                               "they are measured",
    ("tools/time_reduced.py", 'with open(os.path.join(work, "times.csv"), "a") as log:'):
        "a timing tool's scratch log in its work folder, appended as each task is timed (the projection it feeds "
        "is written atomically)",
}


def test_every_writer_is_atomic_or_named_here():
    """Issue 28, probes 5-6: the report drew figures in place (a kill left a 0-byte PNG) and wrote tables.md with
    mode 0600 and no fsync. Lists every savefig, to_csv and open(..., "w") outside the atomic writers: each must
    write to a temporary path or a buffer, or be named in IN_PLACE_WRITERS with its reason."""
    import re
    root = os.path.join(os.path.dirname(__file__), "..")
    found = []
    for folder in ("repro", "tasks", "tools"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                for line in open(os.path.join(dirpath, name), encoding="utf-8"):
                    code = line.strip()  # open(...) with one level of calls inside: open(os.path.join(...), "w")
                    if re.search(r"\.savefig\(|\.to_csv\(|open\((?:[^()]|\([^()]*\))*[\"'][wa]b?[\"']", code):
                        found.append((rel, code))
    atomic = {("repro/base/io.py", 'with open(tmp, "wb") as fh:'), ("tasks/synthesis.py", "fig.savefig(tmp, dpi=120)"),
              ("tasks/files.py", 'with os.fdopen(fd, "wb") as fh:'),
              ("tasks/generative_convnet.py", 'fig.savefig(tmp, dpi=100, format="png")'),
              ("tasks/figures.py", 'fig.savefig(buf, format="png", dpi=DPI)'),
              ("tasks/report.py", 'cell_records(blocks, results).to_csv(buf, index=False, lineterminator="\\n")')}
    named = lambda f, known: any(f[0] == k[0] and f[1].startswith(k[1]) for k in known)  # noqa: E731
    unexplained = [f for f in found if not named(f, atomic) and not named(f, IN_PLACE_WRITERS)]
    assert not unexplained, unexplained
    stale = [k for k in (*atomic, *IN_PLACE_WRITERS)  # an entry that names no writer misleads the reader
             if not any(f[0] == k[0] and f[1].startswith(k[1]) for f in found)]
    assert not stale, stale


def test_the_reports_files_get_the_users_umask(tmp_path):
    from tasks.files import atomic_write_bytes
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / "tables.md"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "tables.md").st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["tables.md"]


def test_another_test_budget_never_takes_the_paper_procedures_name(tmp_path):
    """Issue 28, probe 9: --test-steps 3 on a cached model wrote its 3-step rows under the plain mask names (the
    paper's column) and the paper's budget as '|test_steps=90'. Now the plain names keep the paper's procedure,
    rerun bit for bit, and the other budget is its own setting."""
    from tasks.inpainting import main
    base = ["--methods", "multigrid", "--no-floors", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2",
            "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--no-progress"]
    first = {(r["setting"], r["metric"]): r["value"] for r in main(base)}
    again = {(r["setting"], r["metric"]): r["value"] for r in main(base + ["--test-steps", "3"])}
    assert {s for s, _ in first} == {"square", "doodle", "pepper"}
    assert {s for s, _ in again} == {"square", "doodle", "pepper", "square|test_steps=3", "doodle|test_steps=3",
                                     "pepper|test_steps=3"}
    assert all(again[k] == v for k, v in first.items())  # the paper procedure's rows, unchanged
