"""Score diagnostics (arXiv §7.2, Table 1): mean ± std of f_s(Y) at each grid.

After learning a multi-grid model, f_s is evaluated at every grid s on four sets of images
down-scaled to that grid: training images, held-out test images, synthesized images (chains
from the 1×1 histogram) and negative images (MIT Places in the paper; the embedded default's
negatives are the LFW background crops of ``lfw_nonfaces``). The same statistics for the
untrained network (same seed, initial weights) are written as method ``untrained``: the gaps
between the four sets are read against that baseline.

Batch norm uses batch statistics, so scores are computed in batches of the training batch size
(the last partial batch is scored as it is). The paper scores 10,000 test images after "400
iterations"; --n-score caps the images per set.
"""
from __future__ import annotations

import dataclasses
import sys

import torch

from repro.data import ImageSet, load_dataset
from repro.engine import Learner
from repro.io import provenance
from repro.pyramid import downscale
from tasks.common import cli, parse_task_args, result_row, run_columns, task_parser, trained_learner, write_results
from tasks.synthesis import synthesize_batches

SETS = ("training", "testing", "synthesized", "negative")


@torch.no_grad()
def grid_scores(learner, images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images → (grids, N) scores f_s(downscale(Y, s)), in batches of the training batch size."""
    device, bs = next(learner.parameters()).device, learner.cfg.batch_size
    out = []
    for net, size in zip(learner.nets, learner.sizes):
        f = [net(downscale(images[i:i + bs].to(device), size)).cpu() for i in range(0, len(images), bs)]
        out.append(torch.cat(f))
    return torch.stack(out)


def score_rows(cfg, method: str, learner, sets: dict, prov: dict, run: dict | None = None) -> list[dict]:
    rows = []
    for name, images in sets.items():
        scores = grid_scores(learner, images).double()
        for g, s in enumerate(scores, start=1):
            for metric, value in ((f"grid{g}_mean", s.mean()), (f"grid{g}_std", s.std())):
                rows.append(result_row(cfg, experiment="score_diagnostics", method=method, setting=name,
                                       metric=metric, value=float(value), n_images=len(images), prov=prov,
                                       **(run or {})))
    return rows


def capped(ds: ImageSet, n: int, cfg) -> torch.Tensor:
    return ds.batch(torch.arange(min(n, len(ds))), pixel_max=cfg.pixel_max, dtype=cfg.dtype())


def main(argv=None) -> int:
    parser = task_parser(__doc__)
    parser.add_argument("--negatives", default=None, help="negative dataset (default: lfw_nonfaces for the "
                        "embedded faces, places otherwise)")
    parser.add_argument("--negatives-root", default=None, help="data root of the negatives (default: --data-root)")
    parser.add_argument("--n-score", type=int, default=10_000, help="at most this many images per set")
    cfg, args = parse_task_args(parser, argv, method="multigrid")
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    neg_name = args.negatives or ("lfw_nonfaces" if cfg.dataset == "lfw_faces" else "places")
    neg_cfg = dataclasses.replace(cfg, data_root=args.negatives_root or cfg.data_root, n_train=args.n_score)
    negatives = load_dataset(neg_cfg, "train", neg_name)
    if negatives.channels != train_set.channels:
        raise ValueError(f"negatives {neg_name} have {negatives.channels} channels, training images "
                         f"{train_set.channels}")
    prov = provenance(cfg.torch_device())
    learner, run_path = trained_learner(cfg, args.runs, train_set, progress=not args.no_progress)
    gen = torch.Generator(device=cfg.torch_device()).manual_seed(cfg.seed + 11)
    n = args.n_score
    sets = {"training": capped(train_set, n, cfg), "testing": capped(test_set, n, cfg),
            "synthesized": synthesize_batches(learner, train_set, min(n, len(train_set)), gen, cfg.noise)[-1],
            "negative": capped(negatives, n, cfg)}
    torch.manual_seed(cfg.seed)  # the untrained control: the very initial weights of the trained model
    untrained = Learner(cfg, train_set.channels, len(train_set)).to_device(cfg.torch_device(), cfg.dtype())
    rows = (score_rows(cfg, "multigrid", learner, sets, prov, run_columns([(learner, run_path)]))
            + score_rows(cfg, "untrained", untrained, sets, prov))
    path = write_results(args.out, "score_diagnostics", rows)
    print(f"[score_diagnostics] wrote {len(rows)} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
