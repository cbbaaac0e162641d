"""Image inpainting (CVPR §6.4 Table 4, arXiv §7.4 Table 3): ``python -m tasks.inpainting``.

For each method (pcd, cd1, singlegrid, multigrid) the conditional model p(Y_M | Y_M̄) is learned
by Algorithm 1 with a side×side square mask at a random position on every training image
(side = image_size/2: the paper's 32×32 at 64×64); the sampler moves only the masked pixels
(repro.core.learner.synthesize). Test images are then inpainted under three masks (square side×side,
doodle ≈25%, pepper 0.6) and scored on the masked pixels against the originals:
per-image masked MAE, whole-image MAE, masked RMSE and PSNR ([0, 1] and [−1, 1] conventions),
each averaged over images with a bootstrap 95% interval. Rows go to <out>/inpainting.csv
(experiment=inpainting, setting=square|doodle|pepper) and one example panel per method and mask
(rows: original, masked input with missing pixels grey, result) to <out>/inpainting_<method>_<mask>.png.
The ContextEncoder (repro.families.baselines, "inpaintRandom": trained on the same images with the same random
square masks) is scored by the very same code; only its missing pixels come from its network. The methods are the
registry's families that inpaint with chains or a network (repro.families.registry: Family.inpaint_by); the
test-time procedure (start fill, chains, budget) is the library's (repro.core.inpaint).
Training-free floors (observed-pixel mean, training mean face, biharmonic inpainting, and the multi-grid start:
the block-held fill multi-grid's chains start from, with no model and 0 steps) are scored on the same images and
masks. Multi-grid's lead under doodle and pepper must be read against its own start: there nearly every
coarse block is partly observed, so the start alone is a local block-mean interpolation. The test-time procedure
start=multigrid gives every scheme that same start (its own setting, "|start=multigrid").

Choices the paper leaves open (ours):
- Test-time chain start. The missing pixels are first filled with the mean of the image's
  observed pixels, per channel. multigrid and singlegrid start from the 1×1 version of that
  filled image (= the per-channel mean of the observed pixels), as their training chains start
  from the 1×1 image; cd1 and pcd start from the filled image at full size (their training
  chains start at an image at full size; pcd's persistent training chains are not used at
  test time). Every scheme gets the same test-time sampling budget, --test-steps Langevin steps in
  all (default l·S = 90, as multi-grid uses l per grid over S grids), spread evenly over its grids:
  multigrid l per grid, singlegrid, cd1 and pcd l·S at the finest grid; with Langevin noise as in
  training. A scheme whose training chains are shorter (cd1: one step) is also reported with its
  training budget, as a second setting "<mask>|test_steps=<n>" (the paper does not say which
  budget its CD1 column used; with one step CD1 is the observed-mean floor by construction).
- Test-time procedures beyond the paper's (--procedures, each reported as its own setting, the paper's
  procedure always first and plain): the mean of several chains ("|chains=4"), noise-free chains
  ("|noise=off"), chains whose newly moving pixels start from the biharmonic interpolation of the
  observed pixels instead of a block mean ("|start=biharmonic"), another step size ("|step_size=0.1").
  Choose among them on the validation split (--eval-split val: held-out train-split images, rows in
  inpainting_validation.csv), never on the test images: --procedure-from-val then adds, per method, the
  procedure with the lowest validation masked MAE averaged over the three masks (if it is not the
  paper's) as its own setting on the test images.
- Fit check (--eval-split train): the same scores on the first --n-test-images training images, rows in
  inpainting_train.csv. A model whose training-image error is close to its test error does not fit
  (longer training or more capacity may help); one far below it does not generalise.
- Coarser grids (multigrid): a coarse pixel moves only when its whole block is missing; a
  partly observed block is held at the mean of its observed pixels (repro.core.pyramid.coarse_observation).
  At the finest grid the observed pixels are reset and held, so they equal the input bit for
  bit (checked). The sampler only ever sees the masked input, never the true missing pixels.
  Under the pepper mask nearly every coarse block is partly observed, so the coarse grids keep
  the observed information instead of sampling it away.
- Masks (repro.datasets.masks): one mask per image shared by all channels; the test square has the
  training side; doodles are random-walk polylines with a brush of width size/16, added
  segment by segment until ≥25% of the pixels are missing; pepper drops each pixel with
  probability 0.6. The test masks are drawn once from --mask-seed (default 0), not from the training
  seed, so every method and every training seed sees the very same masks; the test Langevin noise is
  seeded from --mask-seed and the mask's index, the same for every model (common random numbers).
- Training seeds: --train-seeds N learns each method N times, with seeds --seed, --seed+1, ...; each
  model is scored on the same images, masks and test noise, its rows carrying its training seed
  (floors carry --mask-seed). The report pools a method's runs (the t interval over them and the test
  images' bootstrap interval, added in quadrature: tasks.tables.pooled_interval) and checks each ordering
  against every run.
- Test set: the first --n-test-images images of the dataset's (seeded, random) test split:
  1,000 in the paper profile (the paper's 1,000 random CelebA faces), all 20 embedded LFW test
  faces in the smoke profile. Batches have the training batch size, since batch norm uses
  batch statistics, under the suite's one rule (repro.base.batching): the last partial batch is completed
  with images from the start of the test set (and their masks), whose results are dropped.
- Metrics: on pixels scaled to [0, 1]. "Error" in the paper's table is read two ways, both
  reported: mae_masked (mean |error| over the masked pixels) and mae_whole (the same errors
  summed, divided by all pixels of the image). PSNR is computed per image on the masked pixels
  and averaged over images, in the [0, 1] convention (psnr01) and the [−1, 1] convention
  (psnr11 = psnr01 − 20·log10 2). Intervals: scipy percentile bootstrap of the mean over images.
- Long runs and learning curves: --stop-at N trains a run only to iteration N of --n-iters this time (the same run
  folder; a later command resumes it) and scores that partial model, its rows' iterations reading "N/n_iters" (the
  report marks the block); --curve-every K scores the model every K iterations on the first --curve-images test
  faces (the same faces in every profile) into inpainting_curve.csv, drawn by the report as
  figures/inpainting_curve.png. A curve is read, never chosen from: the iteration count is the profile's.
- Training models are cached in --runs under the tag "inpaint" (tag "inpaint-side<n>" for a
  non-default --train-mask-side, so models learned with other masks are never reused).
- Settings: the options' defaults per profile are repro.configs.inpainting's. A mask side other than image_size/2
  adds "|train_mask_side=<n>" to every row's setting, and a --mask-seed other than the default adds
  "|mask_seed=<k>" to a learned model's rows (a floor's seed column holds it), after the mask and the procedure:
  "square|chains=4|mask_seed=1". Rows at the defaults keep their plain settings.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import sys

import torch

import repro  # noqa: F401  (installs the torchvision compat shim before torchvision is imported)
from repro.base.config import Config
from repro.base.io import provenance, read_csv, save_panel
from repro.configs import options
from repro.core.inpaint import STARTS, Procedure, inpaint_all
from repro.core.methods import METHODS, get_method
from repro.core.pyramid import check_sizes, observed_mean_fill
from repro.datasets.data import load_dataset
from repro.datasets.masks import get_mask, square_mask
from repro.evaluation.floors import biharmonic_fill, mean_face_fill, multigrid_start_fill
from repro.evaluation.metrics import bootstrap_ci, image_metrics
from repro.families import registry
from repro.runner.engine import check_stop_at
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
    run_dir,
    task_parser,
    trained_learner,
    with_defaults,
    write_curve,
    write_per_image,
    write_results,
)
from tasks.files import INPAINT_MASKS, inside, panel_name


def inpainters() -> list[str]:
    """The families --methods takes, and its default: those the registry says inpaint with chains or a network,
    learned with the training masks (repro.families.registry.Family.inpaint_by)."""
    return registry.having("inpaint", inpaint_by=("chains", "network"))


MASK_NAMES = INPAINT_MASKS  # the paper's test masks (tasks.files)
# --eval-split → the experiment (and CSV) its rows go to
EXPERIMENTS = {"test": "inpainting", "val": "inpainting_validation", "train": "inpainting_train"}
METRICS = ("mae_masked", "mae_whole", "rmse_masked", "psnr01_masked", "psnr11_masked", "missing_fraction")


FLOORS = ("observed_mean", "mean_face", "biharmonic", "multigrid_start")  # training-free floors, same masks, metrics


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.inpainting)."""
    parser = task_parser(__doc__)
    parser.add_argument("--methods", nargs="*", choices=inpainters(), default=None,
                        help=f"methods to compare (default: {' '.join(inpainters())}; or --method for one; "
                             f"--methods with no name: the floors alone)")
    parser.add_argument("--n-test-images", type=int,
                        help="test images to inpaint (default: 1000 in the paper profile, else all)")
    parser.add_argument("--train-mask-side", type=int,
                        help="side of the square training (and test) mask (default: image_size/2; another side is "
                             "recorded in every row's setting, |train_mask_side=N)")
    parser.add_argument("--n-panels", type=int, help="test images shown per example panel (default %(default)s)")
    parser.add_argument("--procedures", nargs="+", metavar="SPEC",
                        help="extra test-time procedures, each reported as its own setting beside the paper's: "
                             "comma-separated key=value with keys chains (mean of N chains), noise (on|off), "
                             "start (mean|biharmonic), step_size; e.g. 'chains=4' 'noise=off,start=biharmonic'")
    parser.add_argument("--procedure-from-val", action="store_true",
                        help="also run, for each method, the procedure with the lowest masked MAE (mean over the "
                             "masks) among those in <out>/inpainting_validation.csv, if it is not the paper's")
    parser.add_argument("--eval-split", choices=tuple(EXPERIMENTS), default="test",
                        help="score on the test images (default), on the validation split (held-out train "
                             "images; rows go to inpainting_validation.csv): make choices on val, never on test; "
                             "or on the training images themselves (the first --n-test-images of them; rows go to "
                             "inpainting_train.csv): a fit check that tells a model that does not fit its own "
                             "training images from one that does not generalise")
    parser.add_argument("--test-steps", type=int,
                        help="an extra test-time budget, Langevin steps in all spread over a scheme's grids, "
                             "reported as setting <mask>|test_steps=N beside the paper's l·S = steps_per_grid × "
                             "grids (90), which always keeps the plain mask names")
    parser.add_argument("--train-seeds", type=int,
                        help="training seeds per method: --seed, --seed+1, ... (default %(default)s); a model already "
                             "trained in --runs is reused, so --train-seeds 2 adds the second seed alone")
    parser.add_argument("--mask-seed", type=int,
                        help="seed of the test masks and test-time noise, shared by every method and training "
                             "seed (default %(default)s; the floors' seed; another one is recorded in the learned "
                             "rows' setting, |mask_seed=N)")
    parser.add_argument("--floors", nargs="+", choices=FLOORS, default=None,
                        help="the training-free floors to score (default: all)")
    parser.add_argument("--no-floors", action="store_true",
                        help="skip the training-free floors (observed mean, mean face, biharmonic)")
    parser.add_argument("--stop-at", type=int, default=None, metavar="N",
                        help="train each model only up to iteration N of its --n-iters this time (a long run over "
                             "several sessions) and score that partial model: its rows' iterations read N/n_iters; "
                             "the same command with a larger N (or none) resumes the run")
    parser.add_argument("--curve-every", type=int, metavar="K",
                        help="learning curve: every K iterations trained (and at the last), inpaint the first "
                             "--curve-images test images under the three masks and add their masked MAE to "
                             "<out>/inpainting_curve.csv (floors once, as flat lines); read only, nothing is chosen "
                             "from it")
    parser.add_argument("--curve-images", type=int,
                        help="test images of the learning curve (default %(default)s: the same faces in every profile, "
                             "the test split being a seeded permutation's head)")
    return with_defaults(parser, "inpainting", profile)


def mask_side(cfg, args) -> int:
    """The square training (and test) mask's side: --train-mask-side, else image_size / 2 (the paper's 32 at 64)."""
    return args.train_mask_side or cfg.image_size // 2


def record_suffix(cfg, args, learned: bool) -> str:
    """What a row's setting adds after the mask and the test procedure: each option of repro.configs.inpainting's
    RECORDED that departs from the profile's default: a mask side other than image_size / 2 (every row: it changes
    the models and the square test mask), and for a learned model's rows --mask-seed (a floor's seed is the mask
    seed). "" at the defaults, so that their rows keep their keys."""
    side = mask_side(cfg, args)
    own = f"|train_mask_side={side}" if side != cfg.image_size // 2 else ""
    return own + (departures(args, options("inpainting", cfg.profile), ("mask_seed",)) if learned else "")


def square_mask_fn(side: int):
    """Training mask_fn for repro.runner.engine.train: one side×side square per image, random position."""
    def mask_fn(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:  # x (B, C, H, W)
        return square_mask(len(x), x.shape[-1], side, generator).to(device=x.device, dtype=x.dtype)  # (B, 1, H, W)
    return mask_fn


def test_masks(n: int, size: int, side: int, seed: int) -> dict[str, torch.Tensor]:
    """name → (n, 1, size, size) CPU mask; depends only on (n, size, side, seed), not on the method."""
    masks = {}
    for k, name in enumerate(MASK_NAMES):
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        masks[name] = get_mask(name)(n, size, gen, **({"side": side} if name == "square" else {}))
    return masks


def test_budgets(learner, budget: int, extra: int | None = None) -> list[int]:
    """Test-time budgets (Langevin steps in all) to report for a learner: the shared budget first (the paper's
    procedure, l·S steps: its rows take the plain mask names), then the scheme's training budget where it differs
    (cd1: 1), then `extra` (--test-steps) where it differs from both; those carry "|test_steps=N". A family
    without chains (the ContextEncoder) runs no Langevin steps: [0]."""
    if not learner.steps:
        return [0]
    own = learner.steps * len(learner.sizes)
    out = [budget] + ([own] if own != budget else [])
    return out + ([extra] if extra and extra not in out else [])


def procedure_part(setting: str, own: str = "") -> str | None:
    """The test procedure a setting names ("square|chains=4" → "chains=4"; the paper's: ""), for a setting that ends
    with this command's recorded options `own` (record_suffix); None for another mask, other recorded options, or a
    budget (test_steps)."""
    mask, _, suffix = setting.partition("|")
    suffix = f"|{suffix}" if suffix else ""
    if mask not in MASK_NAMES or not suffix.endswith(own):
        return None
    rest = suffix[:len(suffix) - len(own)]
    return rest[1:] if all(p.partition("=")[0] in Procedure.KEYS for p in rest.split("|")[1:]) else None


def chosen_on_validation(rows: list[dict], method: str, cfg, own: str = "") -> Procedure | None:
    """The procedure with the lowest masked MAE averaged over the three masks on the validation split, from
    inpainting_validation rows of this method, profile and dataset (and of this command's recorded options `own`);
    None when there are none or when the paper's procedure is the best (ties go to the paper's)."""
    scores: dict[str, list[float]] = {}
    for r in rows:
        if (r["experiment"], r["method"], r["metric"], r["profile"], r["dataset"]) == (
                "inpainting_validation", method, "mae_masked", cfg.profile, cfg.dataset):
            if (suffix := procedure_part(r["setting"], own)) is not None:
                scores.setdefault(suffix, []).append(float(r["value"]))
    scores = {k: sum(v) / len(v) for k, v in scores.items() if len(v) == len(MASK_NAMES)}
    if not scores or "" not in scores:
        return None
    best = min(scores, key=lambda k: (scores[k], k != ""))
    return None if best == "" else Procedure.parse(best.replace("|", ","))


def start_fills(cfg) -> dict:
    """The test-time chain starts beyond the observed mean (repro.core.inpaint.STARTS after "mean"), each (x, mask) →
    filled x in pixel units: the biharmonic interpolation and the multi-grid start (repro.evaluation.floors)."""
    fills = (lambda x, m: biharmonic_fill(x / cfg.pixel_max, m) * cfg.pixel_max,
             lambda x, m: multigrid_start_fill(x, m, cfg.grid_sizes))
    return dict(zip(STARTS[1:], fills, strict=True))


CURVE = "inpainting_curve"  # experiment of the learning-curve rows (tasks.common.write_curve)


def curve_setting(mask: str, cfg, suffix: str = "") -> str:
    """A learning curve's setting: the mask and the width of the network behind it ("square|width=0.25"), then the
    recorded options (record_suffix)."""
    return f"{mask}|width={cfg.width:g}{suffix}"


def curve_callback(mcfg, label: str, run_path: str, *, curve: tuple, args, prov: dict, end: int, suffix: str = ""):
    """train's callback that scores the model every args.curve_every iterations (and at `end`) on the curve's images
    under its masks (curve: (images, masks)) with the paper's procedure and test noise, and merges the masked MAE
    into <out>/inpainting_curve.csv (iterations = the iterations trained; setting: curve_setting with `suffix`).
    Scoring draws from its own generator and batch norm keeps no running statistics (repro.base.dist.BatchNorm2d),
    so a run with a curve trains exactly as one without (checked by tests/test_inpainting.py)."""
    images, masks = curve

    def callback(t, learner, samples, stats):
        it = t + 1
        if it % args.curve_every and it != end:
            return
        outputs = {name: inpaint_all(learner, images, masks[name], seed=args.mask_seed * 1000 + 100 + k)
                   for k, name in enumerate(MASK_NAMES)}
        rows = [result_row(mcfg, experiment=CURVE, method=label, setting=curve_setting(name, mcfg, suffix),
                           metric="mae_masked", value=float(v.mean()), ci=bootstrap_ci(v, seed=args.mask_seed),
                           n_images=len(images), prov=prov, run=os.path.basename(run_path), iterations=it)
                for name, out in outputs.items()
                for v in [image_metrics(images, out, masks[name], mcfg.pixel_max)["mae_masked"]]]
        write_curve(args.out, rows)
        print(f"curve {label} iteration {it}: " + "  ".join(f"{r['setting']} {r['value']:.4f}" for r in rows),
              flush=True)
    return callback


def chosen_methods(cfg, args) -> list[str]:
    if args.methods is not None:  # [] (--methods alone): the floors only
        return list(args.methods)
    return [cfg.method] if "method" in vars(args) else inpainters()




def floor_fns(train_set, cfg) -> dict:
    """name → (x, mask) → filled x: the floors, each in the pixel units of the learned methods. The training mean
    face is computed on first use, once."""
    @functools.cache
    def mean_image() -> torch.Tensor:  # (C, H, W): one pass over the training images
        return train_set.batch(torch.arange(len(train_set)), pixel_max=cfg.pixel_max, dtype=torch.float64).mean(0)

    biharmonic, multigrid_start = start_fills(cfg).values()
    return {"observed_mean": observed_mean_fill,
            "mean_face": lambda x, m: mean_face_fill(x, m, mean_image()),
            "biharmonic": biharmonic,
            "multigrid_start": multigrid_start}


PAIRED_METRICS = ("mae_masked", "psnr11_masked")  # the table's metrics, also kept per image (tasks.common)


def score(mcfg, method: str, images, masks, outputs: dict, prov: dict, *, boot_seed: int, setting_suffix: str = "",
          experiment: str = "inpainting", run: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(rows, per-image rows) of one method's outputs under each mask, through one metric path; the setting is the
    mask's name plus setting_suffix (another test-time setting). Rows carry mcfg.seed (the training seed; a floor's
    mcfg carries --mask-seed); the bootstrap over the images is seeded by boot_seed. The per-image rows
    (PER_IMAGE_COLUMNS) keep the table metrics' values image by image, for the report's paired orderings."""
    rows, per_image = [], []
    for name, out in outputs.items():
        values = image_metrics(images, out, masks[name], mcfg.pixel_max)
        setting = name + setting_suffix
        rows += [result_row(mcfg, experiment=experiment, method=method, setting=setting, metric=metric,
                            value=float(v.mean()), ci=bootstrap_ci(v, seed=boot_seed), n_images=len(images),
                            prov=prov, **(run or {})) for metric, v in values.items()]
        per_image += [{"experiment": experiment, "method": method, "setting": setting, "seed": mcfg.seed,
                       "metric": metric, "image": i, "value": float(v), "profile": mcfg.profile,
                       "dataset": mcfg.dataset, "run": (run or {}).get("run", "")}
                      for metric in PAIRED_METRICS for i, v in enumerate(values[metric].tolist())]
        print(f"{method:>13} {setting:>6}: " + "  ".join(f"{m}={float(values[m].mean()):.4g}" for m in METRICS))
    return rows, per_image


def save_panels(out_dir: str, method: str, images, masks, outputs: dict, *, cfg: Config, n: int) -> None:
    """One example panel per mask: <out>/inpainting_<method>_<mask>.png (original, masked input, result)."""
    for name, out in outputs.items():
        path = inside(out_dir, os.path.join(out_dir, panel_name("inpainting", method=method, mask=name)))
        save_panel(path, images, out, masks[name], cfg.pixel_max, min(n, len(images)),
                   title=panel_title(cfg, f"inpainting {method} · {name} mask · rows: original, masked input, result"))


def floors_to_score(args) -> list[str]:
    """The floors this command scores (--floors, --no-floors)."""
    return [] if args.no_floors else [f for f in FLOORS if not args.floors or f in args.floors]


def check_settings(cfg, args, train_set, methods: list[str]) -> None:
    """Every refusal that depends on the settings, made before the task writes anything (the floors' panels and
    curve rows come first, then each method's training): counts, the mask side, the grids (the multi-grid start
    floor and every scheme downscale by them), --test-steps against each scheme's grids, and what training checks
    at its start (tasks.common.check_trainable: the batch over the processes, the family's sizes)."""
    check_at_least(args, 1, "n_panels", "n_test_images")
    side = args.train_mask_side
    if side is not None and not 1 <= side <= cfg.image_size:
        raise ValueError(f"--train-mask-side {side} must lie between 1 and the image size {cfg.image_size}")
    if args.curve_every or "multigrid_start" in floors_to_score(args) or set(methods) & set(METHODS):
        check_sizes(cfg.grid_sizes, cfg.image_size)
    for method in methods:
        mcfg = dataclasses.replace(cfg, method=method)
        n = len(get_method(method).grid_sizes(cfg)) if method in METHODS else None
        if args.test_steps is not None and n and (args.test_steps < 1 or args.test_steps % n):
            raise ValueError(f"--test-steps {args.test_steps} must be a positive multiple of the {n} grids of "
                             f"{method}")
        check_trainable(mcfg, train_set)


@dataclasses.dataclass
class Plan:
    """What one command scores, built before the first row: the experiment its rows go to (--eval-split), the
    training set, the test images (N, C, H, W) and their masks, the training mask's run tag, the floors' fills, the
    learning curve's (images, masks) (None: no curve), the extra test procedures, and those chosen on validation."""
    experiment: str
    train_set: object
    images: torch.Tensor
    masks: dict
    tag: str
    prov: dict
    floors: dict
    curve: tuple | None
    procs: list
    chosen: dict


def parse(argv) -> tuple:
    """The settings, checked before any data is read: (cfg, args, extra procedures, validation rows). A malformed
    results file stops the task here too, before it writes anything."""
    cfg, args = parse_task_args(build_parser(profile_of(argv)), argv)
    procs = [Procedure.parse(spec) for spec in args.procedures]  # bad specs fail before any work
    if args.train_seeds < 1 or args.mask_seed < 0:
        raise ValueError(f"--train-seeds {args.train_seeds} must be at least 1 and --mask-seed {args.mask_seed} "
                         "at least 0")
    val_path = os.path.join(args.out, "inpainting_validation.csv")
    if args.procedure_from_val and not os.path.exists(val_path):
        raise FileNotFoundError(f"--procedure-from-val: no {val_path}; run with --eval-split val first")
    val_rows = read_csv(val_path) if args.procedure_from_val else []
    check_stop_at(args.stop_at, cfg.n_iters)
    if args.curve_every is not None and (args.curve_every < 1 or args.curve_images < 1):
        raise ValueError(f"--curve-every {args.curve_every} and --curve-images {args.curve_images} must be at least 1")
    check_results(args.out, EXPERIMENTS[args.eval_split], *([CURVE] if args.curve_every else []))
    return cfg, args, procs, val_rows


def curve_data(cfg, args, test_set) -> tuple | None:
    """The learning curve's (images (N, C, H, W), masks): the first --curve-images test images and their own masks;
    None without --curve-every."""
    if not args.curve_every:
        return None
    full = load_dataset(cfg, "test") if args.eval_split != "test" else test_set
    n_curve = min(args.curve_images, len(full))
    return (full.batch(torch.arange(n_curve), pixel_max=cfg.pixel_max, dtype=cfg.dtype()),
            test_masks(n_curve, cfg.image_size, mask_side(cfg, args), args.mask_seed))


def build(cfg, args, procs: list, val_rows: list) -> Plan:
    """Read the data, make the refusals that depend on it, and draw the test masks."""
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, args.eval_split)
    # the runner and the sampler refuse these too, but only after the floors have drawn their panels over the good ones
    check_settings(cfg, args, train_set, chosen_methods(cfg, args))
    own = record_suffix(cfg, args, learned=True)
    chosen = {m: chosen_on_validation(val_rows, m, cfg, own) for m in chosen_methods(cfg, args)} \
        if args.procedure_from_val else {}  # a bad setting in the CSV stops the task here, not after the floors
    n_test = args.n_test_images or len(test_set)
    if n_test > len(test_set):
        print(f"inpainting: only {len(test_set)} test images, using all of them")
        n_test = len(test_set)
    images = test_set.batch(torch.arange(n_test), pixel_max=cfg.pixel_max, dtype=cfg.dtype())  # (N, C, H, W)
    side = mask_side(cfg, args)
    tag = "inpaint" if side == cfg.image_size // 2 else f"inpaint-side{side}"
    masks = test_masks(n_test, cfg.image_size, side, args.mask_seed)
    os.makedirs(args.out, exist_ok=True)
    return Plan(EXPERIMENTS[args.eval_split], train_set, images, masks, tag, provenance(cfg.torch_device()),
                floor_fns(train_set, cfg), curve_data(cfg, args, test_set), procs, chosen)


def write_curve_floors(cfg, args, plan: Plan) -> None:
    """The floors' flat lines of the learning curve (all but the mean face), before any model trains."""
    fcfg = dataclasses.replace(cfg, seed=args.mask_seed)
    images, masks = plan.curve
    suffix = record_suffix(cfg, args, learned=False)
    write_curve(args.out, [
        result_row(fcfg, experiment=CURVE, method=name, setting=curve_setting(mask, fcfg, suffix), metric="mae_masked",
                   value=float(v.mean()), ci=bootstrap_ci(v, seed=args.mask_seed), n_images=len(images),
                   prov=plan.prov)
        for name, fill in plan.floors.items() if name != "mean_face"
        for mask, m in masks.items()
        for v in [image_metrics(images, fill(images, m.to(images.dtype)), m, cfg.pixel_max)["mae_masked"]]])


def score_floors(cfg, args, plan: Plan) -> tuple[list[dict], list[dict]]:
    """(rows, per-image rows) of the training-free floors (--floors, --no-floors), and their panels."""
    rows, per_image = [], []
    fcfg = dataclasses.replace(cfg, seed=args.mask_seed)  # a floor learns nothing: its seed is the masks'
    for method in floors_to_score(args):
        fill = plan.floors[method]
        outputs = {name: fill(plan.images, m.to(plan.images.dtype)) for name, m in plan.masks.items()}
        r, p = score(fcfg, method, plan.images, plan.masks, outputs, plan.prov, boot_seed=args.mask_seed,
                     setting_suffix=record_suffix(cfg, args, learned=False), experiment=plan.experiment)
        rows, per_image = rows + r, per_image + p
        if plan.experiment == "inpainting":
            save_panels(args.out, method, plan.images, plan.masks, outputs, cfg=cfg, n=args.n_panels)
    return rows, per_image


def test_runs(cfg, args, plan: Plan, method: str, learner) -> list[tuple]:
    """(budget, procedure, setting suffix) of each test-time run of a learned model: the paper's procedure at the
    shared budget (plain mask names), the other budgets ("|test_steps=N"), then for a chain sampler the extra
    procedures and the one chosen on validation."""
    budget = cfg.steps_per_grid * len(cfg.grid_sizes)  # the paper's procedure: the plain mask names hold it
    runs = [(steps, Procedure(), "" if j == 0 else f"|test_steps={steps}")
            for j, steps in enumerate(test_budgets(learner, budget, args.test_steps))]
    extra = list(plan.procs)
    if (best := plan.chosen.get(method)) and best not in extra:
        print(f"{method}: procedure chosen on validation: {best.suffix()[1:]}")
        extra.append(best)
    if learner.steps:  # test-time procedures of a chain sampler
        runs += [(budget, proc, proc.suffix()) for proc in extra]
    return runs


def score_model(mcfg, args, plan: Plan, first_seed: bool) -> tuple[list[dict], list[dict]]:
    """Train (or load) one model of mcfg's family and seed, and score each of its test runs (test_runs)."""
    label, own = registry.method_label(mcfg), record_suffix(mcfg, args, learned=True)
    callback = None
    if plan.curve is not None:
        callback = curve_callback(mcfg, label, run_dir(mcfg, args.runs, plan.tag), curve=plan.curve, args=args,
                                  prov=plan.prov, end=args.stop_at or mcfg.n_iters, suffix=own)
    learner, run_path = trained_learner(mcfg, args.runs, plan.train_set, tag=plan.tag,
                                        mask_fn=square_mask_fn(mask_side(mcfg, args)), progress=not args.no_progress,
                                        callback=callback, stop_at=args.stop_at)
    run, rows, per_image = run_columns([(learner, run_path)]), [], []
    for steps, proc, suffix in test_runs(mcfg, args, plan, mcfg.method, learner):
        outputs = {name: inpaint_all(learner, plan.images, plan.masks[name], seed=args.mask_seed * 1000 + 100 + k,
                                     budget=steps or None, proc=proc, start_fills=start_fills(mcfg))
                   for k, name in enumerate(MASK_NAMES)}
        r, p = score(mcfg, label, plan.images, plan.masks, outputs, plan.prov, boot_seed=args.mask_seed,
                     setting_suffix=suffix + own, experiment=plan.experiment, run=run)
        rows, per_image = rows + r, per_image + p
        if plan.experiment == "inpainting" and not suffix and first_seed:  # the paper procedure's panels
            save_panels(args.out, label, plan.images, plan.masks, outputs, cfg=mcfg, n=args.n_panels)
    return rows, per_image


def main(argv=None) -> list[dict]:
    cfg, args, procs, val_rows = parse(argv)
    plan = build(cfg, args, procs, val_rows)
    if plan.curve is not None:  # the floors' flat lines first
        write_curve_floors(cfg, args, plan)
    rows, per_image = score_floors(cfg, args, plan)
    for method, seed in itertools.product(chosen_methods(cfg, args), range(cfg.seed, cfg.seed + args.train_seeds)):
        r, p = score_model(dataclasses.replace(cfg, method=method, seed=seed), args, plan, seed == cfg.seed)
        rows, per_image = rows + r, per_image + p
    write_per_image(args.out, plan.experiment, per_image)
    path = write_results(args.out, plan.experiment, rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    sys.exit(cli(main))
