"""The test-time inpainting procedure (CVPR §6.4, arXiv §7.4): a trained model's ``inpaint`` verb run on a set of
images under a budget of Langevin steps, with the chains run as a ``Procedure`` says.

Mask convention, everywhere: mask (B, 1, H, W) is 1 where a pixel is missing; the observed pixels come back
bit for bit (checked on every batch). The paper's procedure (``Procedure()``): one noisy chain per image from
the observed-mean fill (repro.core.pyramid.observed_mean_fill), coarse blocks held at their observed mean
(repro.core.learner.synthesize), l·S Langevin steps in all spread evenly over the scheme's grids. A family
without chains (the ContextEncoder) fills the missing pixels with its network; the budget is then ignored.

The starts other than the observed mean ("biharmonic", "multigrid") are fills of the evaluation part
(repro.evaluation.floors), above this one: the caller hands them in as ``start_fills``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from repro.base.batching import evaluate
from repro.core.trainable import device_generator

STARTS = ("mean", "biharmonic", "multigrid")  # Procedure.start: where a newly moving pixel starts
StartFill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (B, C, H, W), mask (B, 1, H, W)) → filled x


@dataclass(frozen=True)
class Procedure:
    """How the test-time chains run, beyond the budget; the defaults are the paper's procedure (one noisy
    chain from the observed-mean fill, coarse blocks held at their observed mean).

    n_chains: the estimate is the mean of this many chains (independent noise); key "chains" in a spec and a
        setting name ("|chains=4").
    noise: Langevin noise at test time (None: as in training).
    start: "mean" (the paper's), "biharmonic" or "multigrid": a pixel that starts to move where the chain holds
        only a block mean starts from the biharmonic interpolation of the observed pixels, or from the multi-grid
        start (repro.evaluation.floors.multigrid_start_fill: the block-held fill multi-grid's chains start from), so
        that every scheme can be given the same start (repro.core.learner.synthesize).
    step_size: δ at test time (None: as in training).
    """
    n_chains: int = 1
    noise: bool | None = None
    start: str = "mean"
    step_size: float | None = None

    KEYS = ("chains", "noise", "start", "step_size")  # spec and setting keys, in the fields' order
    FIELDS = {"chains": "n_chains"}  # a key whose field has another name

    @classmethod
    def parse(cls, spec: str) -> "Procedure":
        """'chains=4,noise=off,start=biharmonic,step_size=0.1' → Procedure."""
        kw, bad = {}, ValueError(f"bad test procedure {spec!r}: chains ≥ 1, noise on|off, start "
                                 f"mean|biharmonic|multigrid, step_size a finite number > 0")
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            if key not in cls.KEYS or not value:
                raise ValueError(f"bad test procedure {item!r} in {spec!r}; use key=value with keys "
                                 f"{', '.join(cls.KEYS)}")
            try:  # noise=maybe or chains=two (a setting read back from a CSV, too) is the one-line refusal
                kw[cls.FIELDS.get(key, key)] = {"chains": int, "step_size": float, "start": str,
                                                "noise": lambda v: {"on": True, "off": False}[v]}[key](value)
            except (KeyError, ValueError):
                raise bad from None
        proc = cls(**kw)
        step = 1.0 if proc.step_size is None else proc.step_size
        if proc.n_chains < 1 or proc.start not in STARTS or not 0 < step < math.inf:
            raise bad
        return proc

    def suffix(self) -> str:
        """Setting suffix naming the fields that differ from the paper's procedure ('' for it)."""
        default = Procedure()
        parts = [f"{k}={'on' if v is True else 'off' if v is False else v}" for k in self.KEYS
                 if (v := getattr(self, self.FIELDS.get(k, k))) != getattr(default, self.FIELDS.get(k, k))]
        return "".join(f"|{p}" for p in parts)


def steps_per_grid(learner, budget: int) -> int:
    """Langevin steps at each of the learner's grids for a total test budget."""
    n = len(learner.sizes)
    if budget < 1 or budget % n:
        raise ValueError(f"--test-steps {budget} must be a positive multiple of the {n} grids of {learner.cfg.method}")
    return budget // n


def inpaint(learner, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, *,
            budget: int | None = None, proc: Procedure = Procedure(),
            start_fills: Mapping[str, StartFill] | None = None) -> torch.Tensor:
    """Inpaint x (B, C, H, W) where mask (B, 1, H, W) is 1 with the learner's ``inpaint`` verb → (B, C, H, W):
    `budget` Langevin steps in all (None: the scheme's training budget), chains run as `proc` says (a family
    without chains, the ContextEncoder, fills the missing pixels with its network's output). start_fills: the
    fill of each proc.start other than "mean", in pixel units. Checks that no observed pixel moved."""
    start_fill = None
    if proc.start != "mean":
        if proc.start not in (start_fills or {}):
            raise ValueError(f"test procedure start={proc.start}: no such start fill given "
                             f"(given: {', '.join(start_fills or {}) or 'none'})")
        start_fill = start_fills[proc.start](x, mask)  # (B, C, H, W)
    out = learner.inpaint(x, mask, generator, steps=None if budget is None else steps_per_grid(learner, budget),
                          chains=proc.n_chains, noise=proc.noise, start_fill=start_fill, step_size=proc.step_size)
    return check_held(learner, x, mask, out)


def check_held(learner, x: torch.Tensor, mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """`out`, after checking that no observed pixel of x (where mask is 0) moved."""
    held = ~mask.bool().expand_as(x)
    if not bool(((out == x) | ~held).all()):  # one host read per batch (boolean indexing would add syncs)
        raise AssertionError(f"inpaint: {learner.cfg.method} changed observed pixels")
    return out


def inpaint_all(learner, images: torch.Tensor, masks: torch.Tensor, seed: int, *, budget: int | None = None,
                proc: Procedure = Procedure(), start_fills: Mapping[str, StartFill] | None = None) -> torch.Tensor:
    """Inpaint (N, C, H, W) images under (N, 1, H, W) masks in fixed batches of the training batch size
    (repro.base.batching), with a test budget of `budget` Langevin steps → (N, C, H, W) on the CPU. The test
    noise comes from one generator on the learner's device seeded with `seed`."""
    device, dtype = learner.device, learner.dtype
    gen = device_generator(device).manual_seed(seed)
    return evaluate(lambda x, m: inpaint(learner, x.to(device=device, dtype=dtype), m.to(device=device, dtype=dtype),
                                         gen, budget=budget, proc=proc, start_fills=start_fills),
                    len(images), learner.cfg.batch_size, images, masks)


def complete_all(learner, images: torch.Tensor, masks: torch.Tensor, seed: int, *, steps: int,
                 step_size: float) -> torch.Tensor:
    """Complete (N, C, H, W) images under (N, 1, H, W) masks by latent inference (the CoopNets paper's completion,
    for CoopNets and DCGAN alike: `steps` Langevin steps of X at `step_size` on the observed pixels, then the
    generator's image), in the same fixed batches and with the same seeded test noise as inpaint_all → (N, C, H, W)
    on the CPU. Checks that no observed pixel moved."""
    device, dtype = learner.device, learner.dtype
    gen = device_generator(device).manual_seed(seed)

    def fill(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        x, m = x.to(device, dtype), m.to(device, dtype)
        return check_held(learner, x, m, learner.inpaint(x, m, gen, steps=steps, step_size=step_size))
    return evaluate(fill, len(images), learner.cfg.batch_size, images, masks)
