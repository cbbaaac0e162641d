"""What the one training loop (repro.runner.engine.train) and the tasks need of a model family.

A ``Trainable`` holds its networks (``nets``), one optimiser and scheduler per network, a
random generator for everything it draws while training, and one ``train_step``. The energy
models of the four learning schemes (repro.core.learner.Learner), the baselines the paper compares
with (repro.families.baselines: DCGAN, ContextEncoder) and the SVHN classifiers (repro.families.semisup) are
Trainables, so they share data order, checkpoints, resume, logs, progress bars and the non-finite check.

The tasks ask a trained model for what it can do through its verbs, never by its class: ``sample``
(synthesis), ``inpaint`` (inpainting), ``features`` (the L2-SVM read-out) and ``score_per_grid`` (the
score diagnostics). A family implements the verbs that make sense for it, and its registry entry
(repro.families.registry.Family.capabilities) says which; the others raise NotImplementedError naming the family.
"""
from __future__ import annotations

import sys

import torch
import torch.nn as nn

from repro.base import dist, speed
from repro.base.config import Config
from repro.base.io import NonFiniteError

# Generators that device_generator handed out for the meta device (see there)
_META_STANDINS: list[torch.Generator] = []


def device_generator(device: torch.device | str) -> torch.Generator:
    """A random generator for draws made on `device` (CUDA draws need a CUDA generator).

    The meta device has none; tests/test_device_discipline.py runs the suite on meta as a stand-in for
    CUDA, so a CPU generator serves there (meta draws are shapes only), remembered in _META_STANDINS so
    that the test can tell it from a CPU generator handed to a CUDA draw by mistake."""
    device = torch.device(device)
    if device.type == "meta":
        gen = torch.Generator()
        _META_STANDINS.append(gen)
        return gen
    return torch.Generator(device=device)


def generator_fits(gen: torch.Generator, state: torch.Tensor) -> bool:
    """Whether a saved random state belongs to gen's kind of device (a CPU Mersenne-Twister state is
    5,056 bytes, a CUDA Philox state 16): states do not move between kinds."""
    return len(state) == len(gen.get_state())


class Trainable(nn.Module):
    sizes: tuple[int, ...]  # the image size(s) the family produces samples at, coarse to fine
    steps: int = 0  # Langevin steps per grid of the family's sampler; 0: it samples without chains
    nets: nn.ModuleList
    opts: list
    scheds: list

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)  # moved to the device by to_device
        self.iteration = 0  # learning iterations done (set by the training loop and by restore)

    def train_step(self, x: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor | None = None):
        """One iteration on a batch (B, C, H, W) in [0, pixel_max]; returns (samples per size, stats).

        stats: (rows, 4) tensor logged as f_obs, f_syn, grad_l1, loss (one row per network)."""
        raise NotImplementedError

    # --- verbs the tasks use (each family implements those that make sense for it) ---------------------

    def sample(self, n: int, generator: torch.Generator, *, train_set=None, starts: torch.Tensor | None = None,
               noise: bool | None = None) -> list[torch.Tensor]:
        """n synthesized images, one (n, C, s, s) CPU batch per size in ``sizes``, in [0, pixel_max], computed
        in fixed batches of the training batch size (repro.base.batching)."""
        raise NotImplementedError(f"{type(self).__name__} does not synthesize images")

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None,
                **sampler) -> torch.Tensor:
        """x (B, C, H, W) in [0, pixel_max] with the pixels where mask (B, 1, H, W) is 1 filled in; the
        observed pixels are returned exactly as given. sampler: test-time settings of a chain sampler."""
        raise NotImplementedError(f"{type(self).__name__} does not inpaint")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, H) images in [0, pixel_max] → (B, feature_dim) features for a linear classifier."""
        raise NotImplementedError(f"{type(self).__name__} has no feature read-out")

    def score_per_grid(self, images) -> list[torch.Tensor]:
        """The energy f_s at each grid s: one (N,) CPU tensor per size in ``sizes``, in fixed batches of the training
        batch size (repro.base.batching). images: (N, C, H, W) in [0, pixel_max], down-scaled to each grid; or a
        list with one (N, C, s, s) batch per grid (each grid's own chain output), scored as it is."""
        raise NotImplementedError(f"{type(self).__name__} has no energy per grid")

    @property
    def device(self) -> torch.device:
        """The device of the family's parameters (where its verbs want their inputs)."""
        return next(self.nets.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the family's parameters (that of its verbs' inputs)."""
        return next(self.nets.parameters()).dtype

    def to_device(self, device: torch.device, dtype: torch.dtype) -> "Trainable":
        fmt = torch.channels_last if self.cfg.channels_last else torch.preserve_format
        self.to(device=device, dtype=dtype, memory_format=fmt)
        speed.apply_backend_flags(self.cfg, device)
        state = self.gen.get_state()
        self.gen = device_generator(device)
        self.gen.set_state(state) if generator_fits(self.gen, state) else self.gen.manual_seed(self.cfg.seed + 1)
        return self

    def backward(self, loss: torch.Tensor, net: nn.Module) -> None:
        """loss.backward(), then (data-parallel) average net's gradients over the processes."""
        loss.backward()
        dist.average_([p.grad for p in net.parameters()])

    def step(self, stats: torch.Tensor, pairs) -> None:
        """Check stats are finite (before any parameter moves), then step the (optimiser, scheduler) pairs.
        Data-parallel: stats are first averaged over the processes (in place), so all decide alike."""
        dist.average_([stats])
        if not torch.isfinite(stats).all():
            raise NonFiniteError(f"non-finite scores, losses or gradients at sizes {self.sizes}: {stats.tolist()}")
        for opt, sched in pairs:
            opt.step()
            sched.step()

    def extra_state(self) -> dict | None:
        return None

    def load_extra_state(self, state: dict | None) -> None:
        pass

    def checkpoint(self) -> dict:
        return {"nets": self.nets.state_dict(), "opts": [o.state_dict() for o in self.opts],
                "scheds": [s.state_dict() for s in self.scheds], "gen": self.gen.get_state(),
                "extra": self.extra_state()}

    def restore(self, ckpt: dict) -> None:
        self.nets.load_state_dict(ckpt["nets"])
        for o, s in zip(self.opts, ckpt["opts"]):
            o.load_state_dict(s)
        for sch, s in zip(self.scheds, ckpt["scheds"]):
            sch.load_state_dict(s)
        self.iteration = ckpt.get("iteration", 0)  # a run checkpoint has it; a bare checkpoint() not
        self.restore_generator(ckpt["gen"])
        self.load_extra_state(ckpt["extra"])

    def restore_generator(self, state: torch.Tensor) -> None:
        """Set the random state saved in a checkpoint. A state saved on another kind of device (a run
        started on a CPU, resumed or loaded on a GPU, or back) cannot be set: the generator is then
        re-seeded from the seed and the iteration, and a note says so (the run goes on; its later draws
        differ from those the first device would have made)."""
        if generator_fits(self.gen, state):
            self.gen.set_state(state)
            return
        self.gen.manual_seed(self.cfg.seed + 1 + 1_000_003 * self.iteration)
        if dist.is_main():
            print(f"note: the checkpoint's random state is for another kind of device than "
                  f"{self.gen.device.type}; random draws re-seeded from the seed and iteration "
                  f"{self.iteration}", file=sys.stderr, flush=True)


def grad_l1(module: nn.Module) -> torch.Tensor:
    """ℓ1 norm of a module's parameter gradients (arXiv figure 4)."""
    return sum(p.grad.abs().sum() for p in module.parameters() if p.grad is not None)
