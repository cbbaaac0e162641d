"""SVHN semi-supervised classification from learned features (CVPR §6.3 Tables 2-3, arXiv §7.3 Table 2).

    python -m tasks.svhn_features --profile smoke                      # embedded digits, minutes on a CPU
    python -m tasks.svhn_features --profile paper --dataset svhn --data-root DIR

svhn_l2svm (CVPR Table 2): an L2-SVM on the max-pooled features (the ``features`` verb) of each learned
model, DCGAN, the untrained model and the raw pixels. svhn_cnn (CVPR Table 3, arXiv Table 2): a CNN head on
the top maps of each frozen model, the untrained model and the pixels, and the supervised baseline. Rows:
setting "labels=<n>", metric "test_error" (% of the test split), seed 1,000,000 · training seed + draw
seed; one "feature_dim" row per method. The protocol and its choices: tasks.svhn_protocol; per-profile settings and
defaults: repro.configs.svhn_features. An option that changes a test error beyond what the rows record (the L2-SVM's
--val-labels, --svm-cs, --svm-solver; the CNN heads' --val-labels, --classifier-epochs, --classifier-lr) is recorded
in the setting where it departs from the profile's default: "labels=100|svm_solver=liblinear". Every check of
settings and data (two classes or more, the label counts, each training run's batch against its images and the
processes) runs before the first model is trained or row written (check_plan).

Output: one line per fit as it ends (feature source, labels, row seed, test error; for the L2-SVM the solver and
the C chosen), also under --no-progress; with progress on, also the bars and one line per value of C tried
(feature source, row seed, labels, C, seconds, validation error), which --no-progress hides.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys

import torch.nn as nn

from repro.base import dist
from repro.base.io import provenance
from repro.configs import config_overrides, options
from repro.configs.svhn_features import L2SVM_BASELINES, RECORDED, UNTRAINED
from repro.evaluation.features import (
    DEFAULT_CS,
    SVM_SOLVERS,
    PixelMaps,
    TopMapClassifier,
    error_percent,
    extract,
    pixel_features,
)
from repro.families.registry import can, having, initial_learner
from repro.families.semisup import TopMapHead, fresh_nets, head_config
from tasks.common import (
    check_results,
    cli,
    departures,
    parse_task_args,
    profile_of,
    result_row,
    run_columns,
    task_parser,
    trained_learner,
    with_defaults,
    write_results,
)
from tasks.svhn_protocol import (
    HEADS_FOLDER,
    UNSUP_SETS,
    Data,
    label_draws,
    load_data,
    row_seed,
    summary,
    svm_config,
    svm_errors,
)

EXPERIMENTS = ("svhn_l2svm", "svhn_cnn")


def feature_methods() -> list[str]:
    """The families --methods takes, and its default: those with a feature read-out and an energy net per grid (the
    CNN experiment reads each grid's top maps): the registry's "features" and "score_per_grid"."""
    return [m for m in having("features") if can(m, "score_per_grid")]


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.svhn_features)."""
    p = task_parser(__doc__)
    p.add_argument("--methods", nargs="+", choices=[*feature_methods(), "untrained"], default=feature_methods(),
                   help="learned methods; 'untrained' (a floor) names the untrained control, e.g. with --no-floors "
                   "--train-seeds 2 to add its second initialisation without refitting the others")
    p.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    p.add_argument("--labels", nargs="+", type=int,
                   help="labeled counts (default %(default)s; smoke 100 200 400; paper 1000 2000 4000)")
    p.add_argument("--label-seeds", type=int, help="label draws per count (default %(default)s; smoke 2, paper 3)")
    p.add_argument("--train-seeds", type=int,
                   help="training seeds seed, seed+1, ... per learned method (default %(default)s; smoke 1, paper 3)")
    p.add_argument("--val-labels", type=int,
                   help="held-out labeled images choosing C (default %(default)s; smoke 100, paper 10000)")
    p.add_argument("--classifier-epochs", type=int,
                   help="CNN classifier epochs (default %(default)s; smoke 10, paper 100)")
    p.add_argument("--classifier-lr", type=float, help="CNN classifier Adam rate (default %(default)s)")
    p.add_argument("--svm-cs", nargs="+", type=float,
                   help=f"the L2-SVM's values of C (default: {' '.join(f'{c:g}' for c in DEFAULT_CS)})")
    p.add_argument("--svm-solver", choices=SVM_SOLVERS,
                   help="L2-SVM solver: newton (exact, repro.evaluation.l2svm) or liblinear (scikit-learn LinearSVC); "
                        "default %(default)s")
    p.add_argument("--no-supervised", action="store_true", help="skip the supervised CNN baseline")
    p.add_argument("--no-dcgan", action="store_true", help="skip the DCGAN row of the L2-SVM table")
    p.add_argument("--no-floors", action="store_true", help="skip the raw-pixel and untrained rows (when adding "
                   "a method to a table that has them: their rows in --out are kept)")
    p.add_argument("--l2svm-unsup", choices=UNSUP_SETS, help="images the L2-SVM experiment's models learn from "
                   "(paper: train+test as the CVPR text; smoke, reduced: train)")
    p.add_argument("--cnn-unsup", choices=UNSUP_SETS, help="images the CNN experiment's models learn from "
                   "(default train, as the arXiv text)")
    return with_defaults(p, "svhn_features", profile)


def profile_options(profile: str) -> dict:
    """The task options' defaults under the profile (repro.configs.svhn_features), the C grid resolved (None: the
    L2-SVM's own, repro.evaluation.features.DEFAULT_CS)."""
    opts = options("svhn_features", profile)
    return {**opts, "svm_cs": list(DEFAULT_CS) if opts["svm_cs"] is None else opts["svm_cs"]}


def setting_suffix(args, profile: str, experiment: str) -> str:
    """What the setting "labels=<n>" of the experiment's rows adds: each of its RECORDED options that departs from the
    profile's default ("|svm_solver=liblinear"); "" at the defaults."""
    return departures(args, profile_options(profile), RECORDED[experiment])


def resolve(args, profile: str):
    """The parsed options, the C grid resolved (profile_options), checked."""
    if args.svm_cs is None:
        args.svm_cs = profile_options(profile)["svm_cs"]
    if args.train_seeds < 1 or args.label_seeds < 1:
        raise ValueError("--train-seeds and --label-seeds must be at least 1")
    return args


def check_plan(cfg, args, data) -> None:
    """Every refusal the tables would otherwise meet part-way (after a table or a model had been written), made
    before the first model is trained or the first row written (docs/reliability.md): the task's own options,
    the row seeds, and the images each model and CNN head trains on, in batches split over the processes."""
    check_options(args)
    for k in range(args.label_seeds):  # the draw seeds label_draws makes
        row_seed(cfg.seed, 1000 * cfg.seed + k)
    check_batches(cfg, args, data)


def check_options(args) -> None:
    if min(args.labels) < 2:
        raise ValueError(f"--labels {min(args.labels)}: a labeled set needs at least two images (the classifiers "
                         f"tell two or more classes apart)")
    if args.val_labels < 1:
        raise ValueError(f"--val-labels {args.val_labels}: the SVM's C is chosen on validation images; give 1 or more")
    bad = [c for c in args.svm_cs if not (math.isfinite(c) and c > 0)]
    if bad:
        raise ValueError(f"--svm-cs {bad[0]:g}: the SVM's C values must be positive and finite")
    if args.classifier_epochs < 1:
        raise ValueError(f"--classifier-epochs {args.classifier_epochs}: the CNN heads train for one epoch or more")
    if not (math.isfinite(args.classifier_lr) and args.classifier_lr > 0):
        raise ValueError(f"--classifier-lr {args.classifier_lr:g}: the CNN heads' learning rate must be positive "
                         f"and finite")


def trains_models(args, experiment: str) -> bool:
    """Whether the experiment trains energy models (or DCGAN) on its unsupervised set; "untrained" trains none."""
    learned = any(m != "untrained" for m in args.methods)
    return learned or (experiment == "svhn_l2svm" and not args.no_dcgan)


def check_batches(cfg, args, data) -> None:
    """The batch of every training run (repro.runner.engine.train's refusals, made up front): it splits over the
    processes, and it fits in the unsupervised set of each experiment's models and in each labeled set of the CNN
    heads (which train at the task's batch size)."""
    b, n_proc = cfg.batch_size, dist.world_size()
    training = [e for e in args.experiments if e == "svhn_cnn" or trains_models(args, e)]  # the CNN: heads
    if training and b % n_proc:
        fits = [k for k in range(2, min(b, 64) + 1) if b % k == 0]
        raise ValueError(f"batch size {b} does not split evenly over {n_proc} processes; with this batch size run "
                         f"{', '.join(map(str, fits)) or 1} processes, or pass a --batch-size that {n_proc} divides")
    for experiment in [e for e in args.experiments if trains_models(args, e)]:
        unsup = args.l2svm_unsup if experiment == "svhn_l2svm" else args.cnn_unsup
        n = len(data.train) + (len(data.test) if unsup == "train+test" else 0)
        if b > n:
            raise ValueError(f"batch size {b} exceeds the {n} images the models learn from ({experiment}, {unsup}); "
                             f"use --batch-size {n} or less")
    if "svhn_cnn" in args.experiments and b > min(args.labels):
        raise ValueError(f"batch size {b} exceeds the {min(args.labels)} labeled images a CNN head trains on "
                         f"(labels={min(args.labels)}); use --batch-size {min(args.labels)} or less, or more --labels")


def train_seeds(cfg, args) -> list[int]:
    return [cfg.seed + t for t in range(args.train_seeds)]


def learners(cfg, args, data, configure):
    """(method, training seed, learner, run path) for each learned method and "untrained" (the multigrid
    structure at its initialisation), per training seed; loaded (or trained, cached under --runs) one at a time."""
    for method in dict.fromkeys([*args.methods, *([] if args.no_floors else ["untrained"])]):
        for seed in train_seeds(cfg, args):
            at_seed = dataclasses.replace(cfg, seed=seed)
            if method == "untrained":
                mcfg = configure(at_seed, UNTRAINED)
                yield method, seed, initial_learner(mcfg, data.unsup.channels, len(data.unsup)), ""
            else:
                yield method, seed, *trained_learner(configure(at_seed, method), args.runs, data.unsup, tag=data.tag,
                                                     progress=not args.no_progress)


def run_of(learner, path: str) -> dict:
    """result_row's run columns of a trained model; none for the untrained control."""
    return run_columns([(learner, path)]) if path else {}


def svm_sources(cfg, args, data):
    """(method, training seed, feature fn, dimension, run columns): raw pixels, the learners, DCGAN."""
    c, s = data.train.channels, cfg.image_size
    if not args.no_floors:
        yield "raw_pixels", cfg.seed, pixel_features, c * s * s, {}  # (B, C·H·W)
    for method, seed, learner, path in learners(cfg, args, data, svm_config):
        yield method, seed, learner.features, learner.feature_dim, run_of(learner, path)
    for method in [] if args.no_dcgan else L2SVM_BASELINES:  # CVPR Table 2's DCGAN row
        for seed in train_seeds(cfg, args):
            bcfg = dataclasses.replace(cfg, method=method, seed=seed, archs=None)
            learner, path = trained_learner(bcfg, args.runs, data.unsup, tag=data.tag, progress=not args.no_progress)
            yield method, seed, learner.features, learner.feature_dim, run_of(learner, path)


def cnn_sources(cfg, args, data):
    """(method, training seed, config, frozen nets (None: the supervised baseline), run path)."""
    if not args.no_floors:
        yield "raw_pixels", cfg.seed, cfg, nn.ModuleList([PixelMaps(data.train.channels, cfg.image_size)]), "", {}
    for method, seed, learner, path in learners(cfg, args, data, lambda c, m: dataclasses.replace(c, method=m)):
        yield method, seed, learner.cfg, learner.nets, path, run_of(learner, path)
    for seed in [] if args.no_supervised else train_seeds(cfg, args):
        yield "supervised", seed, dataclasses.replace(cfg, seed=seed), None, "", {}


def rows(cfg, data, prov, experiment, errors: list, dims: dict, *, suffix: str = "") -> list[dict]:
    """Result rows: errors [(method, labels n, row seed, error %, run columns)], setting "labels=<n>" + suffix
    (setting_suffix); dims {method: feature dimension}."""
    row = lambda method, setting, metric, value, seed=None, run=None: result_row(  # noqa: E731
        cfg, experiment=experiment, method=method, setting=setting, metric=metric, value=value, seed=seed,
        n_images=len(data.test), prov=prov, **(run or {}))
    return ([row(m, f"labels={n}{suffix}", "test_error", err, seed, run) for m, n, seed, err, run in errors]
            + [row(m, "all", "feature_dim", d) for m, d in dims.items()])


def say(experiment: str, method: str, n: int, seed: int, err: float, how: str = "") -> None:
    """One line per fit (feature source, labels, draw) as it ends, also under --no-progress (which hides bars and the
    per-C lines): never a silent wait."""
    print(f"{experiment} {method} labels={n} seed={seed}: test error {err:.2f}%{how}", flush=True)


def c_logger(method: str, train_seed: int, progress: bool):
    """With progress on, one line per value of C (its seconds and validation error) naming the feature source and
    the row seed; under --no-progress None: silent, the fit's own line (say) is enough."""
    if not progress:
        return None
    return lambda draw, line: print(f"  svhn_l2svm {method} seed={row_seed(train_seed, draw)}: {line.strip()}",
                                    flush=True)


def l2svm_rows(cfg, args, data, draws: dict, prov: dict):
    """Yields each feature source's rows as its fits end."""
    for method, train_seed, fn, dim, run in svm_sources(cfg, args, data):
        res = svm_errors(cfg, data, draws, fn, cs=args.svm_cs, solver=args.svm_solver,
                         log=c_logger(method, train_seed, not args.no_progress))
        errors = []
        for (n, draw), (err, c) in res.items():
            errors.append((method, n, row_seed(train_seed, draw), err, run))
            say("svhn_l2svm", method, n, errors[-1][2], err, f", L2-SVM ({args.svm_solver}) C={c:g}")
        yield rows(cfg, data, prov, "svhn_l2svm", errors, {method: dim},
                   suffix=setting_suffix(args, cfg.profile, "svhn_l2svm"))


def cnn_rows(cfg, args, data, draws: dict, prov: dict):
    """Yields each feature source's rows as its CNN heads end."""
    for method, train_seed, mcfg, nets, path, run in cnn_sources(cfg, args, data):
        shapes = [net.top_shape for net in (fresh_nets(cfg, data.train.channels) if nets is None else nets)]
        dim = TopMapClassifier(shapes).feature_dim  # 64 · Σ top map areas
        tag = f"cnn-labels{{}}-val{args.val_labels}" + (f"-{data.tag}" if data.tag else "")
        errors = []
        for (n, draw), (lab, _) in draws.items():
            seed = row_seed(train_seed, draw)
            err = cnn_error(mcfg, data, nets, lab, seed, method=method, epochs=args.classifier_epochs,
                            lr=args.classifier_lr, runs=args.runs, tag=tag.format(n), source_run=path)
            errors.append((method, n, seed, err, run))
            say("svhn_cnn", method, n, seed, err)
        yield rows(cfg, data, prov, "svhn_cnn", errors, {method: dim}, suffix=setting_suffix(args, cfg.profile,
                                                                                              "svhn_cnn"))


def cnn_error(cfg, data: Data, nets, lab, seed: int, *, method: str, epochs: int, lr: float, runs: str,
              tag: str, source_run: str = "") -> float:
    """Test error (%) of a TopMapHead trained on the labeled images `lab` over frozen `nets`' top maps, or
    (nets None) of the supervised baseline; `seed` seeds its initialisation and data order. The head's run
    folder, in `runs`/cnn_heads (apart from the models' runs, whose learning curves the report draws), is
    named from its settings, the feature source `method`, `tag` and the run of the feature model (source_run)."""
    labeled = data.train.subset(lab)
    hcfg = head_config(cfg, seed, len(labeled), epochs, lr)
    tag = f"{method}-{tag}"
    if source_run:
        tag += "-on" + hashlib.sha1(os.path.basename(os.path.normpath(source_run)).encode()).hexdigest()[:8]
    build = lambda c, ch, n: TopMapHead(c, ch, n, labeled=labeled, nets=nets, n_classes=data.n_classes)  # noqa: E731
    head, _ = trained_learner(hcfg, os.path.join(runs, HEADS_FOLDER), labeled, tag=tag, progress=False, build=build)
    logits = extract(head.logits, data.test, cfg.batch_size, **data.kw)  # (N, n_classes)
    return error_percent(logits.argmax(1).numpy(), data.test.labels.numpy())


def main(argv=None) -> list[dict]:
    profile = profile_of(argv)
    cfg, args = parse_task_args(build_parser(profile), argv, **config_overrides("svhn_features", profile))
    check_results(args.out, *EXPERIMENTS)  # a malformed results file stops the task before it writes anything
    args = resolve(args, cfg.profile)
    data = load_data(cfg)  # refuses a labeled set of one class
    check_plan(cfg, args, data)
    draws = label_draws(cfg, data.train.labels, args.labels, args.val_labels, args.label_seeds, data.n_classes)
    prov, all_rows = provenance(cfg.torch_device()), []
    for experiment, make in (("svhn_l2svm", l2svm_rows), ("svhn_cnn", cnn_rows)):
        if experiment in args.experiments:
            unsup = args.l2svm_unsup if experiment == "svhn_l2svm" else args.cnn_unsup
            for part in make(cfg, args, data.with_unsup(unsup), draws, prov):  # written as each source ends
                path = write_results(args.out, experiment, part)
                all_rows += part
            print("wrote", path, flush=True)
    print(summary(all_rows))
    return all_rows


if __name__ == "__main__":
    sys.exit(cli(main))
