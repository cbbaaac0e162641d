"""Every model family the runner trains, by the name `--method` takes: one table, and the one place that imports
the families' modules.

A family is a ``Trainable`` (repro.core.trainable) with its networks, one ``train_step`` and the verbs the tasks use.
The paper's four learning schemes (repro.core.methods) are the energy models of ``repro.core.learner.Learner``;
beside them the baselines the paper re-ran (DCGAN, the ContextEncoder: repro.families.baselines) and the companion
papers' models (CoopNets: repro.families.coopnets; the generative ConvNet: repro.families.gconvnet). The SVHN
protocol's CNN head (repro.families.semisup.TopMapHead) is built by its task over given networks and handed to the
runner as ``build``.

A new family: its module with a ``Trainable`` subclass, and one ``Family`` entry below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from repro.base import dist
from repro.families.baselines import DCGAN, ContextEncoder
from repro.base.config import Config
from repro.families.coopnets import CoopNets
from repro.families.gconvnet import GenerativeConvNet
from repro.core.learner import Learner
from repro.core.methods import METHODS
from repro.core.trainable import Trainable


@dataclass(frozen=True)
class Family:
    build: Callable[[Config, int, int], Trainable]  # (cfg, channels, n_train) → the untrained model
    fixed_schedule: bool  # a constant learning rate: a finished run extended to more iterations is the longer run
    paper: str  # where it comes from


FAMILIES: dict[str, Family] = {
    **{name: Family(Learner, False, "the paper's learning schemes (repro.core.methods)") for name in METHODS},
    "dcgan": Family(DCGAN, True, "baseline the paper re-ran (DCGAN)"),
    "context_encoder": Family(ContextEncoder, True, "baseline the paper re-ran (ContextEncoder, inpaintRandom)"),
    "coopnets": Family(CoopNets, True, "CoopNets, ICLR 2017 submission"),
    "gconvnet": Family(GenerativeConvNet, True, "the generative ConvNet, ICML 2016"),
}


def names() -> list[str]:
    """Every name --method takes."""
    return list(FAMILIES)


def check_method(name: str) -> None:
    """Raise ValueError for a name that is no family."""
    if name not in FAMILIES:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(FAMILIES)}")


def fixed_schedule(cfg: Config) -> bool:
    """Whether the learning-rate schedule is independent of n_iters, so that a finished run extended to more
    iterations equals a run of that length: a family of constant rates, or lr_final_ratio 1."""
    family = FAMILIES.get(cfg.method)
    return (family is not None and family.fixed_schedule) or cfg.lr_final_ratio == 1


def make_learner(cfg: Config, channels: int, n_train: int) -> Trainable:
    """The untrained model of the family cfg.method names."""
    check_method(cfg.method)
    return FAMILIES[cfg.method].build(cfg, channels, n_train)


def initial_learner(cfg: Config, channels: int, n_train: int, *, build=None, device=None) -> Trainable:
    """The model repro.runner.engine.train starts from: the global seed set to cfg.seed, then build(cfg, channels,
    n_train) (default ``make_learner``), moved to `device` (default cfg's) and cfg's precision. The same seed
    and construction order give a trained model's very initial weights (the untrained controls)."""
    torch.manual_seed(cfg.seed)  # network initialisation (the same on every process)
    learner = (build or make_learner)(cfg, channels, n_train)
    device = dist.local_device(cfg.torch_device()) if device is None else torch.device(device)
    return learner.to_device(device, cfg.dtype())
