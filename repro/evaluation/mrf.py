"""Nearest-neighbour MRF priors solved on the hole: the CoopNets paper's inpainting methods 1 and 2 (ICLR 2017 §5.1:
"Markov random field prior where the nearest neighbor potential terms are ℓ2 and ℓ1 differences").

Each fill minimises Σ over 4-neighbour pairs (p, q) with at least one missing pixel of ρ(u_p − u_q), the observed
pixels held at their values, per image and channel: ρ(d) = d² (ℓ2: the discrete Laplace equation on the hole, a
sparse linear solve, i.e. the harmonic fill) or ρ(d) = |d| (ℓ1: total variation, a linear program, HiGHS). Same
interface and mask convention as repro.evaluation.floors: x (B, C, H, W), mask (B, 1, H, W) 1 = missing;
observed pixels are copied bit for bit. The ℓ1 minimiser need not be unique; HiGHS returns one vertex of the optimal
set.
"""
from __future__ import annotations

import numpy as np
import torch


def _edges(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-neighbour pairs (flat indices a, b) of an (H, W) grid with at least one end in the hole."""
    h, w = hole.shape
    idx = np.arange(h * w).reshape(h, w)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = hole.ravel()[a] | hole.ravel()[b]
    return a[keep], b[keep]


def _system(hole: np.ndarray):
    """Sparse D (edges × hole pixels) and, per edge, the observed end (or −1): u_a − u_b = D u + known part."""
    from scipy.sparse import coo_matrix
    a, b = _edges(hole)
    col = -np.ones(hole.size, dtype=np.int64)
    col[hole.ravel()] = np.arange(int(hole.sum()))
    rows, cols, vals = [], [], []
    for end, sign in ((a, 1.0), (b, -1.0)):
        inside = col[end] >= 0
        rows.append(np.nonzero(inside)[0])
        cols.append(col[end][inside])
        vals.append(np.full(int(inside.sum()), sign))
    d = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(len(a), int(hole.sum()))).tocsr()
    return d, a, b, col


def _known(img: np.ndarray, hole: np.ndarray, a: np.ndarray, b: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Per edge, the observed part of u_a − u_b (missing ends count 0)."""
    flat = img.ravel() * ~hole.ravel()
    return np.where(col[a] < 0, flat[a], 0.0) - np.where(col[b] < 0, flat[b], 0.0)


def _solve_l2(d, c: np.ndarray) -> np.ndarray:
    """argmin_u ‖D u + c‖²: the normal equations (DᵀD) u = −Dᵀc (the discrete Laplace equation)."""
    from scipy.sparse.linalg import spsolve
    return np.atleast_1d(spsolve((d.T @ d).tocsc(), -(d.T @ c)))


def _solve_l1(d, c: np.ndarray) -> np.ndarray:
    """argmin_u Σ |D u + c|: LP over (u, t) minimising Σ t with −t ≤ D u + c ≤ t."""
    from scipy.optimize import linprog
    from scipy.sparse import hstack, identity, vstack
    m, n = d.shape
    eye = identity(m, format="csr")
    a_ub = vstack([hstack([d, -eye]), hstack([-d, -eye])]).tocsr()
    b_ub = np.concatenate([-c, c])
    cost = np.concatenate([np.zeros(n), np.ones(m)])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * n + [(0, None)] * m, method="highs")
    if res.status != 0:
        raise RuntimeError(f"mrf_l1_fill: the linear program failed ({res.message})")
    return res.x[:n]


def _fill(x: torch.Tensor, mask: torch.Tensor, solve) -> torch.Tensor:
    out = x.detach().cpu().double().numpy().copy()  # (B, C, H, W)
    holes = mask.detach().cpu().bool().numpy()[:, 0]  # (B, H, W)
    for i in range(len(out)):
        if not holes[i].any():
            continue
        d, a, b, col = _system(holes[i])
        for ch in range(out.shape[1]):
            u = solve(d, _known(out[i, ch], holes[i], a, b, col))
            out[i, ch][holes[i]] = u
    filled = torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
    return torch.where(mask.bool().expand_as(x), filled, x)


def mrf_l2_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Missing pixels minimising the sum of squared 4-neighbour differences (method 1: the harmonic fill)."""
    return _fill(x, mask, _solve_l2)


def mrf_l1_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Missing pixels minimising the sum of absolute 4-neighbour differences (method 2: total variation)."""
    return _fill(x, mask, _solve_l1)
