"""The systems the paper re-ran beside its own: DCGAN and the ContextEncoder.

Both are Trainables (repro.core.trainable), trained by the same loop, data order, checkpoints and
logs as the energy models (repro.runner.engine.train).

DCGAN (Radford, Metz, Chintala 2015), as the DCGAN paper describes it: a generator that projects
a z_dim-dimensional latent to 4×4 maps and up-samples them by fractionally-strided convolutions
with batch norm and ReLU, and a tanh output; a discriminator of four 5×5
stride-2 convolutions, 64-128-256-512 channels, leaky ReLU 0.2, batch norm on every layer but the
first (the DCGAN paper's rule), and a fully-connected layer to one logit. The discriminator is
``repro.core.models.build_energy_net(arch="dcgan", first_norm=False)``, so its convolutional features
go through exactly the same feature and SVM functions as an energy ConvNet (repro.evaluation.features).
Adam, learning rate 2e-4, β1 0.5; non-saturating generator loss. Initialisation as the DCGAN paper
("all weights from a zero-centred normal distribution with standard deviation 0.02") and its code
(batch-norm gains from N(1, 0.02), biases zero): ``dcgan_init``, applied to both networks.
Choices the DCGAN paper leaves open, ours: z ~ N(0, I) (the paper says uniform noise; both are
used by its public code versions); 5×5 kernels in the generator; one discriminator and one
generator step per iteration; batch norm always with batch statistics (as the energy nets); real
and fake batches through the discriminator in separate passes (each with its own statistics);
images mapped from [0, pixel_max] to [−1, 1].

ContextEncoder (Pathak et al. 2016), the "inpaintRandom" variant the paper re-trained, following
their ``train_random.lua`` with the settings of their README's random-region command
(``useOverlapPred=0 wtl2=0.999 nBottleneck=4000 fineSize=64``):
- encoder: 4×4 stride-2 convolutions 64-128-256-512 (× width) down to 4×4, batch norm on all but the
  first, leaky ReLU 0.2; a 4×4 convolution to a ce_bottleneck-channel 1×1 code, batch norm, leaky
  ReLU; decoder: 4×4 fractionally-strided convolutions back to the full image (batch norm, ReLU,
  tanh output);
- discriminator: 4×4 stride-2 convolutions 64-128-256-512 (× width), batch norm on all but the
  first, leaky ReLU 0.2, a 4×4 convolution to one logit (their sigmoid + BCE = our BCE on logits);
  it sees the real image and the network's raw output (the whole predicted image, not the pasted
  completion);
- generator loss (1 − w)·adversarial + w·L2 with w = ce_rec_weight (their wtl2, 0.999); the L2 is
  the mean squared error over the whole output (their MSECriterion). With ce_overlap_pred on (their
  useOverlapPred=1) the observed pixels weigh 10× the missing ones in the L2;
- learning rates: the discriminator gan_lr, the generator 10 × gan_lr when 0 < w < 1 (as theirs);
  Adam β1 gan_beta1;
- missing input pixels filled with their mean colour (117, 104, 123)/255 (the mean of the three for
  images with another channel count);
- initialisation as ``dcgan_init``; no convolution biases (their code zeroes every convolution bias
  before each step, which is the same as having none).
Differences from their code, ours: masks are this suite's random squares (side image_size/2 at a
random position in each image, the multi-grid paper's protocol: "randomly place a 32 × 32 mask in
each image during training"), one per image, where their random-region variant draws one blob
pattern (≈25% of the pixels) per batch; batch norm with batch statistics throughout (as the energy
nets); data order, batch size and iterations are this suite's (the shared loop). At test time the
observed pixels are copied from the input bit for bit and only the missing pixels come from the
network. Their code does two things this suite's default does not, both available as settings for variant
runs: it jitters the training images (random crop of an up-scaled image and a random flip, ce_load_scale) and it
fills test images with the running batch-norm averages of training (net:evaluate(), ce_test_bn "running").
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from repro.base import dist
from repro.base.batching import fixed_batches
from repro.base.config import Config
from repro.base.dist import BatchNorm2d
from repro.configs.coopnets import INFER
from repro.core.models import build_energy_net, maxpool_dim, maxpool_features
from repro.core.trainable import Trainable, grad_l1
from repro.families.latent import complete


def _n_doublings(image_size: int) -> int:
    n = math.log2(image_size / 4)
    if n < 1 or n != int(n):
        raise ValueError(f"DCGAN and ContextEncoder need an image size 4·2^k (8, 16, 32, 64, ...), got {image_size}")
    return int(n)


def _width(c: int, width: float) -> int:
    return max(1, round(c * width))


def dcgan_init(module: nn.Module) -> None:
    """DCGAN paper and code: convolution and linear weights ~ N(0, 0.02), batch-norm gains ~ N(1, 0.02),
    every bias zero."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _up(c_in: int, c_out: int, k: int, last: bool = False) -> nn.Sequential:
    """×2 up-sampling by a fractionally-strided convolution; tanh on the last layer, else BN + ReLU."""
    conv = nn.ConvTranspose2d(c_in, c_out, k, 2, padding=(k - 1) // 2, output_padding=k % 2)
    if last:
        return nn.Sequential(conv, nn.Tanh())
    return nn.Sequential(conv, BatchNorm2d(c_out), nn.ReLU())


class Generator(nn.Module):
    """z (B, z_dim) → images (B, C, S, S) in [−1, 1]."""

    def __init__(self, z_dim: int, image_size: int, channels: int, width: float):
        super().__init__()
        n = _n_doublings(image_size)
        chans = [_width(64 * 2 ** i, width) for i in reversed(range(n))]  # e.g. 512, 256, 128, 64
        self.c0 = chans[0]
        self.project = nn.Sequential(nn.Linear(z_dim, self.c0 * 16),
                                     nn.Unflatten(1, (self.c0, 4, 4)),
                                     BatchNorm2d(self.c0), nn.ReLU())
        ups = [_up(a, b, 5) for a, b in zip(chans, chans[1:])] + [_up(chans[-1], channels, 5, last=True)]
        self.ups = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.ups(self.project(z))


def discriminator(image_size: int, channels: int, width: float) -> nn.Module:
    """The DCGAN discriminator: an energy-net structure with the dcgan arch, no BN on the first layer."""
    return build_energy_net(image_size, channels, arch="dcgan", width=width, activation="leaky_relu",
                            leak=0.2, first_norm=False)


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class _Adversarial(Trainable):
    """Shared plumbing: pixel scaling, Adam optimisers with constant learning rate."""

    def _optimise(self, g_lr_factor: float = 1.0):
        """Adam for nets[0] (discriminator) at gan_lr and nets[1] (generator) at g_lr_factor × gan_lr."""
        lrs = (self.cfg.gan.lr, self.cfg.gan.lr * g_lr_factor)
        self.opts = [torch.optim.Adam(n.parameters(), lr=lr, betas=(self.cfg.gan.beta1, 0.999))
                     for n, lr in zip(self.nets, lrs)]
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0) for o in self.opts]

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """[0, pixel_max] → [−1, 1]."""
        return x * (2.0 / self.cfg.pixel_max) - 1

    def to_pixels(self, u: torch.Tensor) -> torch.Tensor:
        """[−1, 1] → [0, pixel_max]."""
        return (u + 1) * (self.cfg.pixel_max / 2.0)

    def d_step(self, real_u: torch.Tensor, fake_u: torch.Tensor) -> torch.Tensor:
        """One discriminator step; returns [D(real), D(fake), grad ℓ1, loss] (before the step)."""
        d, opt = self.nets[0], self.opts[0]
        d_real, d_fake = d(real_u), d(fake_u.detach())  # separate passes: own batch statistics
        loss = bce(d_real, 1.0) + bce(d_fake, 0.0)
        opt.zero_grad(set_to_none=True)
        self.backward(loss, d)
        stats = torch.stack([d_real.mean(), d_fake.mean(), grad_l1(d), loss]).detach()
        self.step(stats[None], [(opt, self.scheds[0])])
        return stats

    def g_step(self, g_loss: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        g, opt = self.nets[1], self.opts[1]
        opt.zero_grad(set_to_none=True)
        self.backward(g_loss, g)
        stats = torch.stack([d_fake.mean(), d_fake.mean(), grad_l1(g), g_loss]).detach()
        self.step(stats[None], [(opt, self.scheds[1])])
        return stats


class DCGAN(_Adversarial):
    """nets[0]: discriminator, nets[1]: generator. Log rows: 1 = discriminator, 2 = generator."""

    def __init__(self, cfg: Config, channels: int, n_train: int):
        super().__init__(cfg)
        self.sizes = (cfg.image_size,)
        self.nets = nn.ModuleList([discriminator(cfg.image_size, channels, cfg.width),
                                   Generator(cfg.gan.z_dim, cfg.image_size, channels, cfg.width)])
        dcgan_init(self.nets)
        self._optimise()

    @property
    def features_net(self) -> nn.Module:
        return self.nets[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's conv blocks max-pooled to 4×4 (repro.core.models.maxpool_features), the images
        mapped to [−1, 1] as the discriminator saw them in training."""
        return maxpool_features(self.features_net, self.to_unit(x))

    @property
    def feature_dim(self) -> int:
        return maxpool_dim(self.features_net)

    def sample(self, n: int, generator: torch.Generator, **_) -> list[torch.Tensor]:
        """n images from the generator, [(n, C, S, S)] on the CPU, in fixed batches (repro.base.batching); a fresh
        latent batch is drawn for every batch (the chain settings of the Trainable verb do not apply)."""
        with torch.no_grad():
            return [torch.cat([self.generate(len(idx), generator)[:keep].cpu()
                               for idx, keep in fixed_batches(n, self.cfg.batch_size)])]

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None, *,
                steps: int = INFER["infer_steps"], step_size: float = INFER["infer_step_size"], **_) -> torch.Tensor:
        """Completion by latent inference on the observed pixels (repro.families.latent.complete), as the CoopNets paper
        completes with its DCGAN column: X inferred by Langevin dynamics, the missing pixels (mask 1) from g(X)."""
        return complete(self.nets[1], x, mask, pixel_max=self.cfg.pixel_max, z_dim=self.cfg.gan.z_dim, steps=steps,
                        step_size=step_size, sigma=self.cfg.coop.g_sigma, gen=generator or self.gen)

    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, C, S, S) in [0, pixel_max]; batch norm uses the batch's statistics."""
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.gan.z_dim, generator=generator or self.gen, device=p.device, dtype=p.dtype)
        return self.to_pixels(self.nets[1](z))

    def train_step(self, x, idx, mask=None):
        if mask is not None:
            raise ValueError("DCGAN learns p(Y); it takes no mask")
        p = next(self.parameters())
        z = dist.randn((len(x), self.cfg.gan.z_dim), generator=self.gen, device=p.device, dtype=p.dtype)
        fake = self.nets[1](z)  # (B, C, S, S) in [−1, 1]
        d_stats = self.d_step(self.to_unit(x), fake)
        d_fake = self.nets[0](fake)
        g_stats = self.g_step(bce(d_fake, 1.0), d_fake)  # non-saturating generator loss
        return [self.to_pixels(fake.detach())], torch.stack([d_stats, g_stats])


def _down_channels(image_size: int, width: float) -> list[int]:
    """64, 128, 256, 512 (× width) for the 4×4 stride-2 convolutions from image_size down to 4×4."""
    return [_width(64 * 2 ** i, width) for i in range(_n_doublings(image_size))]


def _down(image_size: int, channels: int, width: float, running: bool = False) -> list[nn.Module]:
    """4×4 stride-2 convolutions to 4×4 maps; batch norm on all but the first (running: with running averages,
    dist.BatchNorm2d); leaky ReLU 0.2; no bias."""
    layers, c_in = [], channels
    for i, c in enumerate(_down_channels(image_size, width)):
        layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=False), BatchNorm2d(c, running=running) if i else nn.Identity(),
                   nn.LeakyReLU(0.2)]
        c_in = c
    return layers


class EncoderDecoder(nn.Module):
    """Masked image (B, C, S, S) in [−1, 1] → full image in [−1, 1] (Pathak et al.'s netG). running: its batch
    norms keep running averages, for scoring in eval mode."""

    def __init__(self, image_size: int, channels: int, width: float, bottleneck: int, running: bool = False):
        super().__init__()
        chans = _down_channels(image_size, width)
        b = _width(bottleneck, width)
        bn = lambda c: BatchNorm2d(c, running=running)  # noqa: E731
        enc = _down(image_size, channels, width, running) + [nn.Conv2d(chans[-1], b, 4, bias=False), bn(b),
                                                              nn.LeakyReLU(0.2)]  # → (B, b, 1, 1)
        dec = [nn.ConvTranspose2d(b, chans[-1], 4, bias=False), bn(chans[-1]), nn.ReLU()]  # → 4×4
        rev = chans[::-1]
        for a, c in zip(rev, rev[1:]):
            dec += [nn.ConvTranspose2d(a, c, 4, 2, 1, bias=False), bn(c), nn.ReLU()]
        dec += [nn.ConvTranspose2d(rev[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*enc, *dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CEDiscriminator(nn.Module):
    """Pathak et al.'s netD: image (B, C, S, S) in [−1, 1] → (B,) logits."""

    def __init__(self, image_size: int, channels: int, width: float):
        super().__init__()
        c_top = _down_channels(image_size, width)[-1]
        self.net = nn.Sequential(*_down(image_size, channels, width), nn.Conv2d(c_top, 1, 4, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


# Pathak et al.'s fill of the missing input pixels: their mean colour, in [0, 255]
CE_FILL_RGB = (117.0, 104.0, 123.0)
CE_OVERLAP_WEIGHT = 10.0  # their useOverlapPred: observed pixels weigh 10× in the L2


def ce_fill(channels: int) -> torch.Tensor:
    """(C,) fill colour in [−1, 1]: their mean colour for RGB, the mean of its three values otherwise."""
    rgb = torch.tensor(CE_FILL_RGB)
    v = rgb if channels == 3 else rgb.mean().repeat(channels)
    return v * (2.0 / 255.0) - 1


class ContextEncoder(_Adversarial):
    """nets[0]: discriminator, nets[1]: the encoder-decoder."""

    def __init__(self, cfg: Config, channels: int, n_train: int):
        super().__init__(cfg)
        self.sizes = (cfg.image_size,)
        running = cfg.ce.test_bn == "running"
        self.nets = nn.ModuleList([CEDiscriminator(cfg.image_size, channels, cfg.width),
                                   EncoderDecoder(cfg.image_size, channels, cfg.width, cfg.ce.bottleneck, running)])
        dcgan_init(self.nets)
        w = cfg.ce.rec_weight
        self._optimise(g_lr_factor=10.0 if 0 < w < 1 else 1.0)  # their LR of Gen: 10× Adv when 0 < wtl2 < 1

    def complete(self, x_u: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_u (B, C, S, S) in [−1, 1], mask (B, 1, S, S) 1 = missing → (raw output, completed image)."""
        missing = mask.bool().expand_as(x_u)
        fill = ce_fill(x_u.shape[1]).to(x_u).view(1, -1, 1, 1).expand_as(x_u)
        out = self.nets[1](torch.where(missing, fill, x_u))  # (B, C, S, S)
        return out, torch.where(missing, out, x_u)

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator=None, **sampler) -> torch.Tensor:
        """x (B, C, S, S) in [0, pixel_max]; missing pixels from the network, observed ones copied. The network
        draws nothing: generator and the chain sampler's settings do not apply. With ce_test_bn "running" the
        encoder-decoder runs in eval mode (its running averages), so an image's fill does not depend on the
        other images of its batch."""
        g = self.nets[1]
        was_training = g.training
        g.train(self.cfg.ce.test_bn != "running")
        try:
            with torch.no_grad():
                out, _ = self.complete(self.to_unit(x), mask)
        finally:
            g.train(was_training)
        return torch.where(mask.bool().expand_as(x), self.to_pixels(out), x)

    def jitter(self, x: torch.Tensor) -> torch.Tensor:
        """Their training-data jitter (ce_load_scale > 0): x (B, C, S, S) scaled to round(load_scale·S), a random
        S×S crop of each image, each flipped left-right with probability 1/2, drawn from the model's generator;
        indices stay on the device (no host read)."""
        b, c, s, _ = x.shape
        load = max(s, round(self.cfg.ce.load_scale * s))
        big = F.interpolate(x, size=(load, load), mode="bilinear", align_corners=False)  # (B, C, L, L)
        off = torch.randint(0, load - s + 1, (2, b), generator=self.gen, device=self.gen.device).to(x.device)
        flip = torch.rand(b, generator=self.gen, device=self.gen.device).to(x.device) < 0.5
        span = torch.arange(s, device=x.device)
        rows = (off[0, :, None] + span)[:, None, :, None]  # (B, 1, S, 1)
        cols = (off[1, :, None] + span)  # (B, S)
        cols = torch.where(flip[:, None], cols.flip(-1), cols)[:, None, None, :]  # (B, 1, 1, S)
        return big[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]  # (B, C, S, S)

    def rec_loss(self, out: torch.Tensor, x_u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the whole output; observed pixels weigh CE_OVERLAP_WEIGHT× with
        ce_overlap_pred (normalised by the pixel count, as their MSECriterion)."""
        sq = (out - x_u) ** 2  # (B, C, S, S)
        if not self.cfg.ce.overlap_pred:
            return sq.mean()
        m = mask.to(sq.dtype).expand_as(sq)
        return (sq * (m + CE_OVERLAP_WEIGHT * (1 - m))).mean()

    def train_step(self, x, idx, mask=None):
        if mask is None:
            raise ValueError("the ContextEncoder learns to fill masked pixels: it needs a training mask")
        if self.cfg.ce.load_scale:
            x = self.jitter(x)
        x_u = self.to_unit(x)
        out, completed = self.complete(x_u, mask)
        d_stats = self.d_step(x_u, out)  # the discriminator sees the raw output
        d_fake = self.nets[0](out)
        w = self.cfg.ce.rec_weight
        g_stats = self.g_step((1 - w) * bce(d_fake, 1.0) + w * self.rec_loss(out, x_u, mask), d_fake)
        return [self.to_pixels(completed.detach())], torch.stack([d_stats, g_stats])
