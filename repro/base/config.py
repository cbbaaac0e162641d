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
import math
import re
import types
import typing
from dataclasses import dataclass

import torch

PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
AUTOCASTS = ("none", "bf16")
BATCHNORMS = ("global", "local")  # batch statistics of data-parallel runs (repro.base.dist)


# --- each model family's own settings (a section of Config: cfg.gan.lr, cfg.coop.steps, ...) -------------------
# The engine and the four schemes read Config's own fields; a family outside the schemes also reads its section.

@dataclass(frozen=True)
class GANConfig:
    """The baselines the paper re-ran (repro.families.baselines): DCGAN, and the ContextEncoder's adversarial
    training."""
    z_dim: int = 100  # DCGAN latent size (DCGAN paper); flag --z-dim
    lr: float = 2e-4  # Adam learning rate of DCGAN and ContextEncoder (both papers)
    beta1: float = 0.5  # Adam β1 of DCGAN and ContextEncoder (both papers)


@dataclass(frozen=True)
class ContextEncoderConfig:
    """The ContextEncoder (Pathak et al., inpaintRandom) the paper compares inpainting with."""
    bottleneck: int = 4000  # bottleneck channels (Pathak et al.), times width
    rec_weight: float = 0.999  # weight w of the L2 loss, 1 − w of the adversarial (their wtl2)
    overlap_pred: bool = False  # observed pixels weigh 10× in the L2 (their useOverlapPred; their README's
    # random-region command turns it off)
    load_scale: float = 0.0  # their data jitter (donkey_folder.lua's trainHook): each training image scaled to
    # load_scale × its size, a random crop of its size taken, flipped left-right with probability 1/2; their
    # train_random.lua's loadSize / fineSize is 350 / 128 = 2.734375. 0: off (this suite's default)
    test_bn: str = "batch"  # batch norm when filling test images: "batch" statistics (this suite's default, as the
    # energy nets), or "running" averages kept during training (momentum 0.1, as Torch's), their test_random.lua's
    # net:evaluate()


@dataclass(frozen=True)
class CoopNetsConfig:
    """CoopNets (ICLR 2017 §5.1). The paper gives L = 10, δ = 0.002, "learning rate 0.07" (MatConvNet; optimiser
    not named); the rest from the authors' TensorFlow release (jianwen-xie/CoopNets): images in [−1, 1], Adam β1
    0.5 for both nets."""
    steps: int = 10  # L, Langevin revision steps under the descriptor per iteration (paper)
    step_size: float = 0.002  # δ of the descriptor's Langevin revision, [−1, 1] units (paper and release)
    sigma: float = 0.016  # σ of the descriptor's reference N(0, σ²I), [−1, 1] units (release des_refsig)
    lr: float = 0.007  # descriptor Adam rate (release d_lr; the paper's 0.07 is for its unnamed optimiser)
    g_lr: float = 1e-4  # generator Adam rate (release g_lr)
    g_sigma: float = 0.3  # σ of the generator's residual Y = g(X) + ε, [−1, 1] units (release gen_refsig)
    fc: int = 50  # outputs of the descriptor's fully connected top layer; f(Y) is their sum (paper: 50)


@dataclass(frozen=True)
class GConvNetConfig:
    """The generative ConvNet (ICML 2016 §7): chains start at 0 (the mean image)."""
    net: str = "texture"  # texture (§7.1, 3 layers) | object (§7.2, 4 layers incl. one fully connected filter)
    iters_per_layer: int = 700  # T per added layer (§7); 0: all layers learned at once (§7.3)
    n_chains: int = 16  # M̃ parallel chains (§7); their Langevin steps per iteration are steps_per_grid (L = 10)
    start: str = "persistent"  # persistent: Algorithm 1's chains, started at 0 (the mean) and carried |
    # observed: contrastive divergence, chains start at the batch's observed images (§7.3)


# section field of Config → (its dataclass, the prefix of its flat names: flag and JSON key)
SECTIONS = {"gan": (GANConfig, "gan_"), "ce": (ContextEncoderConfig, "ce_"), "coop": (CoopNetsConfig, "coop_"),
            "gcn": (GConvNetConfig, "gcn_")}
# flat names that are not <prefix><name>: they predate the sections (flags --z-dim, --gcn-chains)
FLAT_NAMES = {("gan", "z_dim"): "z_dim", ("gcn", "n_chains"): "gcn_chains"}


def _flat_name(section: str, name: str) -> str:
    return FLAT_NAMES.get((section, name), SECTIONS[section][1] + name)


@dataclass(frozen=True)
class Config:
    profile: str = "custom"  # name of the preset the run started from (provenance: smoke, paper, ...)

    # --- data -----------------------------------------------------------------
    dataset: str = "lfw_faces"  # see repro.datasets.data.DATASETS; the default is embedded (no download)
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
    method: str = "multigrid"  # multigrid | singlegrid | cd1 | pcd (repro.core.methods)
    grid_sizes: tuple[int, ...] = (4, 16, 64)  # S = 3 grids, d = 4; chains start at 1×1
    archs: tuple[str, ...] | None = None  # one repro.core.models.ARCHS key per grid; None: paper's by size
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

    # --- each model family's own settings, one section per family (below); flags and JSON keys keep their flat
    # names (--gan-lr, --ce-bottleneck, --coop-steps, --gcn-net, --z-dim), so run folders keep theirs ---------
    gan: GANConfig = GANConfig()
    ce: ContextEncoderConfig = ContextEncoderConfig()
    coop: CoopNetsConfig = CoopNetsConfig()
    gcn: GConvNetConfig = GConvNetConfig()

    # --- runtime ---------------------------------------------------------------
    seed: int = 0  # seeds network initialisation, data order and Langevin noise
    device: str = "auto"  # auto: CUDA when present, else CPU
    precision: str = "float32"  # float32 | float64
    checkpoint_every: int = 100  # iterations between atomic checkpoints (and log flushes)
    n_show: int = 64  # images per saved sample grid

    # --- speed (repro.base.speed); each switch chosen by measurement (python -m tools.bench, docs/performance.md).
    # None of them changes what is computed beyond floating-point rounding. ---------
    compile: bool = False  # torch.compile the networks' forward for Langevin sampling (parameters frozen)
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead (CUDA graphs) | max-autotune
    channels_last: bool = False  # channels-last memory format for networks and chains
    autocast: str = "none"  # none | bf16: networks in bfloat16 autocast while sampling (CUDA); updates stay fp32
    tf32: bool = True  # CUDA: TF32 in convolutions and matmuls (10-bit mantissa inputs, float32 sums; several times
    # the float32 rate on Ampere and later, by the data sheets); off: exact float32. No effect on the CPU.
    # Recorded in the rows' device column
    cond_start: str = "observed"  # conditional learning (a training mask): where the training chains start. observed:
    # the paper's reading, from the observed training image, hidden pixels included (CD1: x; 1×1 schemes: its 1×1
    # mean; PCD: x, then carried); fill: from the masked image filled as at test time (a variant row)
    batchnorm: str = "global"  # data-parallel runs (torchrun): global: batch statistics over the whole batch, as in one
    # process (2 collectives per batch-norm layer per Langevin step); local: each process's own share (no collective
    # while sampling, but another model: statistics of B/N images). No effect in one process
    deterministic: bool = False  # CUDA: deterministic kernels (cuDNN, cuBLAS workspace, torch's deterministic
    # algorithms) so that a resumed run repeats the same GPU's run bit for bit; slower. The CPU is deterministic

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

    def validate(self) -> "Config":
        """Raise one ValueError listing every setting out of range, each with its flag; returns self.
        Called when a config is built from the command line and by repro.runner.engine.train before any work."""
        problems = [p for p in (*_name_problems(self), *_range_problems(self), _device_problem(self.device)) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def flat(self) -> dict:
        """Every setting under its flat name (a section's as <prefix>_<name>: gan_lr, coop_steps, z_dim): the
        names of the flags, of config.json and of the run folders' hash."""
        d = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECTIONS:
                d.update({_flat_name(f.name, k): v for k, v in dataclasses.asdict(value).items()})
            else:
                d[f.name] = value
        return d

    def replace(self, **flat) -> "Config":
        """A copy with settings changed by flat name (``cfg.replace(batch_size=8, coop_steps=3)``); an unknown name
        raises ValueError naming it."""
        known = FLAT_FIELDS
        unknown = set(flat) - set(known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        top = {k: v for k, v in flat.items() if known[k] is None}
        for section in SECTIONS:
            mine = {known[k][1]: v for k, v in flat.items() if known[k] is not None and known[k][0] == section}
            if mine:
                top[section] = dataclasses.replace(getattr(self, section), **mine)
        return dataclasses.replace(self, **top)

    def to_dict(self) -> dict:
        """Every setting by flat name, except those of LATER_FIELDS at their defaults: fields added after run folders
        existed are written only when set, so those folders keep their names (run_dir hashes this) and still
        resume."""
        return {k: v for k, v in self.flat().items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """The config of a flat dict (config.json, to_dict); settings it does not name keep their defaults. Its
        names are checked (_name_problems): a checkpoint or config.json is data, and they name run folders."""
        cfg = cls().replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        if problems := _name_problems(cfg):
            raise ValueError("; ".join(problems))
        return cfg


# flat name → None for a field of Config itself, or (section, name in the section)
FLAT_FIELDS: dict[str, tuple[str, str] | None] = {
    **{f.name: None for f in dataclasses.fields(Config) if f.name not in SECTIONS},
    **{_flat_name(sec, f.name): (sec, f.name) for sec, (kind, _) in SECTIONS.items() for f in dataclasses.fields(kind)}}
FLAT_DEFAULTS = Config().flat()


# Fields added after runs were made (the companion papers' sections; deterministic), and tf32, whose default
# changed from False to True when GPU runs were made fast → their defaults; see Config.to_dict
LATER_FIELDS = {k: v for k, v in FLAT_DEFAULTS.items()
                if (FLAT_FIELDS[k] or ("",))[0] in ("coop", "gcn") or k in ("tf32", "deterministic", "batchnorm",
                                                                            "cond_start", "ce_load_scale",
                                                                            "ce_test_bn")}


# --- ranges of the settings (Config.validate) ---------------------------------------------

def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _finite_positive(x) -> bool:
    return x is not None and math.isfinite(x) and x > 0


# A plain name: the characters tasks.files.safe_name keeps, no leading dot, no "..", at most 100 of them. The
# profile, dataset and method name the run folder (repro.runner.engine.run_dir), so none may hold a path.
PLAIN_NAME = re.compile(r"(?!.*\.\.)[A-Za-z0-9_=|+-][A-Za-z0-9._=|+-]{0,99}")
NAMED_FIELDS = ("profile", "dataset", "method")


def _name_problems(config: Config) -> list[str]:
    """One message per name field (NAMED_FIELDS) that is not a plain name (PLAIN_NAME)."""
    out = []
    for name in NAMED_FIELDS:
        value = getattr(config, name)
        if not (isinstance(value, str) and PLAIN_NAME.fullmatch(value)):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            out.append(f"{_flag(name)} {shown} is not a plain name (letters, digits and . _ = | + -, at most 100, "
                       f"no leading dot, no ..): it names the run folder")
    return out


def _range_problems(config: Config) -> list[str]:
    """One message per setting out of its range (settings read by flat name, as their flags)."""
    cfg = types.SimpleNamespace(**config.flat())
    cfg.clip = config.clip
    at_least = {"batch_size": 2, "n_iters": 0, "checkpoint_every": 1, "lr_decay_every": 1, "n_show": 1,
                "steps_per_grid": 1, "image_size": 1, "z_dim": 1, "ce_bottleneck": 1, "celeba_crop": 1,
                "coop_steps": 0, "coop_fc": 1, "gcn_iters_per_layer": 0, "gcn_chains": 1}
    optional_at_least = {"baseline_steps": 1, "n_train": 1, "n_test": 1}
    positive = ("step_size", "sigma", "width", "lr", "gan_lr", "pixel_max", "lr_final_ratio", "coop_step_size",
                "coop_sigma", "coop_lr", "coop_g_lr", "coop_g_sigma")
    unit = {"beta1": (0, 1, False), "gan_beta1": (0, 1, False), "ce_rec_weight": (0, 1, True)}
    named = {"precision": tuple(PRECISIONS), "compile_mode": COMPILE_MODES, "autocast": AUTOCASTS,
             "gcn_net": ("texture", "object"), "gcn_start": ("persistent", "observed"),
             "batchnorm": BATCHNORMS, "cond_start": ("observed", "fill"), "ce_test_bn": ("batch", "running")}
    out = []
    for name, low in at_least.items():
        if getattr(cfg, name) < low:
            why = ": batch norm needs at least two images per batch" if name == "batch_size" else ""
            out.append(f"{_flag(name)} is {getattr(cfg, name)}, must be {low} or more{why}")
    out += [f"{_flag(n)} is {getattr(cfg, n)}, must be {low} or more (or none)"
            for n, low in optional_at_least.items() if getattr(cfg, n) is not None and getattr(cfg, n) < low]
    out += [f"{_flag(n)} is {getattr(cfg, n)}, must be a finite number above 0"
            for n in positive if not _finite_positive(getattr(cfg, n))]
    for n, (low, high, closed) in unit.items():
        v = getattr(cfg, n)
        if not (math.isfinite(v) and low <= v and (v <= high if closed else v < high)):
            out.append(f"{_flag(n)} is {v}, must lie in [{low}, {high}{']' if closed else ')'}")
    if not (cfg.ce_load_scale == 0 or (math.isfinite(cfg.ce_load_scale) and cfg.ce_load_scale >= 1)):
        out.append(f"--ce-load-scale is {cfg.ce_load_scale}, must be 0 (off) or a finite number of 1 or more")
    if not (math.isfinite(cfg.leak) and cfg.leak >= 0):
        out.append(f"--leak is {cfg.leak}, must be a finite number of 0 or more")
    if not cfg.grid_sizes or min(cfg.grid_sizes) < 1:
        out.append(f"--grid-sizes {' '.join(map(str, cfg.grid_sizes))}: need one or more sizes of 1 or more")
    if cfg.clip() is not None and not cfg.clip_min < cfg.clip_max:
        out.append(f"--clip-min {cfg.clip_min} must be below --clip-max {cfg.clip_max}")
    out += [f"unknown {n} {getattr(cfg, n)!r}; known: {', '.join(known)}"
            for n, known in named.items() if getattr(cfg, n) not in known]
    return out


def _device_problem(name: str) -> str | None:
    """Why --device cannot be used here, or None."""
    if name == "auto":
        return None
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        return f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N"
    if dev.type == "cpu":
        return None
    if dev.type != "cuda":
        return f"--device {name}: this suite runs on cpu or cuda; use auto, cpu, cuda or cuda:N"
    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        return f"--device {name}: {why} (torch {torch.__version__}); use --device cpu or auto"
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        return f"--device {name}: only {n} CUDA device(s); use cuda:0 to cuda:{n - 1}"
    return None


PRESETS: dict[str, Config] = {
    # The paper's settings (§7.1) on CelebA, 10,000 training images at 64×64. "400 iterations"
    # in arXiv Table 1 is read as 400 passes over the 10,000 images (MatConvNet counts epochs).
    "paper": Config(profile="paper", dataset="celeba", n_train=10_000, n_test=10_000, compile=True),
    # The paper's method, grids (4 → 16 → 64) and image size on a subset of a real dataset, sized with
    # tools.bench so that each table's runs take about two hours on 2 CPU cores (docs/performance.md):
    # a quarter of the channels, batch 50, 2,000 training images, 1,600 iterations (40 epochs).
    "reduced": Config(profile="reduced", dataset="celeba", n_train=2_000, n_test=200, width=0.25, batch_size=50,
                      n_iters=1_600, checkpoint_every=100, n_show=36, compile=True),
    # CPU smoke scale: 32×32 images, grids 2 → 8 → 32, a quarter of the channels, batch 16.
    "smoke": Config(profile="smoke", dataset="lfw_faces", image_size=32, grid_sizes=(2, 8, 32), width=0.25,
                    batch_size=16, n_iters=400, checkpoint_every=100, n_show=16),
}
# What each experiment changes on top of a preset, and its own options: repro.configs (one module per experiment).


def get_config(preset: str = "smoke", **overrides) -> Config:
    """A preset with settings changed by flat name (get_config("smoke", batch_size=8, coop_steps=3))."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return PRESETS[preset].replace(**overrides)


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
    """Add --profile (alias --preset) and one --field flag per Config field (default: the profile's value)."""
    parser.add_argument("--profile", "--preset", dest="preset", default="smoke", choices=list(PRESETS),
                        help="profile: the named preset (smoke, reduced, paper) the other flags override; --preset "
                             "is an alias")
    hints = _flat_hints()
    choices = choices or {}
    for name in FLAT_FIELDS:
        if name == "profile":  # set by --profile/--preset
            continue
        hint, flag = hints[name], "--" + name.replace("_", "-")
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
        base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if typing.get_origin(base) is tuple:
            elem = typing.get_args(base)[0]
            parser.add_argument(flag, dest=name, type=elem, nargs="+", default=argparse.SUPPRESS)
        else:
            kind = _parse_bool if base is bool else base
            kind = _parse_optional(kind) if optional else kind
            parser.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS,
                                choices=choices.get(name))


def _flat_hints() -> dict:
    """flat name → its type hint."""
    hints = {k: v for k, v in typing.get_type_hints(Config).items() if k not in SECTIONS}
    for section, (kind, _) in SECTIONS.items():
        hints.update({_flat_name(section, k): v for k, v in typing.get_type_hints(kind).items()})
    return hints


def config_from_args(args: argparse.Namespace) -> Config:
    given = vars(args)  # flags not given are absent (argparse.SUPPRESS)
    overrides = {name: given[name] for name in FLAT_FIELDS if name in given and name != "profile"}
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return get_config(args.preset, **overrides)
