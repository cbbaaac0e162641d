"""The generative ConvNet of Xie, Lu, Zhu, Wu ("A theory of generative ConvNet", ICML 2016), as a Trainable of
the one training loop (repro.runner.engine.train).

p(I; w) ∝ exp(f(I; w)) N(0, σ²I), f the sum of the top layer's responses (eq. 2; §7.2: one fully connected
filter). Algorithm 1: M̃ chains (gcn_chains) are carried from iteration to iteration (started at 0, the mean
image) and moved by L = steps_per_grid Langevin steps (repro.core.langevin, eq. 19) before each update
w ← w + η (mean ∂f/∂w(observed) − mean ∂f/∂w(synthesized)). gcn_start="observed" starts the chains at the
batch's observed images instead: contrastive divergence (§7.3; L = 1 gives one-step CD).

Layers are grown one at a time (§7): layer k joins after (k − 1)·gcn_iters_per_layer iterations, the lower
layers keep learning; with gcn_iters_per_layer = 0 all layers learn at once (§7.3). Nets (NETS):
- texture (§7.1): 100 15×15 filters sub-sampling 3, 64 5×5, 30 3×3; f sums the top responses over filters and
  positions (a stationary model for one texture image);
- object (§7.2): 100 7×7 sub-sampling 2, 64 5×5, 20 3×3, then one fully connected filter over the whole map;
  "we always keep the top-layer single filter": one such filter per depth, the current depth's is used.

Choices the paper leaves open (ours): ReLU after every convolution (eq. 1), no padding; initial weights
N(0, 0.001²) and zero biases (Algorithm 1 starts at w = 0, where ReLU's gradient vanishes); Adam (lr, beta1 of
the Config, constant rate) for the paper's plain gradient step; images in [0, 255] minus the mean image of the
training batch ("we subtract the mean image"): pixel-wise for the object net (aligned images: the chains start at
the mean face), per channel for the texture net (for one texture image the pixel-wise mean image is the image
itself, so the mean intensity is read), taken at the first iteration and kept in the net's ``center`` buffer
(C, S, S) (in all three experiments the batch is the whole training set).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from repro.base import dist
from repro.base.config import Config
from repro.core.langevin import langevin
from repro.core.trainable import Trainable, grad_l1

# name → ((filters, kernel, sub-sampling) per layer, fully connected top filter)
NETS = {"texture": (((100, 15, 3), (64, 5, 1), (30, 3, 1)), False),
        "object": (((100, 7, 2), (64, 5, 1), (20, 3, 1)), True)}
INIT_STD = 0.001


def _out(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


class GrowingConvNet(nn.Module):
    """f(I): centred images (B, C, S, S) → (B,) scores, through the first ``depth`` layers."""

    def __init__(self, net: str, channels: int, image_size: int, width: float):
        super().__init__()
        if net not in NETS:
            raise ValueError(f"unknown generative ConvNet {net!r}; known: {', '.join(NETS)}")
        layers, fc = NETS[net]
        convs, heads, c_in, size = [], [], channels, image_size
        for filters, k, s in layers:
            c = max(1, round(filters * width))
            size = _out(size, k, s)
            if size < 1:
                raise ValueError(f"image size {image_size} is too small for the {net} net")
            convs.append(nn.Conv2d(c_in, c, k, s))
            heads.append(nn.Linear(c * size * size, 1) if fc else nn.Identity())
            c_in = c
        self.convs, self.heads, self.fc = nn.ModuleList(convs), nn.ModuleList(heads), fc
        self.depth = len(convs)  # layers in use (set by GenerativeConvNet while growing)
        self.register_buffer("center", torch.zeros(channels, image_size, image_size))  # (C, S, S) subtracted mean
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, INIT_STD)
                nn.init.zeros_(m.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = y
        for conv in self.convs[:self.depth]:
            h = F.relu(conv(h))  # (B, c, s, s)
        if self.fc:
            return self.heads[self.depth - 1](h.flatten(1)).squeeze(1)
        return h.flatten(1).sum(1)


class GenerativeConvNet(Trainable):
    """nets[0]: the energy net. Log row: f_obs, f_syn, grad ℓ1, loss."""

    def __init__(self, cfg: Config, channels: int, n_train: int):
        if dist.world_size() > 1:
            raise ValueError("the generative ConvNet's chains are not sharded: run it in one process, not torchrun")
        super().__init__(cfg)
        self.sizes = (cfg.image_size,)
        self.nets = nn.ModuleList([GrowingConvNet(cfg.gcn.net, channels, cfg.image_size, cfg.width)])
        self.opts = [torch.optim.Adam(self.nets[0].parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))]
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(self.opts[0], lambda t: 1.0)]
        # (M̃, C, S, S) centred chain states: a buffer, so they live on the device of the net (not in nets: the
        # checkpoint holds them as the family's extra state)
        self.register_buffer("chains", torch.zeros(cfg.gcn.n_chains, channels, cfg.image_size, cfg.image_size),
                             persistent=False)

    @property
    def net(self) -> GrowingConvNet:
        return self.nets[0]

    def depth_at(self, t: int) -> int:
        """Layers in use at iteration t."""
        per = self.cfg.gcn.iters_per_layer
        return len(self.net.convs) if per == 0 else min(len(self.net.convs), t // per + 1)

    def center(self, x: torch.Tensor) -> torch.Tensor:
        """[0, pixel_max] → [0, 255] minus the training mean (B, C, H, W)."""
        return x * (255.0 / self.cfg.pixel_max) - self.net.center

    def to_pixels(self, y: torch.Tensor) -> torch.Tensor:
        return (y + self.net.center) * (self.cfg.pixel_max / 255.0)

    def set_center(self, x: torch.Tensor) -> None:
        """The mean subtracted from images, from the training images x (B, C, S, S) in [0, pixel_max]: the object net
        (§7.2, aligned images) subtracts the pixel-wise mean image, so its chains start at the mean face; the texture
        net (one stationary image) the per-channel mean intensity, since the pixel-wise mean of one texture image
        is the image itself."""
        x = x.to(self.net.center) * (255.0 / self.cfg.pixel_max)
        mean = x.mean(0) if self.net.fc else x.mean((0, 2, 3)).view(-1, 1, 1).expand_as(self.net.center)
        self.net.center.copy_(mean)

    def run_chains(self, obs: torch.Tensor) -> torch.Tensor:
        """L Langevin steps of the chains: from their carried state, or from the observed batch obs (centred)."""
        cfg = self.cfg
        if cfg.gcn.start == "observed":
            y0 = obs
        else:
            y0 = self.chains
        y = langevin(self.net, y0, steps=cfg.steps_per_grid, step_size=cfg.step_size, sigma=cfg.sigma,
                     generator=self.gen)
        if cfg.gcn.start != "observed":
            self.chains = y.detach()
        return y

    def train_step(self, x, idx, mask=None):
        if mask is not None:
            raise ValueError("the generative ConvNet learns p(I); it takes no mask")
        if self.iteration == 0:
            self.set_center(x)
        self.net.depth = self.depth_at(self.iteration)
        obs = self.center(x)  # (B, C, H, W)
        syn = self.run_chains(obs)
        f_obs, f_syn = self.net(obs), self.net(syn)
        loss = f_syn.mean() - f_obs.mean()  # minimising this is Algorithm 1's ascent step
        self.opts[0].zero_grad(set_to_none=True)
        self.backward(loss, self.net)
        stats = torch.stack([f_obs.mean(), f_syn.mean(), grad_l1(self.net), loss]).detach()[None]
        self.step(stats, zip(self.opts, self.scheds))
        self.iteration += 1  # the loop sets it too; the depth of the next step depends on it
        return [self.to_pixels(syn)], stats

    def restore(self, ckpt: dict) -> None:
        super().restore(ckpt)
        self.net.depth = self.depth_at(max(0, self.iteration - 1))

    def extra_state(self) -> dict | None:
        return {"chains": self.chains}

    def load_extra_state(self, state: dict | None) -> None:
        self.chains = state["chains"].to(self.chains)  # a checkpoint is read onto the CPU

    def sample(self, n: int, generator: torch.Generator | None = None, **_) -> list[torch.Tensor]:
        """The first n of the M̃ learned chains (Algorithm 1's synthesized images: the generative ConvNet samples by
        carrying its chains, not by starting new ones), one (n, C, S, S) CPU batch in [0, pixel_max]."""
        if not 1 <= n <= len(self.chains):
            raise ValueError(f"the generative ConvNet holds {len(self.chains)} chains (--gcn-chains); asked for {n}")
        return [self.to_pixels(self.chains[:n]).cpu()]

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) relative auto-encoding error of images x (module function reconstruction_error)."""
        return reconstruction_error(self, x)

    def shuffled(self, seed: int) -> "GenerativeConvNet":
        """The control with every weight tensor's entries permuted (module function shuffled_weights)."""
        return shuffled_weights(self, seed)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The auto-encoding B_{w,δ}(I) = σ² ∂f/∂I at I (Proposition 3: the mean the one-step chain moves
        towards), for images x (B, C, H, W) in [0, pixel_max]; returned in the same units, on x's device."""
        obs = self.center(x.to(self.net.center)).detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.net(obs).sum(), obs)
        return self.to_pixels(self.cfg.sigma ** 2 * g).to(x)


def reconstruction_error(learner: GenerativeConvNet, x: torch.Tensor) -> torch.Tensor:
    """(B,) ‖I − B_{w,δ}(I)‖ / ‖I‖ with I the centred image: 1 when the net reconstructs nothing (B = 0).
    Computed on the learner's device; returned on x's."""
    xd = x.to(learner.net.center)
    obs = learner.center(xd)
    rec = learner.center(learner.reconstruct(xd))
    return ((obs - rec).flatten(1).norm(dim=1) / obs.flatten(1).norm(dim=1).clamp_min(1e-12)).to(x.device)


def shuffled_weights(learner: GenerativeConvNet, seed: int) -> GenerativeConvNet:
    """A control for the auto-encoding claim: the trained model with the entries of every weight and bias tensor
    permuted (seeded), so each layer keeps its norm, its value distribution and the mean image, and loses only what
    learning arranged. A reconstruction error below this control's is owed to the learned arrangement, not to the
    weights' scale (the untrained net, at N(0, 0.001²), reconstructs nothing by construction)."""
    import copy
    out = copy.deepcopy(learner)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.nets.parameters():
            flat = p.detach().flatten()
            p.copy_(flat[torch.randperm(flat.numel(), generator=g).to(flat.device)].view_as(p))
    return out
