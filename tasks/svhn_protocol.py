"""The SVHN semi-supervised protocol (CVPR §6.3 Tables 2-3, arXiv §7.3 Table 2): the data, label draws, the
L2-SVM errors and the rows' seeds, for tasks.svhn_features (a task library, like tasks.common). The models it reads
are families (repro.families.semisup: the CNN head and the supervised baseline).

Two experiments, each written as tidy rows to <out>/<experiment>.csv by the task:

svhn_l2svm (CVPR Table 2): each method (multigrid, singlegrid, cd1, pcd) is learned without labels,
    its finest grid being the DCGAN discriminator (arch "dcgan": four 5×5 stride-2 convs,
    64-128-256-512). Every conv block's output of that net is max-pooled to 4×4 and concatenated
    (15,360 values at width 1), and an L2-SVM on those features is fit to n labeled images. The
    DCGAN row (repro.families.baselines.DCGAN, trained on the same images) goes through the very same
    feature and SVM functions with its discriminator.
svhn_cnn (CVPR Table 3, arXiv Table 2): models with the paper's per-grid nets (grid1/grid2/grid3, a
    separate trained model) stay frozen; a two-layer CNN (repro.evaluation.features.TopMapClassifier) is
    trained on the top feature maps of the three grids (multigrid) or of the one net (singlegrid,
    cd1, pcd). "supervised" is the same three-grid structure trained from scratch, end to end, on the
    labeled images only.

Beside the learned methods, both experiments score two training-free references through the very
same classifier code (same label draws, same C selection, same head and optimiser):
- raw_pixels (floor): the image at the finest grid, [0, 255] as the nets see it. L2-SVM: its
  flattened C·H·W pixels (repro.evaluation.features.pixel_features). CNN: the image as the one "top map"
  (repro.evaluation.features.PixelMaps), i.e. one 3×3/64 conv + FC on the pixels.
- untrained (control): the multigrid learner exactly as repro.runner.engine.train builds it before its first
  step (repro.families.registry.initial_learner), i.e. each trained multigrid model's initial weights. Its
  features come from the same loop and read-out as the trained ones: the ``features`` verb (max-pooled
  blocks of the finest, dcgan, net) for the L2-SVM, the three grids' top maps for the CNN.

Training seeds: every learned method (and the untrained control, whose initial weights depend on the
seed, and the supervised baseline) is run with ``--train-seeds`` seeds seed, seed+1, ... (3 paper,
1 smoke); each trained model is scored on every label draw. raw_pixels has no seed of its own and is
scored once per draw. Rows per (method, labels): paper 3 training seeds × 3 label draws = 9
(raw_pixels 3); smoke 1 training seed × 2 label draws = 2 (raw_pixels 2).

Rows: method, setting "labels=<n>", metric "test_error" (percent of the test split), seed = the
combined identifier 1,000,000 · training seed + label-draw seed (draw seeds are 1000 · seed + k, so
the row seed is unique across training seeds, draws and ``--seed`` values 0-999; with one training
seed at --seed 0 it is the draw seed; raw_pixels rows take training seed = --seed). The row seed
also seeds the CNN head's initialisation and batch order. The table's mean ± sd over rows therefore
covers label draws and training seeds. Plus one row per method with metric "feature_dim" (setting
"all"). n_images is the number of test images. A protocol option that departs from the profile's default and
changes the errors beyond these columns adds itself to the setting ("labels=<n>|val_labels=500"; tasks.svhn_features).

Choices where the papers are silent (or disagree); each profile's values, in one place: repro.configs.svhn_features.
- Unsupervised training set: the CVPR L2-SVM experiment (Table 2) learned the models on SVHN train +
  test ("the combination of SVHN training and testing sets"), the CNN experiment (CVPR Table 3 /
  arXiv Table 2) on the train split ("the SVHN training set"). Defaults: ``--l2svm-unsup train+test``
  in the paper profile; train in the reduced and smoke profiles, so that both experiments share one
  set of trained models (the reduced profile is sized for 2 CPU cores, and a second set would double
  its training); ``--cnn-unsup train`` everywhere; either flag
  takes train or train+test (models learned on train + test are cached under their own tag). Labels
  of the test split are never used for training.
- Image size and grids: the profile's. The paper profile keeps 64×64 images and grids 4/16/64 (the
  text resizes training images to 64×64; SVHN's 32×32 images are up-sampled bilinearly) and uses
  all 73,257 / 26,032 images. The smoke profile uses the embedded digits at 32×32, grids 2/8/32,
  width 0.25. Learning settings (Langevin steps, learning rate, iterations) are the profile's, as
  for synthesis; the smoke profile trains 60 iterations here.
- L2-SVM models: the multi-grid model keeps the paper's nets at grids 1-2 and only its grid-3 net is
  the dcgan one; the single-grid baselines use the dcgan net as their only net. ``--archs`` applies
  to the CNN experiment only.
- Features: each block's output after batch norm and leaky ReLU, adaptive max pooling to 4×4
  (maps smaller than 4×4, e.g. the last 2×2 map at 32×32, are replicated). Batch norm always uses
  batch statistics, so features are extracted in fixed batches of the training batch size, the
  last batch filled up from the first images (repro.base.batching); labeled sets are shuffled so batches
  mix classes.
- Labeled draws: class-balanced (the arXiv text: "uniformly class distributed"), from the train
  split, ``--label-seeds`` draws (3 paper, 2 smoke; the papers report one number) with seeds
  1000·seed + k. For one draw the labeled sets are nested (1,000 ⊂ 2,000 ⊂ 4,000).
- L2-SVM: features standardised with the labeled set's statistics; one-vs-rest linear SVM with
  squared hinge and L2 penalty, LinearSVC's problem (regularised intercept); C from ``--svm-cs``
  chosen on a class-balanced held-out validation set of ``--val-labels`` train images disjoint from
  the labeled ones (10,000 in the paper profile, as DCGAN's SVHN protocol; 100 in smoke); ties go to
  the smaller C; the SVM is fit to the labeled images only. ``--svm-solver newton`` (default) solves
  it exactly in the span of the labeled features, warm-started along the C path (repro.evaluation.l2svm);
  ``--svm-solver liblinear`` runs scikit-learn's LinearSVC on the span-projected features
  (repro.evaluation.features.SpanProjection), which stops at its iteration limit at large C. One line per value
  of C (feature source, labels, C, seconds, validation error) unless --no-progress; under --no-progress one line
  per fit (feature source, labels, draw: its test error and the C chosen).
- CNN classifier: a Trainable (``TopMapHead``) trained by repro.runner.engine.train, so it has the runner's
  checkpoints, resume, non-finite check and data parallelism; its run folder (under --runs/cnn_heads) is named
  from its settings, the labeled draw and the run of the model it reads. Adam (lr ``--classifier-lr``
  1e-3, β = 0.9, 0.999), cross-entropy, batches of the training batch size (the runner's data order:
  last partial batch dropped), ``--classifier-epochs`` fixed epochs (100 paper, 10 smoke), no weight
  decay, augmentation or early stopping; pixel values in [0, 255] as the
  energy nets saw them; each net's input is the image block-averaged to its grid. The frozen nets'
  maps are computed per batch (batch statistics) and standardised per channel with their mean and
  standard deviation over the labeled images (without it the learned batch-norm gains, up to ~12,
  make Adam kill the head's ReLUs: 20-70% smoke errors). The supervised baseline trains its three
  nets and the head jointly with the same optimiser and epochs, its maps unstandardised (its batch
  norms start at unit gain).
- Concatenated dimension: 64 · Σ (top map area) = 20,736 for grids 4/16/64 (top maps 2×2, 8×8,
  16×16), not the paper's 34,624; see repro.evaluation.features.TopMapClassifier.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch

from repro.base.batching import mixed_order
from repro.base.config import Config
from repro.configs.svhn_features import L2SVM_ARCH
from repro.datasets.data import ImageSet, load_dataset
from repro.evaluation.features import balanced_draw, classification_error, extract, fit_l2svm

UNSUP_SETS = ("train", "train+test")


@dataclass
class Data:
    train: ImageSet  # labeled pool (train split)
    test: ImageSet  # test split, every image scored
    kw: dict  # ImageSet.batch arguments: pixel_max, dtype, device
    unsup: ImageSet | None = None  # what the energy nets learn from (set per experiment: ``with_unsup``)
    tag: str = ""  # run-folder tag of the unsupervised training set

    @property
    def n_classes(self) -> int:
        """The dataset's classes: labels 0 .. n − 1 over both splits (10 for SVHN and CIFAR-10, any for a folder)."""
        return int(max(self.train.labels.max(), self.test.labels.max())) + 1

    def with_unsup(self, which: str) -> "Data":
        """The same data with the unsupervised set `which`: train, or train + test (tag "traintest")."""
        if which not in UNSUP_SETS:
            raise ValueError(f"unknown unsupervised set {which!r}; known: {', '.join(UNSUP_SETS)}")
        if which == "train":
            return dataclasses.replace(self, unsup=self.train, tag="")
        both = ImageSet(torch.cat([self.train.images, self.test.images]), None, f"{self.train.name}+test")
        return dataclasses.replace(self, unsup=both, tag="traintest")


def load_data(cfg: Config) -> Data:
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    if train.labels is None or test.labels is None:
        raise ValueError(f"dataset {cfg.dataset!r} has no labels; use digits or svhn")
    # the test split is evaluated in batches through batch norm (batch statistics): read class by class
    # (ImageFolder), its batches would each hold one class. Labeled and validation draws come mixed already.
    test = test.subset(mixed_order(len(test), cfg.split_seed))
    check_classes(cfg.dataset, train.labels)
    return Data(train, test, {"pixel_max": cfg.pixel_max, "dtype": cfg.dtype(), "device": cfg.torch_device()})


def check_classes(dataset: str, labels: torch.Tensor) -> None:
    """Refuse a labeled training split of fewer than two classes, before any model is trained: the L2-SVM and the
    CNN heads tell classes apart (one class folder would train every model, then fail at the first fit)."""
    present = torch.unique(labels).tolist()
    if len(present) < 2:
        raise ValueError(f"{dataset}: the train split holds images of one class (label {present[0]}); "
                         f"classification needs at least two classes: give --data-root two or more class "
                         f"folders with images")


def label_draws(cfg: Config, labels: torch.Tensor, counts, n_val: int, n_draws: int,
                n_classes: int | None = None) -> dict:
    """{(n, draw seed): (labeled idx, validation idx)} for each labeled count n and draw seed 1000·seed + k, balanced
    over the n_classes classes (default: labels 0 .. max); every class must hold its share of the largest count
    and of the validation images."""
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    per_class = torch.bincount(labels, minlength=k)
    need = -(-max(counts) // k) + -(-n_val // k)  # the largest per-class share of a balanced draw (ceil)
    if per_class.min() < need:
        c = int(per_class.argmin())
        raise ValueError(f"{cfg.dataset}: class {c} has {int(per_class[c])} train images; {max(counts)} labels + "
                         f"{n_val} validation images balanced over {k} classes need {need} per class; lower "
                         f"--labels/--val-labels, or use a dataset with more images per class")
    seeds = [1000 * cfg.seed + j for j in range(n_draws)]
    return {(n, s): balanced_draw(labels, n, n_val, s, n_classes=k) for n in counts for s in seeds}


def row_seed(train_seed: int, draw_seed: int) -> int:
    """Row seed of one (training seed, label draw): 1,000,000 · training seed + draw seed."""
    if not 0 <= draw_seed < 1_000_000:
        raise ValueError(f"label draw seed {draw_seed} outside [0, 10⁶): use --seed 0..999")
    return 1_000_000 * train_seed + draw_seed


# --- L2-SVM on max-pooled features of the finest (dcgan) net ----------------------------------

def svm_config(cfg: Config, method: str) -> Config:
    """The L2-SVM experiment's models: the paper's nets at the coarse grids, the dcgan net at the finest."""
    return dataclasses.replace(cfg, method=method, archs=(None,) * (len(cfg.grid_sizes) - 1) + (L2SVM_ARCH,))


def svm_errors(cfg: Config, data: Data, draws: dict, fn, *, cs, solver: str, log=None) -> dict:
    """{(n, draw seed): (test error %, chosen C)} of the L2-SVM on fn's features (B, C, H, H) → (B, d),
    for every label draw; C chosen on the draw's validation images. log: called with (draw seed, line) for each
    value of C (repro.evaluation.features.fit_l2svm); None: silent."""
    feats = lambda s: extract(fn, s, cfg.batch_size, **data.kw)  # noqa: E731
    test_f, val_f, out = feats(data.test), {}, {}  # (N_test, d)
    for (n, seed), (lab, val) in draws.items():
        if seed not in val_f:  # the validation draw depends on the seed only
            val_f[seed] = feats(data.train.subset(val))
        model, c = fit_l2svm(feats(data.train.subset(lab)), data.train.labels[lab], val_f[seed],
                             data.train.labels[val], cs, solver=solver,
                             log=None if log is None else functools.partial(log, seed))
        out[n, seed] = classification_error(model, test_f, data.test.labels), c
    return out


HEADS_FOLDER = "cnn_heads"  # the heads' runs live in <runs>/cnn_heads


def summary(rows: list[dict]) -> str:
    """Mean ± sd of the test error over label draws × training seeds, one line per (experiment,
    method, labels)."""
    groups: dict = {}
    for r in rows:
        if r["metric"] == "test_error":
            groups.setdefault((r["experiment"], r["method"], r["setting"]), []).append(r["value"])
    sd = lambda v: np.std(v, ddof=1) if len(v) > 1 else 0.0  # noqa: E731
    return "\n".join(f"{e:11s} {m:11s} {s:12s} {np.mean(v):6.2f} ± {sd(v):5.2f}  (n={len(v)})"
                     for (e, m, s), v in groups.items())
