"""Spread independent commands over GPUs and nodes: ``python -m tools.spread --gpus 0 1 2 3 COMMANDS``.

COMMANDS is a file with one shell command per line (blank lines and lines starting with # are skipped), for
instance the tasks of ``bash run_all.sh --print-commands``, or one training seed or method per line; it may come
before or after the GPUs, or as ``--commands FILE``, and the GPUs may also be one word (``--gpus 0,1,2,3`` or
``--gpus "0 1 2 3"``). Each command runs alone on one GPU (``CUDA_VISIBLE_DEVICES`` set to it, so its
``--device auto`` or ``cuda`` is that GPU), at most one command per GPU at a time, the next command starting on
the first GPU that frees up.
With ``--nodes N --node-rank R`` (the same file on every node, R = 0..N−1), node R runs commands R, R + N,
R + 2N, ...; the nodes share nothing but the file system that holds --out and --runs.

Independent runs need no collectives at all, so this is the way to use several GPUs for the paper's
experiments (each model is small: a paper iteration keeps one GPU busy). Data parallelism over processes
(torchrun, repro.base.dist) is for one model whose batch is too slow on one GPU. Two commands that need the same
trained model share it: the first trains it, the other waits for its run folder (repro.runner.lock) and
loads it. Results from several commands merge into the same CSVs (tasks.common.write_results holds a lock).

Each command's output goes to --logs/<line number>.log. Exit status 0 when every command succeeded, else 1,
with the failed commands listed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def read_commands(path: str) -> list[tuple[int, str]]:
    """(line number, command) for each command line of the file."""
    with open(path) as f:
        lines = [(i, line.strip()) for i, line in enumerate(f, start=1)]
    return [(i, c) for i, c in lines if c and not c.startswith("#")]


def share(commands: list, nodes: int, node_rank: int) -> list:
    """The commands node `node_rank` of `nodes` runs: every nodes-th, from its rank."""
    if nodes < 1 or not 0 <= node_rank < nodes:
        raise ValueError(f"--node-rank {node_rank} of --nodes {nodes}: need 0 ≤ node rank < nodes")
    return commands[node_rank::nodes]


def spread(commands: list[tuple[int, str]], gpus: list[str], logs: str, poll: float = 0.2) -> list[tuple[int, str]]:
    """Run the commands, one per GPU at a time; returns the (line, command) pairs that failed."""
    if not gpus:
        raise ValueError("--gpus: name at least one GPU")
    os.makedirs(logs, exist_ok=True)
    queue, running, failed = list(commands), {}, []  # running: gpu → (line, command, process, log file)
    while queue or running:
        for gpu in gpus:
            if gpu not in running and queue:
                line, cmd = queue.pop(0)
                log = open(os.path.join(logs, f"{line}.log"), "w")
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
                proc = subprocess.Popen(cmd, shell=True, env=env, stdout=log, stderr=subprocess.STDOUT)
                running[gpu] = (line, cmd, proc, log)
                print(f"[spread] GPU {gpu}: line {line} started: {cmd}", flush=True)
        for gpu, (line, cmd, proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[gpu]
                ok = proc.returncode == 0
                if not ok:
                    failed.append((line, cmd))
                print(f"[spread] GPU {gpu}: line {line} {'done' if ok else f'FAILED ({proc.returncode})'}; "
                      f"log {log.name}", flush=True)
        time.sleep(poll)
    return failed


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("commands", nargs="?", help="file with one shell command per line (also: --commands FILE)")
    p.add_argument("--commands", dest="commands_file", metavar="FILE", help="the same file, as an option")
    p.add_argument("--gpus", nargs="+", required=True,
                   help="GPU indices (as CUDA_VISIBLE_DEVICES names them), as words or one word split at commas or "
                        "spaces; a commands file given last (--gpus 0 1 2 3 COMMANDS) is taken as the file")
    p.add_argument("--nodes", type=int, default=1, help="number of nodes sharing the file")
    p.add_argument("--node-rank", type=int, default=0, help="this node's rank, 0 .. nodes − 1")
    p.add_argument("--logs", default="logs/spread", help="folder for each command's output")
    p.add_argument("--dry-run", action="store_true", help="list this node's commands and stop")
    args = p.parse_args(argv)
    if args.commands and args.commands_file:
        p.error("give the commands file once: as an argument or as --commands FILE")
    args.commands = args.commands or args.commands_file
    if args.commands is None:  # --gpus took every word after it (nargs="+"): the last one is the file
        if len(args.gpus) < 2:
            p.error("the following arguments are required: commands (a file, or --commands FILE)")
        args.commands = args.gpus.pop()
    args.gpus = [g for word in args.gpus for g in word.replace(",", " ").split()]
    return args


def main(argv=None) -> int:
    args = parse(argv)
    try:
        mine = share(read_commands(args.commands), args.nodes, args.node_rank)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        for line, cmd in mine:
            print(f"line {line}: {cmd}")
        return 0
    failed = spread(mine, args.gpus, args.logs)
    for line, cmd in failed:
        print(f"[spread] failed: line {line}: {cmd}", file=sys.stderr)
    print(f"[spread] {len(mine) - len(failed)} of {len(mine)} commands succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
