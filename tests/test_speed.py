"""The speed switches (repro.base.speed) change how the sampler computes, not what: compiled and
channels-last scoring give the plain network's scores, gradients, samples and learned parameters."""
import dataclasses
import warnings

import pytest
import torch
import torch._dynamo.exc as dynamo_exc

from repro.base import speed
from repro.base.config import get_config
from repro.core.langevin import frozen, langevin
from repro.core.learner import Learner
from repro.core.models import build_energy_net
from repro.runner.engine import train


def score_and_grad(fn, y):
    y = y.clone().requires_grad_(True)
    f = fn(y)
    (g,) = torch.autograd.grad(f.sum(), y)
    return f.detach(), g


@pytest.mark.slow
def test_compiled_channels_last_scorer_matches_the_network():
    torch.manual_seed(0)
    cfg = get_config("smoke", compile=True, channels_last=True)
    net = build_energy_net(32, 3, width=0.25)
    y = torch.rand(6, 3, 32, 32) * 255
    with frozen(net):
        f0, g0 = score_and_grad(net, y)
        scorer = speed.Scorer(net.to(memory_format=torch.channels_last), cfg)
        f1, g1 = score_and_grad(scorer, y)
        assert torch.allclose(f1, f0, rtol=1e-4, atol=1e-4)
        assert torch.allclose(g1, g0, rtol=1e-3, atol=1e-4 * float(g0.abs().max()))
        kw = dict(steps=5, step_size=0.3, sigma=50.0, clip=(0.0, 255.0))
        y0 = langevin(net, y, generator=torch.Generator().manual_seed(1), **kw)
        y1 = langevin(scorer, y, generator=torch.Generator().manual_seed(1), **kw)
    assert float((y1 - y0).abs().max()) < 1e-2  # pixel units, 0..255
    assert all(p.requires_grad for p in net.parameters())  # back in autograd after sampling


@pytest.mark.slow
def test_training_with_the_paper_switches_learns_the_same_parameters(tmp_path):
    """Two smoke iterations in float64 with compile + channels-last equal the plain run's parameters
    (float64: see tests/test_distributed.py for why float32 trajectories part after a few iterations)."""
    base = get_config("smoke", batch_size=8, n_iters=2, precision="float64")
    plain = train(base, str(tmp_path / "plain"), progress=False)
    fast = train(dataclasses.replace(base, compile=True, channels_last=True), str(tmp_path / "fast"), progress=False)
    a, b = plain.nets.state_dict(), fast.nets.state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    torch.manual_seed(base.seed)
    init = Learner(base, 1, 80).nets.state_dict()  # the initial parameters (same seed, same construction)
    assert max(float((a[k] - init[k].double()).abs().max()) for k in a) > 0.1  # it learned


def test_a_failed_compilation_falls_back_to_the_plain_network():
    net = build_energy_net(8, 1, width=0.25)
    scorer = speed.Scorer(net, get_config("smoke"))

    def broken(y):
        raise dynamo_exc.BackendCompilerFailed(broken, RuntimeError("no C++ compiler"), None)

    scorer._set_fn(broken)
    y = torch.rand(4, 1, 8, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = scorer(y)
    assert torch.equal(f, net(y)) and scorer._fn is net
    assert any("continues without compilation" in str(w.message) for w in caught)


@pytest.mark.parametrize("field,value", [("compile_mode", "fastest"), ("autocast", "fp8")])
def test_unknown_switch_values_are_refused(field, value):
    cfg = get_config("smoke", **{field: value})
    with pytest.raises(ValueError, match=f"unknown {field}"):
        Learner(cfg, 1, 10)


def test_bf16_autocast_keeps_the_first_convolution_and_the_sample_statistics():
    """bf16 autocast (on the CPU here; on CUDA in tests/test_cuda.py) runs the first convolution in float32, whose
    input pixels in [0, 255] would lose half a level in bfloat16, and the later ones in bfloat16; it is judged
    on distributions: after 30 steps from the same starts its samples keep the float32 chains' mean and spread."""
    torch.manual_seed(0)
    net = build_energy_net(16, 3, width=0.25)
    seen = []
    hooks = [net.blocks[i][0].register_forward_hook(lambda m, a, out: seen.append(out.dtype)) for i in (0, 1)]
    cfg = get_config("smoke", autocast="bf16")
    y0 = torch.rand(32, 3, 16, 16) * 255
    with frozen(net):
        speed.Scorer(net, cfg)(y0)
    assert seen == [torch.float32, torch.bfloat16]
    for h in hooks:
        h.remove()
    kw = dict(steps=30, step_size=0.3, sigma=50.0, clip=(0.0, 255.0))
    y32 = langevin(net, y0, generator=torch.Generator().manual_seed(1), **kw)
    y16 = langevin(speed.Scorer(net, cfg), y0, generator=torch.Generator().manual_seed(1), **kw)
    assert y16.dtype == torch.float32  # the chain and the update stay float32
    assert abs(float(y16.mean() - y32.mean())) < 1.0  # pixel levels
    assert abs(float(y16.std() / y32.std()) - 1) < 0.02
