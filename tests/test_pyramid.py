import pytest
import torch

from repro.core.pyramid import downscale, upscale


def test_shapes_and_block_average():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = downscale(x, 2)
    assert y.shape == (1, 1, 2, 2)
    assert y[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert downscale(x, 1).item() == x.mean()
    assert upscale(y, 4).shape == (1, 1, 4, 4)
    assert torch.equal(upscale(y, 4)[0, 0, :2, :2], y[0, 0, 0, 0].expand(2, 2))


@pytest.mark.parametrize("small,big", [(1, 4), (4, 16), (16, 64), (2, 8), (8, 32)])
def test_downscale_after_upscale_is_identity(small, big):
    x = torch.randn(3, 3, small, small, dtype=torch.float64)
    torch.testing.assert_close(downscale(upscale(x, big), small), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("small,big", [(1, 4), (4, 16), (16, 64)])
def test_upscale_after_downscale_is_orthogonal_projection(small, big):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, big, big, generator=g, dtype=torch.float64)
    z = torch.randn(2, 3, big, big, generator=g, dtype=torch.float64)
    P = lambda v: upscale(downscale(v, small), big)  # noqa: E731
    torch.testing.assert_close(P(P(x)), P(x))  # idempotent
    torch.testing.assert_close((P(x) * z).sum(), (x * P(z)).sum())  # self-adjoint
    assert abs(((x - P(x)) * P(z)).sum()) < 1e-9  # residual orthogonal to the range
    assert not torch.allclose(P(x), x)  # a real projection: details are lost


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="does not divide"):
        downscale(torch.zeros(1, 1, 10, 10), 4)
    with pytest.raises(ValueError, match="integer blocks"):
        upscale(torch.zeros(1, 1, 4, 4), 10)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        downscale(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="square"):
        downscale(torch.zeros(1, 1, 4, 8), 2)

