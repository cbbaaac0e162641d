"""Datasets, held in memory as uint8 tensors (N, C, H, W) at the training size.

Real datasets are read from a data root the user gives, through torchvision's
dataset classes where they exist, and are never downloaded. Two embedded
datasets ship inside dependencies and need no download:

- ``lfw_faces``: the 100 real faces of scikit-image's ``lfw_subset`` (25×25
  grey-scale crops of Labeled Faces in the Wild), the stand-in for CelebA:
  synthesis, score diagnostics and inpainting are about faces in the paper.
  ``lfw_nonfaces`` (its 100 background crops from the same photographs) are
  the negatives of the score diagnostics, the stand-in for MIT Places.
- ``digits``: scikit-learn's 1,797 labeled 8×8 handwritten digits, the
  stand-in for SVHN (ten digit classes) in the classification task.

Both are tiny and grey-scale: they exercise every code path, not the paper's
numbers. Datasets without an official split get a fixed split from a seeded
permutation (``Config.split_seed``): the test images are the first of it.

Two general folder loaders read any images (``repro.datasets.imagefiles``: PIL decoding,
``Config.center_crop``, a decoded-tensor cache, ``Config.skip_bad_images``):

- ``images``: every image file below ``--data-root`` (recursive), unlabeled;
  the fixed seeded split (``n_test`` default: 10% of the files), the training
  images the first ``n_train`` of the rest. ``places`` and ``lsun_bedroom``
  are the same loader under their own names.
- ``imagefolder``: one subfolder per class (torchvision ``ImageFolder``:
  classes are the sorted subfolder names, hidden folders ignored). With both
  ``DIR/train/`` and ``DIR/test/`` those are the splits; otherwise the fixed
  seeded split of DIR. A file in both DIR/train and DIR/test (the same real file, through a link) is
  refused; a class folder without images is named in a warning.

Folders are walked following symbolic links, each real file and folder once (``ImageLister``): a link loop
ends, and a file reached through two links is one image (a note on stderr says how many were skipped).

Caps (``n_train``/``n_test`` smaller than a split) keep a plain seeded random
subset (``split_seed``; not class-balanced), in the split's order, and are
applied before anything is resized or decoded: only the kept images are.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from repro.base.config import Config
from repro.datasets import imagefiles

SPLITS = ("train", "test")
# "val": held-out images of the train split that a capped run does not train on (cfg.n_test of them), for
# choices made on validation, never on test images. Only the folder datasets (``_folder``) define it.
VAL_SPLIT_DATASETS = ("images", "places", "lsun_bedroom")


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64, or None when unlabeled
    name: str

    def __post_init__(self):
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"{self.name}: images must be a (N, C, H, W) uint8 tensor, "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def batch(self, idx, *, pixel_max: float = 255.0, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """Images `idx` as (B, C, H, W) floats in [0, pixel_max]."""
        x = self.images[idx].to(device=device, dtype=dtype)
        return x if pixel_max == 255.0 else x * (pixel_max / 255.0)

    def subset(self, idx) -> "ImageSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        labels = None if self.labels is None else self.labels[idx]
        return ImageSet(self.images[idx], labels, self.name)


@dataclass(frozen=True)
class DatasetSpec:
    load: Callable[[Config, str], tuple]  # (cfg, split) → (images, labels): uint8 NCHW tensor, labels
    embedded: bool
    about: str


# --- helpers ----------------------------------------------------------------------

def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, h, w) uint8 → (N, C, size, size) uint8, bilinear with antialiasing."""
    import torchvision.transforms.functional as TF
    if images.shape[-2:] == (size, size):
        return images
    out = TF.resize(images.float(), [size, size], antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def _fixed_split(n: int, split: str, n_test: int, seed: int) -> torch.Tensor:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_test] if split == "test" else perm[n_test:]


def _cap_indices(n: int, cap: int | None, seed: int) -> torch.Tensor:
    """Positions kept of n images under a cap: a seeded random subset, in order (all when cap is None)."""
    if cap is None or cap >= n:
        return torch.arange(n)
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:cap]
    return keep.sort().values


def _keep(cfg: Config, split: str, n: int) -> torch.Tensor:
    """Positions kept of a split's n images under cfg.n_train / cfg.n_test."""
    return _cap_indices(n, cfg.n_train if split == "train" else cfg.n_test, cfg.split_seed)


def _missing(name: str, where: str, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"dataset {name!r}: {what} not found under {where!r}. This suite never "
                             f"downloads; place the files there and pass --data-root.")


def _root(cfg: Config, name: str, what: str) -> str:
    if not cfg.data_root:
        raise FileNotFoundError(f"dataset {name!r} needs --data-root pointing to a folder with {what}")
    if not os.path.isdir(cfg.data_root):
        raise _missing(name, cfg.data_root, "the data root folder")
    return cfg.data_root


def _pil_batch(load_item, count: int, transform) -> torch.Tensor:
    return torch.stack([transform(load_item(i).convert("RGB")) for i in range(count)])


def _pil_transform(size: int, crop: int | None):
    import torchvision.transforms as T
    steps = [T.CenterCrop(crop)] if crop else []
    return T.Compose(steps + [T.Resize(size, antialias=True), T.CenterCrop(size), T.PILToTensor()])


# --- embedded datasets ------------------------------------------------------------

def _lfw(faces: bool):
    def load(cfg: Config, split: str):
        from skimage import data as skdata
        raw = skdata.lfw_subset()  # (200, 25, 25): 100 faces, then 100 non-faces
        raw = raw[:100] if faces else raw[100:]
        images = torch.from_numpy(np.round(np.asarray(raw, np.float64) * 255).astype(np.uint8))[:, None]
        idx = _fixed_split(len(images), split, 20, cfg.split_seed)
        idx = idx[_keep(cfg, split, len(idx))]
        labels = torch.full((len(idx),), int(faces), dtype=torch.long)
        return _resize(images[idx], cfg.image_size), labels
    return load


def _digits(cfg: Config, split: str):
    from sklearn.datasets import load_digits
    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    idx = _fixed_split(len(images), split, 360, cfg.split_seed)
    idx = idx[_keep(cfg, split, len(idx))]
    return _resize(images[idx], cfg.image_size), torch.from_numpy(d.target[idx]).long()


TEXTURES = ("brick", "grass", "gravel")  # scikit-image's bundled grey-scale texture photographs (512×512)


def _textures(cfg: Config, split: str):
    """Each texture image is its own training set (one model per image, ICML 2016 §7.1): both splits hold all."""
    from skimage import data as skdata
    images = torch.stack([torch.from_numpy(np.asarray(getattr(skdata, n)(), np.uint8))[None] for n in TEXTURES])
    idx = _keep(cfg, split, len(images))
    return _resize(images[idx], cfg.image_size), idx


# --- real datasets ----------------------------------------------------------------

def _svhn_mat(path: str):
    """An SVHN .mat file → ((N, 3, 32, 32) uint8, (N,) int64 labels 0-9), or one clear error."""
    from scipy.io import loadmat
    try:
        m = loadmat(path)
        x, y = np.asarray(m["X"]), np.asarray(m["y"])
    except Exception as err:  # scipy raises ValueError, MatReadError, OSError, KeyError, zlib errors, ...
        raise ValueError(f"cannot read {path} as an SVHN .mat file ({type(err).__name__}: {err}); "
                         f"re-copy it from http://ufldl.stanford.edu/housenumbers/") from err
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8 or y.size != x.shape[3]:
        raise ValueError(f"{path} is not an SVHN file: X {x.dtype} {x.shape} (want uint8 32×32×3×N), "
                         f"y {y.shape}; re-copy it from http://ufldl.stanford.edu/housenumbers/")
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1))))  # (N, 3, 32, 32)
    y = torch.from_numpy(y.astype(np.int64).reshape(-1) % 10)  # label 10 is the digit 0
    return x, y


def _svhn(cfg: Config, split: str):
    root = _root(cfg, "svhn", "train_32x32.mat and test_32x32.mat")
    path = os.path.join(root, f"{split}_32x32.mat")
    if not os.path.isfile(path):
        raise _missing("svhn", root, f"{split}_32x32.mat (from http://ufldl.stanford.edu/housenumbers/)")
    if cfg.verify_checksums:
        import torchvision.datasets as D
        from torchvision.datasets.utils import check_integrity
        md5 = D.SVHN.split_list[split][2]
        if not check_integrity(path, md5):
            raise ValueError(f"checksum mismatch for {path} (expected MD5 {md5}): re-copy it, "
                             f"or pass --verify-checksums false")
    x, y = _svhn_mat(path)
    keep = _keep(cfg, split, len(x))
    return _resize(x[keep], cfg.image_size), y[keep]


def _cifar10(cfg: Config, split: str):
    root = _root(cfg, "cifar10", "cifar-10-batches-py/")
    if not os.path.isdir(os.path.join(root, "cifar-10-batches-py")):
        raise _missing("cifar10", root, "cifar-10-batches-py/ (from https://www.cs.toronto.edu/~kriz/cifar.html)")
    import torchvision.datasets as D
    ds = D.CIFAR10(root, train=(split == "train"), download=False)
    keep = _keep(cfg, split, len(ds.data))
    x = torch.from_numpy(ds.data[keep.numpy()]).permute(0, 3, 1, 2).contiguous()
    return _resize(x, cfg.image_size), torch.tensor(ds.targets, dtype=torch.long)[keep]


def _celeba(cfg: Config, split: str):
    root = _root(cfg, "celeba", "celeba/img_align_celeba/ and the celeba/*.txt annotation files")
    if not os.path.isdir(os.path.join(root, "celeba", "img_align_celeba")):
        raise _missing("celeba", root, "celeba/img_align_celeba/ plus list_eval_partition.txt, "
                       "identity_CelebA.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt and "
                       "list_attr_celeba.txt in celeba/ (torchvision.datasets.CelebA layout)")
    import torchvision.datasets as D
    ds = D.CelebA(root, split="all", target_type=[], download=False)
    n_test = cfg.n_test if cfg.n_test is not None else 10_000
    idx = _fixed_split(len(ds), split, n_test, cfg.split_seed)
    count = cfg.n_train if split == "train" and cfg.n_train is not None else len(idx)
    idx = idx[: min(count, len(idx))]
    tf = _pil_transform(cfg.image_size, cfg.celeba_crop)
    x = _pil_batch(lambda i: ds[int(idx[i])][0], len(idx), tf)
    return x, None


def _decode(cfg: Config, name: str, split: str, files: list[str], labels: list[int] | None):
    """Decode the kept files through the cache (repro.datasets.imagefiles) → (images, labels)."""
    cache = imagefiles.cache_folder(cfg.data_cache, cfg.data_root)
    return imagefiles.decode_cached(files, labels, size=cfg.image_size, crop=cfg.center_crop,
                                    skip_bad=cfg.skip_bad_images, cache=cache, tag=f"{name}-{split}")


def _folder(name: str):
    """Unlabeled images below the root; fixed seeded split, training images the first n_train of theirs."""
    def load(cfg: Config, split: str):
        root = _root(cfg, name, "image files (any folder layout below it)")
        files = imagefiles.list_images(root)
        if len(files) < 2:
            raise _missing(name, root, "at least two image files (" + ", ".join(imagefiles.image_extensions()) + ")")
        n_test = cfg.n_test if cfg.n_test is not None else max(1, len(files) // 10)
        idx = _fixed_split(len(files), "test" if split == "test" else "train", min(n_test, len(files) - 1),
                           cfg.split_seed)
        if split == "val":  # the train-split images after the n_train training images
            if cfg.n_train is None:
                raise ValueError(f"dataset {name!r}: a validation split needs --n-train below the "
                                 f"{len(idx)} train-split images (the images after them are the validation ones)")
            idx = idx[cfg.n_train: cfg.n_train + n_test]
        count = cfg.n_train if split == "train" and cfg.n_train is not None else len(idx)
        idx = idx[: min(count, len(idx))]
        return _decode(cfg, name, split, [files[int(i)] for i in idx], None)
    return load


def _find_classes(folder: str) -> dict[str, int]:
    """torchvision's find_classes (sorted subfolder names → 0, 1, ...), hidden folders (the cache) ignored."""
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise _missing("imagefolder", folder, "class subfolders (one folder of images per class)")
    return {c: i for i, c in enumerate(classes)}


def _labeled_files(folder: str, class_to_idx: dict[str, int], lister) -> tuple[list[tuple[str, int]], list[str]]:
    """([(path, class index)] in torchvision make_dataset's order, the class folders that hold no image), each real
    file once (lister: repro.datasets.imagefiles.ImageLister); missing class folders are skipped, as there."""
    items, empty = [], []
    for name in sorted(class_to_idx):
        target = os.path.join(folder, name)
        if os.path.isdir(target):
            files = lister.walk(target)
            items += [(f, class_to_idx[name]) for f in files]
            empty += [] if files else [target]
    return items, empty


def _warn_empty(folders: list[str]) -> None:
    """An empty class folder is a class the split has no image of: most likely a copy that went wrong."""
    for folder in folders:
        print(f"warning: dataset 'imagefolder': class folder {folder} holds no images (extensions "
              f"{', '.join(imagefiles.image_extensions())}); its class has no image in this split",
              file=sys.stderr, flush=True)


def _split_items(root: str, split: str, classes: dict[str, int]) -> list[tuple[str, int]]:
    """The labeled files of DIR/<split>, refused when a file is also one of the other split's (by real path):
    a test image that is a training image (a copy by link, or a linked folder) would flatter every test error."""
    listed = {}
    for s in SPLITS:
        lister = imagefiles.ImageLister()
        listed[s] = (*_labeled_files(os.path.join(root, s), classes, lister), lister)
    both = sorted(listed["train"][2].real.keys() & listed["test"][2].real.keys())
    if both:
        train_path, test_path = listed["train"][2].real[both[0]], listed["test"][2].real[both[0]]
        raise ValueError(f"dataset 'imagefolder': {train_path} is also {test_path} ({len(both)} image(s) in both "
                         f"{root}/train and {root}/test, by real path); remove them from one split")
    items, empty, lister = listed[split]
    lister.note(os.path.join(root, split))
    _warn_empty(empty)
    return items


def _imagefolder(cfg: Config, split: str):
    """Labels from class subfolders; the splits from DIR/train and DIR/test, else a fixed seeded split."""
    root = _root(cfg, "imagefolder", "one subfolder of images per class (optionally inside train/ and test/)")
    has = {s: os.path.isdir(os.path.join(root, s)) for s in SPLITS}
    if any(has.values()) and not all(has.values()):
        raise FileNotFoundError(f"dataset 'imagefolder': {root!r} has {'train' if has['train'] else 'test'}/ but "
                                f"not {'test' if has['train'] else 'train'}/; give both splits, or neither "
                                f"(then class folders directly under the root are split by --split-seed)")
    if all(has.values()):
        classes = _find_classes(os.path.join(root, "train"))
        if _find_classes(os.path.join(root, "test")).keys() - classes.keys():
            raise ValueError(f"dataset 'imagefolder': {root}/test has classes missing from {root}/train")
        items = _split_items(root, split, classes)
        idx = torch.arange(len(items))
    else:
        lister = imagefiles.ImageLister()
        items, empty = _labeled_files(root, _find_classes(root), lister)
        lister.note(root)
        _warn_empty(empty)
        n_test = cfg.n_test if cfg.n_test is not None else max(1, len(items) // 10)
        idx = _fixed_split(len(items), split, min(n_test, len(items) - 1), cfg.split_seed).sort().values
    if not items:
        raise _missing("imagefolder", root, "image files in the class subfolders")
    idx = idx[_keep(cfg, split, len(idx))]  # plain seeded random subset (not class-balanced)
    files, labels = zip(*[items[int(i)] for i in idx]) if len(idx) else ((), ())
    return _decode(cfg, "imagefolder", split, list(files), list(labels))


DATASETS: dict[str, DatasetSpec] = {
    "lfw_faces": DatasetSpec(_lfw(True), True, "embedded: 100 LFW faces (scikit-image), 80 train / 20 test"),
    "lfw_nonfaces": DatasetSpec(_lfw(False), True, "embedded: 100 LFW background crops, the negatives"),
    "digits": DatasetSpec(_digits, True, "embedded: 1,797 handwritten digits (scikit-learn), 1,437 / 360"),
    "textures": DatasetSpec(_textures, True, "embedded: scikit-image's brick, grass, gravel photographs; both splits "
                                             "hold all three (one model per image)"),
    "svhn": DatasetSpec(_svhn, False, "SVHN train_32x32.mat / test_32x32.mat"),
    "cifar10": DatasetSpec(_cifar10, False, "CIFAR-10 python batches"),
    "celeba": DatasetSpec(_celeba, False, "CelebA aligned faces, center crop then resize"),
    "lsun_bedroom": DatasetSpec(_folder("lsun_bedroom"), False, "LSUN bedroom exported as image files"),
    "places": DatasetSpec(_folder("places"), False, "one MIT Places205 category folder"),
    "images": DatasetSpec(_folder("images"), False, "any folder of image files (recursive), unlabeled"),
    "imagefolder": DatasetSpec(_imagefolder, False, "one subfolder per class (ImageFolder), train/ and test/ "
                                                    "splits when present"),
}


# Side of the images as the datasets publish them (where all share one): Inception scores and FID are
# computed at this size (tasks.synthesis), as published scores are.
NATIVE_SIZES = {"cifar10": 32, "svhn": 32}


def native_size(name: str) -> int | None:
    return NATIVE_SIZES.get(name)


def load_dataset(cfg: Config, split: str = "train", name: str | None = None) -> ImageSet:
    """The `split` images of `name` (default: cfg.dataset), at cfg.image_size, capped at n_train/n_test."""
    name = name or cfg.dataset
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if split == "val" and name not in VAL_SPLIT_DATASETS:
        raise ValueError(f"dataset {name!r} has no validation split; known for: {', '.join(VAL_SPLIT_DATASETS)}")
    if split not in (*SPLITS, "val"):
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}, val")
    images, labels = DATASETS[name].load(cfg, split)  # loaders cap before they resize or decode
    cap = cfg.n_train if split == "train" else cfg.n_test
    assert cap is None or len(images) <= cap, f"{name}: loader returned {len(images)} {split} images, cap {cap}"
    if len(images) == 0:
        raise ValueError(f"dataset {name!r} has no {split} images with these settings")
    return ImageSet(images.contiguous(), labels, name)
