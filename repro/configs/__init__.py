"""Each experiment's settings, one module per experiment (as score_sde's ``configs/``): what a task changes on top of
a ``Config`` preset (repro.base.config.PRESETS) and the task's own options, per profile.

Every module here holds two tables keyed by profile ("smoke", "reduced", "paper"):
- ``CONFIG``: the ``Config`` fields (flat names, as ``Config.replace`` takes them) the experiment sets over the preset;
- ``OPTIONS``: the task's options that are not ``Config`` fields (its argparse flags' defaults, by dest name).
The user's flags override both. ``tasks.common.parse_task_args(..., experiment=NAME)`` applies them; tools that size
or time a task (tools.time_reduced) and the families' defaults (latent inference: ``coopnets.INFER``) read them here,
never a copy. A module may name further constants of its experiment (an ordering, a default subset).

This part sits below the families (which read their defaults here) and above repro.evaluation: plain data that
imports nothing else of the suite.
"""
from __future__ import annotations

import copy

from repro.configs import coopnets, generative_convnet, inpainting, score_diagnostics, svhn_features, synthesis

PROFILES = ("smoke", "reduced", "paper")
EXPERIMENTS = {m.__name__.rsplit(".", 1)[1]: m for m in (coopnets, generative_convnet, inpainting, score_diagnostics,
                                                          svhn_features, synthesis)}


def _table(experiment: str, kind: str, profile: str) -> dict:
    """The experiment's table `kind` (CONFIG or OPTIONS) for the profile; an experiment "task:part" (the generative
    ConvNet's "generative_convnet:textures") reads the table of that part."""
    task, _, part = experiment.partition(":")
    if task not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; known: {', '.join(EXPERIMENTS)}")
    table = getattr(EXPERIMENTS[task], kind)
    if part:
        if part not in table:
            raise ValueError(f"unknown experiment {experiment!r}; {task}'s parts: {', '.join(table)}")
        table = table[part]
    if profile not in table:
        raise ValueError(f"{experiment}: unknown profile {profile!r}; known: {', '.join(table)}")
    return copy.deepcopy(table[profile])  # a caller's change never reaches the table


def config_overrides(experiment: str, profile: str) -> dict:
    """The Config fields (flat names) `experiment` sets over the `profile` preset, before the user's flags."""
    return _table(experiment, "CONFIG", profile)


def options(experiment: str, profile: str) -> dict:
    """The task options (not Config fields; argparse dest → default) of `experiment` under `profile`."""
    return _table(experiment.partition(":")[0], "OPTIONS", profile)
