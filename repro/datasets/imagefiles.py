"""Folders of image files → uint8 tensors: listing, decoding (center crop, resize) and a decoded cache.

Every folder dataset of ``repro.datasets.data`` (``images``, ``imagefolder``, ``places``, ``lsun_bedroom``)
goes through ``decode_cached``: the caller picks the files a run keeps first, and only those are
decoded. Decoding opens a file with PIL as RGB, takes a centered square crop when asked, resizes the
shorter side to the training size (antialiased) and center-crops to a square. Listing follows symbolic
links and keeps each real file once (``ImageLister``).

The decoded tensors are cached as one ``.pt`` file per (files kept, their mtimes and sizes, labels,
crop, size, skip setting): a second run with the same settings reads one file instead of decoding
again. Any change to a kept file, the selection or the decoding settings gives another key, so a
stale cache is never read. Cache files are written atomically (``repro.base.io``) and never removed.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

import torch

from repro.base.io import atomic_torch_save

CACHE_DIRNAME = ".mgcd_cache"  # default cache folder inside a data root (skipped when listing images)
CACHE_VERSION = 1  # bump when decoding changes, so that old caches are not read


class BadImageError(ValueError):
    """An image file PIL cannot read: names the file and the way out."""

    def __init__(self, path: str, err: BaseException):
        super().__init__(f"cannot read image {path} ({type(err).__name__}: {err}); replace or remove it, "
                         f"or pass --skip-bad-images true to skip unreadable files")
        self.path = path


def image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS
    return IMG_EXTENSIONS


class ImageLister:
    """Image files below folders, following symbolic links, each real file and folder once (os.path.realpath).

    A link back to an ancestor would make os.walk list a folder's images dozens of times (until the path grows too
    long), and two links to one file would count it twice: the fixed seeded split then puts copies of training
    images into the test split. A folder already visited is not entered again (so a loop ends) and a file already
    listed is dropped; the first path in walk order (folders and names sorted) is the one kept. One lister can walk
    several folders (the classes of an image folder): a file is kept under the first of them."""

    def __init__(self):
        self.real: dict[str, str] = {}  # real path → the listed path, of every file kept
        self.dirs: set[str] = set()  # real paths of the folders walked
        self.skipped_dirs = self.skipped_files = 0

    def walk(self, root: str) -> list[str]:
        """Image files below root, the cache folder excluded, in torchvision make_dataset's order: folders
        sorted as path strings, then file names."""
        groups = []  # (folder, its new image files)
        if not self._first_visit(root):
            return []
        for folder, dirs, names in os.walk(root, followlinks=True):
            dirs[:] = [d for d in sorted(dirs) if d != CACHE_DIRNAME and self._first_visit(os.path.join(folder, d))]
            groups.append((folder, self._new_files(folder, names)))
        return [p for _, paths in sorted(groups) for p in paths]

    def _new_files(self, folder: str, names: list[str]) -> list[str]:
        ext, real_folder = image_extensions(), os.path.realpath(folder)
        paths = [os.path.join(folder, f) for f in sorted(names) if f.lower().endswith(ext)]
        return [p for p in paths if self._first_file(p, real_folder)]

    def _first_visit(self, folder: str) -> bool:
        real = os.path.realpath(folder)
        if real in self.dirs:
            self.skipped_dirs += 1
            return False
        self.dirs.add(real)
        return True

    def _first_file(self, path: str, real_folder: str) -> bool:
        # one lstat per file: only a link needs resolving, the folder's real path is known
        real = os.path.realpath(path) if os.path.islink(path) else os.path.join(real_folder, os.path.basename(path))
        if real in self.real:
            self.skipped_files += 1
            return False
        self.real[real] = path
        return True

    def note(self, where: str) -> None:
        """One line on stderr when links reached a folder or a file a second time (a loop, or two links)."""
        if self.skipped_dirs or self.skipped_files:
            print(f"note: {where}: skipped {self.skipped_dirs} folder(s) and {self.skipped_files} file(s) reached a "
                  f"second time through symbolic links (a link loop, or two links to one place); each image is "
                  f"read once, by its real path", file=sys.stderr, flush=True)


def list_images(root: str) -> list[str]:
    """Every image file below root (recursive, links followed, each real file once; sorted paths), the cache
    folder excluded."""
    lister = ImageLister()
    files = sorted(lister.walk(root))
    lister.note(root)
    return files


def crop_side(crop: float | None, width: int, height: int, path: str) -> int | None:
    """Side in pixels of the center crop: crop ≤ 1 is a fraction of the shorter side, > 1 pixels."""
    if crop is None:
        return None
    if not crop > 0:
        raise ValueError(f"--center-crop must be positive (a fraction ≤ 1 or pixels > 1), got {crop}")
    side = round(crop * min(width, height)) if crop <= 1 else round(crop)
    if side > min(width, height):
        raise ValueError(f"--center-crop {crop:g} asks for {side} px but {path} is {width}×{height}; "
                         f"pass a smaller crop or a fraction ≤ 1")
    return max(side, 1)


def open_rgb(path: str):
    """The decoded PIL image in RGB, or BadImageError naming the file."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.convert("RGB")  # forces the full decode: truncated files fail here
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        raise BadImageError(path, err) from err


def decode_image(path: str, size: int, crop: float | None) -> torch.Tensor:
    """One file → (3, size, size) uint8: center crop (optional), shorter side to size, center square."""
    import torchvision.transforms.functional as TF
    im = open_rgb(path)
    side = crop_side(crop, im.width, im.height, path)
    if side is not None:
        im = TF.center_crop(im, [side, side])
    im = TF.center_crop(TF.resize(im, size, antialias=True), [size, size])
    return TF.pil_to_tensor(im)


def decode_files(paths: list[str], size: int, crop: float | None, skip_bad: bool) -> tuple[torch.Tensor, list[int]]:
    """paths → ((K, 3, size, size) uint8, positions of the K decoded files); unreadable files raise
    BadImageError unless skip_bad, then they are skipped and counted."""
    images, kept, bad = [], [], []
    for i, path in enumerate(paths):
        try:
            images.append(decode_image(path, size, crop))
            kept.append(i)
        except BadImageError:
            if not skip_bad:
                raise
            bad.append(path)
    if bad:
        print(f"skipped {len(bad)} unreadable image file(s) of {len(paths)} (first: {bad[0]})", flush=True)
    out = torch.stack(images) if images else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return out, kept


def cache_folder(setting: str | None, data_root: str) -> str | None:
    """The cache folder: `setting` if given ("off": none), else <data_root>/.mgcd_cache when it can be
    written, else ~/.cache/mgcd."""
    if setting == "off":
        return None
    if setting:
        return setting
    here = os.path.join(data_root, CACHE_DIRNAME)
    try:
        os.makedirs(here, exist_ok=True)
        if os.access(here, os.W_OK):
            return here
    except OSError:
        pass
    return os.path.join(os.path.expanduser("~"), ".cache", "mgcd")


def cache_key(paths: list[str], labels: list[int] | None, size: int, crop: float | None, skip_bad: bool) -> str:
    """Digest of everything the decoded tensors depend on: files (path, mtime, bytes), labels, settings."""
    files = [(os.path.abspath(p), os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths]
    text = json.dumps({"version": CACHE_VERSION, "files": files, "labels": labels, "size": size,
                       "crop": crop, "skip_bad": skip_bad})
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _read_cache(path: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged cache is rebuilt, never trusted
        print(f"data cache: ignoring unreadable {path} ({type(err).__name__}); decoding again", flush=True)
        return None


def decode_cached(paths: list[str], labels: list[int] | None, *, size: int, crop: float | None,
                  skip_bad: bool, cache: str | None, tag: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Decode `paths` (labels: one int per path, or None) through the cache folder `cache` (None: no
    cache) → ((K, 3, size, size) uint8, (K,) int64 labels or None); K < len(paths) only when skip_bad."""
    assert labels is None or len(labels) == len(paths)
    target = None
    if cache is not None:
        target = os.path.join(cache, f"{tag}-{cache_key(paths, labels, size, crop, skip_bad)}.pt")
        hit = _read_cache(target) if os.path.exists(target) else None
        if hit is not None:
            print(f"data cache: using {target} ({len(hit['images'])} images)", flush=True)
            return hit["images"], None if labels is None else torch.tensor(labels, dtype=torch.long)[hit["kept"]]
    images, kept = decode_files(paths, size, crop, skip_bad)
    kept = torch.tensor(kept, dtype=torch.long)
    if target is not None:
        atomic_torch_save({"images": images, "kept": kept}, target)
        print(f"data cache: wrote {target} ({len(images)} images)", flush=True)
    return images, None if labels is None else torch.tensor(labels, dtype=torch.long)[kept]
