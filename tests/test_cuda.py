"""Checks that need a CUDA GPU: skipped without one (CI has none); tools/gpu_check.sh runs them on a GPU. The bf16
comparison with float32 and its mutant checks run on the CPU in every run of the suite (bf16 autocast works there).

On the CPU, tests/test_device_discipline.py stands the meta device in for CUDA (placement, host syncs,
generators). What only a GPU shows is checked here: CUDA generators and kernels, TF32 and bf16 numerics,
determinism, and runs moving between the CPU and the GPU. MGCD_CUDA_TESTS_DEVICE=cpu runs the same tests with the
CPU as their device (``bash tools/gpu_check.sh --device cpu`` in CI), so that they run somewhere and cannot rot.
"""
import copy
import dataclasses
import os

import pytest
import torch

from repro.base import speed
from repro.base.config import get_config
from repro.core.langevin import frozen
from repro.core.trainable import device_generator
from repro.datasets.data import load_dataset
from repro.families.registry import initial_learner
from repro.runner.engine import load_checkpoint, load_learner, train

DEVICE = torch.device(os.environ.get("MGCD_CUDA_TESTS_DEVICE", "cuda"))
# the tests that need the device: marked `cuda` (tests/conftest.py leaves their device alone) and skipped without one
on_device = [pytest.mark.cuda, pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(),
                                                  reason="needs a CUDA GPU (tools/gpu_check.sh)")]

FAMILIES = ["multigrid", "singlegrid", "cd1", "pcd", "dcgan", "coopnets", "gconvnet"]


def device_test(fn):
    for mark in on_device:
        fn = mark(fn)
    return fn


def small(method: str, **kw):
    base = dict(method=method, batch_size=8, steps_per_grid=2, n_iters=2, checkpoint_every=1, z_dim=8,
                coop_steps=2, device=str(DEVICE))
    if method == "gconvnet":
        base.update(image_size=48, width=0.1, gcn_iters_per_layer=1, gcn_chains=4)
    return get_config("smoke", **{**base, **kw})


def weights(path) -> dict:
    return load_checkpoint(os.path.join(path, "checkpoint.pt"))["nets"]


@device_test
@pytest.mark.parametrize("method", FAMILIES)
def test_every_family_trains_samples_and_moves_to_the_cpu(method, tmp_path):
    cfg = small(method)
    train_set = load_dataset(cfg, "train")
    learner = train(cfg, str(tmp_path / "run"), train_set=train_set, progress=False)
    assert next(learner.parameters()).device.type == DEVICE.type and learner.gen.device.type == DEVICE.type
    try:
        out = learner.sample(4, device_generator(DEVICE).manual_seed(0), train_set=train_set)
        assert all(o.device.type == "cpu" and torch.isfinite(o).all() for o in out)
    except NotImplementedError:
        pass
    cpu = load_learner(str(tmp_path / "run"), device="cpu")  # a GPU run read on the CPU
    assert next(cpu.parameters()).device.type == "cpu" and cpu.iteration == 2


@device_test
def test_a_cpu_run_resumes_on_the_gpu(tmp_path):
    cfg = small("pcd", device="cpu", lr_final_ratio=1.0)
    train(cfg, str(tmp_path / "run"), progress=False)
    learner = train(dataclasses.replace(cfg, device=str(DEVICE), n_iters=3), str(tmp_path / "run"), resume=True,
                    progress=False)
    assert learner.iteration == 3 and next(learner.parameters()).device.type == DEVICE.type


@device_test
def test_deterministic_runs_repeat_bit_for_bit(tmp_path):
    cfg = small("multigrid", deterministic=True, n_iters=3)
    train(cfg, str(tmp_path / "a"), progress=False)
    train(cfg, str(tmp_path / "b"), progress=False)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    speed.apply_backend_flags(dataclasses.replace(cfg, deterministic=False), DEVICE)


# --- reduced precision (bf16 autocast while sampling; TF32 convolutions and matmuls) against exact float32 -----------
# Compared on a model trained 30 fp32 iterations, whose |∂f/∂Y| (1–100 per pixel) moves a chain as much as its noise
# does, as in training: at initialisation (|∂f/∂Y| ≈ 1e-4 to 1e-2) the chains are start + noise, and a comparison
# of samples cannot tell a right gradient from a zeroed, scaled or sign-flipped one. Two relative L2 errors
# against float32 from the same state, inputs and noise: ∂f/∂Y at the float32 chains' samples (every grid), and the
# parameter update of one whole training step (chains, then Adam).
PRECISION_ITERS = 30
TOLERANCES = {  # precision: (config changes, tolerance of ∂f/∂Y per grid, tolerance of the update)
    # bf16 keeps 8 significant bits (rounding 2^-9 ≈ 0.2%); ∂f/∂Y sums terms of both signs through every layer: off by
    # 0.1–2% at the 8×8 and 32×32 grids and up to 10% at the 2×2 grid, whose gradient is the smallest (measured on the
    # CPU over 4 seeds and 12 chain draws); the update follows 10 steps per grid of chains in which those errors
    # compound: 2–14%. Tolerances 2× the worst seen. The mutants below are off by ≥ 1 (∂f/∂Y) and ≥ 0.39 (update).
    "bf16": (dict(autocast="bf16"), 0.2, 0.25),
    # TF32 keeps 11 significant bits (8× finer than bf16) but applies to every convolution, the first one and the
    # update's too: the same tolerances (not yet measured on a GPU).
    "tf32": (dict(tf32=True), 0.2, 0.25),
}


class Mutant(torch.nn.Module):
    """A scorer whose ∂f/∂Y is k times the right one: 0 (a zeroed gradient), 10, or -1 (a flipped energy)."""

    def __init__(self, scorer, k: float):
        super().__init__()
        self.scorer, self.k = scorer, k

    def forward(self, y):
        return self.k * self.scorer(y)


@pytest.fixture(scope="module")
def trained_fp32():
    """{device: (learner trained PRECISION_ITERS fp32 iterations, its batch)}, made once per device."""
    made = {}

    def make(device):
        if device not in made:
            cfg = get_config("smoke", batch_size=8, steps_per_grid=10, n_iters=100, tf32=False, device=str(device))
            x = load_dataset(cfg, "train").batch(torch.arange(8), pixel_max=cfg.pixel_max).to(device)
            learner = initial_learner(cfg, x.shape[1], 80, device=device)
            for t in range(PRECISION_ITERS):
                learner.train_step(x, torch.arange(8))
                learner.iteration = t + 1
            made[device] = learner, x
        return made[device]
    return make


def twin(learner, cfg):
    """A learner under cfg in learner's exact state (weights, Adam moments, schedule, random state)."""
    new = initial_learner(cfg, learner.nets[0].channels, 80, device=next(learner.parameters()).device)
    new.restore({**copy.deepcopy(learner.checkpoint()), "iteration": learner.iteration})
    return new


def input_gradient(scorer, y):
    y = y.detach().requires_grad_(True)
    with frozen(scorer):
        (g,) = torch.autograd.grad(scorer(y).sum(), y)
    return g


def rel_error(got: list, want: list) -> float:
    flat = lambda ts: torch.cat([t.flatten().double() for t in ts])  # noqa: E731
    return float((flat(got) - flat(want)).norm() / flat(want).norm())


def precision_errors(learner, x, changes: dict, mutant_k=None) -> tuple[list[float], float]:
    """(relative error of ∂f/∂Y per grid, relative error of one step's parameter update) of learner's state under
    cfg changes (and a mutant scorer) against exact float32."""
    device = x.device
    idx = torch.arange(len(x))
    runs = {}
    for name, cfg in (("fp32", learner.cfg), ("this", learner.cfg.replace(**changes))):
        other = twin(learner, cfg)
        if name == "this" and mutant_k is not None:
            other.scorers = [Mutant(s, mutant_k) for s in other.scorers]
        speed.apply_backend_flags(cfg, device)  # process-wide (TF32): for this learner's sampling and update
        if name == "fp32":
            ys = twin(learner, cfg).run_chains(x, idx)  # the inputs: the float32 chains' samples
        grads = [input_gradient(s, y) for s, y in zip(other.scorers, ys)]
        before = [p.detach().clone() for p in other.parameters()]
        other.train_step(x, idx)
        runs[name] = grads, [p.detach() - b for p, b in zip(other.parameters(), before)]
    speed.apply_backend_flags(learner.cfg, device)
    per_grid = [rel_error([a], [b]) for a, b in zip(runs["this"][0], runs["fp32"][0])]
    return per_grid, rel_error(runs["this"][1], runs["fp32"][1])


def precision_cases():
    cuda = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
    return [pytest.param("cpu", "bf16", id="cpu-bf16"), pytest.param("cuda", "bf16", id="cuda-bf16", marks=cuda),
            pytest.param("cuda", "tf32", id="cuda-tf32", marks=cuda)]


@pytest.mark.slow
@pytest.mark.parametrize("device,precision", precision_cases())
def test_reduced_precision_keeps_the_fp32_gradients_and_update(device, precision, trained_fp32):
    """bf16 (CPU and CUDA) and TF32 (CUDA): ∂f/∂Y and one training step's update agree with exact float32 within
    TOLERANCES (see there for why these)."""
    learner, x = trained_fp32(torch.device(device))
    changes, tol_grad, tol_update = TOLERANCES[precision]
    per_grid, update = precision_errors(learner, x, changes)
    assert max(per_grid) < tol_grad and update < tol_update, (precision, per_grid, update)


@pytest.mark.slow
@pytest.mark.parametrize("k", [0.0, 10.0, -1.0], ids=["zeroed", "tenfold", "sign-flipped"])
def test_the_precision_comparison_fails_a_wrong_gradient(k, trained_fp32):
    """The comparison above has teeth: a bf16 scorer whose ∂f/∂Y is zeroed, 10× too large or of the wrong sign
    fails both the ∂f/∂Y and the update tolerance (on the CPU, in the normal suite)."""
    learner, x = trained_fp32(torch.device("cpu"))
    changes, tol_grad, tol_update = TOLERANCES["bf16"]
    per_grid, update = precision_errors(learner, x, changes, mutant_k=k)
    assert min(per_grid) > tol_grad and update > tol_update, (k, per_grid, update)


@pytest.mark.cuda
def test_cuda_tests_see_the_gpu():
    """tests/conftest.py hides a GPU from every test but those marked `cuda` (tests/test_gpu_check.py::
    test_tests_run_on_the_cpu): these see torch's own answer. Runs without a GPU too."""
    assert torch.cuda.is_available.__module__ == "torch.cuda" and os.environ.get("CUDA_VISIBLE_DEVICES") != ""


@pytest.mark.cuda
@pytest.mark.skipif(DEVICE.type != "cuda" or not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_a_captured_chain_equals_the_chain_it_captures():
    """The whole Langevin loop captured as one CUDA graph (repro.core.langevin.CapturedLangevin) and replayed twice
    on new inputs gives the chain langevin computes from the same start and noise (float32, TF32 off: equal up to the
    order of float sums that another algorithm choice may bring, 1e-3 of a pixel level)."""
    from repro.core.langevin import CapturedLangevin, draw_noise, langevin
    from repro.core.models import build_energy_net
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    net = build_energy_net(16, 3, width=0.25).to(DEVICE)
    kw = dict(steps=6, step_size=0.3, sigma=50.0, clip=(0.0, 255.0))
    captured = CapturedLangevin(net, (8, 3, 16, 16), **kw, device=DEVICE)
    gen = torch.Generator(DEVICE).manual_seed(0)
    for _ in range(2):
        y = torch.rand(8, 3, 16, 16, device=DEVICE, generator=gen) * 255
        draws = draw_noise(6, y.shape, generator=gen, device=DEVICE, dtype=y.dtype)
        assert torch.allclose(captured(y, draws), langevin(net, y, **kw, noise_draws=draws), atol=1e-3, rtol=0)
