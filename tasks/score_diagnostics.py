"""Score diagnostics (arXiv §7.2, Table 1): mean ± std of f_s(Y) at each grid.

After learning a multi-grid model (or the scheme --method names), f_s is evaluated at every grid s
on four sets of images: training images, held-out test images and negative images (MIT Places in
the paper; the embedded default's negatives are the LFW background crops of ``lfw_nonfaces``; other
negatives, --negatives NAME, are named in the negative rows' setting, ``negative|negatives=NAME``), each
down-scaled to grid s, and synthesized images. The synthesized set at grid s is the chain's output
at grid s (chains from the 1×1 histogram passed up the grids), the images f_s was trained against:
the table's point is that each grid's own samples score like the training images. A second
setting, ``synthesized_final_downscaled``, scores the final finest-grid samples down-scaled to each
grid (the same images at every grid; written when the model has more than one grid). Rows are
labeled with the scheme's name. The same statistics for the untrained network (same seed, initial
weights) are written as method ``untrained``: the gaps between the sets are read against that
baseline.

Batch norm uses batch statistics, so scores are computed in batches of the training batch size,
under the suite's one rule for the last batch (repro.base.batching: filled up from the first images).
The paper scores 10,000 test images after "400 iterations"; --n-score caps the images per set.
"""
from __future__ import annotations

import dataclasses
import sys

import torch

from repro.base.batching import mixed_order
from repro.base.io import provenance
from repro.configs import config_overrides, options
from repro.configs.score_diagnostics import DEFAULT_NEGATIVES, NEGATIVES, RECORDED
from repro.core.trainable import device_generator
from repro.datasets.data import ImageSet, load_dataset
from repro.families.registry import can, having, initial_learner
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

SETS = ("training", "testing", "synthesized", "synthesized_final_downscaled", "negative")


def grid_scores(learner, images) -> torch.Tensor:
    """Scores f_s at each grid s → (grids, N), through the family's ``score_per_grid`` verb (in batches of the
    training batch size). images: (N, C, H, W), down-scaled to each grid; or a list with one (N, C, s, s) batch
    per grid (each grid's own chain output), scored as it is."""
    return torch.stack(learner.score_per_grid(images))


def score_rows(cfg, method: str, learner, sets: dict, prov: dict, run: dict | None = None, *,
               suffixes: dict | None = None) -> list[dict]:
    """Rows of f_s's mean and std at each grid on each set; a set's setting is its name plus suffixes[name], if any."""
    rows = []
    for name, images in sets.items():
        scores = grid_scores(learner, images).double()  # (grids, N)
        for g, s in enumerate(scores, start=1):
            for metric, value in ((f"grid{g}_mean", s.mean()), (f"grid{g}_std", s.std())):
                rows.append(result_row(cfg, experiment="score_diagnostics", method=method,
                                       setting=name + (suffixes or {}).get(name, ""),
                                       metric=metric, value=float(value), n_images=scores.shape[1], prov=prov,
                                       **(run or {})))
    return rows


def capped(ds: ImageSet, n: int, cfg) -> torch.Tensor:
    """The first n images; a set of several classes (read class by class) in a seeded mixed order, so that no
    batch of the scoring (batch norm, batch statistics) holds one class."""
    several = ds.labels is not None and len(ds.labels.unique()) > 1
    order = mixed_order(len(ds), cfg.split_seed) if several else torch.arange(len(ds))
    return ds.batch(order[:n], pixel_max=cfg.pixel_max, dtype=cfg.dtype())


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.score_diagnostics)."""
    parser = task_parser(__doc__)
    parser.add_argument("--negatives", help=f"negative dataset (default: {NEGATIVES['lfw_faces']} for the embedded "
                        f"faces, {DEFAULT_NEGATIVES} otherwise)")
    parser.add_argument("--negatives-root", help="data root of the negatives (default: --data-root)")
    parser.add_argument("--negatives-center-crop", type=float,
                        help="center crop of the negatives (as --center-crop; default none; another is recorded in "
                             "the negative rows' setting)")
    parser.add_argument("--n-score", type=int, help="at most this many images per set (default %(default)s)")
    return with_defaults(parser, "score_diagnostics", profile)


def resolve_negatives(args, dataset: str) -> str:
    """The negative dataset's name; a --negatives that names the training dataset's default is cleared in args, so
    that it gives the rows (and keys) of the default left unnamed."""
    default = NEGATIVES.get(dataset, DEFAULT_NEGATIVES)
    if args.negatives == default:
        args.negatives = None
    return args.negatives or default


def negative_suffix(args, profile: str) -> str:
    """What the negative rows' setting adds: each option of RECORDED that departs from the profile's default."""
    return departures(args, options("score_diagnostics", profile), RECORDED)


def main(argv=None) -> int:
    profile = profile_of(argv)
    cfg, args = parse_task_args(build_parser(profile), argv, **config_overrides("score_diagnostics", profile))
    if not can(cfg.method, "score_per_grid"):
        raise ValueError(f"--method {cfg.method} has no energy per grid to score; the families with one: "
                         f"{', '.join(having('score_per_grid'))}")
    check_results(args.out, "score_diagnostics")  # a malformed results file stops the task before it writes anything
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    neg_name = resolve_negatives(args, cfg.dataset)
    neg_cfg = dataclasses.replace(cfg, data_root=args.negatives_root or cfg.data_root, n_train=args.n_score,
                                  center_crop=args.negatives_center_crop)  # the faces' crop is not theirs
    negatives = load_dataset(neg_cfg, "train", neg_name)
    if negatives.channels != train_set.channels:
        raise ValueError(f"negatives {neg_name} have {negatives.channels} channels, training images "
                         f"{train_set.channels}")
    prov = provenance(cfg.torch_device())
    learner, run_path = trained_learner(cfg, args.runs, train_set, progress=not args.no_progress)
    gen = device_generator(cfg.torch_device()).manual_seed(cfg.seed + 11)
    n = args.n_score
    per_grid = learner.sample(min(n, len(train_set)), gen, train_set=train_set, noise=cfg.noise)  # one per grid
    sets = {"training": capped(train_set, n, cfg), "testing": capped(test_set, n, cfg),
            "synthesized": per_grid, "synthesized_final_downscaled": per_grid[-1],
            "negative": capped(negatives, n, cfg)}
    if len(per_grid) == 1:  # one grid: the two synthesized settings are the same images
        del sets["synthesized_final_downscaled"]
    untrained = initial_learner(cfg, train_set.channels, len(train_set))  # the trained model's initial weights
    suffixes = {"negative": negative_suffix(args, profile)}
    rows = (score_rows(cfg, cfg.method, learner, sets, prov, run_columns([(learner, run_path)]), suffixes=suffixes)
            + score_rows(cfg, "untrained", untrained, sets, prov, suffixes=suffixes))
    path = write_results(args.out, "score_diagnostics", rows)
    print(f"[score_diagnostics] wrote {len(rows)} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
