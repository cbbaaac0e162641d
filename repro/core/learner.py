"""Algorithm 1 of the paper (arXiv §7, eq. 8-9): the energy models of one scheme and their sampler.

Within each learning iteration, for a batch of training images x:
  1. chains start where the scheme says (repro.core.methods): the 1×1 version of x,
     x itself, or the persistent chains of these images (``Learner.start_chains``);
  2. at each grid s (coarse to fine) the chain is up-scaled to s and evolved by
     Langevin dynamics (eq. 8) under the grid's model, parameters out of autograd (``synthesize``);
  3. each grid's parameters θ_s take one Adam step on
     mean f_s(synthesized) − mean f_s(observed at grid s), i.e. ascent on eq. (9) (``Learner.update``).

No file I/O here: the runner (repro.runner.engine: ``train``, checkpoints, logs, resume) drives a ``Learner``
like any other ``Trainable``; repro.families.registry builds the Trainable a config names (``make_learner``,
``initial_learner``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from repro.base import dist, speed
from repro.base.batching import evaluate, fixed_batches
from repro.base.config import Config
from repro.core.langevin import langevin
from repro.core.methods import Start, get_method
from repro.core.models import build_energy_net, maxpool_dim, maxpool_features
from repro.core.pyramid import check_sizes, coarse_observation, downscale, observed_mean_fill, sample_1x1, upscale
from repro.core.trainable import Trainable, grad_l1
from repro.datasets.data import ImageSet


class PersistentChains:
    """Persistent-CD chains, one per training image: started at the observed image, then carried."""

    def __init__(self, n: int, shape: tuple[int, int, int], dtype=torch.float32):
        self.state = torch.zeros((n, *shape), dtype=dtype)  # (N, C, H, W), kept on the CPU
        self.started = torch.zeros(n, dtype=torch.bool)
        self.missing = torch.zeros((n, 1, *shape[1:]), dtype=torch.bool)  # (N, 1, H, W): each chain's last mask

    def start(self, idx: torch.Tensor, x: torch.Tensor, fresh: torch.Tensor | None = None,
              mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) chain states for images idx; `fresh` (default: the observed x) where a chain has not
        started. With a mask (conditional learning, cond_start "fill") a chain keeps its state only where the
        pixel was missing last time and is missing again: elsewhere it starts afresh (observed pixels as given,
        newly missing ones from `fresh`)."""
        fresh = x if fresh is None else fresh
        state = self.state[idx].to(device=x.device, dtype=x.dtype)
        keep = self.started[idx].to(x.device).view(-1, 1, 1, 1)
        if mask is not None:
            keep = keep & self.missing[idx].to(x.device) & mask.bool()
        return torch.where(keep, state, fresh)

    def store(self, idx: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.state[idx] = y.detach().to("cpu", self.state.dtype)
        self.started[idx] = True
        if mask is not None:
            self.missing[idx] = mask.detach().to("cpu").bool()

    def state_dict(self) -> dict:
        return {"state": self.state, "started": self.started, "missing": self.missing}

    def load_state_dict(self, d: dict) -> None:
        if d["state"].shape != self.state.shape:
            raise ValueError(f"persistent chains of shape {tuple(d['state'].shape)} do not fit "
                             f"{tuple(self.state.shape)}")
        self.state, self.started = d["state"].clone(), d["started"].clone()
        if "missing" in d:  # checkpoints before cond_start have none (and never read it)
            self.missing = d["missing"].clone()


def synthesize(nets, sizes, y, *, steps: int, cfg: Config, generator=None, noise: bool | None = None,
               observed: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               start_fill: torch.Tensor | None = None, step_size: float | None = None) -> list[torch.Tensor]:
    """Pass chains up the grids: at each size, up-scale and run `steps` Langevin steps.

    nets: one f_s per grid: the networks, or a learner's ``scorers`` (the same networks with the
        config's speed switches, repro.base.speed).
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

    def start_chains(self, x: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Where the training chains of images x (B, C, H, W) start. The paper's reading (cond_start "observed"):
        the 1×1 version of x, x itself, or the persistent chains, also in conditional learning, where x is the
        whole true image, hidden pixels included. cond_start "fill" (with a mask): from the masked image filled as
        at test time (its observed-pixel mean; its 1×1 version for the 1×1 schemes), so that the chains learn to
        move a fill; a persistent chain keeps its state only where the pixel stays missing."""
        fill = mask is not None and self.cfg.cond_start == "fill"
        start = observed_mean_fill(x, mask) if fill else x
        if self.method.start is Start.ONE_BY_ONE:
            return downscale(start, 1)  # (B, C, 1, 1)
        if self.method.start is Start.OBSERVED:
            return start
        return self.chains.start(idx, x, start, mask if fill else None)

    def run_chains(self, x: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The training chains of images x (B, C, H, W) with indices idx: one (B, C, s, s) sample per grid."""
        y0 = self.start_chains(x, idx, mask)
        samples = synthesize(self.scorers, self.sizes, y0, steps=self.steps, cfg=self.cfg, generator=self.gen,
                             observed=x, mask=mask)
        if self.chains is not None:  # data-parallel: every process stores every chain
            kept = dist.gather(mask) if mask is not None and self.cfg.cond_start == "fill" else None
            self.chains.store(dist.gather(idx.to(x.device)).cpu(), dist.gather(samples[-1]), kept)
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
        samples = self.run_chains(x, idx, mask)
        return samples, self.update(x, samples, mask)

    # --- what the tasks ask of a trained model (repro.core.trainable.Trainable's verbs) ---------------------

    def sample(self, n: int, generator: torch.Generator, *, train_set: ImageSet | None = None,
               starts: torch.Tensor | None = None, noise: bool | None = None) -> list[torch.Tensor]:
        """n chains passed up the grids → one (n, C, s, s) CPU batch per grid, in fixed batches
        (repro.base.batching). starts: (n, C, 1, 1) starting images; None: drawn from the 1×1 histogram of
        train_set (``sample_1x1``), all n before the first chain runs."""
        y0 = sample_1x1(train_set, n, generator, self.cfg) if starts is None else starts
        y0 = y0.to(self.device)
        batches = [(synthesize(self.scorers, self.sizes, y0[idx], steps=self.steps, cfg=self.cfg, generator=generator,
                               noise=noise), keep) for idx, keep in fixed_batches(len(y0), self.cfg.batch_size)]
        return [torch.cat([b[g][:keep].cpu() for b, keep in batches]) for g in range(len(self.sizes))]

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None, *,
                steps: int | None = None, chains: int = 1, noise: bool | None = None,
                start_fill: torch.Tensor | None = None, step_size: float | None = None) -> torch.Tensor:
        """x (B, C, H, W) in [0, pixel_max] with the pixels where mask (B, 1, H, W) is 1 sampled from
        p(Y_M | Y_M̄); observed pixels are returned exactly as given.

        The missing pixels start at the mean of the image's observed pixels per channel; a scheme whose
        training chains start at 1×1 starts from the 1×1 version of that fill, the others from the fill at
        full size. steps: Langevin steps per grid (None: the training budget); the result is the mean of
        `chains` chains; noise, step_size: as in ``synthesize`` (None: as in training); start_fill: see
        ``synthesize``."""
        filled = observed_mean_fill(x, mask)
        y0 = downscale(filled, 1) if self.method.start is Start.ONE_BY_ONE else filled  # (B, C, 1|H, 1|W)
        steps = self.steps if steps is None else steps
        out = sum(synthesize(self.scorers, self.sizes, y0, steps=steps, cfg=self.cfg, generator=generator,
                             noise=noise, observed=filled, mask=mask, start_fill=start_fill,
                             step_size=step_size)[-1] for _ in range(chains)) / chains  # (B, C, H, W)
        return torch.where(mask.bool().expand_as(x), out, x)  # the mean of chains: observed pixels as given

    @torch.no_grad()
    def score_per_grid(self, images) -> list[torch.Tensor]:
        """f_s at each grid s → one (N,) CPU tensor per grid, each grid in fixed batches of the training batch size
        (repro.base.batching). images: (N, C, H, W) in [0, pixel_max], down-scaled to each grid; or a list with one
        (N, C, s, s) batch per grid (each grid's own chain output), scored as it is."""
        if isinstance(images, (list, tuple)):
            if [x.shape[-1] for x in images] != list(self.sizes):
                raise ValueError(f"per-grid images of sizes {[x.shape[-1] for x in images]}, grids {self.sizes}")
            per_grid = list(images)
        else:
            per_grid = [images] * len(self.sizes)
        device = self.device
        return [evaluate(lambda b: net(downscale(b.to(device), size)), len(x), self.cfg.batch_size, x)
                for net, size, x in zip(self.nets, self.sizes, per_grid)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, H) images in [0, pixel_max] → (B, feature_dim): the finest net's conv blocks, each
        max-pooled to 4×4 (repro.core.models.maxpool_features)."""
        return maxpool_features(self.nets[-1], x)

    @property
    def feature_dim(self) -> int:
        return maxpool_dim(self.nets[-1])

    def extra_state(self) -> dict | None:
        return None if self.chains is None else self.chains.state_dict()

    def load_extra_state(self, state: dict | None) -> None:
        if self.chains is not None:
            self.chains.load_state_dict(state)
