"""tools.slurm submits a commands file as a job array through submitit: tested end to end with submitit's local
executor (each command a real job on this machine), a failed command retried and then reported; the Slurm
resources checked in the sbatch file submitit would submit (a stand-in `srun` on PATH, no cluster needed)."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("submitit")

from tools.slurm import describe, main, make_executor, outcome, parse


def test_commands_run_as_jobs_a_failure_is_retried_then_reported(tmp_path, capsys):
    a, b, marker, count = (tmp_path / n for n in ("a", "b", "marker", "count"))
    cmds = tmp_path / "commands.txt"
    cmds.write_text("\n".join([
        "# the tasks", f"echo ok > {a}", f"echo ok > {b}",
        f"test -e {marker} || {{ touch {marker}; exit 1; }}",  # fails the first time, succeeds on the retry
        f"echo x >> {count}; exit 3",  # fails every time
    ]) + "\n")
    status = main([str(cmds), "--executor", "local", "--gpus-per-node", "0", "--timeout-min", "2",
                   "--folder", str(tmp_path / "logs")])
    out, err = capsys.readouterr()
    assert status == 1
    assert a.read_text() == b.read_text() == "ok\n"
    assert marker.exists() and "line 4 done" in out  # the retried command succeeded (line numbers count the comment)
    assert count.read_text() == "x\nx\n"  # the always-failing one ran twice: once and one retry
    failed = [ln for ln in err.splitlines() if ln.startswith("[slurm] failed")]
    assert len(failed) == 1 and "line 5 (exit 3, 2 attempts)" in failed[0]
    log = failed[0].rsplit("; log ", 1)[1]
    assert f"echo x >> {count}; exit 3" in open(log).read()  # the log named is that command's
    assert "3 of 4 commands succeeded" in out


def test_a_job_that_died_is_a_failure_with_its_reason():
    class Killed:  # as submitit's job.result() raises for a job killed by the time limit or a lost node
        def result(self):
            raise RuntimeError("Job 12_3 (task: 0) with path x\nhas not produced any output (state: TIMEOUT)")

    status = outcome(Killed())
    assert status != 0 and describe(status) == "job failed: RuntimeError: Job 12_3 (task: 0) with path x"
    assert describe(3) == "exit 3"


def test_slurm_resources_reach_the_sbatch_file(tmp_path, monkeypatch):
    (tmp_path / "srun").write_text("#!/bin/sh\n")  # submitit's SlurmExecutor looks for srun on PATH
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    args = parse(["commands.txt", "--partition", "gpu", "--gpus-per-node", "1", "--cpus-per-task", "6",
                  "--timeout-min", "90", "--mem-gb", "24", "--slurm", "account=abc", "--folder", str(tmp_path)])
    executor = make_executor(args)._executor
    executor.parameters["map_count"] = 3  # as submitit sets it for an array of 3
    sbatch = executor._make_submission_file_text("CMD", "uid").splitlines()
    for flag in ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=6", "--time=90", "--mem=24GB",
                 "--account=abc", "--array=0-2%3"):
        assert f"#SBATCH {flag}" in sbatch


def run_tool(*argv):
    return subprocess.run([sys.executable, "-m", "tools.slurm", *argv], capture_output=True, text=True,
                          cwd=os.path.join(os.path.dirname(__file__), ".."))


def test_help_and_a_missing_file():
    helped = run_tool("--help")
    assert helped.returncode == 0 and "tools.spread" in helped.stdout and "--retries" in helped.stdout
    missing = run_tool("no/such/commands.txt", "--executor", "local")
    assert missing.returncode == 2 and missing.stdout == ""
    assert len(missing.stderr.splitlines()) == 1 and "no/such/commands.txt" in missing.stderr


@pytest.mark.slow
def test_a_smoke_command_of_the_suite_runs_as_a_job(tmp_path, capsys):
    """A real command of the suite's list (a smoke training run, sized down) through the local executor: it trains
    and checkpoints its run folder as it would on a cluster node."""
    out = tmp_path / "run"
    cmds = tmp_path / "commands.txt"
    cmds.write_text(f"{sys.executable} -m repro.runner.train --profile smoke --n-iters 2 --batch-size 8 "
                    f"--steps-per-grid 2 --checkpoint-every 1 --no-progress --device cpu --out {out}\n")
    status = main([str(cmds), "--executor", "local", "--gpus-per-node", "0", "--timeout-min", "5",
                   "--folder", str(tmp_path / "logs")])
    assert status == 0, capsys.readouterr()
    assert (out / "checkpoint.pt").exists() and "1 of 1 commands succeeded" in capsys.readouterr().out
