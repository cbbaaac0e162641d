"""Synthesis (arXiv §7.2, CVPR §6.2; figures 1, 2, 4, 5; CVPR Table 1).

For each method: learn it on the dataset (or reuse the trained run), then
- draw starting 1×1 images from the empirical distribution of the training images' 1×1
  versions and pass them up the grids; save a sample grid at every grid (figure 1) and an
  observed-vs-synthesized panel (figure 2);
- write the ℓ1 norm of each grid's parameter gradient per iteration as CSV and plot (figure 4);
- start several chains from the same 1×1 image (figure 5) and record their spread;
- Inception score and FID (torch-fidelity) of --fidelity-samples samples, when the Inception
  weights are available locally; otherwise say what is missing and carry on. Both are computed at
  --inception-size (default: the dataset's native size, 32 for CIFAR-10 and SVHN, else the image
  size): the real images are read at that size and the samples are block-averaged (or, for a
  non-integer factor, resized with antialiasing) down to it; torch-fidelity then resizes to 299
  internally as the reference implementation does. So a CIFAR-10 run at 64×64 is scored on 32×32
  images, the setting of the paper's real-image 11.24 and of published CIFAR-10 scores; its rows
  carry "inception_size=<n>" in their setting;
- a control that needs no learning: each synthesized image's nearest training image (pixel L2,
  [0, 1] units) shown beside it, and the distances written as CSV next to the distances from
  held-out test images to their nearest training image, so a reader sees whether samples are copies.

Choices where the paper is silent: the final synthesis noise is a flag (--final-noise; the CVPR
paper switches it off for CIFAR-10); cd1 and pcd, which the paper does not use for synthesis,
start from the same 1×1 images as single-grid; the DCGAN baseline (repro.families.baselines) draws from its
generator and has no diversity panel (it has no 1×1 start); --per-class learns one model per class and pools
the samples (the CVPR CIFAR-10 setting, with --steps-per-grid 40). The options' defaults per profile:
repro.configs.synthesis; an --n-samples other than its default changes the samples the diversity and IS/FID rows
are computed from and is recorded in their setting ("final_noise=on|n_samples=32").
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import NamedTuple

import torch

from repro.base.config import Config
from repro.base.io import atomic_path, atomic_save_image, provenance, read_csv, write_csv
from repro.configs import options
from repro.configs.synthesis import FIGURE_METHODS, RECORDED
from repro.core.pyramid import downscale, sample_1x1, upscale
from repro.core.trainable import device_generator
from repro.datasets.data import ImageSet, load_dataset, native_size
from repro.evaluation.fidelity import (
    KEY_FID,
    KEY_IS,
    KEY_IS_STD,
    MissingWeights,
    fidelity_metrics,
    inception_weights,
    to_uint8_rgb,
)
from repro.evaluation.metrics import bootstrap_ci, nearest_neighbours
from repro.families.registry import having
from tasks.common import (
    check_results,
    cli,
    departures,
    panel_title,
    parse_task_args,
    profile_of,
    result_row,
    run_columns,
    task_parser,
    trained_learner,
    with_defaults,
    write_results,
)
from tasks.files import panel_name

NN_COLUMNS = ["method", "kind", "index", "nearest_train_index", "l2", "profile", "dataset", "n_images", "seed",
              "device", "commit", "date"]
GRAD_COLUMNS = ["method", "iteration", "grid", "size", "grad_l1", "profile", "dataset", "n_images", "seed",
                "device", "commit", "date"]


def save_grid(images: torch.Tensor, path: str, cfg: Config, what: str, nrow: int | None = None) -> None:
    """Images (N, C, h, w) at any grid, shown at the image size, under a title saying `what` they are."""
    x = upscale(images, cfg.image_size).float() / cfg.pixel_max
    atomic_save_image(x.clamp(0, 1), path, nrow=nrow or max(1, int(math.sqrt(len(x)))), padding=1,
                      title=panel_title(cfg, what))


def diversity(learner, train_set, generator, noise: bool, groups: int = 4, per_group: int = 4):
    """Chains started from the same 1×1 image (figure 5): samples and mean per-pixel std within groups."""
    y0 = sample_1x1(train_set, groups, generator, learner.cfg).repeat_interleave(per_group, 0)
    final = learner.sample(len(y0), generator, starts=y0, noise=noise)[-1]
    spread = final.view(groups, per_group, -1).std(1).mean() / learner.cfg.pixel_max
    return final, float(spread)


def gradient_rows(run_path: str, cfg: Config, n_images: int, prov: dict) -> list[dict]:
    rows = read_csv(os.path.join(run_path, "log.csv"))
    return [{"method": cfg.method, "iteration": r["iteration"], "grid": r["grid"], "size": r["size"],
             "grad_l1": r["grad_l1"], "profile": cfg.profile, "dataset": cfg.dataset, "n_images": n_images,
             "seed": cfg.seed, "device": prov["device"], "commit": prov["commit"], "date": prov["date"]}
            for r in rows]


def plot_gradients(rows: list[dict], path: str, title: str = "") -> None:
    """The ℓ1 norm of each net's parameter gradient over training (arXiv Figure 6), titled `title`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for grid, size in sorted({(int(r["grid"]), int(r["size"])) for r in rows}):
        pts = [(int(r["iteration"]), float(r["grad_l1"])) for r in rows if int(r["grid"]) == grid]
        ax.plot(*zip(*pts), label=f"net {grid}, {size}×{size}")
    ax.set(xlabel="iteration", ylabel="ℓ1 norm of gradient", yscale="log")
    ax.set_title(title, fontsize=8)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def nearest_rows(cfg: Config, samples: torch.Tensor, train_set: ImageSet, test_set: ImageSet, *, prov: dict,
                 out_dir: str, n: int) -> tuple[list[dict], list[dict]]:
    """Nearest training image of n synthesized and n test images: panel, per-image CSV rows, summary rows."""
    scale = lambda x: x.double() / cfg.pixel_max  # noqa: E731  (pixel L2 in [0, 1] units)
    train = scale(train_set.batch(torch.arange(len(train_set)), pixel_max=cfg.pixel_max))
    sets = {"synthesized": scale(samples[:n]), "test": scale(test_set.batch(torch.arange(min(n, len(test_set))),
                                                                          pixel_max=cfg.pixel_max))}
    per_image, summary = [], []
    for kind, imgs in sets.items():
        dist, idx = nearest_neighbours(imgs, train)
        per_image += [{"method": cfg.method, "kind": kind, "index": i, "nearest_train_index": int(j), "l2": float(d),
                       "profile": cfg.profile, "dataset": cfg.dataset, "n_images": len(train_set), "seed": cfg.seed,
                       "device": prov["device"], "commit": prov["commit"], "date": prov["date"]}
                      for i, (d, j) in enumerate(zip(dist, idx))]
        summary.append(result_row(cfg, experiment="synthesis", method=cfg.method, setting=f"nearest_train_{kind}",
                                  metric="nn_l2_mean", value=float(dist.mean()), ci=bootstrap_ci(dist, seed=cfg.seed),
                                  n_images=len(imgs), prov=prov))
        if kind == "synthesized":  # panel: each sample above its nearest training image
            k = min(len(imgs), cfg.n_show)
            pairs = torch.cat([imgs[:k], train[idx[:k]]]) * cfg.pixel_max
            save_grid(pairs, os.path.join(out_dir, panel_name("nearest_train", method=cfg.method)), cfg,
                      f"{cfg.method} · top: samples, bottom: nearest training image", nrow=k)
    return summary, per_image


class Learned(NamedTuple):
    """A trained model, its run folder, and the training images it learned from (one class with --per-class)."""
    learner: object
    path: str
    part: ImageSet


def learn(cfg: Config, args, train_set: ImageSet) -> list[Learned]:
    """One learner, or one per class (--per-class)."""
    if not args.per_class:
        return [Learned(*trained_learner(cfg, args.runs, train_set, progress=not args.no_progress), train_set)]
    if train_set.labels is None:
        raise ValueError(f"--per-class needs a labeled dataset; {train_set.name} has no labels")
    classes = sorted(set(train_set.labels.tolist()))
    if math.ceil(args.n_samples / len(classes)) < 2:  # batch norm samples with batch statistics: 2 images at least
        raise ValueError(f"--n-samples {args.n_samples} with --per-class gives fewer than 2 samples to each of the "
                         f"{len(classes)} classes' models; use --n-samples {2 * len(classes)} or more")
    out = []
    for c in classes:
        part = train_set.subset(torch.nonzero(train_set.labels == c).flatten())
        model, path = trained_learner(cfg, args.runs, part, tag=f"class{c}", progress=not args.no_progress)
        out.append(Learned(model, path, part))
    return out


def inception_size(cfg: Config, requested: int | None) -> int:
    """Side at which IS/FID are computed: requested, else the dataset's native side, else the image size."""
    size = requested or native_size(cfg.dataset) or cfg.image_size
    if size < 1 or size > cfg.image_size:
        raise ValueError(f"--inception-size {size} must be between 1 and the image size {cfg.image_size}")
    return size


def to_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, H) → (N, C, size, size): block average for an integer factor, else antialiased bilinear."""
    if x.shape[-1] == size:
        return x
    if x.shape[-1] % size == 0:
        return downscale(x, size)
    import torchvision.transforms.functional as TF
    return TF.resize(x, [size, size], antialias=True)


def real_images(cfg: Config, train_set: ImageSet, n: int, size: int) -> torch.Tensor:
    """n training images (n, C, size, size) in [0, 255], read at `size` when it is not the training size."""
    if size != cfg.image_size:
        train_set = load_dataset(dataclasses.replace(cfg, image_size=size), "train")
    return train_set.batch(torch.arange(min(len(train_set), n)))


def fidelity_rows(cfg, args, fake, train_set, *, prov, setting, real_cache: dict) -> list[dict]:
    """IS and FID of `fake` (N, C, s, s uint8 at the Inception size s); the real images' IS is computed
    once per run (real_cache) and written once."""
    size = fake.shape[-1]
    if "images" not in real_cache:
        real_cache["images"] = to_uint8_rgb(real_images(cfg, train_set, args.fidelity_samples, size), 255.0)
    real = real_cache["images"]
    try:
        m_fake = fidelity_metrics(fake, real, isc=True, fid=True, weights_path=args.inception_weights)
        first = "real" not in real_cache
        if first:
            real_cache["real"] = fidelity_metrics(real, isc=True, weights_path=args.inception_weights)
    except MissingWeights as err:
        if "skipped" not in real_cache:  # one notice per run, not one per method
            print(f"[synthesis] Inception score and FID skipped: {err}", file=sys.stderr)
            real_cache["skipped"] = True
        return []
    row = lambda method, st, metric, v, n: result_row(  # noqa: E731
        cfg, experiment="synthesis", method=method, setting=st, metric=metric, value=v, n_images=n, prov=prov)
    rows = [row(cfg.method, setting, "inception_score", m_fake[KEY_IS], len(fake)),
            row(cfg.method, setting, "inception_score_std", m_fake[KEY_IS_STD], len(fake)),
            row(cfg.method, setting, "fid", m_fake[KEY_FID], len(fake))]
    return rows + ([row("real", f"training_images|inception_size={size}", "inception_score",
                        real_cache["real"][KEY_IS], len(real))] if first else [])


def run_method(cfg: Config, args, train_set: ImageSet, test_set: ImageSet, prov: dict,
               real_cache: dict) -> tuple[list, list, list]:
    learned = learn(cfg, args, train_set)
    gen = device_generator(cfg.torch_device()).manual_seed(cfg.seed + 7)
    noise, tag = args.final_noise, f"{cfg.method}"
    per = math.ceil(args.n_samples / len(learned))
    grids = [learner.sample(per, gen, train_set=part, noise=noise) for learner, _, part in learned]
    grids = [torch.cat([g[k] for g in grids])[: args.n_samples] for k in range(len(grids[0]))]
    first = learned[0]
    for size, imgs in zip(first.learner.sizes, grids):
        save_grid(imgs[: cfg.n_show], os.path.join(args.out, panel_name("synthesis_grid", method=tag, size=size)),
                  cfg, f"{tag} samples at grid {size}×{size}")
    n_obs = min(cfg.n_show, len(train_set))
    save_grid(torch.cat([train_set.batch(torch.arange(n_obs)), grids[-1][:n_obs]]),
              os.path.join(args.out, f"synthesis_{tag}_observed_vs_synthesized.png"), cfg,
              f"{tag} · first {n_obs}: training images, then {n_obs} synthesized", nrow=max(1, int(math.sqrt(n_obs))))
    setting, rows = f"final_noise={'on' if noise else 'off'}" + setting_suffix(args, cfg.profile), []
    if first.learner.steps:  # figure 5: chains from one 1×1 image (a family with chains)
        div, spread = diversity(first.learner, first.part, gen, noise)
        save_grid(div, os.path.join(args.out, f"synthesis_{tag}_diversity.png"), cfg,
                  f"{tag} · chains from one 1×1 image", nrow=4)
        rows.append(result_row(cfg, experiment="synthesis", method=cfg.method, setting=setting, prov=prov,
                               metric="diversity_pixel_std", value=spread, n_images=len(train_set)))
    summary, nearest = nearest_rows(cfg, grids[-1], train_set, test_set, prov=prov, out_dir=args.out,
                                    n=args.n_samples)
    rows += summary
    grad = [r for _, path, part in learned for r in gradient_rows(path, cfg, len(part), prov)]
    plot_gradients(grad, os.path.join(args.out, f"synthesis_{tag}_grad_norm.png"),
                   panel_title(cfg, f"{tag}: gradient norm per net"))
    if args.fidelity_samples > 0:
        more = args.fidelity_samples - len(grids[-1])
        fake = grids[-1] if more <= 0 else torch.cat(
            [grids[-1]] + [learner.sample(math.ceil(more / len(learned)), gen, train_set=part, noise=noise)[-1]
                           for learner, _, part in learned])
        size = inception_size(cfg, args.inception_size)
        fake = to_uint8_rgb(to_size(fake[: args.fidelity_samples], size), cfg.pixel_max)  # (N, 3, size, size)
        rows += fidelity_rows(cfg, args, fake, train_set, prov=prov, setting=f"{setting}|inception_size={size}",
                              real_cache=real_cache)
    run = run_columns([(learner, path) for learner, path, _ in learned])  # the models behind this method's rows
    return [{**r, **run} if r["method"] == cfg.method else r for r in rows], grad, nearest


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.synthesis)."""
    parser = task_parser(__doc__)
    parser.add_argument("--methods", nargs="+", choices=having("sample"),
                        help=f"methods to run (default: --method, or {' '.join(FIGURE_METHODS)} as in figure 2)")
    parser.add_argument("--n-samples", type=int, help="synthesized images per method for the panels (default "
                        "%(default)s; another count is recorded in the diversity and IS/FID rows' setting)")
    parser.add_argument("--final-noise", type=lambda s: s.lower() in ("1", "true", "on", "yes"),
                        help="keep the Langevin noise in the final synthesis (default on; CVPR CIFAR-10: off)")
    parser.add_argument("--fidelity-samples", type=int,
                        help="samples for Inception score / FID (0: skip, the default; the usual count is 50000)")
    parser.add_argument("--inception-weights", help="path of the torch-fidelity Inception weights")
    parser.add_argument("--inception-size", type=int,
                        help="side at which IS/FID are computed (default: the dataset's native side, 32 for "
                             "CIFAR-10/SVHN, else the image size)")
    parser.add_argument("--fidelity", choices=("required", "optional"),
                        help="with --fidelity-samples: required stops before any training when the Inception "
                             "weights are missing; optional skips IS/FID with a note (default %(default)s: required "
                             "in the paper profile, where CVPR Table 1 is the point of the run, else optional)")
    parser.add_argument("--per-class", action="store_true", help="one model per class (CVPR CIFAR-10 setting)")
    return with_defaults(parser, "synthesis", profile)


def setting_suffix(args, profile: str) -> str:
    """What the setting of the rows that depend on the samples drawn (diversity, IS/FID) adds: each option of RECORDED
    that departs from the profile's default ("final_noise=on|n_samples=32")."""
    return departures(args, options("synthesis", profile), RECORDED)


def main(argv=None) -> int:
    cfg, args = parse_task_args(build_parser(profile_of(argv)), argv)
    check_results(args.out, "synthesis")  # a malformed results file stops the task before it writes anything
    if args.fidelity_samples > 0 and args.fidelity == "required":
        inception_weights(args.inception_weights)  # MissingWeights (one line: what, where, how) before any work
    methods = args.methods or ([cfg.method] if "method" in vars(args) else list(FIGURE_METHODS))
    os.makedirs(args.out, exist_ok=True)
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    prov = provenance(cfg.torch_device())
    rows, grad, nearest, real_cache = [], [], [], {}
    for method in methods:
        r, g, n = run_method(dataclasses.replace(cfg, method=method), args, train_set, test_set, prov, real_cache)
        rows, grad, nearest = rows + r, grad + g, nearest + n
    write_results(args.out, "synthesis", rows)
    write_csv(os.path.join(args.out, "synthesis_grad_norm.csv"), grad, GRAD_COLUMNS)
    write_csv(os.path.join(args.out, "synthesis_nearest.csv"), nearest, NN_COLUMNS)
    print(f"[synthesis] wrote {len(rows)} rows to {args.out}/synthesis.csv and figures to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
