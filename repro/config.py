"""Frozen configs with named presets.

Every setting of a run is a field of ``Config``; a run is a preset plus
overrides (``get_config("smoke", batch_size=8)``), and the resolved config is
saved as JSON beside every result. Where the paper is silent the field
comment says what the official TensorFlow release (ruiqigao/Multigrid_learning)
does and what we chose.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass

import torch

PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
AUTOCASTS = ("none", "bf16")


@dataclass(frozen=True)
class Config:
    profile: str = "custom"  # name of the preset the run started from (provenance: smoke, paper, ...)

    # --- data -----------------------------------------------------------------
    dataset: str = "lfw_faces"  # see repro.data.DATASETS; the default is embedded (no download)
    data_root: str | None = None  # folder holding real datasets (never downloaded)
    image_size: int = 64  # training images are resized to image_size × image_size (§7.1)
    n_train: int | None = None  # number of training images (None: all)
    n_test: int | None = None  # number of held-out images (None: all)
    split_seed: int = 0  # seeds the fixed train/test split of datasets without one
    celeba_crop: int = 108  # CelebA: center crop side before resizing (paper: "cropped at the center")
    verify_checksums: bool = True  # let torchvision check MD5s of SVHN/CIFAR-10/CelebA files
    center_crop: float | None = None  # folder datasets (images, imagefolder, places, lsun_bedroom): centered square
    # crop before resizing; ≤ 1: fraction of the shorter side, > 1: side in pixels; None: no crop. CelebA's 108 px
    # of 178×218 is 108/178 ≈ 0.607 of the shorter side (54 px of an 89×109 half-resolution copy)
    skip_bad_images: bool = False  # folder datasets: skip unreadable image files (their count is printed)
    data_cache: str | None = None  # folder datasets' decoded-tensor cache folder; None: <data_root>/.mgcd_cache
    # if writable, else ~/.cache/mgcd; "off": no cache

    # --- model (§7.1) ---------------------------------------------------------
    method: str = "multigrid"  # multigrid | singlegrid | cd1 | pcd (repro.methods)
    grid_sizes: tuple[int, ...] = (4, 16, 64)  # S = 3 grids, d = 4; chains start at 1×1
    archs: tuple[str, ...] | None = None  # one repro.models.ARCHS key per grid; None: paper's by size
    width: float = 1.0  # channel multiplier (1.0 = paper)
    activation: str = "leaky_relu"  # CVPR text and release: leaky ReLU 0.2; arXiv text: ReLU
    leak: float = 0.2  # leaky-ReLU slope (release: 0.2)

    # --- Langevin dynamics (eq. 8) ----------------------------------------------
    steps_per_grid: int = 30  # l, multi-grid steps per grid (paper: 30; release default T=90)
    baseline_steps: int | None = None  # single-grid and persistent-CD steps; None: l × S (paper: 90)
    step_size: float = 0.3  # δ (paper and release)
    sigma: float = 50.0  # σ of the reference N(0, σ²I), pixel units; release declares ref_sig=50
    noise: bool = True  # eq. (8) has the δU term; the release drops it (we keep the paper's)
    clip_min: float | None = 0.0  # clamp after each step (release clamps to [0, 255]); None: no clamp
    clip_max: float | None = 255.0
    pixel_max: float = 255.0  # images live in [0, pixel_max] with no mean subtraction (release)

    # --- learning (Algorithm 1) -----------------------------------------------
    batch_size: int = 100  # paper and release
    n_iters: int = 40_000  # learning iterations T (parameter updates)
    lr: float = 0.3  # initial learning rate γ_0 (paper and release)
    beta1: float = 0.5  # Adam β1 (release; the paper names no optimiser)
    lr_decay_every: int = 10  # "decayed logarithmically every 10 iterations" (paper)
    lr_final_ratio: float = 0.1  # γ_T / γ_0 of the geometric decay (paper silent; release: no decay)

    # --- baselines the paper re-ran (repro.baselines) ---------------------------------
    z_dim: int = 100  # DCGAN latent size (DCGAN paper)
    gan_lr: float = 2e-4  # Adam learning rate of DCGAN and ContextEncoder (both papers)
    gan_beta1: float = 0.5  # Adam β1 of DCGAN and ContextEncoder (both papers)
    ce_bottleneck: int = 4000  # ContextEncoder bottleneck channels (Pathak et al.), times width
    ce_rec_weight: float = 0.999  # ContextEncoder: weight w of the L2 loss, 1 − w of the adversarial (their wtl2)
    ce_overlap_pred: bool = False  # ContextEncoder: observed pixels weigh 10× in the L2 (their useOverlapPred;
    # their README's random-region command turns it off)

    # --- runtime ---------------------------------------------------------------
    seed: int = 0  # seeds network initialisation, data order and Langevin noise
    device: str = "auto"  # auto: CUDA when present, else CPU
    precision: str = "float32"  # float32 | float64
    checkpoint_every: int = 100  # iterations between atomic checkpoints (and log flushes)
    n_show: int = 64  # images per saved sample grid

    # --- speed (repro.speed); each switch chosen by measurement (python -m repro.bench, README
    # "Performance"). None of them changes what is computed beyond floating-point rounding. ---------
    compile: bool = False  # torch.compile the networks' forward for Langevin sampling (parameters frozen)
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead (CUDA graphs) | max-autotune
    channels_last: bool = False  # channels-last memory format for networks and chains
    autocast: str = "none"  # none | bf16: networks in bfloat16 autocast while sampling (CUDA); updates stay fp32
    tf32: bool = False  # CUDA: allow TF32 in matmuls and convolutions (off: exact float32)

    def clip(self) -> tuple[float, float] | None:
        if self.clip_min is None or self.clip_max is None:
            return None
        return (self.clip_min, self.clip_max)

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def dtype(self) -> torch.dtype:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")
        return PRECISIONS[self.precision]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)


PRESETS: dict[str, Config] = {
    # The paper's settings (§7.1) on CelebA, 10,000 training images at 64×64. "400 iterations"
    # in arXiv Table 1 is read as 400 passes over the 10,000 images (MatConvNet counts epochs).
    "paper": Config(profile="paper", dataset="celeba", n_train=10_000, n_test=10_000, compile=True),
    # The paper's method, grids (4 → 16 → 64) and image size on a subset of a real dataset, sized with
    # repro.bench so that each table's runs take about two hours on 2 CPU cores (README "Performance"):
    # a quarter of the channels, batch 50, 2,000 training images, 1,600 iterations (40 epochs).
    "reduced": Config(profile="reduced", dataset="celeba", n_train=2_000, n_test=200, width=0.25, batch_size=50,
                      n_iters=1_600, checkpoint_every=100, n_show=36, compile=True),
    # CPU smoke scale: 32×32 images, grids 2 → 8 → 32, a quarter of the channels, batch 16.
    "smoke": Config(profile="smoke", dataset="lfw_faces", image_size=32, grid_sizes=(2, 8, 32), width=0.25,
                    batch_size=16, n_iters=400, checkpoint_every=100, n_show=16),
}


def get_config(preset: str = "smoke", **overrides) -> Config:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


# --- command line: one flag per field ---------------------------------------------

def _parse_optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_args(parser: argparse.ArgumentParser, choices: dict[str, list[str]] | None = None) -> None:
    """Add --preset and one --field flag per Config field (default: the preset's value)."""
    parser.add_argument("--preset", "--profile", dest="preset", default="smoke", choices=list(PRESETS),
                        help="named preset the other flags override")
    hints = typing.get_type_hints(Config)
    choices = choices or {}
    for f in dataclasses.fields(Config):
        if f.name == "profile":  # set by --profile/--preset
            continue
        hint, flag = hints[f.name], "--" + f.name.replace("_", "-")
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
        base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if typing.get_origin(base) is tuple:
            elem = typing.get_args(base)[0]
            parser.add_argument(flag, dest=f.name, type=elem, nargs="+", default=argparse.SUPPRESS)
        else:
            kind = _parse_bool if base is bool else base
            kind = _parse_optional(kind) if optional else kind
            parser.add_argument(flag, dest=f.name, type=kind, default=argparse.SUPPRESS,
                                choices=choices.get(f.name))


def config_from_args(args: argparse.Namespace) -> Config:
    given = vars(args)  # flags not given are absent (argparse.SUPPRESS)
    overrides = {f.name: given[f.name] for f in dataclasses.fields(Config)
                 if f.name in given and f.name != "profile"}
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return get_config(args.preset, **overrides)
