"""Run independent commands as a Slurm job array (submitit): ``python -m tools.slurm COMMANDS --partition P``.

Which tool when:
  - one CPU or one GPU: ``bash run_all.sh`` (the tasks one after another, then the report);
  - the GPUs of one machine, or a few machines you log into yourself: ``python -m tools.spread --gpus 0 1 2 3
    COMMANDS`` (or ``bash run_all.sh --gpus "0 1 2 3"``);
  - a cluster with a Slurm scheduler: this tool. The paper's profile there, from the repository root on
    the shared file system:

        bash run_all.sh --profile paper --data-root DIR --print-commands > commands.txt
        python -m tools.slurm commands.txt --partition gpu --gpus-per-node 1 --cpus-per-task 8 --timeout-min 1440
        python -m tasks.report --results results --runs runs          # once every command has succeeded

COMMANDS is a file with one shell command per line (blank lines and lines starting with # are skipped), as
``bash run_all.sh --print-commands`` prints them. Each line becomes one task of one job array (one GPU, the given
CPUs, memory and time each); the task runs the line with ``subprocess.run(cmd, shell=True)`` in the folder this
tool was started from (run it from the repository root: run_all.sh's lines are relative to it), with the job's
environment (the venv this tool runs in, ``CUDA_VISIBLE_DEVICES`` set by Slurm), and returns its exit status.
A command that fails (non-zero status, or its job killed: time limit, memory, a lost node) is submitted again,
alone, as soon as its failure is seen, up to --retries times; a training run killed by the time limit resumes
from its last checkpoint there (the tasks reuse and resume the run folders under --runs).

No ordering is needed between the lines: two commands that need the same trained model share it through the
run-folder lock (repro.runner.lock): the first trains it, the other waits for the lock and loads it; results
from several commands merge into the same CSVs (tasks.common.write_results holds a lock). The run and results
folders must be on a file system every node sees, and so must --folder.

The tool waits for every command (run it in tmux or screen on the login node; stopping it leaves Slurm's
jobs running: ``scancel`` the job id it prints). Each attempt's output is in --folder, one
``<job id>_0_log.out`` per attempt. At the end it prints one line per command that failed every attempt (its line
number, exit status and log) and one summary line, "N of M commands succeeded"; exit status 0 when all did, 1
otherwise, 2 for a usage error (a missing commands file, submitit not installed: ``pip install -e ".[cluster]"``).

``--executor local`` runs every command at once on this machine through submitit's LocalExecutor, with the same
retries and report: for the tests, and to try a short list on a laptop before a cluster.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from tools.spread import read_commands

POLL_S = {"local": 0.2, "slurm": 30.0}  # seconds between looks at the jobs' states (Slurm's are read from sacct)


def run_command(cmd: str, cwd: str) -> int:
    """The job: one shell command in `cwd`, its output (stdout and stderr) into the job's log; its exit status."""
    print(f"[slurm] running in {cwd}: {cmd}", flush=True)
    return subprocess.run(cmd, shell=True, cwd=cwd, stderr=subprocess.STDOUT).returncode


def make_executor(args: argparse.Namespace):
    """submitit's executor for --executor, with the resources of one array task."""
    import submitit

    executor = submitit.AutoExecutor(folder=args.folder, cluster=args.executor)
    extra = {f"slurm_{key}": value for key, value in args.slurm}  # ignored by the local executor, names checked
    executor.update_parameters(name="mgcd", timeout_min=args.timeout_min, mem_gb=args.mem_gb,
                               cpus_per_task=args.cpus_per_task, gpus_per_node=args.gpus_per_node,
                               stderr_to_stdout=True, slurm_partition=args.partition, **extra)
    return executor


def outcome(job) -> int | str:
    """A finished job's exit status, or why the job itself failed (killed, timed out, lost)."""
    try:
        return job.result()
    except Exception as err:  # submitit's UncompletedJobError, FailedJobError, ...
        first = str(err).strip().splitlines()[:1]
        return f"job failed: {type(err).__name__}{': ' + first[0] if first else ''}"


def describe(status: int | str) -> str:
    return f"exit {status}" if isinstance(status, int) else status


def run_array(executor, commands: list[tuple[int, str]], retries: int, cwd: str, poll: float) -> list[tuple]:
    """Run the commands as one array, each failed one resubmitted alone up to `retries` times; returns
    (line, command, status, log path, attempts) for each command that failed every attempt."""
    jobs = executor.map_array(run_command, [cmd for _, cmd in commands], [cwd] * len(commands))
    print(f"[slurm] submitted {len(jobs)} commands (job {jobs[0].job_id.split('_')[0]}); logs in {executor.folder}",
          flush=True)
    pending = {i: (job, 1) for i, job in enumerate(jobs)}  # command index → (its latest job, attempts so far)
    failed = []
    while pending:
        time.sleep(poll)
        for i, (job, attempts) in list(pending.items()):
            if not job.done():
                continue
            (line, cmd), status, log = commands[i], outcome(job), job.paths.stdout
            if status == 0:
                del pending[i]
                print(f"[slurm] line {line} done; log {log}", flush=True)
            elif attempts <= retries:
                pending[i] = (executor.submit(run_command, cmd, cwd), attempts + 1)
                print(f"[slurm] line {line} failed ({describe(status)}); retry {attempts} of {retries}; log {log}",
                      flush=True)
            else:
                del pending[i]
                failed.append((line, cmd, status, log, attempts))
    return sorted(failed)


def key_value(text: str) -> tuple[str, str | int]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE, e.g. account=myproject")
    return key.replace("-", "_"), int(value) if value.isdigit() else value


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.slurm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("commands", help="file with one shell command per line")
    p.add_argument("--executor", choices=("slurm", "local"), default="slurm",
                   help="slurm: a job array on the cluster; local: every command at once on this machine")
    p.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    p.add_argument("--gpus-per-node", type=int, default=1, help="GPUs per command")
    p.add_argument("--cpus-per-task", type=int, default=8, help="CPU cores per command (data loading, the report)")
    p.add_argument("--timeout-min", type=int, default=1440, help="time limit per attempt, minutes")
    p.add_argument("--mem-gb", type=float, default=32.0, help="host memory per command, GB")
    p.add_argument("--retries", type=int, default=1, help="attempts after a command's first failure")
    p.add_argument("--folder", default="logs/slurm", help="submitit's folder: job files and each attempt's log")
    p.add_argument("--slurm", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="any other parameter of submitit's SlurmExecutor, e.g. --slurm account=ABC --slurm qos=high "
                        "--slurm array_parallelism=16 (at most 16 commands at once)")
    args = p.parse_args(argv)
    if args.retries < 0:
        p.error("--retries: 0 or more")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    try:
        commands = read_commands(args.commands)
        if not commands:
            raise ValueError(f"{args.commands}: no commands in the file")
        executor = make_executor(args)
    except ImportError:
        print("error: tools.slurm needs submitit: pip install submitit (or pip install -e \".[cluster]\")",
              file=sys.stderr)
        return 2
    except (OSError, ValueError, NameError, RuntimeError) as err:  # no file; a parameter submitit refuses; no srun
        hint = " (off a cluster: --executor local)" if isinstance(err, RuntimeError) else ""
        print(f"error: {' '.join(str(err).split())}{hint}", file=sys.stderr)
        return 2
    failed = run_array(executor, commands, args.retries, os.getcwd(), POLL_S[args.executor])
    for line, cmd, status, log, attempts in failed:
        print(f"[slurm] failed: line {line} ({describe(status)}, {attempts} attempts): {cmd}; log {log}",
              file=sys.stderr)
    print(f"[slurm] {len(commands) - len(failed)} of {len(commands)} commands succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
