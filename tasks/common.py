"""What every task shares: its command line, the tidy result rows, and trained models.

Result CSVs (``results/<experiment>.csv``) have exactly ``RESULT_COLUMNS``: one row per
(experiment, method, setting, seed, metric) with its value, an optional interval, and
provenance (profile, dataset, number of images, device, commit, date, and for a number from a
trained model its run folder and iteration count). Writing merges with rows already there (same
key → replaced, unless the new row reproduces the old one's value exactly: then the old row and its
commit and date stay), atomically and under a lock, so concurrent tasks writing one CSV lose no rows.
"""
from __future__ import annotations

import argparse
import atexit
import fcntl
import os
import shutil
import sys
import tempfile

import torch

from repro.base import dist, speed
from repro.base.config import PRESETS, Config, add_config_args, config_from_args
from repro.base.io import Interrupted, check_writable, error_line, provenance, write_csv
from repro.configs import options
from repro.datasets.data import DATASETS
from repro.families.registry import FAMILIES, make_learner
from repro.runner.engine import run_dir, trained_learner  # noqa: F401  (the tasks' cached models)
from tasks.files import PER_IMAGE_COLUMNS, PER_IMAGE_KEY, RESULT_COLUMNS, RESULT_KEY, read_csv_strict


def task_parser(description: str) -> argparse.ArgumentParser:
    """--profile (alias --preset), one flag per Config field (--dataset, --data-root, --method, --seed,
    --device, ...), --out for result CSVs and --runs for trained-model folders."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser, choices={"method": list(FAMILIES), "dataset": list(DATASETS)})
    parser.add_argument("--out", default="results", help="folder for result CSVs and figures")
    parser.add_argument("--runs", default="runs", help="folder for trained models (reused when present)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress output (on a terminal a bar with an ETA, elsewhere a plain line with an ETA "
                             "every 30 s or tenth of the iterations)")
    return parser


def profile_of(argv=None) -> str:
    """The profile argv names (--profile, alias --preset; smoke when none), read before the full parse so that a task's
    parser can take its profile's defaults (repro.configs); a name that is no profile is left to the full parse."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--profile", "--preset", dest="preset", default="smoke")
    name = pre.parse_known_args(argv)[0].preset
    return name if name in PRESETS else "smoke"


def with_defaults(parser: argparse.ArgumentParser, experiment: str, profile: str) -> argparse.ArgumentParser:
    """The parser, its task options' defaults set to the experiment's under the profile (repro.configs: OPTIONS); called
    after its arguments are added (argparse's set_defaults), so that --help shows the profile's defaults."""
    parser.set_defaults(**options(experiment, profile))
    return parser


def _shown(value) -> str:
    """A setting's value in a row's setting string: on/off, lists joined by "+", numbers as %g."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return "+".join(map(_shown, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def departures(args, defaults: dict, names) -> str:
    """The setting suffix recording each option of `names` whose value in args departs from `defaults` (the
    experiment's OPTIONS for the profile, repro.configs): "|infer_steps=500|mask_seed=1"; "" where every one is at its
    default, so that rows at the defaults keep their keys (the style of "|test_steps=1")."""
    return "".join(f"|{n}={_shown(getattr(args, n))}" for n in names if getattr(args, n) != defaults[n])


def parse_task_args(parser: argparse.ArgumentParser, argv=None, **defaults) -> tuple[Config, argparse.Namespace]:
    """Parse; `defaults` are the task's own Config settings (repro.configs: config_overrides), applied under the
    user's flags.

    Under torchrun with several processes, training is data-parallel (repro.base.dist) and every process
    also runs the task's evaluation (same seeds, same numbers); only rank 0's CSVs and figures are
    kept: the other ranks write into a temporary folder removed at exit."""
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    given = vars(args)
    cfg = cfg.replace(**{k: v for k, v in defaults.items() if k not in given})
    cfg.validate()
    if cfg.n_iters < 1:  # every task reports trained models
        raise ValueError(f"--n-iters {cfg.n_iters}: a trained model needs at least one iteration; the "
                         f"untrained network is reported as its own control, never as a learned result")
    device = dist.local_device(cfg.torch_device())
    dist.setup(device)
    speed.apply_backend_flags(cfg, device)  # before any provenance is taken: it records the CUDA math
    dist.on_main(lambda: (check_writable(args.out, "--out"), check_writable(args.runs, "--runs")))  # fails on all
    if not dist.is_main():
        args.out = tempfile.mkdtemp(prefix=f"mgcd-rank{dist.rank()}-")
        atexit.register(shutil.rmtree, args.out, True)
        args.no_progress = True
        sys.stdout = open(os.devnull, "w")  # one voice: rank 0's (errors still reach stderr)
    return cfg, args


def check_at_least(args, low: int, *dests: str) -> None:
    """Raise one ValueError naming every one of the task's options `dests` (None: its default) below `low`; e.g.
    --n-panels 0 would be a division by zero after the first panel was written."""
    bad = [f"--{d.replace('_', '-')} {getattr(args, d)}" for d in dests
           if getattr(args, d) is not None and getattr(args, d) < low]
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be at least {low}")


def check_trainable(cfg: Config, train_set) -> None:
    """The checks training makes at its start (repro.runner.engine.train and the family's constructor), made by a
    task before it writes anything: the batch splits evenly over the processes (torchrun) and fits the training
    set, and the family builds at these settings (image and grid sizes). The model is built on the meta device:
    no weights are allocated and, under fork_rng, no random number is drawn."""
    n_proc = dist.world_size()
    if cfg.batch_size % n_proc:
        fits = [k for k in range(2, min(cfg.batch_size, 64) + 1) if cfg.batch_size % k == 0]
        raise ValueError(f"batch size {cfg.batch_size} does not split evenly over {n_proc} processes; with this "
                         f"batch size run {', '.join(map(str, fits))} processes (or spread independent runs over "
                         f"the GPUs instead: tools.spread)")
    if cfg.batch_size > len(train_set):
        raise ValueError(f"batch size {cfg.batch_size} exceeds the {len(train_set)} training images of "
                         f"{train_set.name}; use --batch-size {len(train_set)} or less")
    with torch.device("meta"), torch.random.fork_rng(devices=[]):
        make_learner(cfg, train_set.channels, len(train_set))


def result_row(cfg: Config, *, experiment: str, method: str, setting: str, metric: str, value: float,
               n_images: int, seed: int | None = None, ci: tuple[float, float] | None = None,
               dataset: str | None = None, prov: dict | None = None, run: str = "",
               iterations: int | None = None) -> dict:
    """run, iterations: the run folder's name and iteration count of the trained model behind the value
    (run_columns); empty for values from no trained model (floors, raw pixels, real images, untrained)."""
    prov = prov or provenance(cfg.torch_device())
    return {"experiment": experiment, "method": method, "setting": setting,
            "seed": cfg.seed if seed is None else seed, "metric": metric, "value": float(value),
            "ci_low": "" if ci is None else float(ci[0]), "ci_high": "" if ci is None else float(ci[1]),
            "profile": cfg.profile, "dataset": dataset or cfg.dataset, "n_images": int(n_images),
            "device": prov["device"], "commit": prov["commit"], "date": prov["date"],
            "run": run, "iterations": "" if iterations is None else iterations}


def run_columns(learned) -> dict:
    """result_row's run and iterations for values computed from [(learner, run path), ...] (several
    runs, e.g. one model per class, are joined with '+')."""
    runs = [os.path.basename(os.path.normpath(p)) for _, p in learned]
    # distinct, in order; a partial model (trained with --stop-at) reads "N/n_iters"
    iters = list(dict.fromkeys(learner.iteration if learner.iteration >= learner.cfg.n_iters
                               else f"{learner.iteration}/{learner.cfg.n_iters}" for learner, _ in learned))
    return {"run": "+".join(runs), "iterations": iters[0] if len(iters) == 1 else "+".join(map(str, iters))}


# A new row whose key and these columns equal an existing row's reproduces that number: the existing row
# stays, with the commit and date that first produced it (e.g. a task re-reading a cached model).
REPRODUCED_COLUMNS = ("value", "ci_low", "ci_high", "n_images", "device", "run", "iterations")


def write_results(out_dir: str, experiment: str, rows: list[dict]) -> str:
    """Merge rows into out_dir/<experiment>.csv (same key → replaced), atomically, holding an exclusive
    lock on out_dir/<experiment>.csv.lock so that concurrent writers (other tasks) do not drop rows.
    A row that reproduces an existing one exactly (REPRODUCED_COLUMNS) keeps the existing row and its
    provenance in place. Rows without the run and iterations columns (older CSVs, rows built by hand) get
    them empty."""
    rows = [{"run": "", "iterations": "", **r} for r in rows]
    return merge_csv(os.path.join(out_dir, f"{experiment}.csv"), rows, RESULT_COLUMNS, RESULT_KEY, REPRODUCED_COLUMNS)


CURVE_KEY = (*RESULT_KEY, "run", "iterations")  # a learning curve: one row per run and iterations trained


def write_curve(out_dir: str, rows: list[dict]) -> str:
    """Merge learning-curve rows (result columns; key: the result key, the run and the iterations) into
    out_dir/inpainting_curve.csv, as write_results does."""
    rows = [{"run": "", "iterations": "", **r} for r in rows]
    return merge_csv(os.path.join(out_dir, "inpainting_curve.csv"), rows, RESULT_COLUMNS, CURVE_KEY,
                     REPRODUCED_COLUMNS)


def write_per_image(out_dir: str, experiment: str, rows: list[dict]) -> str:
    """Merge per-image rows into out_dir/per_image/<experiment>.csv, as write_results does."""
    folder = os.path.join(out_dir, "per_image")
    return merge_csv(os.path.join(folder, f"{experiment}.csv"), rows, PER_IMAGE_COLUMNS, PER_IMAGE_KEY,
                     ("value", "run"))


def check_results(out_dir: str, *experiments: str) -> None:
    """Read the results files a task will merge into (<out>/<experiment>.csv and its per-image file) strictly, before
    the task writes anything (panels, figures): a malformed one stops the task with one line, every file as it was."""
    for e in experiments:
        for path, columns, key in ((os.path.join(out_dir, f"{e}.csv"), RESULT_COLUMNS,
                                    CURVE_KEY if e == "inpainting_curve" else RESULT_KEY),
                                   (os.path.join(out_dir, "per_image", f"{e}.csv"), PER_IMAGE_COLUMNS, PER_IMAGE_KEY)):
            if os.path.exists(path):
                read_csv_strict(path, columns, key)


def merge_csv(path: str, rows: list[dict], columns: list[str], key_cols, same) -> str:
    """Merge rows into the CSV at path under an exclusive lock: a row with an existing row's key replaces it,
    unless it equals it in the columns `same` (then the existing row stays, with its provenance)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        old = [{c: r.get(c) or "" for c in columns} for r in read_csv_strict(path, columns, key_cols)] \
            if os.path.exists(path) else []
        key = lambda r: tuple(str(r[k]) for k in key_cols)  # noqa: E731
        by_key = {key(r): r for r in rows}
        kept = {key(r) for r in old if key(r) in by_key and all(str(by_key[key(r)][c]) == r[c] for c in same)}
        merged = [r for r in old if key(r) not in by_key or key(r) in kept]
        merged += [r for r in rows if key(r) not in kept]
        write_csv(path, merged, columns)
    return path


def cli(main) -> int:
    """Run a task's main from the command line: bad input (unknown names, missing files, an existing
    run folder, a diverged energy) ends with one 'error: …' line and exit status 2, not a traceback. SIGINT or
    SIGTERM while a model trains checkpoints it and ends with one line (status 130 or 143); the same command then
    resumes the run (trained_learner) and reuses every run and result row already finished."""
    try:
        main()
    except Interrupted as stop:
        if dist.is_main():
            print(stop.line(), file=sys.stderr)
        return stop.status
    except KeyboardInterrupt:  # outside training: every file written is whole (atomic writes)
        if dist.is_main():
            print("interrupted (SIGINT); every file written is whole: run the same command again to go on, "
                  "finished runs and result rows are reused", file=sys.stderr)
        return 130
    except Exception as err:  # expected errors: one line (repro.base.io.error_line); any other keeps its traceback
        if (line := error_line(err)) is None:
            raise
        sys.stderr.write(f"error: {line}\n")  # one write: under torchrun the ranks' lines must not interleave
        return 2
    finally:
        dist.teardown()
    return 0


def panel_title(cfg: Config, what: str) -> str:
    """The title band of a task's PNG (repro.base.io.atomic_save_image): what it shows, then the run's profile,
    dataset and seed, so that a PNG copied out of its folder still says where it comes from."""
    return f"{what} · {cfg.profile} · {cfg.dataset} · seed {cfg.seed}"
