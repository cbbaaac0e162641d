"""Checks that need a CUDA GPU: skipped without one (CI has none); tools/gpu_check.sh runs them on a GPU.

On the CPU, tests/test_device_discipline.py stands the meta device in for CUDA (placement, host syncs,
generators). What only a GPU shows is checked here: CUDA generators and kernels, TF32 and bf16 numerics,
determinism, and runs moving between the CPU and the GPU.
"""
import dataclasses
import os

import pytest
import torch

from repro.base.config import get_config
from repro.datasets.data import load_dataset
from repro.runner.engine import load_checkpoint, load_learner, train
from repro.core.langevin import langevin
from repro.core.models import build_energy_net
from repro.base import speed
from repro.core.trainable import device_generator

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (tools/gpu_check.sh)")

FAMILIES = ["multigrid", "singlegrid", "cd1", "pcd", "dcgan", "coopnets", "gconvnet"]


def small(method: str, **kw):
    base = dict(method=method, batch_size=8, steps_per_grid=2, n_iters=2, checkpoint_every=1, z_dim=8,
                coop_steps=2, device="cuda")
    if method == "gconvnet":
        base.update(image_size=48, width=0.1, gcn_iters_per_layer=1, gcn_chains=4)
    return get_config("smoke", **{**base, **kw})


def weights(path) -> dict:
    return load_checkpoint(os.path.join(path, "checkpoint.pt"))["nets"]


@pytest.mark.parametrize("method", FAMILIES)
def test_every_family_trains_samples_and_moves_to_the_cpu(method, tmp_path):
    cfg = small(method)
    train_set = load_dataset(cfg, "train")
    learner = train(cfg, str(tmp_path / "run"), train_set=train_set, progress=False)
    assert next(learner.parameters()).is_cuda and learner.gen.device.type == "cuda"
    try:
        out = learner.sample(4, device_generator("cuda").manual_seed(0), train_set=train_set)
        assert all(o.device.type == "cpu" and torch.isfinite(o).all() for o in out)
    except NotImplementedError:
        pass
    cpu = load_learner(str(tmp_path / "run"), device="cpu")  # a GPU run read on the CPU
    assert next(cpu.parameters()).device.type == "cpu" and cpu.iteration == 2


def test_a_cpu_run_resumes_on_the_gpu(tmp_path):
    cfg = small("pcd", device="cpu", lr_final_ratio=1.0)
    train(cfg, str(tmp_path / "run"), progress=False)
    learner = train(dataclasses.replace(cfg, device="cuda", n_iters=3), str(tmp_path / "run"), resume=True,
                    progress=False)
    assert learner.iteration == 3 and next(learner.parameters()).is_cuda


def test_deterministic_runs_repeat_bit_for_bit(tmp_path):
    cfg = small("multigrid", deterministic=True, n_iters=3)
    train(cfg, str(tmp_path / "a"), progress=False)
    train(cfg, str(tmp_path / "b"), progress=False)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    speed.apply_backend_flags(dataclasses.replace(cfg, deterministic=False), torch.device("cuda"))


def test_bf16_and_tf32_chains_keep_the_fp32_sample_statistics():
    """bf16 autocast (first convolution in fp32) and TF32 are judged on distributions: after 30 steps from the
    same starts, the samples' mean and spread agree with exact float32 chains."""
    torch.manual_seed(0)
    net = build_energy_net(64, 3, width=0.25).cuda()
    y0 = torch.rand(64, 3, 64, 64, device="cuda") * 255
    stats = {}
    for name, kw in {"fp32": dict(tf32=False), "tf32": dict(tf32=True),
                     "bf16": dict(tf32=False, autocast="bf16")}.items():
        cfg = get_config("smoke", **kw)
        speed.apply_backend_flags(cfg, torch.device("cuda"))
        y = langevin(speed.Scorer(net, cfg), y0, steps=30, step_size=0.3, sigma=50.0,
                     generator=device_generator("cuda").manual_seed(1), clip=(0.0, 255.0))
        stats[name] = (float(y.mean()), float(y.std()))
    for name in ("tf32", "bf16"):
        assert abs(stats[name][0] - stats["fp32"][0]) < 1.0, stats
        assert abs(stats[name][1] / stats["fp32"][1] - 1) < 0.02, stats
