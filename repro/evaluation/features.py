"""Features of trained energy nets for semi-supervised classification (CVPR §6.3, arXiv §7.3).

Two read-outs of the learned ConvNets, one code path for every feature source:

- ``maxpool_features`` (repro.core.models, where a family's ``features`` verb finds it): every conv
  block's output (conv → BN → activation) max-pooled to a 4×4 spatial grid, flattened and concatenated
  (the DCGAN recipe, Radford et al. 2015), fed to an L2-SVM (``fit_l2svm``). With the
  DCGAN-discriminator net (arch "dcgan", 64-128-256-512) this is 16 · 960 = 15,360 dimensions, the
  number in the CVPR text.
- ``TopMapClassifier``: a two-layer CNN on the top feature maps of the grids (3×3 conv with 64
  channels per grid, ReLU, concatenation, one fully-connected layer).

The raw-pixel floors use the same read-outs: ``pixel_features`` (the flattened image) for the
L2-SVM and ``PixelMaps`` (the image as the one "top map") for the CNN.

Batch norm in these nets always uses the statistics of the batch it sees (repro.core.models), so a
feature of one image depends on its batch. ``extract`` therefore feeds fixed-size batches (the
training batch size) under the suite's one rule (repro.base.batching: the last batch is filled up with
the first images), and callers shuffle labeled sets so that no batch holds a single class (a
one-class batch would have its class signal normalised away).
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from repro.base.batching import fixed_batches
from repro.core.pyramid import downscale
from repro.evaluation.l2svm import L2SVM

DEFAULT_CS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # L2-SVM C grid (paper silent)


# --- the L2-SVM on max-pooled features -------------------------------------------------

def pixel_features(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) images, [0, pixel_max] as the nets see them → (B, C·H·W): the raw-pixel floor."""
    return x.flatten(1)


class PixelMaps(nn.Module):
    """Stand-in for an energy net whose only feature map is its input image, so that ``top_maps``,
    ``map_stats`` and ``TopMapClassifier`` read raw pixels exactly as they read a net's top map
    (the raw-pixel floor of the top-map CNN: one grid, a 3×3/64 conv + FC on the image)."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.grid_size, self.top_shape = size, (channels, size, size)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x]  # (B, C, size, size)


def top_maps(nets, x: torch.Tensor) -> list[torch.Tensor]:
    """(B, C, H, H) finest-grid images → each net's last feature map (B, c_g, s_g, s_g), the
    images block-averaged (repro.core.pyramid.downscale) to that net's grid first."""
    return [net.feature_maps(downscale(x, net.grid_size))[-1] for net in nets]


def extract(fn, images, batch_size: int, *, pixel_max: float = 255.0, dtype=torch.float32,
            device="cpu") -> torch.Tensor:
    """fn applied to an ImageSet in fixed batches (repro.base.batching) under no_grad → (N, ...) on the CPU."""
    with torch.no_grad():
        return torch.cat([fn(images.batch(idx, pixel_max=pixel_max, dtype=dtype, device=device))[:keep].cpu()
                          for idx, keep in fixed_batches(len(images), batch_size)])


class SpanProjection(BaseEstimator, TransformerMixin):
    """x (N, d) ↦ x Q (N, n), Q (d, n) an orthonormal basis of the span of the n training rows (d > n;
    otherwise the identity). The weights of an L2-regularised linear model lie in that span
    (representer theorem; liblinear's intercept is a separate constant feature), so the SVM on x Q
    has the same dual problem and the same decisions as on x, at O(n²) instead of O(n·d) a pass
    (the dual solver is used: n ≥ min(n, d) features after the projection)."""

    def fit(self, x, y=None):
        x = torch.from_numpy(np.asarray(x, np.float64))  # torch's QR: numpy's is far slower here
        self.basis_ = torch.linalg.qr(x.T)[0].numpy() if x.shape[1] > x.shape[0] else None  # (d, n)
        return self

    def transform(self, x):
        x = np.asarray(x, np.float64)
        return x if self.basis_ is None else x @ self.basis_


# repro.evaluation.l2svm (exact, warm-started along C) | sklearn LinearSVC (the reference)
SVM_SOLVERS = ("newton", "liblinear")


def fit_l2svm(train_feats, train_labels, val_feats, val_labels, Cs=DEFAULT_CS, *, solver: str = "newton", log=None):
    """Standardise (statistics of the training features), then a one-vs-rest linear SVM with
    squared hinge loss and L2 penalty for each C; keep the C with the lowest validation error
    (ties: the smallest C). Returns (pipeline fitted on the training features only, chosen C).

    solver "newton": repro.evaluation.l2svm.L2SVM, exact, in the span of the training features, each C warm-started
    from the previous one; "liblinear": scikit-learn's LinearSVC (dual coordinate descent, 5,000 iterations at
    most) on the span-projected features, the same problem (regularised intercept, intercept_scaling 1).
    log: called with one line per fit (labels, C, seconds, validation error); None: silent.
    """
    if solver not in SVM_SOLVERS:
        raise ValueError(f"unknown SVM solver {solver!r}; known: {', '.join(SVM_SOLVERS)}")
    xt, yt, xv, yv = (np.asarray(a) for a in (train_feats, train_labels, val_feats, val_labels))
    steps = [("scale", StandardScaler())] + ([("span", SpanProjection())] if solver == "liblinear" else [])
    prep = Pipeline(steps).fit(xt)
    zt, zv = prep.transform(xt), prep.transform(xv)  # (n, d) or, span-projected, (n, min(n, d))
    gram = gram_matrix(zt) if solver == "newton" else None  # (n, n), shared by every C
    best, svm = None, None
    for c in sorted(Cs):
        start = time.perf_counter()
        svm = fit_one_c(solver, c, zt, yt, svm, gram)
        err = error_percent(svm.predict(zv), yv)
        if log is not None:
            log(f"  L2-SVM ({solver}) labels={len(yt)} C={c:g}: {time.perf_counter() - start:.1f} s, "
                f"validation error {err:.2f}%")
        if best is None or err < best[0]:
            best = (err, svm, c)
    return Pipeline([*prep.steps, ("svm", best[1])]), best[2]


def gram_matrix(z) -> torch.Tensor:
    z = torch.from_numpy(np.asarray(z, np.float64))  # (n, d)
    return z @ z.T + 1.0  # (n, n): inner products of (z, 1), the intercept's constant feature


def fit_one_c(solver: str, c: float, zt, yt, previous, gram):
    """One C: the exact solver warm-started from the previous C's fit, or a fresh LinearSVC."""
    if solver == "newton":
        return L2SVM(C=c).fit(zt, yt, warm=previous, gram=gram)
    svm = LinearSVC(C=c, loss="squared_hinge", penalty="l2", dual=True, max_iter=5000, random_state=0)
    with warnings.catch_warnings():  # liblinear may stop at max_iter on large C; judged on val
        warnings.simplefilter("ignore", ConvergenceWarning)
        return svm.fit(zt, yt)


def error_percent(pred, labels) -> float:
    pred, labels = np.asarray(pred).reshape(-1), np.asarray(labels).reshape(-1)
    return 100.0 * float(np.mean(pred != labels))


def classification_error(model, feats, labels) -> float:
    """Classification error of a fitted scikit-learn model in percent."""
    return error_percent(model.predict(np.asarray(feats)), labels)


# --- labeled draws ----------------------------------------------------------------------

def balanced_draw(labels, n_labeled: int, n_val: int, seed: int, n_classes: int = 10):
    """Class-balanced, disjoint (labeled, validation) index draws from `labels` (N,).

    Each class gets n // n_classes images (the first n % n_classes classes one more). Per class one
    seeded permutation: validation takes its head, the labeled set the images after it, so for one
    seed the validation draw (set and order) is the same for every n_labeled and the labeled sets are
    nested. Both index tensors come back shuffled (mixed classes within every batch).
    """
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(seed)
    per = lambda n, k: n // n_classes + (k < n % n_classes)  # noqa: E731
    lab, val = [], []
    for k in range(n_classes):
        idx = torch.nonzero(labels == k).flatten()
        nl, nv = per(n_labeled, k), per(n_val, k)
        if nl + nv > len(idx):
            raise ValueError(f"class {k} has {len(idx)} images, {nl} labeled + {nv} validation asked")
        idx = idx[torch.randperm(len(idx), generator=g)]
        val.append(idx[:nv])
        lab.append(idx[nv:nv + nl])
    val = torch.cat(val)[torch.randperm(sum(map(len, val)), generator=g)]  # shuffled first: its order
    lab = torch.cat(lab)[torch.randperm(sum(map(len, lab)), generator=g)]  # is the same for every n
    return lab, val


# --- two-layer CNN on the grids' top maps -------------------------------------------------

PAPER_CNN_DIM = 34_624  # the concatenated dimension the paper reports (CVPR §6.3)


def top_side(size: int, layers, pad3: int | None = None) -> int:
    """Side of a net's top map for (channels, kernel, stride) layers; padding kernel//2 ("same"), or
    pad3 for the 3×3 layers."""
    for _, k, stride in layers:
        pad = pad3 if (pad3 is not None and k == 3) else k // 2
        size = (size + 2 * pad - k) // stride + 1
    return size


def square_decompositions(n: int, terms: int = 3) -> list[tuple[int, ...]]:
    """All a ≤ b ≤ ... with a² + b² + ... = n (positive integers)."""
    def rec(rest: int, k: int, lo: int):
        if k == 0:
            return [()] if rest == 0 else []
        return [(a, *t) for a in range(lo, int(rest ** 0.5) + 1) for t in rec(rest - a * a, k - 1, a)]
    return rec(n, terms, 1)


class TopMapClassifier(nn.Module):
    """Per grid a 3×3 stride-1 conv (64 channels, padding 1) + ReLU on its top map, flattened and
    concatenated into `feature_dim` = 64 · Σ_g s_g² values, then one linear layer to the classes.

    Each input map is first standardised per channel with fixed statistics (``set_input_stats``;
    identity until set), the counterpart of the L2-SVM's feature standardisation: the frozen nets'
    maps have scales of 1-50 set by their learned batch-norm gains, on which Adam at lr 1e-3 kills
    most ReLUs of the head.

    Feature dimension: with "same" padding (repro.core.models) the top maps of grid1/grid2/grid3 at grids
    4/16/64 are 2×2, 8×8 and 16×16, so the head sees 64 · (2² + 8² + 16²) = 20,736 values (smoke grids
    2/8/32: 1×1, 4×4, 8×8 → 5,184; a single-grid net at 64: 64 · 16² = 16,384). The paper reports
    34,624 = 64 · 541, and how the authors' maps came to that size is unknown: 541 is a sum of three
    squares in more than one way (6² + 12² + 19² and 6² + 8² + 21², ``square_decompositions``), and the
    layout the release's "pad = 2" comments suggest (padding 2 in every 3×3 layer: grid1 4 → 2 → 4 → 6,
    grid2 16 → 8 → 10 → 12 → 14, grid3 64 → 32 → 17 → 19, ``top_side``) gives 64 · (6² + 14² + 19²)
    = 37,952, not 34,624 either. We keep the "same"-padding value, 20,736.
    """

    def __init__(self, map_shapes, n_classes: int = 10, channels: int = 64):
        super().__init__()
        self.map_shapes = [tuple(s) for s in map_shapes]  # (c_g, s_g, s_g) per grid
        self.convs = nn.ModuleList([nn.Conv2d(c, channels, 3, 1, padding=1) for c, _, _ in self.map_shapes])
        self.feature_dim = channels * sum(h * w for _, h, w in self.map_shapes)
        self.fc = nn.Linear(self.feature_dim, n_classes)
        for g, (c, _, _) in enumerate(self.map_shapes):
            self.register_buffer(f"mean{g}", torch.zeros(c))
            self.register_buffer(f"std{g}", torch.ones(c))

    def set_input_stats(self, stats) -> None:
        """stats: one (mean (c_g,), std (c_g,)) per grid, e.g. from ``map_stats``."""
        for g, (mean, std) in enumerate(stats):
            getattr(self, f"mean{g}").copy_(mean)
            getattr(self, f"std{g}").copy_(std.clamp_min(1e-6))

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """maps: one (B, c_g, s_g, s_g) per grid → (B, n_classes) logits."""
        if [tuple(m.shape[1:]) for m in maps] != self.map_shapes:
            raise ValueError(f"expected maps {self.map_shapes}, got {[tuple(m.shape[1:]) for m in maps]}")
        hs = []
        for g, (conv, m) in enumerate(zip(self.convs, maps)):
            m = (m - getattr(self, f"mean{g}").view(-1, 1, 1)) / getattr(self, f"std{g}").view(-1, 1, 1)
            hs.append(F.relu(conv(m)).flatten(1))  # (B, 64 s_g²)
        return self.fc(torch.cat(hs, dim=1))  # (B, feature_dim) → (B, n_classes)


def map_stats(nets, images, batch_size: int, **kw) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel mean and standard deviation of each net's top map over an ImageSet."""
    def moments(x):  # (B, C, H, H) → (B, 2 Σ c_g): per image E[m] and E[m²] of every channel
        return torch.cat([torch.cat([m.mean((2, 3)), (m * m).mean((2, 3))], 1) for m in top_maps(nets, x)], 1)
    mom, out, i = extract(moments, images, batch_size, **kw).double().mean(0), [], 0
    for net in nets:
        c = net.top_shape[0]
        mean, sq = mom[i:i + c], mom[i + c:i + 2 * c]
        out.append((mean.float(), (sq - mean * mean).clamp_min(0).sqrt().float()))
        i += 2 * c
    return out
