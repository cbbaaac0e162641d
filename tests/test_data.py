import numpy as np
import pytest
import torch

from repro.config import get_config
from repro.data import DATASETS, load_dataset


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
    with pytest.raises(RuntimeError, match="corrupted"):  # the real-file MD5 check is on by default
        load_dataset(get_config("smoke", data_root=str(tmp_path), image_size=32), "train", "svhn")


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
    assert {n for n, s in DATASETS.items() if s.embedded} == {"lfw_faces", "lfw_nonfaces", "digits"}
