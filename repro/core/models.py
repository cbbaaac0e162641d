"""Per-grid energy ConvNets f_s(Y) (arXiv §7.1, CVPR §6.1).

Each network is a stack of convolution → batch norm → activation blocks
followed by a fully-connected layer to one output, the score f(Y) of eq. (1).

Batch norm: always batch statistics (``track_running_stats=False``), whether
the network scores observed images, scores synthesized images or drives
Langevin dynamics. This is what the official release does (every call passes
``training=True``; its moving averages are never read). Consequences, stated
once here: f of one image depends on the batch it is scored in, so observed
and synthesized batches are scored in separate forward passes (as in the
release) and the Langevin gradient of Σ_i f(Y_i) couples the chains of one
batch through the batch statistics.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from repro.base.dist import BatchNorm2d

# (out_channels, kernel, stride) per convolution.
ARCHS: dict[str, tuple[tuple[int, int, int], ...]] = {
    # 4×4 grid: 5×5 s2, then two 3×3 s1; 96-128-256
    "grid1": ((96, 5, 2), (128, 3, 1), (256, 3, 1)),
    # 16×16 grid: 5×5 s2, then three 3×3 s1; 96-128-256-512
    "grid2": ((96, 5, 2), (128, 3, 1), (256, 3, 1), (512, 3, 1)),
    # 64×64 grid (also the single-grid, CD1 and persistent-CD network): 5×5 s2, 3×3 s2, 3×3 s1
    "grid3": ((96, 5, 2), (128, 3, 2), (256, 3, 1)),
    # DCGAN discriminator (CVPR §6.3, SVHN L2-SVM features; also the release's des64)
    "dcgan": ((64, 5, 2), (128, 5, 2), (256, 5, 2), (512, 5, 2)),
}
ACTIVATIONS = ("relu", "leaky_relu")
POOL = 4  # the feature read-out max-pools every block's map to POOL × POOL (DCGAN)


def arch_for_size(grid_size: int) -> str:
    """The paper's network for a grid, chosen by size: ≤4 → grid1, ≤16 → grid2, else grid3."""
    return "grid1" if grid_size <= 4 else "grid2" if grid_size <= 16 else "grid3"


def _out_size(size: int, kernel: int, stride: int) -> int:
    # padding = kernel // 2 ("SAME" for odd kernels): ceil(size / stride)
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


class EnergyNet(nn.Module):
    """f_θ: (B, C, size, size) → (B,). ``feature_maps`` returns each block's output."""

    def __init__(self, grid_size: int, channels: int, layers, activation: str, leak: float,
                 first_norm: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        self.grid_size, self.channels = grid_size, channels
        blocks, c_in, s = [], channels, grid_size
        for i, (c_out, k, stride) in enumerate(layers):
            act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(leak)
            norm = BatchNorm2d(c_out) if i or first_norm else nn.Identity()
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, padding=k // 2), norm, act))
            c_in, s = c_out, _out_size(s, k, stride)
        self.blocks = nn.ModuleList(blocks)
        self.top_shape = (c_in, s, s)  # shape of the last feature map
        self.fc = nn.Linear(c_in * s * s, 1)
        for m in self.modules():  # Xavier-uniform weights, zero biases, as the release
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def check_input(self, y: torch.Tensor) -> None:
        want = (self.channels, self.grid_size, self.grid_size)
        if y.dim() != 4 or tuple(y.shape[1:]) != want:
            raise ValueError(f"energy net for the {self.grid_size}×{self.grid_size} grid expects "
                             f"(B, {want[0]}, {want[1]}, {want[2]}), got {tuple(y.shape)}")

    def feature_maps(self, y: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(y)
        maps, h = [], y
        for i, block in enumerate(self.blocks):
            if i == 0 and h.device.type in ("cuda", "cpu") and torch.is_autocast_enabled(h.device.type):
                # under bf16 autocast (repro.base.speed) the first convolution stays in the chain's precision: pixels in
                # [0, 255] have a bf16 spacing of 0.5 to 1 level, about the size of one Langevin step's noise
                with torch.autocast(h.device.type, enabled=False):
                    h = block(h)
            else:
                h = block(h)
            maps.append(h)
        return maps

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = self.feature_maps(y)[-1]  # (B, C_top, s, s)
        return self.fc(h.flatten(1)).squeeze(1)  # (B,)


def build_energy_net(grid_size: int, channels: int = 3, *, arch: str | None = None, width: float = 1.0,
                     activation: str = "leaky_relu", leak: float = 0.2, first_norm: bool = True) -> EnergyNet:
    """The energy network for one grid.

    arch: a key of ``ARCHS``; None picks the paper's network for the grid size.
    width: multiplies every channel count (1.0 is the paper; the smoke preset uses 0.25).
    activation: "leaky_relu" (CVPR version and the official release, slope 0.2) or "relu" (arXiv version).
    first_norm: batch norm after the first convolution (False for the DCGAN discriminator).
    """
    arch = arch or arch_for_size(grid_size)
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    if grid_size < 1 or channels < 1 or width <= 0:
        raise ValueError(f"bad network size: grid_size={grid_size}, channels={channels}, width={width}")
    layers = tuple((max(1, round(c * width)), k, s) for c, k, s in ARCHS[arch])
    return EnergyNet(grid_size, channels, layers, activation, leak, first_norm)


# --- the nets' feature read-out (the families' ``features`` verb; repro.evaluation.features fits the L2-SVM) ---

def maxpool_features(net, x: torch.Tensor) -> torch.Tensor:
    """(B, C, s, s) images at the net's grid → (B, 16 · Σ block channels).

    Each block's map (B, c_k, h_k, h_k) is adaptively max-pooled to (B, c_k, 4, 4). A map smaller
    than 4×4 is replicated: for 32×32 inputs the dcgan net's last map is 2×2 and each of its pixels
    fills a 2×2 block of the pooled map, so the dimension is the same as for 64×64 inputs.
    """
    pooled = [F.adaptive_max_pool2d(m, POOL).flatten(1) for m in net.feature_maps(x)]  # (B, 16 c_k)
    return torch.cat(pooled, dim=1)


def maxpool_dim(net) -> int:
    """16 · Σ channels of the net's conv blocks (15,360 for dcgan at width 1)."""
    return POOL * POOL * sum(block[0].out_channels for block in net.blocks)
