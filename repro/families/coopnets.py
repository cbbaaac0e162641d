"""CoopNets (Xie, Lu, Gao, Wu: "Cooperative training of descriptor and generator networks", ICLR 2017
submission, §4 Algorithm 1 and §5.1), as a Trainable of the one training loop (repro.runner.engine.train).

Per iteration, for a batch of B training images Y_i (pixels mapped to [−1, 1]):
  G0: X_i ~ N(0, I), Ŷ_i = g(X_i) (the suite's DCGAN generator, repro.families.baselines.Generator);
  D1: Ỹ_i = L Langevin steps (repro.core.langevin, eq. 4) under the descriptor from Ŷ_i;
  G1: X_i kept as the latent of Ỹ_i (the paper: "we set l_G = 0 and infer X̃_i = X_i");
  D2: one step on mean f(Ỹ) − mean f(Y) (descriptor, eq. 5);
  G2: one step on Σ ‖Ỹ_i − g(X_i)‖² / (2σ_G²), mean over i (eq. 10 with Ỹ for Y; release gen_loss).

Descriptor (§5.1): 96 5×5 stride 2, 128 5×5 stride 2, 256 5×5 stride 2 (× width), then a fully connected layer
with coop_fc (50) outputs; f(Y) is the sum of the outputs (the release differentiates the vector of outputs, i.e.
their sum). Choices from the release (jianwen-xie/CoopNets, TensorFlow), the paper being silent: leaky ReLU 0.2
and no batch norm in the descriptor, padding "SAME", σ_D = 0.016, Adam (β1 0.5) with rates 0.007 (descriptor)
and 1e-4 (generator), σ_G = 0.3, chains = batch images, no noise added to g(X) in G0. Ours: initialisation
N(0, 0.02) for both nets (repro.families.baselines.dcgan_init); the generator's batch norm uses batch statistics, as
every network of the suite.

Face completion (§5.1): ``infer_latent`` runs Langevin dynamics on X (Algorithm G's step G1) for the residual on
the observed pixels only, from X ~ N(0, I); the completion is g(X) in the missing pixels.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from repro.base import dist
from repro.base.config import Config
from repro.configs.coopnets import INFER
from repro.core.langevin import langevin
from repro.core.trainable import Trainable, grad_l1
from repro.families.baselines import Generator, dcgan_init
from repro.families.latent import complete, infer_latent  # noqa: F401  (infer_latent: API)


def _width(c: int, width: float) -> int:
    return max(1, round(c * width))


class Descriptor(nn.Module):
    """f(Y): images (B, C, S, S) in [−1, 1] → (B,) scores; S divisible by 8."""

    def __init__(self, image_size: int, channels: int, width: float, n_out: int):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"the CoopNets descriptor needs an image size divisible by 8, got {image_size}")
        c1, c2, c3 = (_width(c, width) for c in (96, 128, 256))
        self.convs = nn.Sequential(
            nn.Conv2d(channels, c1, 5, 2, 2), nn.LeakyReLU(0.2),  # (B, c1, S/2, S/2)
            nn.Conv2d(c1, c2, 5, 2, 2), nn.LeakyReLU(0.2),  # (B, c2, S/4, S/4)
            nn.Conv2d(c2, c3, 5, 2, 2), nn.LeakyReLU(0.2))  # (B, c3, S/8, S/8)
        self.fc = nn.Linear(c3 * (image_size // 8) ** 2, n_out)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(y).flatten(1)).sum(1)  # (B,)


class CoopNets(Trainable):
    """nets[0]: descriptor, nets[1]: generator. Log rows: 1 = descriptor (f_obs, f_syn, grad ℓ1, loss),
    2 = generator (mean squared reconstruction error of Ỹ in [−1, 1] units twice, grad ℓ1, loss)."""

    def __init__(self, cfg: Config, channels: int, n_train: int):
        super().__init__(cfg)
        self.sizes = (cfg.image_size,)
        self.nets = nn.ModuleList([Descriptor(cfg.image_size, channels, cfg.width, cfg.coop.fc),
                                   Generator(cfg.gan.z_dim, cfg.image_size, channels, cfg.width)])
        dcgan_init(self.nets)
        self.opts = [torch.optim.Adam(n.parameters(), lr=lr, betas=(cfg.gan.beta1, 0.999))
                     for n, lr in zip(self.nets, (cfg.coop.lr, cfg.coop.g_lr))]
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0) for o in self.opts]

    @property
    def g_net(self) -> nn.Module:
        """The generator network g(X) (the paper's g; `generator` arguments are random generators)."""
        return self.nets[1]

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """[0, pixel_max] → [−1, 1]."""
        return x * (2.0 / self.cfg.pixel_max) - 1

    def to_pixels(self, u: torch.Tensor) -> torch.Tensor:
        """[−1, 1] → [0, pixel_max]."""
        return (u + 1) * (self.cfg.pixel_max / 2.0)

    def revise(self, y: torch.Tensor) -> torch.Tensor:
        """Step D1: coop_steps Langevin steps under the descriptor from y (B, C, S, S) in [−1, 1]."""
        cfg = self.cfg
        if cfg.coop.steps == 0:
            return y.detach()
        return langevin(self.nets[0], y, steps=cfg.coop.steps, step_size=cfg.coop.step_size, sigma=cfg.coop.sigma,
                        generator=self.gen)

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None, *,
                steps: int = INFER["infer_steps"], step_size: float = INFER["infer_step_size"], **_) -> torch.Tensor:
        """Face completion (§5.1): X inferred by Langevin dynamics on the observed pixels of x (B, C, S, S) in
        [0, pixel_max], the missing pixels (mask 1) from g(X) (repro.families.latent.complete)."""
        return complete(self.g_net, x, mask, pixel_max=self.cfg.pixel_max, z_dim=self.cfg.gan.z_dim, steps=steps,
                        step_size=step_size, sigma=self.cfg.coop.g_sigma, gen=generator or self.gen)

    def sample_with_revision(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n generator samples g(X) and their revisions by the descriptor (step D1), each (n, C, S, S) on the CPU in
        [0, pixel_max]; n at most the batch size (one batch: batch norm's statistics are the batch's)."""
        p = next(self.parameters())
        z = torch.randn(max(n, self.cfg.batch_size), self.cfg.gan.z_dim, generator=generator,
                        device=p.device).to(p.dtype)
        with torch.no_grad():
            y = self.g_net(z)
        rev = self.revise(y)
        return self.to_pixels(y)[:n].cpu(), self.to_pixels(rev)[:n].cpu()

    def train_step(self, x, idx, mask=None):
        if mask is not None:
            raise ValueError("CoopNets learns p(Y) from complete images; it takes no mask")
        d, g = self.nets
        p = next(self.parameters())
        z = dist.randn((len(x), self.cfg.gan.z_dim), generator=self.gen, device=p.device, dtype=p.dtype)  # G0
        with torch.no_grad():
            y_hat = g(z)  # (B, C, S, S) in [−1, 1]
        y_rev = self.revise(y_hat)  # D1 (G1: X kept)
        f_obs, f_syn = d(self.to_unit(x)), d(y_rev)  # separate passes, as the energy nets
        d_loss = f_syn.mean() - f_obs.mean()  # D2: minimising this is ascent on eq. (5)
        rec = g(z)
        sq = ((y_rev - rec) ** 2).flatten(1)  # (B, C·S·S)
        g_loss = sq.sum(1).mean() / (2 * self.cfg.coop.g_sigma ** 2)  # G2
        for opt in self.opts:
            opt.zero_grad(set_to_none=True)
        self.backward(d_loss, d)
        self.backward(g_loss, g)
        mse = sq.mean().detach()
        stats = torch.stack([torch.stack([f_obs.mean(), f_syn.mean(), grad_l1(d), d_loss]),
                             torch.stack([mse, mse, grad_l1(g), g_loss])]).detach()
        self.step(stats, zip(self.opts, self.scheds))
        return [self.to_pixels(y_rev)], stats
