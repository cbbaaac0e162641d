import dataclasses
import os

import pytest
import torch

from repro.base.io import TITLE_KEY, NonFiniteError, read_csv
from repro.core.learner import Learner, sample_1x1
from repro.core.methods import METHODS
from repro.datasets.data import load_dataset
from repro.runner.engine import BatchOrder, load_checkpoint, load_learner, train


@pytest.fixture(scope="module")
def faces():
    from repro.base.config import get_config
    return load_dataset(get_config("smoke"), "train")


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_one_iteration_of_each_scheme(method, faces, tmp_path):
    from repro.base.config import get_config
    cfg = get_config("smoke", method=method, n_iters=1)  # the smoke preset itself: 30 steps per grid
    learner = train(cfg, str(tmp_path), train_set=faces, progress=False)
    assert os.path.exists(tmp_path / "checkpoint.pt") and os.path.exists(tmp_path / "config.json")
    rows = read_csv(str(tmp_path / "log.csv"))
    n_grids = 3 if method == "multigrid" else 1
    assert len(rows) == n_grids
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in ("f_obs", "f_syn", "grad_l1"))
    assert all(float(r["grad_l1"]) > 0 for r in rows)
    pngs = sorted(p for p in os.listdir(tmp_path) if p.endswith(".png"))
    assert pngs == sorted(f"samples_grid{s}.png" for s in learner.sizes)
    from PIL import Image
    with Image.open(tmp_path / pngs[0]) as im:  # a title band above the grid: a copied PNG still says what it is
        assert int(im.info[TITLE_KEY]) > 0 and im.size[1] > int(im.info[TITLE_KEY])
    for net in learner.nets:
        assert all(torch.isfinite(p).all() for p in net.parameters())
    if method == "pcd":
        assert learner.chains.started.sum() == cfg.batch_size


@pytest.mark.slow
@pytest.mark.parametrize("method", ["multigrid", "pcd"])
def test_interrupted_and_resumed_equals_uninterrupted(method, smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, method=method, n_iters=4, checkpoint_every=2)
    full = train(cfg, str(tmp_path / "full"), train_set=faces, progress=False)

    def crash(t, *_):
        if t == 2:  # iteration 2 done, its checkpoint not yet written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "cut"), train_set=faces, progress=False, callback=crash)
    resumed = train(cfg, str(tmp_path / "cut"), train_set=faces, progress=False, resume=True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    if method == "pcd":
        assert torch.equal(full.chains.state, resumed.chains.state)
    log_full = read_csv(str(tmp_path / "full" / "log.csv"))
    log_cut = read_csv(str(tmp_path / "cut" / "log.csv"))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(log_full) == strip(log_cut)


@pytest.mark.slow
def test_non_finite_energy_stops_and_keeps_last_good_checkpoint(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, n_iters=5, checkpoint_every=2, method="cd1")

    def poison(t, learner, *_):
        if t == 1:  # after the checkpoint of iteration 2
            with torch.no_grad():
                learner.nets[0].fc.bias.fill_(float("nan"))

    with pytest.raises(NonFiniteError, match="non-finite"):
        train(cfg, str(tmp_path), train_set=faces, progress=False, callback=poison)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["nets"].values())


def test_run_folder_and_resume_guards(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, method="cd1", n_iters=1)
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, str(tmp_path), train_set=faces, progress=False)
    with pytest.raises(ValueError, match="step_size"):
        train(dataclasses.replace(cfg, step_size=0.1), str(tmp_path), train_set=faces, progress=False,
              resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(cfg, str(tmp_path / "new"), train_set=faces, progress=False, resume=True)


def test_bad_grid_sizes_and_image_size(smoke_cfg, faces, tmp_path):
    with pytest.raises(ValueError, match="finest grid must be the image size"):
        Learner(dataclasses.replace(smoke_cfg, grid_sizes=(2, 8, 16)), 1, 10)
    with pytest.raises(ValueError, match="integer factors"):
        Learner(dataclasses.replace(smoke_cfg, grid_sizes=(3, 8, 32)), 1, 10)
    with pytest.raises(ValueError, match="config says 64"):
        train(dataclasses.replace(smoke_cfg, image_size=64, grid_sizes=(4, 16, 64)), str(tmp_path),
              train_set=faces, progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        train(dataclasses.replace(smoke_cfg, method="cd9"), str(tmp_path), train_set=faces, progress=False)


def test_masked_learning_moves_only_missing_pixels(smoke_cfg, faces):
    cfg = dataclasses.replace(smoke_cfg, method="multigrid")
    learner = Learner(cfg, 1, len(faces))
    x = faces.batch(torch.arange(8))
    mask = torch.zeros(8, 1, 32, 32)
    mask[:, :, 8:24, 4:20] = 1
    samples = learner.run_chains(x, torch.arange(8), mask)
    held = (mask == 0).expand_as(x)
    assert torch.equal(samples[-1][held], x[held])
    assert not torch.equal(samples[-1][~held], x[~held])


def test_coarse_grids_hold_what_is_observed():
    from repro.core.learner import coarse_observation
    x = torch.arange(16.0).view(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, :2, :2] = 1  # top-left block wholly missing
    mask[0, 0, 2, 2] = 1  # bottom-right block missing one pixel of four
    move, held = coarse_observation(x, mask, 2)
    assert move.tolist() == [[[[True, False], [False, False]]]]
    assert held[0, 0, 1, 1] == (11 + 14 + 15) / 3  # mean of the observed pixels of the block
    assert held[0, 0, 0, 1] == (2 + 3 + 6 + 7) / 4
    move, held = coarse_observation(x, mask, 4)  # finest grid: observed pixels themselves
    assert torch.equal(move, mask.bool()) and torch.equal(held[~move], x[~move])


@pytest.mark.slow
def test_conditional_update_scores_observed_images_as_the_chain_holds_them(smoke_cfg, faces):
    """Masked learning: at each grid the observed side differs from the chain only where the chain moves."""
    learner = Learner(dataclasses.replace(smoke_cfg, method="multigrid"), channels=1, n_train=len(faces.images))
    x = faces.images[:4].float()  # (4, 1, 32, 32)
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 0:18, 0:18] = 1  # one whole 16×16 block of grid 2 missing; the edges cut the 4×4 blocks of grid 8
    samples = learner.run_chains(x, torch.arange(4), mask)
    seen = []
    for net in learner.nets:
        net.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    learner.update(x, samples, mask)
    for g, (size, y) in enumerate(zip(learner.sizes, samples)):
        x_s, y_s = seen[2 * g], seen[2 * g + 1]  # observed pass, then synthesized pass
        assert torch.equal(y_s, y)
        move = ~torch.isclose(x_s, y, atol=1e-4)  # where the observed side differs from the chain
        from repro.core.learner import coarse_observation
        chain_moves, _ = coarse_observation(x, mask, size)
        assert not (move & ~chain_moves).any(), f"grid {size}: observed side differs where the chain is held"
        assert (move & chain_moves).any()
    from repro.core.pyramid import downscale
    coarse = downscale(x, learner.sizes[0])
    assert not torch.equal(seen[0], coarse)  # partly observed blocks are not the true block means


def test_batch_order_and_1x1_sampling(smoke_cfg, faces):
    order = BatchOrder(10, 4, seed=0)
    assert order.per_epoch == 2
    epoch0 = torch.cat([order.indices(0), order.indices(1)])
    assert len(set(epoch0.tolist())) == 8 and not torch.equal(order.indices(0), order.indices(2))
    y0 = sample_1x1(faces, 5, torch.Generator().manual_seed(0), smoke_cfg)
    means = faces.images.float().mean((1, 2, 3))
    assert y0.shape == (5, 1, 1, 1)
    assert all(torch.isclose(means, v, atol=1e-3).any() for v in y0.flatten())


@pytest.mark.slow
def test_load_learner_round_trip(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, method="singlegrid", n_iters=1)
    trained = train(cfg, str(tmp_path), train_set=faces, progress=False)
    loaded = load_learner(str(tmp_path))
    x = faces.batch(torch.arange(4))
    assert torch.equal(trained.nets[0](x), loaded.nets[0](x))


@pytest.mark.slow
def test_a_checkpoint_names_no_class_of_repro(smoke_cfg, faces, tmp_path):
    """Checkpoints hold tensors and plain containers only (they load with weights_only=True), so no pickle names a
    module of repro and moving a module (docs/architecture.md) leaves every saved run loadable."""
    import io
    cfg = dataclasses.replace(smoke_cfg, method="pcd", n_iters=1)  # persistent chains: extra state too
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    outer = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    state = torch.load(io.BytesIO(outer["payload"]), map_location="cpu", weights_only=True)
    assert state["extra"]["state"].shape[0] == len(faces)
    assert state.keys() == load_checkpoint(str(tmp_path / "checkpoint.pt")).keys()


@pytest.mark.parametrize("method", ["pcd", "gconvnet"])
def test_a_run_moves_between_a_gpu_and_a_cpu(method, tmp_path, capsys):
    """A checkpoint written on a GPU holds a CUDA random state (16 bytes; a CPU one is 5,056) and, for the
    generative ConvNet, chains on the GPU: such a run resumes and loads on a CPU (and a CPU run on a GPU),
    its random draws re-seeded from the seed and the iteration, with a note. The GPU checkpoint is made
    here by replacing the CPU state with a state of CUDA's size. --device may change on resume."""
    from repro.base.config import get_config
    from repro.base.io import atomic_torch_save
    from repro.core.trainable import generator_fits
    extra = dict(image_size=48, width=0.1, gcn_iters_per_layer=1, gcn_chains=4) if method == "gconvnet" else {}
    cfg = get_config("smoke", method=method, batch_size=4, n_iters=1, checkpoint_every=1, steps_per_grid=2,
                     lr_final_ratio=1.0, **extra)
    out = str(tmp_path / "run")
    train(cfg, out, progress=False)
    path = os.path.join(out, "checkpoint.pt")
    ckpt = load_checkpoint(path)
    assert ckpt["gen"].numel() == 5056
    ckpt["gen"] = torch.zeros(16, dtype=torch.uint8)  # what a CUDA (Philox) generator saves
    atomic_torch_save(ckpt, path)
    learner = train(dataclasses.replace(cfg, n_iters=2, device="cpu"), out, resume=True, progress=False)
    assert learner.iteration == 2 and "re-seeded" in capsys.readouterr().err
    assert generator_fits(learner.gen, load_checkpoint(path)["gen"])  # saved by the CPU again
    ckpt = load_checkpoint(path)
    ckpt["gen"] = torch.zeros(16, dtype=torch.uint8)
    atomic_torch_save(ckpt, path)
    loaded = load_learner(out, device="cpu")  # a finished GPU run read on a CPU
    assert loaded.iteration == 2
    a, b = loaded.gen.get_state(), load_learner(out, device="cpu").gen.get_state()
    assert torch.equal(a, b)  # re-seeded the same way each time


LOCK_SCRIPT = r'''
import sys
from repro.base.config import get_config
from repro.datasets.data import load_dataset
from repro.runner.engine import trained_learner
cfg = get_config("smoke", method="cd1", batch_size=4, n_iters=6, checkpoint_every=2, steps_per_grid=1)
learner, path = trained_learner(cfg, sys.argv[1], load_dataset(cfg, "train"), progress=False)
print("ITERATIONS", learner.iteration)
'''


@pytest.mark.slow
def test_two_processes_wanting_one_run_train_it_once(tmp_path):
    """Two tasks (or two tools.spread commands) that need the same model: one trains it, the other waits for
    the run folder's lock and loads it; the log holds each iteration once."""
    import subprocess
    import sys
    script = tmp_path / "want.py"
    script.write_text(LOCK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs")], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and all("ITERATIONS 6" in o for o in outs)
    (run,) = os.listdir(tmp_path / "runs")
    log = read_csv(str(tmp_path / "runs" / run / "log.csv"))
    assert sorted(int(r["iteration"]) for r in log) == list(range(6))  # cd1: one network, one row each


def test_conditional_training_chains_start_from_the_fill_in_the_variant():
    """cond_start "observed" (the paper's reading): CD1's training chains start at the whole true image, hidden pixels
    included, and the 1×1 schemes at its 1×1 mean; "fill" (issue 27's variant): at the masked image filled as at
    test time; a persistent chain keeps its state only where the pixel stays missing."""
    from repro.base.config import get_config
    from repro.core.pyramid import observed_mean_fill
    from repro.datasets.masks import square_mask
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    m1 = square_mask(4, 32, 16, torch.Generator().manual_seed(1)).float()
    m2 = square_mask(4, 32, 16, torch.Generator().manual_seed(2)).float()
    idx = torch.arange(4)
    fill = observed_mean_fill(x, m1)
    for cond, want_cd1, want_mg in (("observed", x, x.mean((2, 3), keepdim=True)),
                                    ("fill", fill, fill.mean((2, 3), keepdim=True))):
        cd1 = Learner(get_config("smoke", method="cd1", cond_start=cond), 3, 4)
        assert torch.equal(cd1.start_chains(x, idx, m1), want_cd1)
        assert torch.equal(cd1.start_chains(x, idx), x)  # no mask: learning p(Y), the same either way
        mg = Learner(get_config("smoke", cond_start=cond), 3, 4)
        assert torch.allclose(mg.start_chains(x, idx, m1), want_mg)
    pcd = Learner(get_config("smoke", method="pcd", cond_start="fill"), 3, 4)
    assert torch.equal(pcd.start_chains(x, idx, m1), fill)  # not started: the fill
    state = torch.full_like(x, 7.0)
    pcd.chains.store(idx, state, m1)
    y0 = pcd.start_chains(x, idx, m2)
    both, now = (m1.bool() & m2.bool()).expand_as(x), m2.bool().expand_as(x)
    assert torch.equal(y0[both], state[both])  # still missing: the chain goes on
    assert torch.equal(y0[now & ~both], observed_mean_fill(x, m2)[now & ~both])  # newly missing: the fill
    assert torch.equal(y0[~now], x[~now])  # observed now: as given
    literal = Learner(get_config("smoke", method="pcd"), 3, 4)
    literal.chains.store(idx, state)
    assert torch.equal(literal.start_chains(x, idx, m2), state)  # the paper's reading: carried everywhere


class ToyFamily:
    """A new model family as the checklist in docs/architecture.md adds one: a Trainable subclass (here defined in the
    test, standing in for its module repro/families/toy.py) and one Family entry in repro/families/registry.py."""

    @staticmethod
    def build(cfg, channels, n_train):
        import torch.nn as nn

        from repro.core.trainable import Trainable, grad_l1

        class Toy(Trainable):
            sizes = (cfg.image_size,)

            def __init__(self):
                super().__init__(cfg)
                self.nets = nn.ModuleList([nn.Conv2d(channels, 1, 3, padding=1)])
                self.opts = [torch.optim.Adam(self.nets[0].parameters(), lr=1e-3)]
                self.scheds = [torch.optim.lr_scheduler.LambdaLR(self.opts[0], lambda t: 1.0)]

            def train_step(self, x, idx, mask=None):
                self.opts[0].zero_grad()
                noise = torch.randn(x.shape, generator=self.gen, device=x.device, dtype=x.dtype)
                loss = (self.nets[0](x / 255 + 0.1 * noise) ** 2).mean()
                self.backward(loss, self.nets[0])
                stats = torch.stack([loss.detach(), loss.detach(), grad_l1(self.nets[0]), loss.detach()])[None]
                self.step(stats, [(self.opts[0], self.scheds[0])])
                return [x], stats

        return Toy()


def test_a_new_family_needs_its_module_and_one_registry_entry(monkeypatch, tmp_path):
    """Walk through the checklist: with one Family entry, --method takes the new name, the runner trains it, writes
    its run folder and checkpoint, and a resumed run equals an uninterrupted one; nothing else is touched."""
    from repro.families import registry
    from repro.runner import train as train_cli
    from repro.runner.engine import load_learner
    monkeypatch.setitem(registry.FAMILIES, "toy", registry.Family(ToyFamily.build, True, "a test's family"))
    base = ["--profile", "smoke", "--method", "toy", "--batch-size", "4", "--checkpoint-every", "1", "--no-progress"]
    assert train_cli.main([*base, "--n-iters", "4", "--out", str(tmp_path / "full")]) == 0
    assert train_cli.main([*base, "--n-iters", "2", "--out", str(tmp_path / "half")]) == 0
    # a constant-rate family (Family.fixed_schedule): the finished 2-iteration run extended to 4 is the 4-iteration run
    assert train_cli.main([*base, "--n-iters", "4", "--out", str(tmp_path / "half"), "--resume"]) == 0
    full, half = load_learner(str(tmp_path / "full")), load_learner(str(tmp_path / "half"))
    assert type(full).__name__ == "Toy" and full.iteration == half.iteration == 4
    assert all(torch.equal(a, b) for a, b in zip(full.nets.parameters(), half.nets.parameters()))

