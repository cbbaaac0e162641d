"""CoopNets face completion (ICLR 2017 submission §5.1, Table 1): ``python -m tasks.coopnets``.

1. Learn CoopNets (repro.families.coopnets: descriptor and the suite's DCGAN generator trained cooperatively) and,
   for the DCGAN column, the suite's DCGAN (repro.families.baselines) on the same training faces for the same
   iterations.
2. On the first --n-test-images test faces (the paper: 100), place one square of side M (M20, M30, M40 at 64×64;
   at other sizes the side scales with the image: round(M·size/64)) at a uniformly random position, the same
   masks for every method and every training seed (drawn from --mask-seed, default 0, which also seeds the
   inference noise and the bootstrap; learned rows carry their training seed --seed, floors --mask-seed).
3. Completion: X inferred by --infer-steps (1,000) Langevin steps on the observed pixels only, from N(0, I)
   (repro.families.latent.infer_latent: step --infer-step-size, σ = coop_g_sigma), the missing pixels from g(X).
4. Error: the suite's inpainting metrics (repro.evaluation.metrics.image_metrics, repro.evaluation.metrics):
   mae_masked is the paper's "per pixel difference (relative to the range of pixel values) ... on the occluded
   region", averaged over test images, with a 95% bootstrap interval.
Floors, scored by the same code on the same masks: biharmonic (repro.evaluation.floors), and nearest-neighbour MRF
priors with ℓ2 and ℓ1 potentials solved on the hole (repro.evaluation.mrf; the paper's methods 1 and 2).

Rows: <out>/coopnets.csv (experiment coopnets, setting M20|M30|M40; a learned column's setting adds each of
--infer-steps, --infer-step-size and --mask-seed that departs from its default: "M20|infer_steps=500"); panels
<out>/coopnets_<method>_<M>.png (rows: original, masked input, completion) and <out>/coopnets_samples.png (generator
samples g(X) above their descriptor revisions, drawn for a family that revises its samples: the registry's
capability "revise").

Choices the paper leaves open (ours, or from the authors' TensorFlow release where stated; see
repro.families.coopnets and repro.base.config for the model's settings; this experiment's, per profile, and the
options' defaults: repro.configs.coopnets):
- "600 iterations": read as 600 passes over the 10,000 faces (MatConvNet counts epochs, as the suite reads
  the multi-grid paper's "400 iterations"): 60,000 updates of batch 100 in the paper profile; the DCGAN column
  gets the same number (the paper: "changing the number of learning iterations to 600").
- The inference's Langevin step 0.1 and σ = 0.3 come from the release (gen_step_size, gen_refsig); its noise is
  kept (eq. 9); the generator's batch norm uses the statistics of the test batch (batches of the training batch
  size; the last one completed with images from the start, whose results are dropped), as every network here.
- The completion is pasted into the observed image (only the occluded region is scored, so the error is the
  error of g(X) there).
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys

import torch

import repro  # noqa: F401  (installs the torchvision compat shim before torchvision is imported)
from repro.base.io import atomic_save_image, provenance, save_panel
from repro.configs import config_overrides, options
from repro.configs.coopnets import RECORDED
from repro.core.inpaint import complete_all
from repro.core.trainable import device_generator
from repro.datasets.data import load_dataset
from repro.datasets.masks import square_mask
from repro.evaluation.floors import biharmonic_fill
from repro.evaluation.metrics import bootstrap_ci, image_metrics
from repro.evaluation.mrf import mrf_l1_fill, mrf_l2_fill
from repro.families import registry
from tasks.common import (
    check_at_least,
    check_results,
    check_trainable,
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
from tasks.files import inside, panel_name

EXPERIMENT = "coopnets"
MASK_SIDES = (20, 30, 40)  # M20, M30, M40 at 64×64
FLOORS = {"biharmonic": lambda x, m, pmax: biharmonic_fill(x / pmax, m) * pmax,
          "mrf_l2": lambda x, m, pmax: mrf_l2_fill(x, m),
          "mrf_l1": lambda x, m, pmax: mrf_l1_fill(x, m)}
METRICS = ("mae_masked", "rmse_masked", "psnr01_masked", "psnr11_masked")


def learned() -> list[str]:
    """Table 1's "Ours" and "GAN": the families that complete by latent inference (repro.families.registry)."""
    return registry.having("inpaint", inpaint_by=("latent",))


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.coopnets)."""
    parser = task_parser(__doc__)
    parser.add_argument("--n-test-images", type=int, help="test images to complete (default %(default)s; paper: 100)")
    parser.add_argument("--infer-steps", type=int,
                        help="Langevin steps inferring X (default %(default)s; paper: 1,000); another count is "
                             "recorded in the learned rows' setting (|infer_steps=N)")
    parser.add_argument("--infer-step-size", type=float,
                        help="their step size (default %(default)s, the release's); recorded as --infer-steps")
    parser.add_argument("--methods", nargs="+", choices=[*learned(), *FLOORS], default=[*learned(), *FLOORS],
                        help="columns to compute (default: all)")
    parser.add_argument("--n-panels", type=int, help="test images shown per panel (default %(default)s)")
    parser.add_argument("--mask-seed", type=int,
                        help="seed of the test masks and the inference noise, shared by every method and training "
                             "seed (default %(default)s; the floors' seed; another one is recorded in the learned "
                             "rows' setting)")
    return with_defaults(parser, "coopnets", profile)


def setting_suffix(args, profile: str, learned: bool) -> str:
    """What a row's setting adds to the mask's name ("M20"): for a learned column each option of RECORDED that departs
    from the profile's default ("M20|infer_steps=500"); none for a floor, whose numbers depend on --mask-seed alone,
    its seed."""
    return departures(args, options("coopnets", profile), RECORDED) if learned else ""


def mask_side(m: int, image_size: int) -> int:
    """The side of the paper's M×M square (at 64×64) at this image size."""
    return max(1, round(m * image_size / 64))


def test_masks(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """'M20' → (n, 1, size, size) CPU mask (1 = missing); depends only on (n, size, seed)."""
    return {f"M{m}": square_mask(n, size, mask_side(m, size), torch.Generator().manual_seed(seed * 1000 + 500 + k))
            for k, m in enumerate(MASK_SIDES)}


def score(cfg, method: str, images, masks, outputs, *, prov, run: dict | None = None, boot_seed: int = 0,
          suffix: str = "") -> list[dict]:
    """Result rows of one method: each metric of repro.evaluation.metrics.image_metrics, per mask (setting: the mask's
    name + suffix), with its interval (a bootstrap over the images seeded by boot_seed); the rows carry cfg.seed."""
    rows = []
    for name, out in outputs.items():
        values = image_metrics(images, out, masks[name], cfg.pixel_max)
        rows += [result_row(cfg, experiment=EXPERIMENT, method=method, setting=name + suffix, metric=metric,
                            value=float(values[metric].mean()), ci=bootstrap_ci(values[metric], seed=boot_seed),
                            n_images=len(images), prov=prov, **(run or {})) for metric in METRICS]
        print(f"{method:>10} {name}: error {float(values['mae_masked'].mean()):.4f}")
    return rows


def save_samples(learner, path: str, n: int) -> None:
    """Generator samples g(X) (top row) above their descriptor revisions (bottom row)."""
    y, rev = learner.sample_with_revision(n, device_generator(learner.device).manual_seed(learner.cfg.seed + 7))
    atomic_save_image((torch.cat([y, rev]) / learner.cfg.pixel_max).float().clamp(0, 1), path, nrow=n,
                      title=panel_title(learner.cfg, "CoopNets · top: generator samples g(X), bottom: their revisions"))


def check_settings(cfg, args, train_set) -> None:
    """Every refusal that depends on the settings, made before the task writes anything (a learned column's samples
    and panels come before the next column is trained): counts, the inference's settings, and what training checks
    at its start for each learned column (tasks.common.check_trainable: the batch over the processes, the sizes)."""
    check_at_least(args, 1, "n_panels", "n_test_images")
    check_at_least(args, 0, "mask_seed", "infer_steps")
    if not 0 < args.infer_step_size < math.inf:
        raise ValueError(f"--infer-step-size {args.infer_step_size} must be a finite number above 0")
    for method in args.methods:
        if method in learned():
            check_trainable(dataclasses.replace(cfg, method=method), train_set)


def main(argv=None) -> list[dict]:
    profile = profile_of(argv)
    cfg, args = parse_task_args(build_parser(profile), argv, **config_overrides("coopnets", profile))
    check_results(args.out, EXPERIMENT)  # a malformed results file stops the task before it writes anything
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    check_settings(cfg, args, train_set)
    n_test = min(args.n_test_images, len(test_set))
    images = test_set.batch(torch.arange(n_test), pixel_max=cfg.pixel_max, dtype=cfg.dtype())  # (N, C, H, W)
    masks = test_masks(n_test, cfg.image_size, args.mask_seed)
    os.makedirs(args.out, exist_ok=True)
    prov, rows, n_show = provenance(cfg.torch_device()), [], min(args.n_panels, n_test)
    for method in args.methods:
        if method in FLOORS:
            outputs = {k: FLOORS[method](images, m.to(images.dtype), cfg.pixel_max) for k, m in masks.items()}
            rows += score(dataclasses.replace(cfg, seed=args.mask_seed), method, images, masks, outputs, prov=prov,
                          boot_seed=args.mask_seed, suffix=setting_suffix(args, profile, learned=False))
        else:
            mcfg = dataclasses.replace(cfg, method=method)
            learner, path = trained_learner(mcfg, args.runs, train_set, progress=not args.no_progress)
            outputs = {k: complete_all(learner, images, m, steps=args.infer_steps, step_size=args.infer_step_size,
                                       seed=args.mask_seed * 1000 + 200 + j) for j, (k, m) in enumerate(masks.items())}
            rows += score(mcfg, method, images, masks, outputs, prov=prov, run=run_columns([(learner, path)]),
                          boot_seed=args.mask_seed, suffix=setting_suffix(args, profile, learned=True))
            if registry.can(method, "revise"):
                save_samples(learner, os.path.join(args.out, "coopnets_samples.png"), n_show)
        for k, out in outputs.items():
            path = inside(args.out, os.path.join(args.out, panel_name("coopnets", method=method, mask=k)))
            save_panel(path, images, out, masks[k], cfg.pixel_max, n_show,
                       title=panel_title(cfg, f"completion {method} · {k} · rows: original, masked input, result"))
    path = write_results(args.out, EXPERIMENT, rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    sys.exit(cli(main))
