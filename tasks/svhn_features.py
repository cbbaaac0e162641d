"""SVHN semi-supervised classification from learned features (CVPR §6.3 Tables 2-3, arXiv §7.3 Table 2).

    python -m tasks.svhn_features --profile smoke                      # embedded digits, minutes on a CPU
    python -m tasks.svhn_features --profile paper --dataset svhn --data-root DIR

Two experiments, each writing tidy rows (tasks.common.RESULT_COLUMNS) to <out>/<experiment>.csv:

svhn_l2svm (CVPR Table 2): each method (multigrid, singlegrid, cd1, pcd) is learned without labels,
    its finest grid being the DCGAN discriminator (arch "dcgan": four 5×5 stride-2 convs,
    64-128-256-512). Every conv block's output of that net is max-pooled to 4×4 and concatenated
    (15,360 values at width 1), and an L2-SVM on those features is fit to n labeled images. The
    DCGAN row (repro.baselines.DCGAN, trained on the same images) goes through the very same
    feature and SVM functions with its discriminator.
svhn_cnn (CVPR Table 3, arXiv Table 2): models with the paper's per-grid nets (grid1/grid2/grid3, a
    separate trained model) stay frozen; a two-layer CNN (repro.features.TopMapClassifier) is
    trained on the top feature maps of the three grids (multigrid) or of the one net (singlegrid,
    cd1, pcd). "supervised" is the same three-grid structure trained from scratch, end to end, on the
    labeled images only.

Beside the learned methods, both experiments score two training-free references through the very
same classifier code (same label draws, same C selection, same head and optimiser):
- raw_pixels (floor): the image at the finest grid, [0, 255] as the nets see it. L2-SVM: its
  flattened C·H·W pixels (repro.features.pixel_features). CNN: the image as the one "top map"
  (repro.features.PixelMaps), i.e. one 3×3/64 conv + FC on the pixels.
- untrained (control): the multigrid learner exactly as repro.engine.train builds it before its first
  step (torch.manual_seed(training seed), then repro.engine.Learner), i.e. each trained multigrid
  model's initial weights. Its features come from the same loop and read-out as the trained ones
  (``learners`` → ``svm_readout`` / ``cnn_readout``): the max-pooled blocks of the finest (dcgan) net
  for the L2-SVM, the three grids' top maps for the CNN.

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
"all"). n_images is the number of test images.

Choices where the papers are silent (or disagree):
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
  last batch filled up from the first images; labeled sets are shuffled so batches mix classes.
- Labeled draws: class-balanced (the arXiv text: "uniformly class distributed"), from the train
  split, ``--label-seeds`` draws (3 paper, 2 smoke; the papers report one number) with seeds
  1000·seed + k. For one draw the labeled sets are nested (1,000 ⊂ 2,000 ⊂ 4,000).
- L2-SVM: features standardised with the labeled set's statistics; one-vs-rest linear SVM with
  squared hinge and L2 penalty, LinearSVC's problem (regularised intercept); C from ``--svm-cs``
  chosen on a class-balanced held-out validation set of ``--val-labels`` train images disjoint from
  the labeled ones (10,000 in the paper profile, as DCGAN's SVHN protocol; 100 in smoke); ties go to
  the smaller C; the SVM is fit to the labeled images only. ``--svm-solver newton`` (default) solves
  it exactly in the span of the labeled features, warm-started along the C path (repro.l2svm);
  ``--svm-solver liblinear`` runs scikit-learn's LinearSVC on the span-projected features
  (repro.features.SpanProjection), which stops at its iteration limit at large C. One line per fit
  (labels, C, seconds, validation error) unless --no-progress.
- CNN classifier: Adam (lr ``--classifier-lr`` 1e-3, β = 0.9, 0.999), cross-entropy, batches of the
  training batch size (last partial batch dropped), ``--classifier-epochs`` fixed epochs (100 paper,
  10 smoke), no weight decay, augmentation or early stopping; pixel values in [0, 255] as the
  energy nets saw them; each net's input is the image block-averaged to its grid. The frozen nets'
  maps are computed per batch (batch statistics) and standardised per channel with their mean and
  standard deviation over the labeled images (without it the learned batch-norm gains, up to ~12,
  make Adam kill the head's ReLUs: 20-70% smoke errors). The supervised baseline trains its three
  nets and the head jointly with the same optimiser and epochs, its maps unstandardised (its batch
  norms start at unit gain).
- Concatenated dimension: 64 · Σ (top map area) = 20,736 for grids 4/16/64 (top maps 2×2, 8×8,
  16×16), not the paper's 34,624; see repro.features.TopMapClassifier.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from repro.baselines import DCGAN
from repro.data import ImageSet, load_dataset
from repro.engine import BatchOrder, Learner
from repro.features import (DEFAULT_CS, SVM_SOLVERS, PixelMaps, TopMapClassifier, balanced_draw, error_percent, extract,
                            fit_l2svm, map_stats, maxpool_dim, maxpool_features, pixel_features, test_error,
                            top_maps)
from repro.io import provenance
from repro.methods import METHODS
from repro.models import build_energy_net
from tasks.common import cli, parse_task_args, result_row, run_columns, task_parser, trained_learner, write_results

EXPERIMENTS = ("svhn_l2svm", "svhn_cnn")
# Config defaults of this task per profile (under the user's flags).
CONFIG_DEFAULTS = {"smoke": {"dataset": "digits", "n_iters": 60},
                   "paper": {"dataset": "svhn", "n_train": None, "n_test": None},
                   # reduced: 1,000 iterations (5 passes over 10,000 images) leave room within about two hours
                   # on 2 CPU cores for the SVMs and CNN heads of seven feature sources (README "reduced")
                   "reduced": {"dataset": "svhn", "n_train": 10_000, "n_test": 2_000, "n_iters": 1_000}}
# Task options per profile: labeled counts, label draws, training seeds, validation images, classifier epochs.
TASK_DEFAULTS = {"smoke": {"labels": [100, 200, 400], "label_seeds": 2, "train_seeds": 1, "val_labels": 100,
                           "classifier_epochs": 10, "l2svm_unsup": "train", "cnn_unsup": "train"},
                 "paper": {"labels": [1000, 2000, 4000], "label_seeds": 3, "train_seeds": 3, "val_labels": 10_000,
                           "classifier_epochs": 100, "l2svm_unsup": "train+test", "cnn_unsup": "train"},
                 "reduced": {"labels": [1000, 2000, 4000], "label_seeds": 2, "train_seeds": 1, "val_labels": 1000,
                             "classifier_epochs": 15, "l2svm_unsup": "train", "cnn_unsup": "train"}}
UNSUP_SETS = ("train", "train+test")


@dataclass
class Data:
    train: ImageSet  # labeled pool (train split)
    test: ImageSet  # test split, every image scored
    kw: dict  # ImageSet.batch arguments: pixel_max, dtype, device
    unsup: ImageSet | None = None  # what the energy nets learn from (set per experiment: ``with_unsup``)
    tag: str = ""  # run-folder tag of the unsupervised training set

    def with_unsup(self, which: str) -> "Data":
        """The same data with the unsupervised set `which`: train, or train + test (tag "traintest")."""
        if which not in UNSUP_SETS:
            raise ValueError(f"unknown unsupervised set {which!r}; known: {', '.join(UNSUP_SETS)}")
        if which == "train":
            return dataclasses.replace(self, unsup=self.train, tag="")
        both = ImageSet(torch.cat([self.train.images, self.test.images]), None, f"{self.train.name}+test")
        return dataclasses.replace(self, unsup=both, tag="traintest")


def build_parser():
    p = task_parser(__doc__)
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    p.add_argument("--labels", nargs="+", type=int, help="labeled counts (smoke 100 200 400; paper 1000 2000 4000)")
    p.add_argument("--label-seeds", type=int, help="label draws per count (smoke 2, paper 3)")
    p.add_argument("--train-seeds", type=int,
                   help="training seeds seed, seed+1, ... per learned method (smoke 1, paper 3)")
    p.add_argument("--val-labels", type=int, help="held-out labeled images choosing C (smoke 100, paper 10000)")
    p.add_argument("--classifier-epochs", type=int, help="CNN classifier epochs (smoke 10, paper 100)")
    p.add_argument("--classifier-lr", type=float, default=1e-3)
    p.add_argument("--svm-cs", nargs="+", type=float, default=list(DEFAULT_CS))
    p.add_argument("--svm-solver", choices=SVM_SOLVERS, default="newton",
                   help="L2-SVM solver: newton (exact, repro.l2svm) or liblinear (scikit-learn LinearSVC)")
    p.add_argument("--no-supervised", action="store_true", help="skip the supervised CNN baseline")
    p.add_argument("--no-dcgan", action="store_true", help="skip the DCGAN row of the L2-SVM table")
    p.add_argument("--l2svm-unsup", choices=UNSUP_SETS,
                   help="images the L2-SVM experiment's models learn from (paper/reduced: train+test as the "
                        "CVPR text; smoke: train)")
    p.add_argument("--cnn-unsup", choices=UNSUP_SETS,
                   help="images the CNN experiment's models learn from (default train, as the arXiv text)")
    return p


def resolve(args, profile: str):
    """Fill the task options the user left unset from the profile's defaults."""
    for k, v in TASK_DEFAULTS.get(profile, TASK_DEFAULTS["smoke"]).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.train_seeds < 1 or args.label_seeds < 1:
        raise ValueError("--train-seeds and --label-seeds must be at least 1")
    return args


def load_data(cfg) -> Data:
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    if train.labels is None or test.labels is None:
        raise ValueError(f"dataset {cfg.dataset!r} has no labels; use digits or svhn")
    kw = {"pixel_max": cfg.pixel_max, "dtype": cfg.dtype(), "device": cfg.torch_device()}
    return Data(train, test, kw)


def label_draws(cfg, args, labels) -> dict:
    """{(n, draw seed): (labeled idx, validation idx)} over the labeled counts and draws."""
    counts = torch.bincount(labels, minlength=10)
    need = (max(args.labels) + args.val_labels) / 10
    if counts.min() < need:
        raise ValueError(f"{cfg.dataset}: the smallest class has {int(counts.min())} train images, "
                         f"{max(args.labels)} labels + {args.val_labels} validation need ~{need:.0f}; "
                         f"lower --labels/--val-labels or use --dataset svhn --data-root DIR")
    seeds = [1000 * cfg.seed + k for k in range(args.label_seeds)]
    return {(n, s): balanced_draw(labels, n, args.val_labels, s) for n in args.labels for s in seeds}


def row(cfg, data, prov, experiment, method, setting, metric, value, seed=None, run=None):
    return result_row(cfg, experiment=experiment, method=method, setting=setting, metric=metric, value=value,
                      n_images=len(data.test), seed=seed, prov=prov, **(run or {}))


def row_seed(train_seed: int, draw_seed: int) -> int:
    """Row seed of one (training seed, label draw): 1,000,000 · training seed + draw seed."""
    if not 0 <= draw_seed < 1_000_000:
        raise ValueError(f"label draw seed {draw_seed} outside [0, 10⁶): use --seed 0..999")
    return 1_000_000 * train_seed + draw_seed


def train_seeds(cfg, args) -> list[int]:
    return [cfg.seed + t for t in range(args.train_seeds)]


# --- feature sources: trained learners and the untrained control, one path -----------------

def untrained_learner(cfg, train_set: ImageSet) -> Learner:
    """The learner repro.engine.train starts from for cfg (same seed, same construction order),
    i.e. the trained model's initial weights."""
    torch.manual_seed(cfg.seed)  # network initialisation, as in repro.engine.train
    return Learner(cfg, train_set.channels, len(train_set)).to_device(cfg.torch_device(), cfg.dtype())


def learners(cfg, args, data: Data, configure):
    """(method, training seed, learner, run columns) for each learned method and "untrained", per training seed.

    configure(cfg, method) → the experiment's config; "untrained" is the multigrid structure at its
    initialisation. Loaded (or trained, cached under --runs) one at a time.
    """
    for method in [*args.methods, "untrained"]:
        for seed in train_seeds(cfg, args):
            at_seed = dataclasses.replace(cfg, seed=seed)
            if method == "untrained":
                yield method, seed, untrained_learner(configure(at_seed, "multigrid"), data.unsup), {}
            else:
                trained = trained_learner(configure(at_seed, method), args.runs, data.unsup, tag=data.tag,
                                          progress=not args.no_progress)
                yield method, seed, trained[0], run_columns([trained])


# --- L2-SVM on max-pooled features of the finest (dcgan) net ----------------------------------

def svm_config(cfg, method: str):
    archs = (None,) * (len(cfg.grid_sizes) - 1) + ("dcgan",)
    return dataclasses.replace(cfg, method=method, archs=archs)


def svm_readout(learner):
    """The SVM features of any learner, trained or not, energy model or DCGAN: (fn (B, C, H, H) →
    (B, 16 Σ c_k), dimension) from the max-pooled blocks of its finest (dcgan-structured) net. The
    DCGAN discriminator sees its images in [−1, 1], as it was trained; the same maxpool_features runs."""
    if isinstance(learner, DCGAN):
        net = learner.features_net
        return (lambda x: maxpool_features(net, learner.to_unit(x))), maxpool_dim(net)
    net = learner.nets[-1]
    return functools.partial(maxpool_features, net), maxpool_dim(net)


def svm_sources(cfg, args, data: Data):
    """(method, training seed, feature fn, dimension, run columns): raw pixels, then every learner's read-out."""
    c, s = data.train.channels, cfg.image_size
    yield "raw_pixels", cfg.seed, pixel_features, c * s * s, {}  # (B, C·H·W)
    for method, seed, learner, run in learners(cfg, args, data, svm_config):
        yield method, seed, *svm_readout(learner), run
    for seed in [] if args.no_dcgan else train_seeds(cfg, args):  # CVPR Table 2's DCGAN row
        dcgan = dataclasses.replace(cfg, method="dcgan", seed=seed, archs=None)
        trained = trained_learner(dcgan, args.runs, data.unsup, tag=data.tag, progress=not args.no_progress)
        yield "dcgan", seed, *svm_readout(trained[0]), run_columns([trained])


def svm_errors(cfg, args, data: Data, draws: dict, fn) -> dict:
    """{(n, draw seed): (test error %, chosen C)} of the L2-SVM on fn's features, every label draw."""
    feats = lambda s: extract(fn, s, cfg.batch_size, **data.kw)  # noqa: E731
    test_f, val_f, out = feats(data.test), {}, {}  # (N_test, d)
    for (n, seed), (lab, val) in draws.items():
        if seed not in val_f:  # the validation draw depends on the seed only
            val_f[seed] = feats(data.train.subset(val))
        model, c = fit_l2svm(feats(data.train.subset(lab)), data.train.labels[lab], val_f[seed],
                             data.train.labels[val], args.svm_cs, solver=args.svm_solver,
                             log=None if args.no_progress else functools.partial(print, flush=True))
        out[n, seed] = test_error(model, test_f, data.test.labels), c
    return out


def l2svm_rows(cfg, args, data: Data, draws: dict, prov: dict) -> list[dict]:
    rows, dims = [], {}
    for method, train_seed, fn, dim, run in svm_sources(cfg, args, data):
        dims[method] = dim
        for (n, draw), (err, c) in svm_errors(cfg, args, data, draws, fn).items():
            seed = row_seed(train_seed, draw)
            print(f"svhn_l2svm {method} labels={n} seed={seed}: C={c:g}, test error {err:.2f}%", flush=True)
            rows.append(row(cfg, data, prov, "svhn_l2svm", method, f"labels={n}", "test_error", err, seed, run))
    return rows + [row(cfg, data, prov, "svhn_l2svm", m, "all", "feature_dim", d) for m, d in dims.items()]


# --- two-layer CNN on the grids' top maps -------------------------------------------------

def fresh_nets(cfg, channels: int) -> nn.ModuleList:
    """The multigrid structure (one net per grid, cfg.archs or the paper's) at initialisation."""
    archs = METHODS["multigrid"].archs(cfg)
    return nn.ModuleList([build_energy_net(s, channels, arch=a, width=cfg.width, activation=cfg.activation,
                                           leak=cfg.leak) for s, a in zip(cfg.grid_sizes, archs)])


def cnn_config(cfg, method: str):
    return dataclasses.replace(cfg, method=method)


def cnn_readout(learner: Learner) -> nn.ModuleList:
    """The frozen nets whose top maps the CNN reads, for any learner, trained or not: all its grids."""
    return learner.nets


def cnn_sources(cfg, args, data: Data):
    """(method, training seed, frozen nets (None: the supervised nets, fresh per row and trained), run columns)."""
    yield "raw_pixels", cfg.seed, nn.ModuleList([PixelMaps(data.train.channels, cfg.image_size)]), {}
    for method, seed, learner, run in learners(cfg, args, data, cnn_config):
        yield method, seed, cnn_readout(learner), run
    for seed in [] if args.no_supervised else train_seeds(cfg, args):
        yield "supervised", seed, None, {}


def fit_classifier(nets, head, images: ImageSet, *, trainable: bool, epochs: int, lr: float, batch_size: int,
                   seed: int, kw: dict) -> None:
    """Adam on cross-entropy for `epochs` passes; the nets move only when trainable."""
    params = list(head.parameters()) + (list(nets.parameters()) if trainable else [])
    opt = torch.optim.Adam(params, lr=lr)
    order = BatchOrder(len(images), batch_size, seed)
    for t in range(epochs * order.per_epoch):
        idx = order.indices(t)
        x, y = images.batch(idx, **kw), images.labels[idx].to(kw["device"])  # (B, C, H, H), (B,)
        with torch.set_grad_enabled(trainable):
            maps = top_maps(nets, x)
        loss = F.cross_entropy(head(maps), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def classifier_error(nets, head, images: ImageSet, batch_size: int, kw: dict) -> float:
    logits = extract(lambda x: head(top_maps(nets, x)), images, batch_size, **kw)  # (N, 10)
    return error_percent(logits.argmax(1).numpy(), images.labels.numpy())


def cnn_error(cfg, args, data: Data, nets, lab, seed: int) -> float:
    """Test error (%) of a head trained on the labeled images `lab` over frozen `nets`' top maps, or
    (nets None) of the supervised three-grid structure trained end to end; `seed` seeds the rest."""
    torch.manual_seed(seed)  # head (and supervised nets) initialisation
    supervised, labeled = nets is None, data.train.subset(lab)
    nets = fresh_nets(cfg, data.train.channels).to(cfg.torch_device(), cfg.dtype()) if supervised else nets
    head = TopMapClassifier([net.top_shape for net in nets]).to(cfg.torch_device(), cfg.dtype())
    if not supervised:  # standardise the frozen maps with the labeled images' statistics
        head.set_input_stats(map_stats(nets, labeled, cfg.batch_size, **data.kw))
    fit_classifier(nets, head, labeled, trainable=supervised, epochs=args.classifier_epochs,
                   lr=args.classifier_lr, batch_size=cfg.batch_size, seed=seed, kw=data.kw)
    return classifier_error(nets, head, data.test, cfg.batch_size, data.kw)


def cnn_rows(cfg, args, data: Data, draws: dict, prov: dict) -> list[dict]:
    rows, dims = [], {}
    for method, train_seed, nets, run in cnn_sources(cfg, args, data):
        shapes = [net.top_shape for net in (fresh_nets(cfg, data.train.channels) if nets is None else nets)]
        dims[method] = TopMapClassifier(shapes).feature_dim  # 64 · Σ top map areas
        for (n, draw), (lab, _) in draws.items():
            seed = row_seed(train_seed, draw)
            err = cnn_error(cfg, args, data, nets, lab, seed)
            print(f"svhn_cnn {method} labels={n} seed={seed}: test error {err:.2f}%", flush=True)
            rows.append(row(cfg, data, prov, "svhn_cnn", method, f"labels={n}", "test_error", err, seed, run))
    return rows + [row(cfg, data, prov, "svhn_cnn", m, "all", "feature_dim", d) for m, d in dims.items()]


def summary(rows: list[dict]) -> str:
    """Mean ± sd of the test error over label draws × training seeds, one line per (experiment,
    method, labels)."""
    groups: dict = {}
    for r in rows:
        if r["metric"] == "test_error":
            groups.setdefault((r["experiment"], r["method"], r["setting"]), []).append(r["value"])
    return "\n".join(f"{e:11s} {m:11s} {s:12s} {np.mean(v):6.2f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:5.2f}  (n={len(v)})"
                     for (e, m, s), v in groups.items())


def main(argv=None) -> list[dict]:
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv)
    cfg, args = parse_task_args(parser, argv, **CONFIG_DEFAULTS.get(pre.preset, {}))
    args = resolve(args, cfg.profile)
    data = load_data(cfg)
    draws = label_draws(cfg, args, data.train.labels)
    prov, all_rows = provenance(cfg.torch_device()), []
    for experiment, make in (("svhn_l2svm", l2svm_rows), ("svhn_cnn", cnn_rows)):
        if experiment in args.experiments:
            unsup = args.l2svm_unsup if experiment == "svhn_l2svm" else args.cnn_unsup
            rows = make(cfg, args, data.with_unsup(unsup), draws, prov)
            print("wrote", write_results(args.out, experiment, rows), flush=True)
            all_rows += rows
    print(summary(all_rows))
    return all_rows


if __name__ == "__main__":
    sys.exit(cli(main))
