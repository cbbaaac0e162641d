"""What a newcomer sees of a long run: run_all.sh's plan and one line per step as it ends, and training progress that
stays plain, short lines with an ETA when it goes to a log file instead of a terminal."""
import io
import os
import re
import shlex
import subprocess
import sys
import time

import pytest

from repro.base.io import Progress, duration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_ALL = os.path.join(ROOT, "run_all.sh")
# stands in for python in run_all.sh's task commands: writes <--out>/<task>.csv with 2 rows (the report: tables.md),
# or fails with status 3 for the module named by $FAIL
FAKE_PYTHON = r"""#!/usr/bin/env bash
mod="" out="" prev=""
for a in "$@"; do
  [ "$prev" = -m ] && mod=$a
  if [ "$prev" = --out ] || [ "$prev" = --results ]; then out=$a; fi
  prev=$a
done
[ "$mod" = "${FAIL:-}" ] && exit 3
mkdir -p "$out"
if [ "$mod" = tasks.report ]; then echo "# Tables" > "$out/tables.md"
else printf 'a,b\n1,2\n3,4\n' > "$out/${mod#tasks.}.csv"; fi
"""


def run_all(tmp_path, *args, fail=""):
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "VIRTUAL_ENV": str(tmp_path), "FAIL": fail}  # VIRTUAL_ENV: use PYTHON
    return subprocess.run(["bash", RUN_ALL, "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def task_names(commands: str) -> list[str]:
    """The step names run_all.sh gives its --print-commands lines: the task's module, with its --experiment."""
    names = []
    for line in commands.splitlines():
        argv = shlex.split(line)
        exp = argv[argv.index("--experiment") + 1] if "--experiment" in argv else ""
        names.append(" ".join(filter(None, (argv[argv.index("-m") + 1].removeprefix("tasks."), exp))))
    return names


def test_run_all_prints_its_plan_and_a_line_per_step(tmp_path):
    printed = run_all(tmp_path, "--print-commands")
    assert printed.returncode == 0 and printed.stderr == ""
    steps = [*task_names(printed.stdout), "report"]
    res = run_all(tmp_path)
    assert res.returncode == 0, res.stderr
    lines, n = res.stdout.splitlines(), len(steps)
    assert lines[0] == f"run_all.sh: {n} steps: {', '.join(steps)}; profile smoke; results in {tmp_path / 'out'}, " \
                       f"models in {tmp_path / 'runs'}"
    for i, name in enumerate(steps, 1):
        done = [ln for ln in lines if ln.startswith(f"[{i}/{n}] {name} done in ")]
        assert len(done) == 1, (name, res.stdout)
        written = "tables.md" if name == "report" else f"{name.split()[0]}.csv (2 rows)"
        assert re.fullmatch(rf"\[{i}/{n}\] {name} done in \d+ s; .*", done[0]) and written in done[0], done[0]
        assert re.fullmatch(rf"\[{i}/{n}\] elapsed \d+ s; steps left {n - i}", lines[lines.index(done[0]) + 1])
    assert lines[-1].startswith("run_all.sh: done in ") and max(map(len, lines)) < 1000


def test_a_failed_step_stops_the_run_with_one_line(tmp_path):
    res = run_all(tmp_path, fail="tasks.svhn_features")
    assert res.returncode == 3
    assert "[2/9] score_diagnostics done in" in res.stdout and "[3/9] svhn_features done" not in res.stdout
    assert re.search(r"\[3/9\] svhn_features failed \(exit status 3\) after \d+ s; .*steps left 7", res.stderr)
    assert not (tmp_path / "out" / "inpainting.csv").exists()


@pytest.mark.parametrize("profile", ["smoke", "reduced", "paper"])
def test_print_commands_prints_only_the_commands(tmp_path, profile):
    (tmp_path / "data" / "faces").mkdir(parents=True)
    (tmp_path / "data" / "svhn").mkdir()
    res = run_all(tmp_path, "--profile", profile, "--data-root", str(tmp_path / "data"), "--print-commands")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) >= 8 and all(shlex.split(ln)[1:3] == ["-m", shlex.split(ln)[2]] for ln in lines)
    assert all(shlex.split(ln)[2].startswith("tasks.") for ln in lines), res.stdout


def test_duration_reads_as_the_readme_writes_times():
    assert [duration(s) for s in (0.4, 8, 141, 3660, 338400)] == ["0 s", "8 s", "2 min 21 s", "1 h 01 min",
                                                                   "94 h 00 min"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_a_bar_with_an_eta():
    out = Terminal()
    bar = Progress(range(2, 6), total=8, desc="multigrid lfw_faces", file=out)
    for _ in bar:
        bar.set_postfix(f_obs="1.5")
    bar.close()
    assert "\r" in out.getvalue() and "f_obs=1.5, ETA " in out.getvalue() and "to iteration 6" in out.getvalue()


def test_progress_elsewhere_is_plain_lines_with_an_eta_and_none_under_no_progress():
    out = io.StringIO()
    bar = Progress(range(0, 40), total=40, desc="cd1 digits", file=out)
    for t in bar:
        bar.set_postfix(f_obs="1.5")
        if t == 25:  # a stop asked after iteration 26: counted, then closed (the engine's order)
            bar.update()
            bar.close()
            break
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 7  # every tenth of 40 iterations (4), then where it stopped
    assert re.fullmatch(r"cd1 digits: iteration 4/40, [\d.e-]+ s/it, ETA \d+ s for this model; f_obs=1.5", lines[0])
    assert lines[-1].startswith("cd1 digits: iteration 26/40, ")
    slow = io.StringIO()
    bar = Progress(range(0, 1000), total=1000, desc="x", file=slow, every=0.05)  # a line every 0.05 s
    for t in bar:
        if t == 2:
            break
        time.sleep(0.06)
    assert slow.getvalue().count("\n") == 2
    quiet = io.StringIO()
    bar = Progress(range(0, 3), total=3, desc="x", file=quiet, enabled=False)
    for _ in bar:
        pass
    bar.close()
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_training_into_a_log_file_writes_short_plain_progress_lines(tmp_path):
    """stdout and stderr into a file (not a terminal): tqdm's carriage-return bars made one line of kilobytes; now
    one plain line per tenth of the iterations, each with its ETA, and the last with the time taken."""
    log = tmp_path / "train.log"
    cmd = [sys.executable, "-m", "repro.runner.train", "--profile", "smoke", "--batch-size", "8", "--steps-per-grid",
           "3", "--n-show", "4", "--n-iters", "4", "--checkpoint-every", "4", "--out", str(tmp_path / "run")]
    with open(log, "w") as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=fh, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    text = log.read_text()
    assert res.returncode == 0, text[-2000:]
    lines = text.splitlines()
    progress = [ln for ln in lines if ln.startswith("multigrid lfw_faces: iteration ")]
    assert "\r" not in text and max(map(len, lines)) <= 1000
    assert [ln.split(",")[0] for ln in progress] == [f"multigrid lfw_faces: iteration {i}/4" for i in range(1, 5)]
    assert all(" s/it, ETA " in ln and "for this model" in ln for ln in progress[:-1])
    assert re.search(r" s/it, done in \d+ s; f_obs=", progress[-1])
