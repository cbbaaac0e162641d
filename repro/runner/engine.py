"""The runner: the one training loop for every model family, with its run folders.

``train`` drives any ``Trainable`` (repro.core.trainable): the energy models of Algorithm 1
(repro.core.learner), the baselines (repro.families.baselines) and the SVHN classifiers (repro.families.semisup). It
owns data order (``BatchOrder``), data parallelism (repro.base.dist), checkpoints, logs, sample grids, resume
and the non-finite check (``Trainable.step``); the model owns one ``train_step``. ``trained_learner``
caches models under a folder named from their settings: loaded when complete, resumed when partial.
Its pieces with a module of their own: the checkpoint file (repro.runner.checkpoint), the run folder's lock
(repro.runner.lock) and the stop a signal asks for (repro.runner.stop); their public names are importable from
here as well.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time

import torch

from repro.base import dist, speed
from repro.base.config import Config
from repro.base.io import (
    Progress,
    append_csv,
    atomic_save_image,
    atomic_write_bytes,
    changed_since,
    check_writable,
    provenance,
    read_complete_rows,
    remove_orphans,
    write_csv,
)
from repro.core.pyramid import upscale
from repro.core.trainable import Trainable
from repro.datasets.data import ImageSet, load_dataset
from repro.families.registry import check_method, fixed_schedule, initial_learner, make_learner

# the checkpoint file and the run folder's lock live in their own modules; their names stay importable from here
from repro.runner.checkpoint import (  # noqa: F401
    CHECKPOINT_ENTRIES,
    CHECKPOINT_FORMAT,
    CHECKPOINT_GLOBALS,
    PREVIOUS,
    UnsafeCheckpointError,
    checkpoint_bytes,
    keep_previous,
    load_checkpoint,
    state_problem,
)
from repro.runner.lock import run_lock
from repro.runner.stop import StopRequest

LOG_COLUMNS = ["iteration", "grid", "size", "f_obs", "f_syn", "grad_l1", "loss", "lr", "seconds"]
# Config fields that may change when a run is resumed; any other change is refused.
RESUMABLE_CHANGES = {"n_iters", "checkpoint_every", "n_show",
                     "device"}  # a run moves between devices (CPU ↔ GPU); each session's device is in run_info.json


class BatchOrder:
    """Which training images iteration t uses: a fresh seeded permutation each epoch, last partial
    batch dropped (batch-norm statistics of a tiny batch are meaningless). Stateless, so a resumed
    run sees the same batches."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.batch_size

    def indices(self, t: int) -> torch.Tensor:
        epoch, b = divmod(t, self.per_epoch)
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        return perm[b * self.batch_size:(b + 1) * self.batch_size]


# --- run folder ------------------------------------------------------------------------
# A run folder holds config.json, run_info.json, checkpoint.pt, log.csv and the sample-grid PNGs. At each
# checkpoint the new log rows are appended and fsynced, the PNGs replaced atomically, and only then is the
# checkpoint renamed into place: the checkpoint is the commit point. A resume truncates log.csv to the
# checkpoint's iterations and removes the temporary files of writes a kill interrupted.


def restore_threads(ckpt: dict, device: torch.device) -> None:
    """On the CPU, resume with the torch thread count the run was trained with: one thread instead of two changes
    the order of float sums, which training amplifies into another model (measured: weights 16% apart), so a
    resume is bit-identical only at the same count. The count is set, with a note, where it differs."""
    saved = ckpt.get("threads")  # checkpoints from before this have none
    if device.type != "cpu" or saved is None or saved == torch.get_num_threads():
        return
    if dist.is_main():
        print(f"note: resuming with {saved} torch thread(s), as the run was trained (this process had "
              f"{torch.get_num_threads()}), so that the resumed run repeats the uninterrupted one bit for bit",
              file=sys.stderr, flush=True)
    torch.set_num_threads(saved)


def check_resume(cfg: Config, ckpt: dict) -> None:
    """Refuse a resume whose settings differ from the checkpoint's in anything but RESUMABLE_CHANGES, and
    an n_iters that would shorten the run or, under a decaying schedule, change it."""
    saved = ckpt["config"]
    changed = sorted(k for k, v in cfg.to_dict().items() if saved.get(k) != v and k not in RESUMABLE_CHANGES)
    if changed:
        raise ValueError(f"--resume: settings differ from the checkpoint's: {', '.join(changed)}")
    done, planned = ckpt["iteration"], saved["n_iters"]
    if cfg.n_iters < done:
        raise ValueError(f"--resume: --n-iters {cfg.n_iters} is below the checkpoint's {done} iterations; "
                         f"a run cannot be shortened (use --n-iters {planned})")
    if cfg.n_iters != planned and not fixed_schedule(cfg):
        raise ValueError(f"--resume: --n-iters {cfg.n_iters} differs from the run's {planned}, and the "
                         f"learning-rate schedule decays over n_iters, so a longer run would not be the run "
                         f"resumed; resume with --n-iters {planned}, or train a new run in another --out")


def _open_run(cfg: Config, out_dir: str, resume: bool):
    ckpt_path, log_path = os.path.join(out_dir, "checkpoint.pt"), os.path.join(out_dir, "log.csv")
    if not resume:
        if os.path.exists(ckpt_path):
            raise FileExistsError(f"{out_dir!r} already holds a run; pass --resume to continue it, "
                                  f"or choose another --out")
        if os.path.exists(log_path):  # a log without a checkpoint: a run killed before its first checkpoint
            if not os.path.exists(os.path.join(out_dir, "config.json")):
                raise FileExistsError(f"{out_dir!r} holds a log.csv but no run; choose another --out")
            os.unlink(log_path)
        remove_orphans(out_dir)
        atomic_write_bytes(os.path.join(out_dir, "config.json"), cfg.to_json().encode())
        return None
    if not os.path.exists(ckpt_path):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path!r}; the run stopped before its first "
                                f"checkpoint, so start it again without --resume")
    ckpt = load_checkpoint(ckpt_path)
    check_resume(cfg, ckpt)
    remove_orphans(out_dir)
    log = read_complete_rows(log_path, LOG_COLUMNS) if os.path.exists(log_path) else []
    write_csv(log_path, [r for r in log if int(r["iteration"]) < ckpt["iteration"]], LOG_COLUMNS)
    atomic_write_bytes(os.path.join(out_dir, "config.json"), cfg.to_json().encode())
    return ckpt


def save_sample_grids(out_dir: str, samples: list[torch.Tensor], sizes, cfg: Config, iteration: int) -> list[str]:
    """One PNG per grid of the first n_show samples, block-up-scaled to the image size (figure 1), under a title
    band naming the scheme, the grid, the iteration and the run's profile, dataset and seed."""
    paths = []
    for y, size in zip(samples, sizes):
        y = upscale(y[: cfg.n_show], cfg.image_size) / cfg.pixel_max
        path = os.path.join(out_dir, f"samples_grid{size}.png")
        title = (f"{cfg.method} samples · {size}x{size} grid · iteration {iteration} · {cfg.profile} · "
                 f"{cfg.dataset} · seed {cfg.seed}")
        atomic_save_image(y.float().cpu().clamp(0, 1), path, nrow=max(1, int(math.sqrt(len(y)))), title=title)
        paths.append(path)
    return paths


def save_checkpoint(out_dir: str, learner: Trainable, cfg: Config, t: int, train_set: ImageSet, *, rows: list[dict],
                    samples: list[torch.Tensor]) -> None:
    """Commit iterations up to t: log rows (appended, fsynced), sample grids, then the checkpoint itself."""
    append_csv(os.path.join(out_dir, "log.csv"), rows, LOG_COLUMNS)
    save_sample_grids(out_dir, samples, learner.sizes, cfg, t + 1)
    data = checkpoint_bytes({"config": cfg.to_dict(), "iteration": t + 1, "channels": train_set.channels,
                             "n_train": len(train_set), "threads": torch.get_num_threads(), **learner.checkpoint()})
    path = os.path.join(out_dir, "checkpoint.pt")
    if os.path.exists(path):  # keep the one before: a hard link (or a copy), then renamed into place atomically, so
        keep_previous(path, os.path.join(out_dir, PREVIOUS))  # checkpoint.pt exists at every instant
    atomic_write_bytes(path, data)


def train(cfg: Config, out_dir: str, *, resume: bool = False, train_set: ImageSet | None = None,
          mask_fn=None, callback=None, progress: bool = True, build=None, stop_at: int | None = None) -> Trainable:
    """Learn cfg.method on the training set; checkpoint, log and sample grids go to out_dir.

    build: optional (cfg, channels, n_train) → Trainable for a family outside the registries (a classifier
        over given networks, repro.families.semisup); None: ``repro.families.registry.make_learner`` (the family
        cfg.method names). Either way it runs right after the global seed is set to cfg.seed (``initial_learner``).
    mask_fn: optional (x, generator) → (B, 1, H, W) update mask (1 = missing) for conditional
        learning of p(Y_M | Y_M̄) (inpainting); None learns p(Y).
    callback: optional (t, learner, samples, stats) → None, called after each iteration (after that
        iteration's checkpoint, if any).
    stop_at: stop this session after iteration stop_at of cfg.n_iters (checkpointed there); the run stays the
        same run (its folder and settings name n_iters), a partial one that a later call resumes. None: n_iters.
    Launched by torchrun with N > 1 processes, the iterations are data-parallel (repro.base.dist): each
    process runs its shard of every batch, rank 0 writes; the result equals the 1-process run up to
    floating-point rounding, and a checkpoint can be resumed with any number of processes.
    SIGINT or SIGTERM (Ctrl-C, a scheduler's stop) finishes the iteration under way, checkpoints it and raises
    ``repro.base.io.Interrupted`` (``StopRequest``): the run resumes from exactly there.
    """
    cfg.validate()  # every setting in range before any work
    if cfg.n_iters < 1:
        raise ValueError(f"n_iters is {cfg.n_iters}: training needs at least one iteration (--n-iters 1 or more)")
    check_stop_at(stop_at, cfg.n_iters)
    device, dtype = dist.local_device(cfg.torch_device()), cfg.dtype()
    if build is None:
        check_method(cfg.method)  # fail fast on an unknown name
    speed.check(cfg)
    n_proc, main = dist.world_size(), dist.is_main()
    if cfg.batch_size % n_proc:
        fits = [k for k in range(2, min(cfg.batch_size, 64) + 1) if cfg.batch_size % k == 0]
        raise ValueError(f"batch size {cfg.batch_size} does not split evenly over {n_proc} processes; with this "
                         f"batch size run {', '.join(map(str, fits))} processes (or spread independent runs over "
                         f"the GPUs instead: tools.spread)")
    dist.setup(device)
    # checks and decisions that rank 0 makes are handed to every process (dist.on_main): an error raises on all
    dist.on_main(check_writable, out_dir, "--out")
    train_set = train_set if train_set is not None else load_dataset(cfg, "train")
    if train_set.images.shape[-1] != cfg.image_size:
        raise ValueError(f"training images are {train_set.images.shape[-1]}px, config says {cfg.image_size}")
    if cfg.batch_size > len(train_set):
        raise ValueError(f"batch size {cfg.batch_size} exceeds the {len(train_set)} training images of "
                         f"{train_set.name}; use --batch-size {len(train_set)} or less")
    with run_lock(out_dir, wait=False):  # one trainer per run folder
        return _train(Session(cfg=cfg, out_dir=out_dir, resume=resume, train_set=train_set, mask_fn=mask_fn,
                              callback=callback, progress=progress, build=build, device=device, dtype=dtype,
                              n_proc=n_proc, main=main, end=cfg.n_iters if stop_at is None else stop_at))


def check_stop_at(stop_at: int | None, n_iters: int) -> None:
    if stop_at is not None and not 1 <= stop_at <= n_iters:
        raise ValueError(f"--stop-at {stop_at} must lie between 1 and the run's {n_iters} iterations")


@dataclasses.dataclass(frozen=True)
class Session:
    """One call of ``train`` (a start or a resume of a run): what it was given and what it decided, handed to its
    steps (``_train``, ``_loop``) as one value."""
    cfg: Config
    out_dir: str  # the run folder
    resume: bool
    train_set: ImageSet
    mask_fn: object  # (x, generator) → (B, 1, H, W) update mask, or None (train's mask_fn)
    callback: object  # (t, learner, samples, stats) → None, or None
    progress: bool
    build: object  # (cfg, channels, n_train) → Trainable, or None (the registry's family)
    device: torch.device  # this process's device
    dtype: torch.dtype
    n_proc: int  # processes under torchrun (1 without)
    main: bool  # rank 0, the process that writes
    end: int  # the session stops after iteration `end` (stop_at, else cfg.n_iters)


def _train(s: Session) -> Trainable:
    """Open (or resume) the run folder, build the model and run the loop under the signal handlers."""
    cfg, out_dir, train_set, device, n_proc = s.cfg, s.out_dir, s.train_set, s.device, s.n_proc
    opened = {}
    dist.on_main(lambda: opened.update(ckpt=_open_run(cfg, out_dir, s.resume)))  # rank 0 checks and creates the run
    ckpt = opened.get("ckpt")
    if s.resume and not s.main:  # the others read the checkpoint rank 0 has checked
        ckpt = load_checkpoint(os.path.join(out_dir, "checkpoint.pt"))
    learner = initial_learner(cfg, train_set.channels, len(train_set), build=s.build, device=device)
    start = 0
    if ckpt is not None:
        learner.restore(ckpt)
        start = ckpt["iteration"]
        restore_threads(ckpt, device)
    order = BatchOrder(len(train_set), cfg.batch_size, cfg.seed)
    if order.batch_size % n_proc:
        raise ValueError(f"a batch of {order.batch_size} images does not split evenly over {n_proc} processes")
    with StopRequest(out_dir, cfg.n_iters) as stop:  # SIGINT/SIGTERM: finish the iteration, checkpoint, stop
        if s.main:  # the session's record is the loop's first write: a signal from here on is caught
            record_session(out_dir, {**provenance(device), "processes": n_proc, "from_iteration": start},
                           {"dataset": train_set.name, "n_train": len(train_set), "method": cfg.method})
        _loop(s, learner, order, start, stop)
    if n_proc > 1:
        torch.distributed.barrier()  # the last checkpoint is on disk before any process reads it
    return learner


def _loop(s: Session, learner: Trainable, order: BatchOrder, start: int, stop: StopRequest) -> None:
    """Iterations start .. s.end - 1, a checkpoint every cfg.checkpoint_every, at the end, and where a stop is asked."""
    cfg, train_set, mask_fn, device, n_proc, end = s.cfg, s.train_set, s.mask_fn, s.device, s.n_proc, s.end
    bar = Progress(range(start, end), total=cfg.n_iters, enabled=s.progress and s.main,  # a plain line when not a tty
                   desc=f"{cfg.method} {train_set.name}")
    samples, log = None, []  # log: the rows since the last checkpoint
    for t in bar:
        tic = time.perf_counter()
        with dist.data_parallel(cfg.batchnorm):
            idx = dist.shard(order.indices(t))  # this process's share of the global batch
            x = train_set.batch(idx, pixel_max=cfg.pixel_max, dtype=s.dtype, device=device)  # (B/n_proc, C, H, W)
            mask = None
            if mask_fn is not None:  # drawn for the global batch, then sharded
                mask = dist.shard(mask_fn(x.new_empty((len(x) * n_proc, *x.shape[1:])), learner.gen))
            samples, stats = learner.train_step(x, idx, mask)
        stopping = stop.requested(device)  # the same on every process (under torchrun one collective, not the model's)
        checkpoint_now = (t + 1) % cfg.checkpoint_every == 0 or t + 1 in (cfg.n_iters, end) or stopping
        if checkpoint_now and n_proc > 1:
            with dist.data_parallel(cfg.batchnorm):
                samples = [dist.gather(s) for s in samples]  # the sample grids show the global batch
        seconds, lr = time.perf_counter() - tic, learner.scheds[0].get_last_lr()[0]
        for g, (f_obs, f_syn, g1, loss) in enumerate(stats.tolist()):  # one row per network
            size = learner.sizes[min(g, len(learner.sizes) - 1)]
            log.append({"iteration": t, "grid": g + 1, "size": size, "f_obs": f_obs, "f_syn": f_syn,
                        "grad_l1": g1, "loss": loss, "lr": lr, "seconds": seconds})
        bar.set_postfix(f_obs=f"{stats[-1, 0]:.3g}", f_syn=f"{stats[-1, 1]:.3g}")
        learner.iteration = t + 1
        if checkpoint_now and s.main:
            save_checkpoint(s.out_dir, learner, cfg, t, train_set, rows=log, samples=samples)
        if checkpoint_now:
            log = []
        if s.callback is not None:
            s.callback(t, learner, samples, stats)
        if stopping:
            bar.update()  # count the iteration just done (the bar counts one when the next begins)
            bar.close()
            raise stop.interrupted(t + 1, n_proc)
    bar.close()
    if stop.requested(device):  # a signal after the last iteration's check: its checkpoint is on disk
        raise stop.interrupted(end, n_proc)


def record_session(out_dir: str, session: dict, run: dict) -> dict:
    """Write run_info.json: the first session's provenance (commit, date, device, ...) at the top, `run`'s
    fields, and "sessions", one entry per (re)start, so a run resumed by other code says so."""
    path = os.path.join(out_dir, "run_info.json")
    sessions = []
    if session["from_iteration"] > 0 and os.path.exists(path):  # a resume: keep the earlier sessions
        with open(path) as f:
            old = json.load(f)
        sessions = old.get("sessions") or [{k: old[k] for k in ("commit", "date", "device") if k in old}]
    sessions.append(session)
    info = {**{k: v for k, v in sessions[0].items() if k != "from_iteration"}, **run, "sessions": sessions}
    atomic_write_bytes(path, json.dumps(info, indent=2).encode())
    return info


def load_learner(out_dir: str, device: str | None = None, build=None) -> Trainable:
    """Rebuild a trained model (any family) from a run folder's checkpoint; build: as for ``train``."""
    path = os.path.join(out_dir, "checkpoint.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}; train first")
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"])
    if device is not None:
        cfg = Config.from_dict({**cfg.to_dict(), "device": device})
    device = dist.local_device(cfg.torch_device())  # under torchrun: this process's GPU
    learner = (build or make_learner)(cfg, ckpt["channels"], ckpt["n_train"]).to_device(device, cfg.dtype())
    learner.restore(ckpt)
    return learner


def run_dir(cfg: Config, runs_root: str, tag: str = "") -> str:
    """Folder named from the settings that produce the model (DiT style)."""
    digest = hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]
    name = f"{cfg.profile}-{cfg.dataset}-{cfg.method}-seed{cfg.seed}{'-' + tag if tag else ''}-{digest}"
    return os.path.join(runs_root, name)


def warn_if_other_code(path: str, cwd: str | None = None) -> list[str] | None:
    """Print a warning when the run in `path` was last trained at a commit whose repro/ differs from this
    checkout's (the run folder's name hashes the settings, not the code, so a change to the learning code
    does not start a new run); returns the changed files (None: unknown). cwd: a folder of the checkout
    (default: this package's)."""
    try:
        with open(os.path.join(path, "run_info.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    commits = list(dict.fromkeys(s.get("commit", "") for s in info.get("sessions") or [info]))  # each (re)start
    per_commit = [changed_since(c, cwd=cwd) for c in commits]
    if any(c is None for c in per_commit):
        return None
    changed = sorted(set().union(*per_commit))
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        print(f"warning: reusing {path}, trained at commit {', '.join(commits)}; repro/ has changed since "
              f"({shown}). If the change touches learning, delete the folder (or pass another --runs) to train "
              "again.", flush=True)
    return changed


def trained_learner(cfg: Config, runs_root: str, train_set: ImageSet, *, tag: str = "", mask_fn=None,
                    progress: bool = True, build=None, callback=None, stop_at: int | None = None):
    """(learner, run folder) for cfg: loaded when its run is complete, resumed when partial, else trained.
    tag: names what the settings in cfg do not (the training mask, the unsupervised set, ...).
    callback: `train`'s per-iteration callback, for the iterations trained here.
    stop_at: as for `train`; a run whose checkpoint has reached stop_at is loaded as it is (a partial model: its
        learner.iteration says how far it got)."""
    check_stop_at(stop_at, cfg.n_iters)
    cfg.validate()  # before its name makes a folder: the run folder's name is built from the settings
    path = run_dir(cfg, runs_root, tag)
    kw = dict(train_set=train_set, mask_fn=mask_fn, progress=progress, build=build, callback=callback, stop_at=stop_at)
    with run_lock(path):
        action = dist.on_main(_cached_action, cfg, path, stop_at)  # decided once, by rank 0, for every process
        if action == "load":
            return load_learner(path, device=cfg.device, build=build), path
        return train(cfg, path, resume=action == "resume", **kw), path


def _cached_action(cfg: Config, path: str, stop_at: int | None = None) -> str:
    """What trained_learner does with the run folder `path`: "load" a finished run (or one that reached stop_at),
    "resume" a partial one, or "train" a new one."""
    ckpt = os.path.join(path, "checkpoint.pt")
    if not os.path.exists(ckpt):
        return "train"
    warn_if_other_code(path)
    target = cfg.n_iters if stop_at is None else stop_at
    return "load" if load_checkpoint(ckpt)["iteration"] >= target else "resume"
