"""Folders of images reached through symbolic links: every real file is read once, a loop ends, the splits of an
image folder share no file, and an empty class folder is named."""
import os

import numpy as np
import pytest
import torch

from repro.base.config import get_config
from repro.datasets import imagefiles
from repro.datasets.data import load_dataset


def _write(folder, count: int, seed: int = 0, value=None):
    """count distinct random 8×8 RGB PNGs 000.png, 001.png, ... in folder (value: one constant colour)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) if value is None else np.full((8, 8, 3), value,
                                                                                                np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")


def _cfg(root, **kw):
    return get_config("smoke", data_root=str(root), image_size=8, data_cache="off", **kw)


def test_a_link_loop_lists_each_image_once_and_ends(tmp_path, capsys):
    """A link back to an ancestor made os.walk list the 12 images dozens of times (492 files), so the fixed split
    put copies of training images into the test split."""
    root = tmp_path / "faces"
    _write(root / "a", 12)
    os.symlink(root, root / "a" / "back")  # a/back/a/back/... loops
    files = imagefiles.list_images(str(root))
    assert files == sorted(str(root / "a" / f"{i:03d}.png") for i in range(12))
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "1 folder(s)" in note[0] and "real path" in note[0]
    cfg = _cfg(root, dataset="images", n_test=3)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert (len(train), len(test)) == (9, 3)
    seen = {im.numpy().tobytes() for im in torch.cat([train.images, test.images])}
    assert len(seen) == 12  # no image twice, none in both splits


def test_two_links_to_one_file_or_folder_count_once(tmp_path, capsys):
    root = tmp_path / "data"
    _write(root / "a", 4)
    os.symlink(root / "a", root / "b")  # the same folder under a second name
    os.symlink(root / "a" / "000.png", root / "c.png")  # the same file under a second name
    files = imagefiles.list_images(str(root))
    assert len(files) == 4 and len({os.path.realpath(f) for f in files}) == 4
    assert "1 folder(s) and 1 file(s)" in capsys.readouterr().err
    imagefiles.list_images(str(root / "a"))  # nothing reached twice: no note
    assert capsys.readouterr().err == ""


def _classes(root, counts: dict, seed: int = 0):
    """One folder per class under root, {class: image count}; class k's images have the constant colour 40·k."""
    for k, (name, n) in enumerate(sorted(counts.items())):
        _write(root / name, n, seed=seed + k) if n else (root / name).mkdir(parents=True)


@pytest.mark.parametrize("link", ["file", "folder"])
def test_imagefolder_refuses_a_file_in_both_splits(tmp_path, link):
    root = tmp_path / "data"
    _classes(root / "train", {"cat": 4, "dog": 4})
    _classes(root / "test", {"cat": 2}, seed=7)
    if link == "file":  # one test image is a training image
        (root / "test" / "dog").mkdir()
        os.symlink(root / "train" / "dog" / "002.png", root / "test" / "dog" / "x.png")
    else:  # the whole class folder
        os.symlink(root / "train" / "dog", root / "test" / "dog")
    for split in ("train", "test"):
        with pytest.raises(ValueError, match=r"train/dog/00[02]\.png is also .*test/dog/.*in both"):
            load_dataset(_cfg(root, dataset="imagefolder"), split)


def test_imagefolder_without_split_folders_reads_a_linked_file_once(tmp_path, capsys):
    root = tmp_path / "data"
    _classes(root, {"cat": 5, "dog": 5})
    os.symlink(root / "cat" / "000.png", root / "dog" / "again.png")
    cfg = _cfg(root, dataset="imagefolder", n_test=2)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert len(train) + len(test) == 10 and "1 file(s)" in capsys.readouterr().err


@pytest.mark.parametrize("split_dirs", [True, False])
def test_an_empty_class_folder_is_named(tmp_path, capsys, split_dirs):
    root = tmp_path / "data"
    top = root / "train" if split_dirs else root
    _classes(top, {"cat": 4, "dog": 4, "emu": 0})
    if split_dirs:
        _classes(root / "test", {"cat": 2, "dog": 2})  # no emu/ in test: a class the test split lacks, not named
    ds = load_dataset(_cfg(root, dataset="imagefolder", n_test=2), "train")
    assert len(ds) == (8 if split_dirs else 6)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning:" in err[0] and str(top / "emu") in err[0] and "no images" in err[0]
    if split_dirs:
        load_dataset(_cfg(root, dataset="imagefolder"), "test")
        assert capsys.readouterr().err == ""


def test_imagefolder_lists_files_in_torchvisions_order(tmp_path):
    """The fixed split draws positions in the listing: it must stay torchvision make_dataset's order (folders sorted
    as strings, then file names), or every existing split and cache would change."""
    from torchvision.datasets.folder import make_dataset

    from repro.datasets.data import _find_classes, _labeled_files
    root = tmp_path / "data"
    for sub in ("cat", "cat/a", "cat/a-b", "cat/a/x", "dog", "dog/Z"):
        _write(root / sub, 2, seed=len(sub))
    classes = _find_classes(str(root))
    want = make_dataset(str(root), classes, extensions=imagefiles.image_extensions(), allow_empty=True)
    got, empty = _labeled_files(str(root), classes, imagefiles.ImageLister())
    assert got == want and empty == []
