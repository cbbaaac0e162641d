"""Every model family the runner trains, by the name `--method` takes: one table, and the one place that imports
the families' modules.

A family is a ``Trainable`` (repro.core.trainable) with its networks, one ``train_step`` and the verbs the tasks use.
The paper's four learning schemes (repro.core.methods) are the energy models of ``repro.core.learner.Learner``;
beside them the baselines the paper re-ran (DCGAN, the ContextEncoder: repro.families.baselines) and the companion
papers' models (CoopNets: repro.families.coopnets; the generative ConvNet: repro.families.gconvnet). The SVHN
protocol's CNN head (repro.families.semisup.TopMapHead) is built by its task over given networks and handed to the
runner as ``build``.

Each entry says what its family can do (``capabilities``: the verbs it implements, CAPABILITIES) and how it
inpaints (``inpaint_by``: with chains, a network, or latent inference), and names its result rows (``label``); the
tasks take their --methods choices and defaults from these queries (``having``), never by testing a family's name.
What the report calls it (``names``: its long and short names, its column in CVPR Table 4, its variants) is its entry
of repro.families.names, a torch-free table that the report reads without importing this one.

A new family: its module with a ``Trainable`` subclass, and one ``Family`` entry below (the report gives its rows a
column of the inpainting table under their own name; an entry in repro.families.names, with ``names=`` here, names
it and places it among the paper's columns).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from repro.base import dist
from repro.base.config import Config
from repro.core.learner import Learner
from repro.core.methods import METHODS
from repro.core.trainable import Trainable
from repro.families.baselines import DCGAN, ContextEncoder
from repro.families.coopnets import CoopNets
from repro.families.gconvnet import GenerativeConvNet
from repro.families.names import NAMES, Names

# capability → the Trainable method (verb) that a family with it implements
CAPABILITIES = {
    "sample": "sample",  # synthesis: n images per size
    "inpaint": "inpaint",  # the missing pixels of masked images filled in (how: Family.inpaint_by)
    "features": "features",  # a feature read-out for a linear classifier (the L2-SVM)
    "score_per_grid": "score_per_grid",  # the energy f_s at each grid (score diagnostics)
    "reconstruct": "reconstruct",  # one-step auto-encoding B(I) (the generative ConvNet, ICML 2016 §7.3)
    "revise": "sample_with_revision",  # generator samples beside their descriptor revisions (CoopNets)
}
# Family.inpaint_by: how a family with the "inpaint" capability fills missing pixels
INPAINT_BY = {
    "chains": "Langevin chains on the missing pixels of a model learned with the training masks (a test-time "
              "budget and procedures apply: repro.core.inpaint)",
    "network": "one pass of a network learned with the training masks (no chains, no budget)",
    "latent": "latent inference of an unconditional generator on the observed pixels (repro.families.latent)",
}


def _scheme_label(cfg: Config) -> str:
    """A scheme's rows: its name, with "_fill_start" for the variant whose training chains start from the masked
    image filled as at test time (--cond-start fill)."""
    return cfg.method if cfg.cond_start == "observed" else f"{cfg.method}_fill_start"


def _context_encoder_label(cfg: Config) -> str:
    """The ContextEncoder's rows: "_jitter" for their random crop and flip (--ce-load-scale) and "_running_bn" for
    their test-time batch-norm averages (--ce-test-bn running)."""
    return cfg.method + ("_jitter" if cfg.ce.load_scale else "") + ("_running_bn" if cfg.ce.test_bn == "running"
                                                                     else "")


@dataclass(frozen=True)
class Family:
    build: Callable[[Config, int, int], Trainable]  # (cfg, channels, n_train) → the untrained model
    fixed_schedule: bool  # a constant learning rate: a finished run extended to more iterations is the longer run
    paper: str  # where it comes from
    capabilities: frozenset[str] = frozenset()  # what it can do: names in CAPABILITIES
    inpaint_by: str | None = None  # with "inpaint": how (a key of INPAINT_BY)
    label: Callable[[Config], str] | None = None  # its result rows' method name (None: cfg.method), so that a
    # variant trained or scored otherwise than the paper's reading sits beside it, never in its place
    names: Names | None = None  # what the report calls it (repro.families.names.NAMES; None: its --method name)

    def __post_init__(self):
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown or (self.inpaint_by is not None) != ("inpaint" in self.capabilities) or \
                self.inpaint_by not in (None, *INPAINT_BY):
            raise ValueError(f"family of {self.paper!r}: capabilities {sorted(self.capabilities)} (known: "
                             f"{', '.join(CAPABILITIES)}), inpaint_by {self.inpaint_by!r} (one of "
                             f"{', '.join(INPAINT_BY)}, given exactly with 'inpaint')")


_SCHEME = Family(Learner, False, "the paper's learning schemes (repro.core.methods)",
                 frozenset({"sample", "inpaint", "features", "score_per_grid"}), "chains", _scheme_label)

FAMILIES: dict[str, Family] = {
    **{name: dataclasses.replace(_SCHEME, names=NAMES[name]) for name in METHODS},
    "dcgan": Family(DCGAN, True, "baseline the paper re-ran (DCGAN)", frozenset({"sample", "inpaint", "features"}),
                    "latent", names=NAMES["dcgan"]),
    "context_encoder": Family(ContextEncoder, True, "baseline the paper re-ran (ContextEncoder, inpaintRandom)",
                              frozenset({"inpaint"}), "network", _context_encoder_label,
                              names=NAMES["context_encoder"]),
    "coopnets": Family(CoopNets, True, "CoopNets, ICLR 2017 submission", frozenset({"inpaint", "revise"}), "latent",
                       names=NAMES["coopnets"]),
    "gconvnet": Family(GenerativeConvNet, True, "the generative ConvNet, ICML 2016",
                       frozenset({"sample", "reconstruct"}), names=NAMES["gconvnet"]),
}


def names() -> list[str]:
    """Every name --method takes."""
    return list(FAMILIES)


def check_method(name: str) -> None:
    """Raise ValueError for a name that is no family."""
    if name not in FAMILIES:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(FAMILIES)}")


def family(name: str) -> Family:
    """The entry of a family name (ValueError for a name that is no family)."""
    check_method(name)
    return FAMILIES[name]


def having(capability: str, *, inpaint_by=None) -> list[str]:
    """The names of the families that have `capability` (and, given, inpaint by one of the ways in `inpaint_by`), in
    the table's order: a task's --methods choices."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    return [name for name, f in FAMILIES.items() if capability in f.capabilities
            and (inpaint_by is None or f.inpaint_by in inpaint_by)]


def can(name: str, capability: str) -> bool:
    """Whether the family `name` has `capability`."""
    return capability in family(name).capabilities


def display(name: str) -> Names:
    """What the report calls the family `name` (Family.names; a family without one: its name)."""
    return family(name).names or Names(name)


def method_label(cfg: Config) -> str:
    """The result rows' method name of a model of cfg's family and settings (Family.label; default cfg.method)."""
    label = family(cfg.method).label
    return cfg.method if label is None else label(cfg)


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
