import dataclasses

import numpy as np
import pytest
import torch

from repro.base.config import get_config
from repro.datasets.data import DATASETS, load_dataset


@pytest.mark.parametrize("name,n_train,n_test,channels", [
    ("lfw_faces", 80, 20, 1), ("lfw_nonfaces", 80, 20, 1), ("digits", 1437, 360, 1)])
def test_embedded_datasets(name, n_train, n_test, channels):
    cfg = get_config("smoke", image_size=32)
    train, test = load_dataset(cfg, "train", name), load_dataset(cfg, "test", name)
    assert train.images.shape == (n_train, channels, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == n_test and train.labels is not None
    assert 100 < train.images.float().std() * 4  # real images, not blank
    # the fixed split is disjoint and the same on every call
    train_keys = {bytes(im.numpy().tobytes()) for im in train.images}
    assert not any(bytes(im.numpy().tobytes()) in train_keys for im in test.images)
    assert torch.equal(load_dataset(cfg, "train", name).images, train.images)


def test_digits_labels_and_caps():
    cfg = get_config("smoke", dataset="digits", n_train=100, n_test=50, image_size=16)
    tr = load_dataset(cfg, "train")
    assert len(tr) == 100 and set(tr.labels.tolist()) == set(range(10))
    x = tr.batch(torch.arange(4))
    assert x.shape == (4, 1, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 255


def test_unknown_dataset_and_missing_root(tmp_path):
    cfg = get_config("smoke")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*lfw_faces"):
        load_dataset(cfg, "train", "mnist")
    for name in ("svhn", "cifar10", "celeba", "places", "lsun_bedroom"):
        with pytest.raises(FileNotFoundError, match="--data-root"):
            load_dataset(cfg, "train", name)
    empty = get_config("smoke", data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train_32x32.mat"):
        load_dataset(empty, "train", "svhn")
    with pytest.raises(FileNotFoundError, match="img_align_celeba"):
        load_dataset(empty, "train", "celeba")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_dataset(get_config("smoke", data_root=str(tmp_path / "nope")), "train", "svhn")


def test_svhn_mat_format_without_checksum(tmp_path):
    from scipy.io import savemat
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(32, 32, 3, 12), dtype=np.uint8)
    y = np.array([[10], [1], [2], [3], [4], [5], [6], [7], [8], [9], [10], [1]], dtype=np.uint8)
    savemat(tmp_path / "train_32x32.mat", {"X": X, "y": y})
    cfg = get_config("smoke", data_root=str(tmp_path), image_size=32, verify_checksums=False)
    ds = load_dataset(cfg, "train", "svhn")
    assert ds.images.shape == (12, 3, 32, 32)
    assert ds.labels[0] == 0 and ds.labels[1] == 1  # label 10 is the digit 0
    assert torch.equal(ds.images[3], torch.from_numpy(X[..., 3]).permute(2, 0, 1))
    with pytest.raises(ValueError, match="checksum mismatch for .*train_32x32.mat.*--verify-checksums false"):
        load_dataset(get_config("smoke", data_root=str(tmp_path), image_size=32), "train", "svhn")  # MD5 on
    capped = load_dataset(get_config("smoke", data_root=str(tmp_path), image_size=16, n_train=5,
                                     verify_checksums=False), "train", "svhn")
    assert capped.images.shape == (5, 3, 16, 16)


def test_svhn_truncated_or_garbage_mat(tmp_path):
    from scipy.io import savemat
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((4, 1))})
    data = (tmp_path / "train_32x32.mat").read_bytes()
    cfg = get_config("smoke", data_root=str(tmp_path), verify_checksums=False)
    for broken in (data[: len(data) // 2], b"garbage" * 50):
        (tmp_path / "train_32x32.mat").write_bytes(broken)
        with pytest.raises(ValueError, match="cannot read .*train_32x32.mat as an SVHN .mat file.*re-copy"):
            load_dataset(cfg, "train", "svhn")
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((8, 8, 4), np.uint8), "y": np.ones((4, 1))})
    with pytest.raises(ValueError, match="not an SVHN file"):
        load_dataset(cfg, "train", "svhn")


def test_image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    cfg = get_config("smoke", data_root=str(tmp_path), image_size=16, n_test=2)
    assert load_dataset(cfg, "train", "places").images.shape == (4, 3, 16, 16)
    assert len(load_dataset(cfg, "test", "places")) == 2


def test_registry_is_documented():
    assert all(spec.about for spec in DATASETS.values())
    assert {n for n, s in DATASETS.items() if s.embedded} == {"lfw_faces", "lfw_nonfaces", "digits", "textures"}


# --- general folder loaders: images, imagefolder ------------------------------------------------

def _write_images(folder, count: int, size=(40, 30), seed: int = 0, fmt: str = "png", value=None):
    """count random RGB images (width × height = size) in folder; value: a constant colour instead."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) if value is None else \
            np.full((size[1], size[0], 3), value, np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.{fmt}")


def _two_classes(root, split_dirs: bool):
    """class 'cat' dark, class 'dog' bright; with split_dirs under train/ (5 + 4) and test/ (2 + 3)."""
    if split_dirs:
        for split, (n_cat, n_dog) in (("train", (5, 4)), ("test", (2, 3))):
            _write_images(root / split / "cat", n_cat, value=20, fmt="jpg")
            _write_images(root / split / "dog", n_dog, value=230)
    else:
        _write_images(root / "cat", 6, value=20, fmt="jpg")
        _write_images(root / "dog" / "nested", 4, value=230)


def _folder_cfg(root, **kw):
    kw = {"image_size": 8, "data_cache": str(root.parent / "cache"), **kw}
    return get_config("smoke", data_root=str(root), **kw)


def test_imagefolder_labels_from_class_folders_and_split_folders(tmp_path):
    _two_classes(tmp_path / "data", split_dirs=True)
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder")
    tr, te = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert tr.images.shape == (9, 3, 8, 8) and te.images.shape == (5, 3, 8, 8)
    assert tr.labels.tolist() == [0] * 5 + [1] * 4 and te.labels.tolist() == [0, 0, 1, 1, 1]  # classes sorted
    bright = tr.images.float().mean((1, 2, 3)) > 128  # the labels belong to the pixels
    assert torch.equal(bright, tr.labels == 1)
    capped = load_dataset(_folder_cfg(tmp_path / "data", dataset="imagefolder", n_train=4, n_test=2), "train")
    assert len(capped) == 4 and torch.equal(capped.images.float().mean((1, 2, 3)) > 128, capped.labels == 1)


def test_imagefolder_fallback_split_and_one_sided_layout(tmp_path):
    _two_classes(tmp_path / "data", split_dirs=False)
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder", n_test=3)
    tr, te = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert len(tr) == 7 and len(te) == 3  # nested files of a class count
    assert sorted(tr.labels.tolist() + te.labels.tolist()) == [0] * 6 + [1] * 4
    again = load_dataset(dataclasses.replace(cfg, data_cache="off"), "train")  # fixed split, decoded afresh
    assert torch.equal(again.images, tr.images) and torch.equal(again.labels, tr.labels)
    (tmp_path / "data" / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="has train/ but not test/"):
        load_dataset(cfg, "train")


def test_images_loader_split_and_center_crop_fraction_vs_pixels(tmp_path):
    from PIL import Image
    root = tmp_path / "faces"
    _write_images(root / "a", 6, size=(89, 109), seed=1)
    _write_images(root / "b" / "c", 4, size=(89, 109), seed=2, fmt="jpg")
    cfg = _folder_cfg(root, dataset="images", n_test=2)
    assert len(load_dataset(cfg, "train")) == 8 and len(load_dataset(cfg, "test")) == 2
    assert load_dataset(cfg, "train").labels is None
    assert len(load_dataset(_folder_cfg(root, dataset="images"), "test")) == 1  # default: 10% of the files
    # the paper's 108 of 178 px as a fraction of the shorter side is 54 px of an 89 × 109 image
    frac = load_dataset(_folder_cfg(root, dataset="images", n_test=2, center_crop=108 / 178, image_size=54), "train")
    pix = load_dataset(_folder_cfg(root, dataset="images", n_test=2, center_crop=54, image_size=54), "train")
    assert torch.equal(frac.images, pix.images)
    top, left = round((109 - 54) / 2), round((89 - 54) / 2)  # torchvision's center_crop offsets (28, 18)
    centres = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))[top:top + 54, left:left + 54]).permute(2, 0, 1)
               for f in sorted(root.rglob("*.png"))]  # no resize follows: the kept pixels are the centre's
    assert sum(any(torch.equal(c, im) for c in centres) for im in pix.images) == 4  # the 4 training PNGs (lossless)
    with pytest.raises(ValueError, match="center-crop 120 asks for 120 px"):
        load_dataset(_folder_cfg(root, dataset="images", n_test=2, center_crop=120), "train")


def test_cache_is_written_then_used_and_identical(tmp_path, monkeypatch, capsys):
    from repro.datasets import imagefiles
    _two_classes(tmp_path / "data", split_dirs=True)
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder")
    first = load_dataset(cfg, "train")
    assert "data cache: wrote" in capsys.readouterr().out
    def fail(*a, **k):
        raise AssertionError("decoded again despite the cache")
    monkeypatch.setattr(imagefiles, "decode_image", fail)
    second = load_dataset(cfg, "train")
    assert "data cache: using" in capsys.readouterr().out
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    with pytest.raises(AssertionError, match="decoded again"):  # another size is another cache entry
        load_dataset(_folder_cfg(tmp_path / "data", dataset="imagefolder", image_size=4), "train")


def test_default_cache_folder_inside_the_data_root(tmp_path):
    _write_images(tmp_path / "data", 4)
    cfg = get_config("smoke", dataset="images", data_root=str(tmp_path / "data"), image_size=8, n_test=1)
    ds = load_dataset(cfg, "train")
    assert len(list((tmp_path / "data" / ".mgcd_cache").glob("images-train-*.pt"))) == 1
    assert torch.equal(load_dataset(cfg, "train").images, ds.images)  # the cache is not listed as an image


def test_only_kept_images_are_decoded(tmp_path, monkeypatch):
    from repro.datasets import imagefiles
    _write_images(tmp_path / "data" / "x", 20)
    calls = []
    real = imagefiles.decode_image
    monkeypatch.setattr(imagefiles, "decode_image", lambda *a: calls.append(a[0]) or real(*a))
    ds = load_dataset(_folder_cfg(tmp_path / "data", dataset="images", n_train=3, n_test=2, data_cache="off"), "train")
    assert len(ds) == 3 and len(calls) == 3
    calls.clear()
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder", n_train=5, n_test=2, data_cache="off")
    ds = load_dataset(cfg, "train")
    assert len(ds) == 5 and len(calls) == 5


def test_corrupt_image_named_and_skippable(tmp_path, capsys):
    _write_images(tmp_path / "data" / "ok", 6, fmt="jpg")
    good = (tmp_path / "data" / "ok" / "000.jpg").read_bytes()
    (tmp_path / "data" / "ok" / "003.jpg").write_bytes(good[: len(good) // 3])  # truncated
    (tmp_path / "data" / "ok" / "004.jpg").write_bytes(b"not an image")
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder", n_test=1)
    with pytest.raises(ValueError, match=r"cannot read image .*ok/00[34]\.jpg.*--skip-bad-images true"):
        load_dataset(cfg, "train")
    cfg = _folder_cfg(tmp_path / "data", dataset="imagefolder", n_test=1, skip_bad_images=True)
    n = len(load_dataset(cfg, "train")) + len(load_dataset(cfg, "test"))
    assert n == 4 and "skipped" in capsys.readouterr().out
    assert len(load_dataset(cfg, "train")) + len(load_dataset(cfg, "test")) == 4  # and from the cache


def test_validation_split_of_folder_datasets(tmp_path):
    """val: the train-split images after the n_train training ones, disjoint from train and test."""
    root = tmp_path / "faces"
    _write_images(root, 12, seed=3)
    cfg = _folder_cfg(root, dataset="images", n_train=5, n_test=3)
    sets = {s: load_dataset(cfg, s) for s in ("train", "test", "val")}
    assert [len(sets[s]) for s in ("train", "test", "val")] == [5, 3, 3]
    seen = [tuple(im.flatten().tolist()) for s in sets.values() for im in s.images]
    assert len(set(seen)) == 11  # no image in two splits
    with pytest.raises(ValueError, match="needs --n-train"):
        load_dataset(_folder_cfg(root, dataset="images", n_test=3), "val")
    with pytest.raises(ValueError, match="no validation split"):
        load_dataset(get_config("smoke"), "val", "digits")
