"""How long the reduced profile's tables take on this machine: ``python -m tools.time_reduced run``.

The models' cost does not depend on the pixels, so the tables are timed without the real datasets:
1. ``data``: random images in the real file layouts under WORK/data (``faces/``: 2,400 random 178×218 JPEGs,
   standing in for CelebA; ``svhn/``: SVHN ``.mat`` files), the layout ``run_all.sh --data-root`` reads;
2. ``tasks``: each task of ``run_all.sh --profile reduced`` at 1/FRACTION of its iterations, the command and its
   flags read from ``run_all.sh --print-commands`` (not copied here; the iterations from repro.configs), wall time
   of each into WORK/times.csv (the SVHN task runs its CNN experiment only: its L2-SVM fits depend on
   the features, and random images are liblinear's worst case, so timing them would say nothing); each
   task trains into its own folder WORK/runs/<task> (score_diagnostics reuses synthesis's, as in
   run_all.sh), so a run's task and method come from the folder and its config.json, not from its name;
3. ``cnn``: seconds per epoch of the SVHN CNN head per 1,000 labels, per kind of feature source;
4. ``project``: training time projected to the profile's iterations from the seconds per iteration in
   each run's log.csv (the first iteration, which compiles, counted once), plus the measured rest
   (evaluation, loading), into results/reduced_timing.csv with provenance.
``run`` does all four. Only measured and projected seconds are written; no table is run in full.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from repro.base.config import get_config
from repro.base.io import provenance, read_csv, write_csv
from repro.configs import config_overrides, options
from repro.configs.svhn_features import L2SVM_BASELINES
from repro.core.methods import METHODS
from repro.families.registry import FAMILIES

COLUMNS = ["table", "what", "seconds", "iterations", "profile", "dataset", "device", "commit", "date"]
RUN_ALL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_all.sh")
# timed task → (run_all.sh's module, its runs folder under WORK/runs, flags added for timing); every other flag is
# run_all.sh's own
TASKS = {
    "synthesis": ("tasks.synthesis", "synthesis", []),
    "score_diagnostics": ("tasks.score_diagnostics", "synthesis", []),  # reuses synthesis's multigrid run
    "inpainting": ("tasks.inpainting", "inpainting", []),
    "svhn_cnn": ("tasks.svhn_features", "svhn", ["--verify-checksums", "false", "--experiments", "svhn_cnn"]),
}


def run_all_commands(data: str) -> dict[str, list[str]]:
    """module → its flags (the first command of each module) as ``run_all.sh --profile reduced --data-root data``
    runs them (its --print-commands)."""
    res = subprocess.run(["bash", RUN_ALL, "--profile", "reduced", "--data-root", data, "--print-commands"],
                         capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"run_all.sh --print-commands failed:\n{res.stderr[-2000:]}")
    out = {}
    for line in res.stdout.splitlines():
        argv = shlex.split(line)
        if "-m" in argv:
            at = argv.index("-m")
            out.setdefault(argv[at + 1], argv[at + 2:])
    return out


def with_flag(argv: list[str], flag: str, *values: str) -> list[str]:
    """argv with flag's value(s) replaced (the flag added where absent)."""
    if flag not in argv:
        return [*argv, flag, *values]
    at, end = argv.index(flag), argv.index(flag) + 1
    while end < len(argv) and not argv[end].startswith("--"):
        end += 1
    return [*argv[:at], flag, *values, *argv[end:]]


# The SVHN task trains the four schemes and DCGAN (one training seed each); their seconds per iteration are
# those of the CelebA-sized runs
SVHN_MODELS = [*METHODS, *L2SVM_BASELINES]
MODELS = set(FAMILIES)  # the model families whose runs are timed from their logs


def make_data(work: str) -> None:
    from PIL import Image
    from scipy.io import savemat
    rng = np.random.default_rng(0)
    faces = os.path.join(work, "data", "faces")
    os.makedirs(faces, exist_ok=True)
    for i in range(2400):
        small = rng.integers(0, 256, (14, 11, 3), dtype=np.uint8)
        Image.fromarray(small).resize((178, 218), Image.BILINEAR).save(os.path.join(faces, f"{i:06d}.jpg"))
    svhn = os.path.join(work, "data", "svhn")
    os.makedirs(svhn, exist_ok=True)
    for split, n in (("train", 12000), ("test", 2000)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(os.path.join(svhn, f"{split}_32x32.mat"), {"X": x, "y": (np.arange(n) % 10 + 1)[:, None]})


def profile_iterations(name: str) -> int:
    """Iterations the reduced profile trains the models of task `name` for (the task's own setting, if any)."""
    task = TASKS[name][0].split(".")[-1]
    return config_overrides(task, "reduced").get("n_iters", get_config("reduced").n_iters)


def task_commands(work: str, fraction: int, names) -> dict[str, list[str]]:
    """name → the command that times task `name`: run_all.sh's, at 1/fraction of its iterations, its results and
    runs in WORK."""
    commands, out = run_all_commands(os.path.join(work, "data")), {}
    for name in names:
        module, runs, extra = TASKS[name]
        if module not in commands:
            raise RuntimeError(f"run_all.sh --profile reduced runs no {module}")
        argv = with_flag(commands[module], "--out", os.path.join(work, "results"))
        argv = with_flag(argv, "--runs", os.path.join(work, "runs", runs))
        for flag, *values in (("--n-iters", str(profile_iterations(name) // fraction)), ("--no-progress",)):
            argv = with_flag(argv, flag, *values)
        for i in range(0, len(extra), 2):
            argv = with_flag(argv, extra[i], extra[i + 1])
        out[name] = [sys.executable, "-m", module, *argv]
    return out


def run_tasks(work: str, fraction: int, names) -> None:
    commands = task_commands(work, fraction, names)
    with open(os.path.join(work, "times.csv"), "a") as log:
        for name, cmd in commands.items():
            tic = time.perf_counter()
            res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if res.returncode:
                raise RuntimeError(f"{name} failed:\n{res.stderr[-2000:]}")
            log.write(f"{name},{time.perf_counter() - tic:.1f}\n")
            log.flush()


def cnn_rates(work: str) -> None:
    """Seconds per epoch per 1,000 labels (1 vs 3 epochs, difference halved) of the SVHN CNN head, per kind of
    feature source, on random images at the reduced profile's SVHN settings."""
    from repro.datasets.data import ImageSet
    from repro.evaluation.features import PixelMaps
    from repro.families.registry import initial_learner
    from tasks.svhn_features import cnn_error
    from tasks.svhn_protocol import Data
    cfg = get_config("reduced", **config_overrides("svhn_features", "reduced"))
    g = torch.Generator().manual_seed(0)
    fake = lambda: ImageSet(torch.randint(0, 256, (2000, 3, 64, 64), dtype=torch.uint8, generator=g),  # noqa: E731
                            torch.arange(2000) % 10, "random")
    train, test = fake(), fake()
    data = Data(train, test, {"pixel_max": 255.0, "dtype": torch.float32, "device": torch.device("cpu")}, train)
    sources = {"raw_pixels": torch.nn.ModuleList([PixelMaps(3, 64)]),
               "learned": initial_learner(dataclasses.replace(cfg, method="multigrid"), 3, len(train)).nets,
               "supervised": None}
    rows, lr = [], options("svhn_features", "reduced")["classifier_lr"]
    with tempfile.TemporaryDirectory() as runs:  # fresh head runs: nothing cached is timed
        for name, nets in sources.items():
            secs = {}
            for epochs in (1, 3):
                tic = time.perf_counter()
                cnn_error(cfg, data, nets, torch.arange(1000), 0, method=name, epochs=epochs, lr=lr, runs=runs,
                          tag="timing")
                secs[epochs] = time.perf_counter() - tic
            rows.append({"source": name, "per_epoch": (secs[3] - secs[1]) / 2,
                         "fixed": secs[1] - (secs[3] - secs[1]) / 2})
    write_csv(os.path.join(work, "cnn_rates.csv"), rows, ["source", "per_epoch", "fixed"])


def _run_seconds(run: str) -> tuple[float, float, float, int]:
    """(total, first iteration, mean of the others, iterations) seconds of a run's iterations (log.csv)."""
    per_it = {int(r["iteration"]): float(r["seconds"]) for r in read_csv(os.path.join(run, "log.csv"))}
    v = [per_it[k] for k in sorted(per_it)]
    return sum(v), v[0], sum(v[1:]) / max(1, len(v) - 1), len(v)


def task_runs(work: str, name: str) -> dict:
    """run folder → (method, _run_seconds) of each model run in task `name`'s runs folder, the method read from
    the run's config.json; classifier heads (timed by ``cnn_rates``) are left out."""
    root, out = os.path.join(work, "runs", TASKS[name][1]), {}
    for run in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, run)
        if os.path.exists(os.path.join(path, "log.csv")) and os.path.exists(os.path.join(path, "config.json")):
            with open(os.path.join(path, "config.json")) as f:
                method = json.load(f)["method"]
            if method in MODELS:
                out[run] = (method, _run_seconds(path))
    return out


def project(work: str, out: str) -> list[dict]:
    cfg, prov = get_config("reduced"), provenance(torch.device("cpu"))
    walls = {}
    with open(os.path.join(work, "times.csv")) as f:
        for line in f:
            name, wall = line.strip().split(",")
            walls[name] = float(wall)
    row = lambda table, what, seconds, iterations="": {  # noqa: E731
        "table": table, "what": what, "seconds": round(seconds, 3), "iterations": iterations, "profile": "reduced",
        "dataset": "random images in the real layouts", **{k: prov[k] for k in ("device", "commit", "date")}}
    rows, per_it = [], {}
    for name, wall in walls.items():
        runs = {} if name == "score_diagnostics" else task_runs(work, name)  # it reuses synthesis's run
        stats = {run: secs for run, (_, secs) in runs.items()}
        trained = sum(s[0] for s in stats.values())
        rows.append(row(name, "measured wall", wall, max((s[3] for s in stats.values()), default="")))
        for method, (_, first, mean, _) in runs.values():
            per_it.setdefault(method, mean)
            rows.append(row(name, f"seconds per iteration: {method}", mean))
        if name in ("synthesis", "inpainting"):
            proj = wall - trained + sum(first + (cfg.n_iters - 1) * mean for _, first, mean, _ in stats.values())
            rows.append(row(name, "projected wall", proj, cfg.n_iters))
        if name == "score_diagnostics":
            rows.append(row(name, "projected wall alone (training its multi-grid model)",
                            wall + cfg.n_iters * per_it.get("multigrid", float("nan")), cfg.n_iters))
    if os.path.exists(os.path.join(work, "cnn_rates.csv")):
        d = options("svhn_features", "reduced")
        rates = {r["source"]: r for r in read_csv(os.path.join(work, "cnn_rates.csv"))}
        units = sum(d["labels"]) / 1000  # per-epoch costs scale with the labeled count
        n_learned = len(METHODS) + 1  # the schemes + the untrained network (DCGAN has no CNN row)
        cnn = sum(k * d["label_seeds"] * (units * d["classifier_epochs"] * float(rates[s]["per_epoch"])
                                          + len(d["labels"]) * float(rates[s]["fixed"]))
                  for s, k in (("raw_pixels", 1), ("learned", n_learned), ("supervised", d["train_seeds"])))
        for s, r in rates.items():
            rows.append(row("svhn", f"CNN head seconds per epoch per 1,000 labels: {s}", float(r["per_epoch"])))
        rows.append(row("svhn", "projected CNN heads", cnn))
    if all(m in per_it for m in SVHN_MODELS):
        n_svhn = profile_iterations("svhn_cnn")
        rows.append(row("svhn", "projected training (4 schemes + DCGAN, seconds per iteration of the CelebA runs)",
                        n_svhn * sum(per_it[m] for m in SVHN_MODELS), n_svhn))
    write_csv(out, rows, COLUMNS)
    for r in rows:
        print(f"{r['table']:18s} {r['what']:75s} {r['seconds']:9.1f} s")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["run", "data", "tasks", "cnn", "project"])
    p.add_argument("--work", default="runs/time_reduced", help="folder for the random data, runs and timings")
    p.add_argument("--fraction", type=int, default=10, help="run the tasks at 1/FRACTION of their iterations")
    p.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    p.add_argument("--out", default="results/reduced_timing.csv")
    args = p.parse_args(argv)
    if args.step in ("run", "data") and not os.path.isdir(os.path.join(args.work, "data")):
        make_data(args.work)
    if args.step in ("run", "tasks"):
        run_tasks(args.work, args.fraction, args.tasks)
    if args.step in ("run", "cnn"):
        cnn_rates(args.work)
    if args.step in ("run", "project"):
        project(args.work, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
