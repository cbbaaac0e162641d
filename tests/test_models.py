import pytest
import torch

from repro.core.models import ARCHS, build_energy_net


@pytest.mark.parametrize("size,arch,top", [
    (4, "grid1", (256, 2, 2)), (16, "grid2", (512, 8, 8)), (64, "grid3", (256, 16, 16)),
    (64, "dcgan", (512, 4, 4)), (32, "dcgan", (512, 2, 2))])
def test_paper_networks(size, arch, top):
    net = build_energy_net(size, 3, arch=arch)
    assert net.top_shape == top
    convs = [b[0] for b in net.blocks]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == list(ARCHS[arch])
    y = torch.rand(2, 3, size, size) * 255
    f = net(y)
    assert f.shape == (2,) and torch.isfinite(f).all()
    maps = net.feature_maps(y)
    assert tuple(maps[-1].shape[1:]) == top


@pytest.mark.parametrize("size,expected", [(4, "grid1"), (16, "grid2"), (64, "grid3"), (2, "grid1"),
                                           (8, "grid2"), (32, "grid3")])
def test_default_arch_by_grid_size(size, expected):
    net = build_energy_net(size, 1, width=0.25)
    assert len(net.blocks) == len(ARCHS[expected])
    assert net(torch.rand(3, 1, size, size)).shape == (3,)


def test_width_activation_and_batchnorm():
    net = build_energy_net(16, 3, width=0.25, activation="relu")
    assert net.blocks[0][0].out_channels == 24
    assert isinstance(net.blocks[0][2], torch.nn.ReLU)
    leaky = build_energy_net(16, 3)
    assert leaky.blocks[0][2].negative_slope == 0.2
    bn = net.blocks[0][1]
    assert bn.running_mean is None  # always batch statistics: train and eval behave the same
    y = torch.rand(4, 3, 16, 16)
    assert torch.equal(net.train()(y), net.eval()(y))


def test_bad_input_raises():
    net = build_energy_net(16, 3)
    with pytest.raises(ValueError, match="16×16 grid expects"):
        net(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="expects"):
        net(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_energy_net(16, arch="resnet")
    with pytest.raises(ValueError, match="unknown activation"):
        build_energy_net(16, activation="tanh")
