"""The one rule for evaluating a set of N items in batches (features, scores, inpainting, sampling).

Batch norm in this suite always uses the statistics of the batch it sees (repro.core.models,
repro.base.dist.BatchNorm2d), so what a network returns for one item depends on its batch-mates, and
the rule for the last, partial batch changes numbers. The rule, everywhere:

    every batch holds exactly min(batch_size, N) items: items 0..N-1 in order, and the last
    batch is filled up with items from the start of the set (0, 1, ...), whose outputs are dropped.

So no batch-norm statistic ever comes from a tiny last batch, and every item is evaluated once
among batch-size − 1 others. Callers shuffle a set whose order is structured (a labeled split read
class by class, as torchvision's ImageFolder lists it) with ``mixed_order``, so that no batch holds a
single class: batch statistics of a one-class batch shift its features away from those of mixed batches.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch


def fixed_batches(n: int, batch_size: int) -> Iterator[tuple[torch.Tensor, int]]:
    """(idx, keep) per batch: idx (min(batch_size, n),) item indices, wrapping around to the first items
    in the last batch; keep: how many leading outputs of the batch belong to it (the rest are fillers)."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"fixed_batches: need n ≥ 1 items and batch_size ≥ 1, got n={n}, batch_size={batch_size}")
    size = min(batch_size, n)
    for start in range(0, n, size):
        yield torch.arange(start, start + size) % n, min(size, n - start)


def evaluate(fn, n: int, batch_size: int, *inputs: torch.Tensor) -> torch.Tensor:
    """fn(*(x[idx] for x in inputs)) over fixed_batches, the kept outputs concatenated on the CPU → (n, ...)."""
    return torch.cat([fn(*(x[idx] for x in inputs))[:keep].cpu() for idx, keep in fixed_batches(n, batch_size)])


def mixed_order(n: int, seed: int = 0) -> torch.Tensor:
    """A seeded permutation of n items (n,): the order in which to evaluate a set whose order is structured."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))
