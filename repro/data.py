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
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from repro.config import Config

SPLITS = ("train", "test")


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
        labels = torch.full((len(idx),), int(faces), dtype=torch.long)
        return _resize(images[idx], cfg.image_size), labels
    return load


def _digits(cfg: Config, split: str):
    from sklearn.datasets import load_digits
    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    idx = _fixed_split(len(images), split, 360, cfg.split_seed)
    return _resize(images[idx], cfg.image_size), torch.from_numpy(d.target[idx]).long()


# --- real datasets ----------------------------------------------------------------

def _svhn_mat(path: str):
    from scipy.io import loadmat
    m = loadmat(path)
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(m["X"], (3, 2, 0, 1))))  # (N, 3, 32, 32)
    y = torch.from_numpy(m["y"].astype(np.int64).reshape(-1) % 10)  # label 10 is the digit 0
    return x, y


def _svhn(cfg: Config, split: str):
    root = _root(cfg, "svhn", "train_32x32.mat and test_32x32.mat")
    path = os.path.join(root, f"{split}_32x32.mat")
    if not os.path.isfile(path):
        raise _missing("svhn", root, f"{split}_32x32.mat (from http://ufldl.stanford.edu/housenumbers/)")
    if cfg.verify_checksums:
        import torchvision.datasets as D
        ds = D.SVHN(root, split=split, download=False)  # checks the file's MD5
        x, y = torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype(np.int64))
    else:
        x, y = _svhn_mat(path)
    return _resize(x, cfg.image_size), y


def _cifar10(cfg: Config, split: str):
    root = _root(cfg, "cifar10", "cifar-10-batches-py/")
    if not os.path.isdir(os.path.join(root, "cifar-10-batches-py")):
        raise _missing("cifar10", root, "cifar-10-batches-py/ (from https://www.cs.toronto.edu/~kriz/cifar.html)")
    import torchvision.datasets as D
    ds = D.CIFAR10(root, train=(split == "train"), download=False)
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return _resize(x, cfg.image_size), torch.tensor(ds.targets, dtype=torch.long)


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


def _folder(name: str):
    def load(cfg: Config, split: str):
        from PIL import Image
        from torchvision.datasets.folder import IMG_EXTENSIONS
        root = _root(cfg, name, "the images of one category (any folder layout)")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                       if f.lower().endswith(IMG_EXTENSIONS))
        if not files:
            raise _missing(name, root, "image files (" + ", ".join(IMG_EXTENSIONS) + ")")
        n_test = cfg.n_test if cfg.n_test is not None else max(1, len(files) // 10)
        idx = _fixed_split(len(files), split, min(n_test, len(files) - 1), cfg.split_seed)
        count = cfg.n_train if split == "train" and cfg.n_train is not None else len(idx)
        idx = idx[: min(count, len(idx))]
        x = _pil_batch(lambda i: Image.open(files[int(idx[i])]), len(idx), _pil_transform(cfg.image_size, None))
        return x, None
    return load


DATASETS: dict[str, DatasetSpec] = {
    "lfw_faces": DatasetSpec(_lfw(True), True, "embedded: 100 LFW faces (scikit-image), 80 train / 20 test"),
    "lfw_nonfaces": DatasetSpec(_lfw(False), True, "embedded: 100 LFW background crops, the negatives"),
    "digits": DatasetSpec(_digits, True, "embedded: 1,797 handwritten digits (scikit-learn), 1,437 / 360"),
    "svhn": DatasetSpec(_svhn, False, "SVHN train_32x32.mat / test_32x32.mat"),
    "cifar10": DatasetSpec(_cifar10, False, "CIFAR-10 python batches"),
    "celeba": DatasetSpec(_celeba, False, "CelebA aligned faces, center crop then resize"),
    "lsun_bedroom": DatasetSpec(_folder("lsun_bedroom"), False, "LSUN bedroom exported as image files"),
    "places": DatasetSpec(_folder("places"), False, "one MIT Places205 category folder"),
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
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    images, labels = DATASETS[name].load(cfg, split)
    cap = cfg.n_train if split == "train" else cfg.n_test
    if cap is not None and cap < len(images):
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.split_seed))[:cap]
        keep, _ = keep.sort()
        images, labels = images[keep], None if labels is None else labels[keep]
    if len(images) == 0:
        raise ValueError(f"dataset {name!r} has no {split} images with these settings")
    return ImageSet(images.contiguous(), labels, name)
