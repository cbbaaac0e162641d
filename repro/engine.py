"""One training loop for the four learning schemes (arXiv Algorithm 1, eq. 9).

Within each iteration, for a batch of training images x:
  1. chains start where the scheme says (repro.methods): the 1×1 version of x,
     x itself, or the persistent chains of these images;
  2. at each grid s (coarse to fine) the chain is up-scaled to s and evolved by
     Langevin dynamics (eq. 8) under the grid's model, parameters out of autograd;
  3. each grid's parameters θ_s take one Adam step on
     mean f_s(synthesized) − mean f_s(observed at grid s), i.e. ascent on eq. (9).
"""
from __future__ import annotations

import json
import math
import os
import pickle
import time

import torch
import torch.nn as nn
from tqdm import tqdm

from repro import dist, speed
from repro.config import Config
from repro.data import ImageSet, load_dataset
from repro.io import (append_csv, atomic_save_image, atomic_torch_save, atomic_write_bytes, check_writable,
                      provenance, read_complete_rows, remove_orphans, write_csv)
from repro.langevin import langevin
from repro.methods import METHODS, Start, get_method
from repro.models import build_energy_net
from repro.pyramid import downscale, upscale
from repro.trainable import Trainable, grad_l1

LOG_COLUMNS = ["iteration", "grid", "size", "f_obs", "f_syn", "grad_l1", "loss", "lr", "seconds"]
# Config fields that may change when a run is resumed; any other change is refused.
RESUMABLE_CHANGES = {"n_iters", "checkpoint_every", "n_show"}


class PersistentChains:
    """Persistent-CD chains, one per training image: started at the observed image, then carried."""

    def __init__(self, n: int, shape: tuple[int, int, int], dtype=torch.float32):
        self.state = torch.zeros((n, *shape), dtype=dtype)  # (N, C, H, W), kept on the CPU
        self.started = torch.zeros(n, dtype=torch.bool)

    def start(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) chain states for images idx; the observed x where a chain has not started."""
        state = self.state[idx].to(device=x.device, dtype=x.dtype)
        started = self.started[idx].to(x.device).view(-1, 1, 1, 1)
        return torch.where(started, state, x)

    def store(self, idx: torch.Tensor, y: torch.Tensor) -> None:
        self.state[idx] = y.detach().to("cpu", self.state.dtype)
        self.started[idx] = True

    def state_dict(self) -> dict:
        return {"state": self.state, "started": self.started}

    def load_state_dict(self, d: dict) -> None:
        if d["state"].shape != self.state.shape:
            raise ValueError(f"persistent chains of shape {tuple(d['state'].shape)} do not fit "
                             f"{tuple(self.state.shape)}")
        self.state, self.started = d["state"].clone(), d["started"].clone()


def synthesize(nets, sizes, y, *, steps: int, cfg: Config, generator=None, noise: bool | None = None,
               observed: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               start_fill: torch.Tensor | None = None, step_size: float | None = None) -> list[torch.Tensor]:
    """Pass chains up the grids: at each size, up-scale and run `steps` Langevin steps.

    nets: one f_s per grid: the networks, or a learner's ``scorers`` (the same networks with the
        config's speed switches, repro.speed).
    y: (B, C, h, h) starting chains, h ≤ sizes[0]. Returns one (B, C, s, s) batch per size.
    mask: optional (B, 1|C, H, H) update mask at the finest size (1 = missing, may move). At each grid
        a pixel moves only if its whole block is missing; any other pixel is held at the mean of the
        observed pixels of its block (at the finest grid: the observed pixel itself, bit for bit).
        Holding partly observed blocks keeps what is known at the coarse grids: under a pepper mask
        that misses 60% of the pixels nearly every coarse block is partly observed.
    start_fill: optional (B, C, H, H) image (e.g. an interpolation of the observed pixels): a pixel
        that starts to move at grid s (its block was held at the coarser grid, so the chain holds only
        a block mean there) starts from start_fill down-scaled to s instead. None: the paper's chain.
    step_size: δ for these chains (None: cfg.step_size).
    """
    noise = cfg.noise if noise is None else noise
    if mask is not None and observed is None:
        raise ValueError("synthesize: a mask needs the observed images")
    out, moved = [], None  # moved: (B, C, h, h) which pixels the previous (coarser) grid sampled
    for net, size in zip(nets, sizes):
        if y.shape[-1] > size:
            raise ValueError(f"synthesize: chain of size {y.shape[-1]} is finer than grid {size}")
        y = upscale(y, size)
        move = None
        if mask is not None:
            move, held = coarse_observation(observed, mask, size)
            y = torch.where(move, y, held)
            if start_fill is not None:
                fresh = move if moved is None else move & ~upscale(moved.to(y.dtype), size).bool()
                y = torch.where(fresh, downscale(start_fill.to(y), size), y)
            moved = move
        y = langevin(net, y, steps=steps, step_size=cfg.step_size if step_size is None else step_size,
                     sigma=cfg.sigma, noise=noise, update_mask=move, generator=generator, clip=cfg.clip())
        out.append(y)
    return out


def coarse_observation(observed: torch.Tensor, mask: torch.Tensor, size: int):
    """What is known of `observed` (B, C, H, H) at grid `size` under `mask` (1 = missing).

    Returns (move, held), both (B, C, size, size): move is True where the whole block is missing;
    held is the mean of the block's observed pixels (arbitrary where move is True).
    """
    known = (1 - mask.to(observed.dtype)).expand_as(observed)  # (B, C, H, H), 1 = observed
    frac = downscale(known, size)  # fraction of each block observed
    move = frac == 0
    held = downscale(observed * known, size) / torch.where(move, torch.ones_like(frac), frac)
    return move, held


def check_sizes(sizes, image_size: int) -> None:
    if not sizes or sizes[-1] != image_size:
        raise ValueError(f"the finest grid must be the image size {image_size}, got grids {tuple(sizes)}")
    for a, b in zip((1, *sizes), sizes):
        if b <= a or b % a:
            raise ValueError(f"grid sizes must increase by integer factors from 1×1, got {tuple(sizes)}")


class Learner(Trainable):
    """The energy models of one scheme (one per grid), their optimisers, and the sampler state."""

    def __init__(self, cfg: Config, channels: int, n_train: int):
        super().__init__(cfg)
        self.method = get_method(cfg.method)
        self.sizes = self.method.grid_sizes(cfg)
        check_sizes(cfg.grid_sizes, cfg.image_size)
        self.steps = self.method.steps(cfg)
        self.nets = nn.ModuleList([
            build_energy_net(s, channels, arch=a, width=cfg.width, activation=cfg.activation, leak=cfg.leak)
            for s, a in zip(self.sizes, self.method.archs(cfg))])
        self.scorers = [speed.Scorer(n, cfg) for n in self.nets]  # f_s as the sampler calls it (plain list:
        # not registered, so checkpoints hold the networks only)
        self.opts = [torch.optim.Adam(n.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999)) for n in self.nets]
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor) for o in self.opts]
        shape = (channels, cfg.image_size, cfg.image_size)
        self.chains = PersistentChains(n_train, shape) if self.method.start is Start.PERSISTENT else None

    def lr_factor(self, t: int) -> float:
        """Geometric ("logarithmic") decay in steps of lr_decay_every iterations to lr_final_ratio."""
        every, cfg = self.cfg.lr_decay_every, self.cfg
        k_max = max(1, (cfg.n_iters - 1) // every)
        return cfg.lr_final_ratio ** (min(t // every, k_max) / k_max)

    def start_chains(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if self.method.start is Start.ONE_BY_ONE:
            return downscale(x, 1)  # (B, C, 1, 1)
        if self.method.start is Start.OBSERVED:
            return x
        return self.chains.start(idx, x)

    def sample(self, x, idx, mask=None) -> list[torch.Tensor]:
        y0 = self.start_chains(x, idx)
        samples = synthesize(self.scorers, self.sizes, y0, steps=self.steps, cfg=self.cfg, generator=self.gen,
                             observed=x, mask=mask)
        if self.chains is not None:  # data-parallel: every process stores every chain
            self.chains.store(dist.gather(idx.to(x.device)).cpu(), dist.gather(samples[-1]))
        return samples

    def update(self, x: torch.Tensor, samples: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        """One Adam step per grid; returns (grids, 4) stats: f_obs, f_syn, grad ℓ1 norm, loss.

        mask: the update mask of conditional (inpainting) learning, as given to `sample`. The observed image is
        then scored at each grid as the chain sees it: blocks that are only partly missing are held at the mean
        of their observed pixels in the chain (`coarse_observation`), so they are held at that value on the
        observed side too, and the two sides differ only where the chain moves. Scoring the true down-scaled
        image instead leaves a difference the chain can never remove, and the coarse nets learn to detect held
        blocks: their energies diverge (f_obs ≈ +2e7, f_syn ≈ −2e7 at grid 1 after 1,600 reduced-profile
        iterations on faces). At the finest grid every block is one pixel, so nothing changes there.
        """
        stats = []
        for net, opt, size, y in zip(self.nets, self.opts, self.sizes, samples):
            x_s = downscale(x, size)  # (B, C, size, size)
            if mask is not None:
                move, held = coarse_observation(x, mask, size)
                x_s = torch.where(move, x_s, held)
            f_obs = net(x_s)  # observed and synthesized are scored in separate
            f_syn = net(y)  # passes, so each batch gets its own batch-norm statistics
            loss = f_syn.mean() - f_obs.mean()  # minimising this is ascent on eq. (9)
            opt.zero_grad(set_to_none=True)
            self.backward(loss, net)
            stats.append(torch.stack([f_obs.mean(), f_syn.mean(), grad_l1(net), loss]).detach())
        stats = torch.stack(stats)
        self.step(stats, zip(self.opts, self.scheds))
        return stats

    def train_step(self, x, idx, mask=None):
        samples = self.sample(x, idx, mask)
        return samples, self.update(x, samples, mask)

    def extra_state(self) -> dict | None:
        return None if self.chains is None else self.chains.state_dict()

    def load_extra_state(self, state: dict | None) -> None:
        if self.chains is not None:
            self.chains.load_state_dict(state)


def check_method(name: str) -> None:
    """Raise ValueError for a name that is neither a learning scheme nor a baseline family."""
    from repro.baselines import BASELINES
    if name not in METHODS and name not in BASELINES:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join([*METHODS, *BASELINES])}")


def make_learner(cfg: Config, channels: int, n_train: int) -> Trainable:
    """The Trainable for cfg.method: an energy-model scheme or a baseline family."""
    from repro.baselines import BASELINES
    if cfg.method in BASELINES:
        return BASELINES[cfg.method](cfg, channels, n_train)
    return Learner(cfg, channels, n_train)


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


def sample_1x1(train_set: ImageSet, n: int, generator: torch.Generator, cfg: Config) -> torch.Tensor:
    """(n, C, 1, 1) starting images drawn from the empirical distribution (histogram) of the
    training images' 1×1 versions; whole colour vectors are drawn, keeping channel correlation."""
    idx = torch.randint(len(train_set), (n,), generator=generator, device=generator.device).cpu()
    return downscale(train_set.batch(idx, pixel_max=cfg.pixel_max, dtype=cfg.dtype()), 1)


# --- run folder ------------------------------------------------------------------------
# A run folder holds config.json, run_info.json, checkpoint.pt, log.csv and the sample-grid PNGs. At each
# checkpoint the new log rows are appended and fsynced, the PNGs replaced atomically, and only then is the
# checkpoint renamed into place: the checkpoint is the commit point. A resume truncates log.csv to the
# checkpoint's iterations and removes the temporary files of writes a kill interrupted.

def load_checkpoint(path: str) -> dict:
    """torch.load a checkpoint; a truncated or corrupt file is a ValueError that says what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"checkpoint {path!r} is truncated or corrupt ({type(err).__name__}); delete it "
                         f"(and log.csv) to train the run again from the start") from None


def schedule_fixed(cfg: Config) -> bool:
    """Whether the learning-rate schedule is independent of n_iters, so that a finished run extended
    to more iterations equals a run of that length: the baselines' constant rates, or lr_final_ratio 1."""
    from repro.baselines import BASELINES
    return cfg.method in BASELINES or cfg.lr_final_ratio == 1


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
    if cfg.n_iters != planned and not schedule_fixed(cfg):
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


def save_sample_grids(out_dir: str, samples: list[torch.Tensor], sizes, cfg: Config, tag: str = "") -> list[str]:
    """One PNG per grid of the first n_show samples, block-up-scaled to the image size (figure 1)."""
    paths = []
    for y, size in zip(samples, sizes):
        y = upscale(y[: cfg.n_show], cfg.image_size) / cfg.pixel_max
        path = os.path.join(out_dir, f"samples{tag}_grid{size}.png")
        atomic_save_image(y.float().cpu().clamp(0, 1), path, nrow=max(1, int(math.sqrt(len(y)))))
        paths.append(path)
    return paths


def save_checkpoint(out_dir: str, learner: Trainable, cfg: Config, t: int, train_set: ImageSet, rows: list[dict],
                    samples: list[torch.Tensor]) -> None:
    """Commit iterations up to t: log rows (appended, fsynced), sample grids, then the checkpoint itself."""
    append_csv(os.path.join(out_dir, "log.csv"), rows, LOG_COLUMNS)
    save_sample_grids(out_dir, samples, learner.sizes, cfg)
    atomic_torch_save({"config": cfg.to_dict(), "iteration": t + 1, "channels": train_set.channels,
                       "n_train": len(train_set), **learner.checkpoint()}, os.path.join(out_dir, "checkpoint.pt"))


def train(cfg: Config, out_dir: str, *, resume: bool = False, train_set: ImageSet | None = None,
          mask_fn=None, callback=None, progress: bool = True) -> Trainable:
    """Learn cfg.method on the training set; checkpoint, log and sample grids go to out_dir.

    mask_fn: optional (x, generator) → (B, 1, H, W) update mask (1 = missing) for conditional
        learning of p(Y_M | Y_M̄) (inpainting); None learns p(Y).
    callback: optional (t, learner, samples, stats) → None, called after each iteration (after that
        iteration's checkpoint, if any).
    Launched by torchrun with N > 1 processes, the iterations are data-parallel (repro.dist): each
    process runs its shard of every batch, rank 0 writes; the result equals the 1-process run up to
    floating-point rounding, and a checkpoint can be resumed with any number of processes.
    """
    cfg.validate()  # every setting in range before any work
    if cfg.n_iters < 1:
        raise ValueError(f"n_iters is {cfg.n_iters}: training needs at least one iteration (--n-iters 1 or more)")
    if dist.is_main():
        check_writable(out_dir, "--out")
    device, dtype = dist.local_device(cfg.torch_device()), cfg.dtype()
    check_method(cfg.method)  # fail fast on an unknown name
    speed.check(cfg)
    n_proc, main = dist.world_size(), dist.is_main()
    if cfg.batch_size % n_proc:
        raise ValueError(f"batch size {cfg.batch_size} does not split evenly over {n_proc} processes")
    dist.setup(device)
    train_set = train_set if train_set is not None else load_dataset(cfg, "train")
    if train_set.images.shape[-1] != cfg.image_size:
        raise ValueError(f"training images are {train_set.images.shape[-1]}px, config says {cfg.image_size}")
    if cfg.batch_size > len(train_set):
        raise ValueError(f"batch size {cfg.batch_size} exceeds the {len(train_set)} training images of "
                         f"{train_set.name}; use --batch-size {len(train_set)} or less")
    ckpt = _open_run(cfg, out_dir, resume) if main else None
    if n_proc > 1:  # rank 0 has checked and created the run folder; the others read its checkpoint
        torch.distributed.barrier()
        if resume and not main:
            ckpt = load_checkpoint(os.path.join(out_dir, "checkpoint.pt"))
    torch.manual_seed(cfg.seed)  # network initialisation (the same on every process)
    learner = make_learner(cfg, train_set.channels, len(train_set)).to_device(device, dtype)
    start, log = 0, []  # log: the rows since the last checkpoint
    if ckpt is not None:
        learner.restore(ckpt)
        start = ckpt["iteration"]
    info = {**provenance(device), "dataset": train_set.name, "n_train": len(train_set), "method": cfg.method,
            "processes": n_proc}
    if main:
        atomic_write_bytes(os.path.join(out_dir, "run_info.json"), json.dumps(info, indent=2).encode())
    order = BatchOrder(len(train_set), cfg.batch_size, cfg.seed)
    if order.batch_size % n_proc:
        raise ValueError(f"a batch of {order.batch_size} images does not split evenly over {n_proc} processes")
    bar = tqdm(range(start, cfg.n_iters), initial=start, total=cfg.n_iters, disable=not (progress and main),
               desc=f"{cfg.method} {train_set.name}", unit="it")
    samples = None
    for t in bar:
        tic = time.perf_counter()
        with dist.data_parallel():
            idx = dist.shard(order.indices(t))  # this process's share of the global batch
            x = train_set.batch(idx, pixel_max=cfg.pixel_max, dtype=dtype, device=device)  # (B/n_proc, C, H, W)
            mask = None
            if mask_fn is not None:  # drawn for the global batch, then sharded
                mask = dist.shard(mask_fn(x.new_empty((len(x) * n_proc, *x.shape[1:])), learner.gen))
            samples, stats = learner.train_step(x, idx, mask)
            last = (t + 1) % cfg.checkpoint_every == 0 or t + 1 == cfg.n_iters
            if last and n_proc > 1:
                samples = [dist.gather(s) for s in samples]  # the sample grids show the global batch
        seconds, lr = time.perf_counter() - tic, learner.scheds[0].get_last_lr()[0]
        for g, (f_obs, f_syn, g1, loss) in enumerate(stats.tolist()):  # one row per network
            size = learner.sizes[min(g, len(learner.sizes) - 1)]
            log.append({"iteration": t, "grid": g + 1, "size": size, "f_obs": f_obs, "f_syn": f_syn,
                        "grad_l1": g1, "loss": loss, "lr": lr, "seconds": seconds})
        bar.set_postfix(f_obs=f"{stats[-1, 0]:.3g}", f_syn=f"{stats[-1, 1]:.3g}")
        learner.iteration = t + 1
        if last and main:
            save_checkpoint(out_dir, learner, cfg, t, train_set, log, samples)
        if last:
            log = []
        if callback is not None:
            callback(t, learner, samples, stats)
    if n_proc > 1:
        torch.distributed.barrier()  # the last checkpoint is on disk before any process reads it
    return learner


def load_learner(out_dir: str, device: str | None = None) -> Trainable:
    """Rebuild a trained model (any family) from a run folder's checkpoint."""
    path = os.path.join(out_dir, "checkpoint.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}; train first")
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"])
    if device is not None:
        cfg = Config.from_dict({**cfg.to_dict(), "device": device})
    learner = make_learner(cfg, ckpt["channels"], ckpt["n_train"]).to_device(cfg.torch_device(), cfg.dtype())
    learner.restore(ckpt)
    return learner
