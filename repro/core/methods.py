"""The four learning schemes (arXiv §7, Algorithm 1).

They share one training loop (repro.runner.engine) and differ only in which grids
carry a model and where the Langevin chains start:

- ``multigrid``: models at every grid of the pyramid; chains start at the 1×1
  version of each training image and pass up the grids, l steps per grid.
- ``singlegrid``: one model at the finest grid; chains start at the 1×1
  version up-scaled straight to the finest grid, l × S steps (90 in the paper).
- ``cd1``: one model at the finest grid; one step from the observed image.
- ``pcd``: one model at the finest grid; persistent chains, one per training
  image, started at the observed image and carried across epochs, l × S steps.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from repro.base.config import Config


class Start(str, enum.Enum):
    ONE_BY_ONE = "1x1"  # the 1×1 (per-channel mean) version of the training image
    OBSERVED = "observed"  # the training image itself
    PERSISTENT = "persistent"  # the chain's state from the previous epoch (observed at first)


@dataclass(frozen=True)
class Method:
    name: str
    all_grids: bool  # a model at every grid (multi-grid) or only at the finest
    start: Start
    fixed_steps: int | None = None  # Langevin steps per grid whatever the config says (cd1: 1); None: the config's

    def grid_sizes(self, cfg: Config) -> tuple[int, ...]:
        return tuple(cfg.grid_sizes) if self.all_grids else (cfg.grid_sizes[-1],)

    def archs(self, cfg: Config) -> tuple[str | None, ...]:
        archs = cfg.archs or (None,) * len(cfg.grid_sizes)
        if len(archs) != len(cfg.grid_sizes):
            raise ValueError(f"archs has {len(archs)} entries for {len(cfg.grid_sizes)} grids")
        return tuple(archs) if self.all_grids else (archs[-1],)

    def steps(self, cfg: Config) -> int:
        """Langevin steps per grid; the single-grid baselines get the multi-grid budget l × S (§7.1)."""
        if self.fixed_steps is not None:
            return self.fixed_steps
        if self.all_grids:
            return cfg.steps_per_grid
        return cfg.baseline_steps if cfg.baseline_steps is not None else cfg.steps_per_grid * len(cfg.grid_sizes)


METHODS: dict[str, Method] = {
    "multigrid": Method("multigrid", all_grids=True, start=Start.ONE_BY_ONE),
    "singlegrid": Method("singlegrid", all_grids=False, start=Start.ONE_BY_ONE),
    "cd1": Method("cd1", all_grids=False, start=Start.OBSERVED, fixed_steps=1),
    "pcd": Method("pcd", all_grids=False, start=Start.PERSISTENT),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]
