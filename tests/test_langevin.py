import math

import pytest
import torch

from repro.base.io import NonFiniteError
from repro.core.langevin import frozen, langevin
from repro.core.models import build_energy_net


def linear_score(theta):
    return lambda y: (theta * y).sum(dim=(1, 2, 3))  # f(Y) = <θ, Y>


@pytest.mark.slow
@pytest.mark.parametrize("sigma,delta", [(1.0, 1.0), (2.0, 0.8)])
def test_linear_score_reaches_stationary_law(sigma, delta):
    # p(Y) ∝ exp(<θ,Y>) N(0, σ²I) = N(σ²θ, σ²I); the discretised chain has mean σ²θ and
    # variance σ²/(1 − δ²/(4σ²)) (the unadjusted-Langevin bias, here 33% and 4%).
    g = torch.Generator().manual_seed(0)
    theta = torch.linspace(-1, 1, 64, dtype=torch.float64).view(1, 1, 8, 8)
    y0 = torch.zeros(4096, 1, 8, 8, dtype=torch.float64)
    y = langevin(linear_score(theta), y0, steps=300, step_size=delta, sigma=sigma, generator=g)
    var_theory = sigma ** 2 / (1 - delta ** 2 / (4 * sigma ** 2))
    n = y.shape[0]
    mean_err = (y.mean(0) - sigma ** 2 * theta).abs().max()
    # per pixel: standard error of the mean sqrt(var/n); max over 64 pixels within 4.5 SE
    assert mean_err < 4.5 * math.sqrt(var_theory / n)
    var_hat = y.var(0).mean()  # pooled over 64 pixels: SE ≈ var·sqrt(2/(64 n))
    se = var_theory * math.sqrt(2 / (64 * n))
    assert abs(var_hat - var_theory) < 5 * se
    assert abs(var_hat - sigma ** 2) > 5 * se  # the test can tell the biased from the exact law


def test_noise_free_chain_converges_to_mode():
    theta = torch.full((1, 2, 4, 4), 0.5, dtype=torch.float64)
    y = langevin(linear_score(theta), torch.zeros(3, 2, 4, 4, dtype=torch.float64), steps=400,
                 step_size=0.5, sigma=1.5, noise=False)
    torch.testing.assert_close(y, (1.5 ** 2 * theta).expand(3, 2, 4, 4))


def test_same_generator_seed_same_chain():
    theta = torch.ones(1, 1, 4, 4)
    run = lambda: langevin(linear_score(theta), torch.zeros(2, 1, 4, 4), steps=5, step_size=0.3,  # noqa
                           sigma=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(run(), run())


@pytest.mark.slow
def test_masked_langevin_holds_observed_pixels_bit_identical():
    torch.manual_seed(0)
    net = build_energy_net(16, 3, width=0.25)
    y0 = torch.rand(4, 3, 16, 16) * 255
    mask = torch.zeros(4, 1, 16, 16)
    mask[:, :, 4:12, 2:9] = 1  # 1 = missing, may move
    y = langevin(net, y0, steps=10, step_size=5.0, sigma=50.0, update_mask=mask, clip=(0.0, 255.0),
                 generator=torch.Generator().manual_seed(0))
    held = (mask == 0).expand_as(y)
    assert torch.equal(y[held], y0[held])
    assert (y[~held] != y0[~held]).float().mean() > 0.99  # masked pixels did move


def test_parameters_stay_out_of_autograd_while_sampling():
    net = build_energy_net(4, 3, width=0.25)
    seen = []

    def score(y):
        seen.append(all(not p.requires_grad for p in net.parameters()))
        return net(y)

    class Wrapped(torch.nn.Module):  # a Module score_fn is frozen by langevin itself
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, y):
            return score(y)

    langevin(Wrapped(), torch.rand(4, 3, 4, 4), steps=3, step_size=0.3, sigma=1.0)
    assert seen == [True] * 3
    assert all(p.requires_grad and p.grad is None for p in net.parameters())  # restored, no grads left


def test_frozen_restores_flags_on_error():
    net = build_energy_net(4, 1, width=0.25)
    with pytest.raises(RuntimeError):
        with frozen(net):
            raise RuntimeError("boom")
    assert all(p.requires_grad for p in net.parameters())


def test_bad_input_raises():
    f = linear_score(torch.ones(1, 1, 2, 2))
    y = torch.zeros(2, 1, 2, 2)
    with pytest.raises(NonFiniteError, match="initial"):
        langevin(f, torch.full_like(y, float("nan")), steps=1, step_size=0.1, sigma=1.0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        langevin(f, torch.zeros(2, 2), steps=1, step_size=0.1, sigma=1.0)
    with pytest.raises(ValueError, match="step_size"):
        langevin(f, y, steps=1, step_size=0.0, sigma=1.0)
    with pytest.raises(NonFiniteError, match="non-finite"):
        langevin(lambda v: (v * float("inf")).sum((1, 2, 3)), y + 1, steps=2, step_size=0.1, sigma=1.0)


def reference_langevin(net, y, *, steps, step_size, sigma, generator, clip):
    """Oracle: eq. (8) written out, parameters left in autograd, one noise draw per step."""
    for _ in range(steps):
        y = y.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(y).sum(), y)
        u = torch.randn(y.shape, generator=generator, dtype=y.dtype)
        y = (y - step_size ** 2 / 2 * (y / sigma ** 2 - grad) + step_size * u).clamp(*clip)
    return y.detach()


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_path_equals_the_reference(channels_last):
    """The sampler training uses (repro.base.speed.Scorer: parameters out of autograd, only ∂f/∂Y) gives the
    reference's samples for the same noise, up to float32 rounding."""
    from repro.base import speed
    from repro.base.config import get_config
    torch.manual_seed(0)
    net = build_energy_net(8, 3, width=0.25)
    cfg = get_config("smoke", channels_last=channels_last)
    y0 = torch.rand(6, 3, 8, 8) * 255
    kw = dict(steps=5, step_size=0.3, sigma=50.0, clip=(0.0, 255.0))
    ref = reference_langevin(net, y0, generator=torch.Generator().manual_seed(1), **kw)
    scorer = speed.Scorer(net.to(memory_format=torch.channels_last) if channels_last else net, cfg)
    fast = langevin(scorer, y0, generator=torch.Generator().manual_seed(1), **kw)
    assert (fast - ref).abs().max() < 1e-3 and (ref - y0).abs().max() > 1  # agree, and the chain moved
    assert all(p.requires_grad for p in net.parameters())  # the fast path handed the parameters back


@pytest.mark.parametrize("noise", [True, False])
def test_noise_drawn_before_the_chain_gives_the_same_chain_bit_for_bit(noise):
    """draw_noise draws every step's noise before the loop with the calls the loop would make: the chain given those
    draws equals the chain that draws as it goes, bit for bit, and the generator ends in the same state. This is
    what lets the whole loop be captured as a CUDA graph (CapturedLangevin) without changing a single draw."""
    from repro.core.langevin import draw_noise
    net = build_energy_net(16, 3, width=0.25)
    y = torch.rand(4, 3, 16, 16) * 255
    kw = dict(steps=5, step_size=0.3, sigma=50.0, noise=noise, clip=(0.0, 255.0))
    as_it_goes, before = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = langevin(net, y, **kw, generator=as_it_goes)
    draws = draw_noise(5, y.shape, generator=before, device=y.device, dtype=y.dtype)
    b = langevin(net, y, **kw, noise_draws=draws)
    assert torch.equal(a, b)
    if noise:  # the same draws, in the same order
        assert torch.equal(as_it_goes.get_state(), before.get_state())
    with pytest.raises(ValueError, match="noise_draws of shape"):
        langevin(net, y, **kw, noise_draws=draws[:4])


def test_a_captured_chain_needs_a_gpu():
    from repro.core.langevin import CapturedLangevin
    with pytest.raises(ValueError, match="needs a CUDA device"):
        CapturedLangevin(build_energy_net(16, 3, width=0.25), (4, 3, 16, 16), steps=2, step_size=0.3, sigma=50.0,
                         device="cpu")
