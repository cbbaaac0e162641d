"""SVHN feature classification, the library's parts: feature sizes, the L2-SVM, the top-map CNN, label draws (the
task's runs: test_svhn_features_runs.py)."""
import numpy as np
import pytest
import torch

import repro.evaluation.features as feat
from repro.core.models import build_energy_net, maxpool_dim, maxpool_features
from repro.datasets.data import ImageSet
from repro.evaluation.features import (
    SpanProjection,
    TopMapClassifier,
    balanced_draw,
    extract,
    fit_l2svm,
    map_stats,
    top_maps,
)


@pytest.mark.parametrize("width, dim", [(1.0, 15_360), (0.25, 16 * (16 + 32 + 64 + 128)), (0.5, 16 * 480)])
def test_maxpool_features_dim(width, dim):
    torch.manual_seed(0)
    net = build_energy_net(32, 3, arch="dcgan", width=width)
    x = torch.rand(4, 3, 32, 32) * 255  # (B, C, 32, 32)
    feats = maxpool_features(net, x)
    assert feats.shape == (4, dim) and maxpool_dim(net) == dim
    last = net.feature_maps(x)[-1]  # (4, c, 2, 2): replicated into 2×2 blocks of the 4×4 pooled map
    tail = feats[:, -16 * last.shape[1]:].view(4, -1, 4, 4)
    assert torch.equal(tail, last.repeat_interleave(2, -1).repeat_interleave(2, -2))


def _blobs(n_per, dim, seed):
    g = np.random.default_rng(seed)
    centers = np.zeros((3, dim))
    for k in range(3):  # class k: mean 10 on its own block of dim // 3 coordinates
        centers[k, k * (dim // 3):(k + 1) * (dim // 3)] = 10.0
    y = np.repeat(np.arange(3), n_per)
    return centers[y] + g.standard_normal((len(y), dim)), y


@pytest.mark.parametrize("dim", [5, 200])  # d < n and d > n (projection onto the training span)
def test_fit_l2svm_separable(dim):
    (xt, yt), (xv, yv), (xs, ys) = _blobs(20, dim, 0), _blobs(10, dim, 1), _blobs(10, dim, 2)
    cs = (1e-3, 1e-1, 10.0)
    model, c = fit_l2svm(xt, yt, xv, yv, cs)
    assert c in cs and model[-1].C == c
    assert feat.classification_error(model, xs, ys) == 0.0


def test_span_projection_keeps_decisions():
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    x, y = _blobs(10, 100, 3)
    x[:, :5] += np.random.default_rng(4).standard_normal((30, 5)) * 8  # overlapping classes
    test, _ = _blobs(10, 100, 5)
    plain = LinearSVC(C=0.1, dual=True, tol=1e-8, max_iter=100_000).fit(x, y)
    proj = make_pipeline(SpanProjection(), LinearSVC(C=0.1, dual=True, tol=1e-8, max_iter=100_000)).fit(x, y)
    np.testing.assert_allclose(proj.decision_function(test), plain.decision_function(test), atol=1e-4)


def _correlated(n, dim, classes, seed, decay=1.0):
    """Features with a decaying spectrum (like pixels: liblinear's dual is slow) and overlapping class means."""
    g = np.random.default_rng(seed)
    spec = 1.0 / np.arange(1, dim + 1) ** decay
    means = g.standard_normal((classes, dim)) * spec * 0.5
    rotation = np.linalg.qr(np.random.default_rng(99).standard_normal((dim, dim)))[0]
    y = g.integers(0, classes, n)
    return (g.standard_normal((n, dim)) * spec + means[y]) @ rotation, y


@pytest.mark.parametrize("classes", [2, 4])
def test_exact_l2svm_gives_linearsvc_solution(classes):
    import warnings

    from sklearn.svm import LinearSVC

    from repro.evaluation.l2svm import L2SVM
    (x, y), (xs, _) = _correlated(120, 300, classes, 0, 0.3), _correlated(400, 300, classes, 1, 0.3)
    previous = None
    for c in (1e-4, 1e-2, 1.0):
        ours = L2SVM(C=c).fit(x, y, warm=previous)  # warm start along the C path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LinearSVC(C=c, dual=True, tol=1e-10, max_iter=20_000).fit(x, y)  # intercept_scaling 1
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5 * scale)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5 * scale)
        assert np.mean(ours.predict(xs) == ref.predict(xs)) >= 0.99
        previous = ours


def test_fit_l2svm_solvers_agree_and_newton_is_faster_at_high_c():
    (xt, yt), (xv, yv), (xs, _) = (_correlated(300, 600, 4, s) for s in (2, 3, 4))
    cs, logs, threads = (1e-3, 1e-1, 100.0), {}, torch.get_num_threads()
    torch.set_num_threads(1)  # liblinear is single-threaded: compare on one core each
    try:
        fits = {s: fit_l2svm(xt, yt, xv, yv, cs, solver=s, log=logs.setdefault(s, []).append) for s in feat.SVM_SOLVERS}
    finally:
        torch.set_num_threads(threads)
    (new, c_new), (old, c_old) = fits["newton"], fits["liblinear"]
    assert c_new == c_old and np.mean(new.predict(xs) == old.predict(xs)) >= 0.99
    assert [len(v) for v in logs.values()] == [3, 3] and "labels=300 C=100:" in logs["newton"][-1]
    seconds = {s: float(v[-1].split(": ")[1].split(" s,")[0]) for s, v in logs.items()}  # the fit at C = 100
    assert seconds["newton"] < seconds["liblinear"], logs  # liblinear runs thousands of epochs there
    with pytest.raises(ValueError, match="unknown SVM solver 'dual'"):
        fit_l2svm(xt, yt, xv, yv, cs, solver="dual")


def test_top_map_classifier():
    shapes = [(16, 1, 1), (32, 4, 4), (16, 8, 8)]
    head = TopMapClassifier(shapes)
    assert head.feature_dim == 64 * (1 + 16 + 64)
    maps = [torch.randn(5, *s) for s in shapes]
    assert head(maps).shape == (5, 10)
    with pytest.raises(ValueError):
        head(maps[:2])
    paper = [build_energy_net(s, 3).top_shape for s in (4, 16, 64)]  # grid1/grid2/grid3 top maps
    assert paper == [(256, 2, 2), (512, 8, 8), (256, 16, 16)]
    assert TopMapClassifier(paper).feature_dim == 20_736  # not the paper's 34,624 (see the class)


@pytest.mark.slow
def test_top_maps_and_extract_fixed_batches():
    torch.manual_seed(0)
    nets = [build_energy_net(s, 1, width=0.25) for s in (2, 8, 32)]
    images = ImageSet(torch.randint(0, 256, (10, 1, 32, 32), dtype=torch.uint8), None, "toy")
    sizes = []

    def fn(x):
        sizes.append(len(x))
        return torch.cat([m.flatten(1) for m in top_maps(nets, x)], 1)

    out = extract(fn, images, 4)
    assert out.shape == (10, 64 * 1 + 128 * 16 + 64 * 64)  # top maps (64, 1, 1), (128, 4, 4), (64, 8, 8)
    assert sizes == [4, 4, 4]  # the last batch is filled up with the first images
    again = extract(fn, ImageSet(images.images[8:], None, "toy"), 4)  # only 2 images: one batch of 2
    assert again.shape[0] == 2 and sizes[-1] == 2
    stats = map_stats(nets, images, 10)  # one batch of all 10: the maps' per-channel moments
    with torch.no_grad():
        maps = top_maps(nets, images.batch(torch.arange(10)))
    for (mean, std), m in zip(stats, maps):
        torch.testing.assert_close(mean, m.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(std, m.std((0, 2, 3), unbiased=False), atol=1e-4, rtol=1e-4)
    head = TopMapClassifier([n.top_shape for n in nets])
    head.set_input_stats(stats)
    assert torch.isfinite(head(maps)).all() and torch.equal(head.mean1, stats[1][0])


def test_balanced_draw():
    labels = torch.arange(10).repeat(30)[torch.randperm(300, generator=torch.Generator().manual_seed(0))]
    lab, val = balanced_draw(labels, 50, 20, seed=3)
    assert torch.equal(torch.bincount(labels[lab], minlength=10), torch.full((10,), 5))
    assert torch.equal(torch.bincount(labels[val], minlength=10), torch.full((10,), 2))
    assert not set(lab.tolist()) & set(val.tolist())
    lab2, val2 = balanced_draw(labels, 100, 20, seed=3)
    assert torch.equal(val, val2) and set(lab.tolist()) <= set(lab2.tolist())  # same validation, nested
    lab3, _ = balanced_draw(labels, 50, 20, seed=3)
    assert torch.equal(lab, lab3)  # deterministic
    assert len(set(labels[lab[:10]].tolist())) > 1  # shuffled: no one-class batches
    with pytest.raises(ValueError):
        balanced_draw(labels, 290, 20, seed=0)


def test_pixel_readouts():
    x = torch.rand(3, 2, 8, 8) * 255  # (B, C, H, W)
    assert torch.equal(feat.pixel_features(x), x.reshape(3, 128))
    pix = feat.PixelMaps(2, 8)
    maps = top_maps([pix], x)  # the image itself is the one "top map"
    assert len(maps) == 1 and torch.equal(maps[0], x) and pix.top_shape == (2, 8, 8)
    assert TopMapClassifier([pix.top_shape]).feature_dim == 64 * 64


@pytest.mark.slow
def test_untrained_learner_is_trainings_start(tmp_path, monkeypatch):
    """The untrained control has exactly the weights repro.runner.engine.train starts learning from."""
    import copy

    from repro.base.config import get_config
    from repro.core.learner import Learner
    from repro.families.registry import initial_learner
    from repro.runner.engine import train
    from tasks.svhn_protocol import svm_config
    cfg = svm_config(get_config("smoke", n_iters=1, batch_size=4, steps_per_grid=1, seed=3), "multigrid")
    images = ImageSet(torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8), None, "toy")
    start, step = {}, Learner.train_step

    def spy(self, x, idx, mask=None):
        start.setdefault("nets", copy.deepcopy(self.nets.state_dict()))
        return step(self, x, idx, mask)

    monkeypatch.setattr(Learner, "train_step", spy)
    trained = train(cfg, str(tmp_path / "run"), train_set=images, progress=False)
    torch.manual_seed(123)  # the control seeds itself
    fresh = initial_learner(cfg, images.channels, len(images)).nets.state_dict()
    assert fresh.keys() == start["nets"].keys()
    assert all(torch.equal(fresh[k], start["nets"][k]) for k in fresh)
    assert not all(torch.equal(fresh[k], v) for k, v in trained.nets.state_dict().items())  # training moved it


def test_row_seed():
    from tasks.svhn_protocol import row_seed
    ids = {row_seed(t, 1000 * s + k) for s in range(3) for t in range(s, s + 3) for k in range(3)}
    assert len(ids) == 3 * 3 * 3 and row_seed(0, 1) == 1 and row_seed(2, 1001) == 2_001_001
    with pytest.raises(ValueError):
        row_seed(0, 1_000_000)


def test_feature_dimension_arithmetic():
    """Ours is 20,736 with "same" padding; the paper's 34,624 = 64 · 541 has no unique layout, and the
    release's "pad = 2" reading gives 37,952, not 34,624."""
    from repro.core.models import ARCHS, build_energy_net
    from repro.evaluation.features import PAPER_CNN_DIM, TopMapClassifier, square_decompositions, top_side
    grids = ((4, "grid1"), (16, "grid2"), (64, "grid3"))
    nets = [build_energy_net(s, 3, arch=a) for s, a in grids]
    assert TopMapClassifier([n.top_shape for n in nets]).feature_dim == 20_736
    assert [top_side(s, ARCHS[a]) for s, a in grids] == [n.top_shape[1] for n in nets] == [2, 8, 16]
    assert PAPER_CNN_DIM == 64 * 541 and square_decompositions(541) == [(6, 8, 21), (6, 12, 19)]
    padded = [top_side(s, ARCHS[a], pad3=2) for s, a in grids]
    assert padded == [6, 14, 19] and 64 * sum(p * p for p in padded) == 37_952 != PAPER_CNN_DIM


def test_unsupervised_set_train_and_test():
    from repro.datasets.data import ImageSet
    from tasks.svhn_protocol import Data
    img = lambda n: ImageSet(torch.zeros(n, 1, 8, 8, dtype=torch.uint8), torch.zeros(n, dtype=torch.long), "d")  # noqa: E731
    data = Data(img(5), img(3), {})
    both, train = data.with_unsup("train+test"), data.with_unsup("train")
    assert len(both.unsup) == 8 and both.tag == "traintest" and train.unsup is data.train and train.tag == ""
    with pytest.raises(ValueError, match="unknown unsupervised set"):
        data.with_unsup("test")


def test_a_class_sorted_test_split_is_evaluated_in_mixed_batches(tmp_path):
    """ImageFolder reads a split class by class; through batch norm (batch statistics) a one-class batch shifts
    its features, so load_data mixes the test split (images and labels together)."""
    from PIL import Image

    from repro.base.batching import fixed_batches
    from repro.base.config import get_config
    from repro.datasets.data import load_dataset
    from tasks.svhn_protocol import load_data
    for split, n in (("train", 12), ("test", 16)):
        for c, value in (("cat", 20), ("dog", 230)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n // 2):
                Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(tmp_path / split / c / f"{i}.png")
    cfg = get_config("smoke", dataset="imagefolder", data_root=str(tmp_path), image_size=8, batch_size=4,
                     data_cache="off")
    sorted_labels = load_dataset(cfg, "test").labels  # as read: class by class
    test = load_data(cfg).test
    one_class = lambda labels: sum(len(set(labels[idx].tolist())) == 1 for idx, _ in fixed_batches(16, 4))  # noqa
    assert one_class(sorted_labels) == 4 and one_class(test.labels) < 4
    assert sorted(test.labels.tolist()) == sorted(sorted_labels.tolist())
    assert torch.equal(test.images.float().mean((1, 2, 3)) > 128, test.labels == 1)  # labels travel with images


@pytest.mark.parametrize("n_classes", [3, 12])
def test_label_draws_and_heads_use_the_folders_own_classes(tmp_path, n_classes):
    """A labeled folder of 3 or 12 classes (not SVHN's 10): the draws are balanced over all of its classes, the size
    check is per class, and the CNN head has one output per class. (With 10 assumed, a 12-class folder drew every
    label from classes 0-9 and a 3-class one failed the size check at a tenth of what it needs.)"""
    from PIL import Image

    from repro.base.config import get_config
    from repro.families.semisup import TopMapHead, fresh_nets
    from tasks.svhn_protocol import label_draws, load_data
    per = 6
    for split, n in (("train", per), ("test", 2)):
        for c in range(n_classes):
            folder = tmp_path / split / f"class{c:02d}"
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8, 3), 10 * c + i, np.uint8)).save(folder / f"{i}.png")
    cfg = get_config("smoke", dataset="imagefolder", data_root=str(tmp_path), image_size=8, grid_sizes=(2, 8),
                     batch_size=4, data_cache="off")
    data = load_data(cfg)
    assert data.n_classes == n_classes
    labels = data.train.labels
    draws = label_draws(cfg, labels, [2 * n_classes], n_classes, 1, data.n_classes)  # 2 labels + 1 val per class
    (lab, val), = draws.values()
    assert torch.equal(torch.bincount(labels[lab], minlength=n_classes), torch.full((n_classes,), 2))
    assert torch.equal(torch.bincount(labels[val], minlength=n_classes), torch.ones(n_classes, dtype=torch.long))
    with pytest.raises(ValueError, match=f"balanced over {n_classes} classes need {per + 1} per class"):
        label_draws(cfg, labels, [per * n_classes], n_classes, 1, data.n_classes)  # 6 + 1 per class: one too many
    head = TopMapHead(cfg, 3, len(lab), labeled=data.train.subset(lab), nets=list(fresh_nets(cfg, 3)),
                      n_classes=data.n_classes)
    assert head.logits(data.train.batch(lab[:4])).shape == (4, n_classes)
