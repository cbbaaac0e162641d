"""Smoke runs of the synthesis and score-diagnostics tasks (the report's tests are in test_report*.py)."""
import os

import pandas as pd
import pytest
import torch

from repro.datasets.data import load_dataset
from tasks.common import RESULT_COLUMNS

TINY = ["--profile", "smoke", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--no-progress"]


def tiny_config():
    """The config TINY gives (the smoke preset's dataset: the embedded LFW faces)."""
    from repro.base.config import get_config
    return get_config("smoke", n_iters=2, batch_size=8, steps_per_grid=2)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    return str(root / "results"), str(root / "runs")


@pytest.mark.slow
def test_synthesis_smoke_run(dirs):
    from tasks import synthesis
    out, runs = dirs
    assert synthesis.main(TINY + ["--out", out, "--runs", runs, "--n-samples", "8", "--fidelity-samples", "8"]) == 0
    df = pd.read_csv(os.path.join(out, "synthesis.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.method) == {"dcgan", "multigrid", "singlegrid"} and (df.value > 0).all()  # no IS: no weights
    for name in ("multigrid_grid2", "multigrid_grid8", "multigrid_grid32", "singlegrid_grid32", "dcgan_grid32",
                 "dcgan_observed_vs_synthesized", "dcgan_nearest_train",
                 "multigrid_observed_vs_synthesized", "multigrid_diversity", "multigrid_grad_norm",
                 "multigrid_nearest_train"):
        assert os.path.exists(os.path.join(out, f"synthesis_{name}.png")), name
    grad = pd.read_csv(os.path.join(out, "synthesis_grad_norm.csv"))
    assert set(grad["size"]) == {2, 8, 32} and (grad.grad_l1 > 0).all() and set(grad.iteration) == {0, 1}
    nn = pd.read_csv(os.path.join(out, "synthesis_nearest.csv"))
    assert set(nn.kind) == {"synthesized", "test"}
    assert set(df[df.metric == "nn_l2_mean"].setting) == {"nearest_train_synthesized", "nearest_train_test"}
    # the test images' nearest training images and distances, recomputed by brute force ([0, 1] units)
    cfg = tiny_config()
    train, test = (load_dataset(cfg, split) for split in ("train", "test"))
    flat = lambda s, n: s.batch(torch.arange(n)).double().flatten(1) / 255  # noqa: E731
    mine = nn[(nn.method == "multigrid") & (nn.kind == "test")].sort_values("index")  # the first 8 test images
    d = torch.cdist(flat(test, len(mine)), flat(train, len(train)))  # (8, train)
    assert mine.nearest_train_index.tolist() == d.argmin(1).tolist()
    assert torch.allclose(torch.tensor(mine.l2.values), d.min(1).values, atol=1e-9)
    for method in ("dcgan", "multigrid", "singlegrid"):  # the summary row is the mean of the per-image rows
        per_image = nn[(nn.method == method) & (nn.kind == "synthesized")].l2
        row = df[(df.method == method) & (df.setting == "nearest_train_synthesized")].value.item()
        assert len(per_image) == 8 and row == pytest.approx(per_image.mean(), rel=1e-12)


@pytest.mark.slow
def test_score_diagnostics_smoke_run(dirs):
    from tasks import score_diagnostics
    out, runs = dirs
    assert score_diagnostics.main(TINY + ["--out", out, "--runs", runs]) == 0
    df = pd.read_csv(os.path.join(out, "score_diagnostics.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.setting) == {"training", "testing", "synthesized", "synthesized_final_downscaled", "negative"}
    assert set(df.method) == {"multigrid", "untrained"}
    assert len(df) == 2 * 5 * 3 * 2 and df.value.notna().all()
    # the multi-grid run was reused from the synthesis task (same settings → same run folder)
    assert len([d for d in os.listdir(runs) if "multigrid" in d]) == 1
    run = next(d for d in os.listdir(runs) if "multigrid" in d)
    trained, untrained = df[df.method == "multigrid"], df[df.method == "untrained"]
    assert (trained.run == run).all() and (trained.iterations == 2).all()  # which model, how long trained
    assert untrained.run.isna().all() and untrained.iterations.isna().all()
    # the rows are the scores of that model and of its initial weights, recomputed here
    from repro.families.registry import initial_learner
    from repro.runner.engine import load_learner
    from tasks.score_diagnostics import grid_scores
    cfg = tiny_config()
    train, test = (load_dataset(cfg, split) for split in ("train", "test"))
    models = {"multigrid": load_learner(os.path.join(runs, run)),
              "untrained": initial_learner(cfg, train.channels, len(train))}
    for method, learner in models.items():
        for setting, images in (("training", train), ("testing", test)):
            scores = grid_scores(learner, images.batch(torch.arange(len(images)))).double()  # (grids, N)
            for g, s in enumerate(scores, start=1):
                got = df[(df.method == method) & (df.setting == setting)].set_index("metric").value
                assert got[f"grid{g}_mean"] == pytest.approx(float(s.mean()), rel=1e-6)
                assert got[f"grid{g}_std"] == pytest.approx(float(s.std()), rel=1e-6)


def test_task_cli_reports_bad_input_in_one_line(capsys):
    from tasks import synthesis
    from tasks.common import cli
    assert cli(lambda: synthesis.main(["--dataset", "celeba", "--no-progress"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'celeba' needs --data-root") and "Traceback" not in err


@pytest.mark.slow
def test_synthesis_fidelity_rows_with_a_stand_in_extractor(tmp_path, monkeypatch):
    """The IS/FID wiring of tasks.synthesis, with a registered tiny extractor instead of Inception."""
    import test_fidelity  # noqa: F401  (registers the "tiny-test" extractor)

    from repro.evaluation import fidelity
    from tasks import synthesis
    real_fn = fidelity.fidelity_metrics
    monkeypatch.setattr(synthesis, "fidelity_metrics",
                        lambda *a, **kw: real_fn(*a, **{**kw, "feature_extractor": "tiny-test", "cuda": False}))
    out, runs = str(tmp_path / "out"), str(tmp_path / "runs")
    assert synthesis.main(TINY + ["--out", out, "--runs", runs, "--methods", "dcgan", "multigrid",
                                  "--n-samples", "8", "--fidelity-samples", "20"]) == 0
    df = pd.read_csv(os.path.join(out, "synthesis.csv"))
    fid = df[df.metric.isin(["inception_score", "fid"])]
    assert sorted(zip(fid.method, fid.metric)) == [("dcgan", "fid"), ("dcgan", "inception_score"),
                                                  ("multigrid", "fid"), ("multigrid", "inception_score"),
                                                  ("real", "inception_score")]  # real images scored once
    assert (fid.value >= 0).all() and (df[df.metric == "inception_score"].value >= 1 - 1e-9).all()


@pytest.mark.slow
def test_inception_inputs_at_the_datasets_native_size(tmp_path, monkeypatch):
    """IS/FID see images at the Inception size (CIFAR-10: 32×32 even when the models run at 64×64);
    here a 32×32 smoke run scored at 16×16, through the registered stand-in extractor."""
    import test_fidelity  # noqa: F401  (registers the "tiny-test" extractor)

    from repro.base.config import get_config
    from repro.evaluation import fidelity
    from tasks import synthesis
    assert synthesis.inception_size(get_config("paper", dataset="cifar10"), None) == 32
    assert synthesis.inception_size(get_config("smoke"), None) == 32  # no native size: the image size
    with pytest.raises(ValueError, match="inception-size"):
        synthesis.inception_size(get_config("smoke"), 64)
    seen, real_fn = [], fidelity.fidelity_metrics

    def spy(*a, **kw):
        seen.extend(tuple(x.shape) for x in a if x is not None)
        return real_fn(*a, **{**kw, "feature_extractor": "tiny-test", "cuda": False})
    monkeypatch.setattr(synthesis, "fidelity_metrics", spy)
    out, runs = str(tmp_path / "out"), str(tmp_path / "runs")
    assert synthesis.main(TINY + ["--out", out, "--runs", runs, "--methods", "multigrid", "--n-samples", "8",
                                  "--fidelity-samples", "20", "--inception-size", "16"]) == 0
    assert seen and all(s[1:] == (3, 16, 16) for s in seen)
    df = pd.read_csv(os.path.join(out, "synthesis.csv"))
    assert set(df[df.metric == "inception_score"].setting) == {"final_noise=on|n_samples=8|inception_size=16",
                                                                "training_images|inception_size=16"}


class _StubNet(torch.nn.Module):
    """f(Y) = mean pixel value; records the sizes it was called on."""

    def __init__(self, calls):
        super().__init__()
        self.w, self.calls = torch.nn.Parameter(torch.zeros(())), calls

    def forward(self, y):
        self.calls.append(y.shape[-1])
        return y.mean((1, 2, 3)) + self.w


def test_synthesized_row_scores_each_grids_own_samples():
    """Grid s scores the chain's output at grid s, not the final samples down-scaled (the energy family's
    score_per_grid verb, which the task calls)."""
    from repro.base.config import get_config
    from repro.core.learner import Learner
    from repro.core.pyramid import downscale
    from tasks.score_diagnostics import grid_scores
    calls = []
    stub = Learner(get_config("smoke", method="multigrid", batch_size=4), 1, 6)
    stub.nets = torch.nn.ModuleList([_StubNet(calls) for _ in range(3)])
    stub.sizes = (2, 8, 32)
    g = torch.Generator().manual_seed(0)
    chains = [torch.rand(6, 1, s, s, generator=g) * 255 for s in stub.sizes]  # unrelated images per grid
    per_grid = grid_scores(stub, chains)
    assert per_grid.shape == (3, 6) and calls == [2, 2, 8, 8, 32, 32]  # two batches of 4 at each grid (the
    # second filled up from the first images: repro.base.batching)
    for k in range(3):
        assert torch.allclose(per_grid[k], chains[k].mean((1, 2, 3)))
    final = grid_scores(stub, chains[-1])  # the second setting: final samples down-scaled to each grid
    assert torch.allclose(final[0], downscale(chains[-1], 2).mean((1, 2, 3)))
    assert not torch.allclose(per_grid[0], final[0])
    with pytest.raises(ValueError, match="per-grid images"):
        grid_scores(stub, chains[::-1])


def test_score_sets_of_several_classes_are_scored_in_mixed_batches():
    """Negatives read class by class (an ImageFolder) are scored in a seeded mixed order; a one-class or
    unlabeled set (the faces) keeps its order."""
    from repro.base.config import get_config
    from repro.datasets.data import ImageSet
    from tasks.score_diagnostics import capped
    cfg = get_config("smoke")
    images = torch.arange(16, dtype=torch.uint8).view(16, 1, 1, 1).expand(16, 1, 2, 2).contiguous()
    sorted_by_class = ImageSet(images, torch.arange(16) // 8, "two classes")  # class 0, then class 1
    first = capped(sorted_by_class, 8, cfg)[:, 0, 0, 0].round().long()
    assert len(set((first >= 8).tolist())) == 2  # both classes among the first 8 scored
    for labels in (None, torch.zeros(16, dtype=torch.long)):
        kept = capped(ImageSet(images, labels, "one class"), 8, cfg)[:, 0, 0, 0]
        assert torch.equal(kept.round().long(), torch.arange(8))


def test_missing_inception_weights_stop_a_required_run_before_training(tmp_path, monkeypatch, capsys):
    """The paper profile's CIFAR-10 run exists for CVPR Table 1: without the Inception weights it stops at once,
    with one line naming the file and how to stage it, instead of training for hours and writing no Table 1 row."""
    from tasks.common import cli
    from tasks.synthesis import main
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # no weights there
    argv = ["--profile", "smoke", "--fidelity-samples", "8", "--fidelity", "required", "--out", str(tmp_path / "out"),
            "--runs", str(tmp_path / "runs"), "--n-iters", "1", "--no-progress"]
    assert cli(lambda: main(argv)) == 2
    err = capsys.readouterr().err
    assert "weights-inception-2015-12-05-6726825d.pth" in err and "--inception-weights" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing trained


def test_per_class_samples_too_few_for_batch_norm_are_refused_before_training(tmp_path):
    """--per-class splits --n-samples over the classes' models, which sample with batch statistics: fewer than 2
    images a model would end in torch's 'Expected more than 1 value per channel' after every model had trained."""
    from tasks import synthesis
    out, runs = str(tmp_path / "out"), str(tmp_path / "runs")
    with pytest.raises(ValueError, match="fewer than 2 samples to each of the 10 classes"):
        synthesis.main(TINY + ["--dataset", "digits", "--image-size", "32", "--methods", "multigrid", "--per-class",
                               "--n-samples", "8", "--fidelity-samples", "0", "--out", out, "--runs", runs])
    assert not os.path.exists(runs)  # nothing trained
