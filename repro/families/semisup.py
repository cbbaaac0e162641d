"""The SVHN protocol's model families (CVPR §6.3 Table 3, arXiv §7.3 Table 2): ``TopMapHead``, the two-layer CNN on
the top feature maps of frozen nets (a learned model's, the raw pixels', the untrained control's), or with nets
trained end to end beside it (the supervised baseline, ``fresh_nets``). The protocol that trains and scores them
(data, label draws, the L2-SVM, the rows) is the task's: tasks/svhn_protocol.py and tasks/svhn_features.py.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from repro.base import dist
from repro.base.config import Config
from repro.core.methods import METHODS
from repro.core.models import build_energy_net
from repro.core.trainable import Trainable, grad_l1
from repro.datasets.data import ImageSet
from repro.evaluation.features import TopMapClassifier, map_stats, top_maps

# --- two-layer CNN on the grids' top maps -------------------------------------------------

def fresh_nets(cfg: Config, channels: int) -> nn.ModuleList:
    """The multigrid structure (one net per grid, cfg.archs or the paper's) at initialisation."""
    archs = METHODS["multigrid"].archs(cfg)
    return nn.ModuleList([build_energy_net(s, channels, arch=a, width=cfg.width, activation=cfg.activation,
                                           leak=cfg.leak) for s, a in zip(cfg.grid_sizes, archs)])


class TopMapHead(Trainable):
    """The CNN classifier (repro.evaluation.features.TopMapClassifier) on the top maps of `nets`, as a Trainable.

    nets given (a learned model's, or PixelMaps): frozen, read without gradients, their maps standardised
    per channel with the labeled images' statistics; only the head learns. nets None: the supervised
    baseline, the multigrid structure (``fresh_nets``) trained end to end with the head, maps as they are.
    One Adam (lr cfg.lr, β = (cfg.beta1, 0.999)) over everything that learns, constant rate; cross-entropy
    on `labeled`'s labels, the images the runner feeds. nets[0] is the head, nets[1] the supervised nets.
    Log rows: f_obs and f_syn 0 (no energies), the gradient's ℓ1 norm, the loss.
    """

    def __init__(self, cfg: Config, channels: int, n_train: int, *, labeled: ImageSet, nets=None, n_classes: int = 10):
        super().__init__(cfg)
        self.sizes, self.labels, self.supervised = (cfg.image_size,), labeled.labels, nets is None
        grids = fresh_nets(cfg, channels) if self.supervised else None  # drawn before the head, as always
        self._frozen = None if self.supervised else tuple(nets)  # a tuple is not registered: not trained
        head = TopMapClassifier([net.top_shape for net in (grids if self.supervised else nets)], n_classes)
        if not self.supervised:  # standardise the frozen maps with the labeled images' statistics
            held = [t for net in nets for t in (*net.parameters(), *net.buffers())]  # PixelMaps hold none
            device = held[0].device if held else dist.local_device(cfg.torch_device())  # where the nets are
            kw = {"pixel_max": cfg.pixel_max, "dtype": cfg.dtype(), "device": device}
            head.set_input_stats(map_stats(self.map_nets, labeled, cfg.batch_size, **kw))
        self.nets = nn.ModuleList([head, *([grids] if self.supervised else [])])
        self.opts = [torch.optim.Adam(self.nets.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))]
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(self.opts[0], lambda t: 1.0)]

    @property
    def map_nets(self):
        """The nets whose top maps the head reads: the supervised nets, or the frozen ones."""
        return self.nets[1] if self.supervised else self._frozen

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, H) images in [0, pixel_max] → (B, n_classes)."""
        return self.nets[0](top_maps(self.map_nets, x))

    def train_step(self, x, idx, mask=None):
        y = self.labels[idx].to(x.device)  # (B,)
        with torch.set_grad_enabled(self.supervised):
            maps = top_maps(self.map_nets, x)
        loss = F.cross_entropy(self.nets[0](maps), y)
        self.opts[0].zero_grad(set_to_none=True)
        self.backward(loss, self.nets)
        zero = torch.zeros((), device=loss.device, dtype=loss.dtype)
        stats = torch.stack([zero, zero, grad_l1(self.nets), loss]).detach()[None]  # (1, 4)
        self.step(stats, zip(self.opts, self.scheds))
        return [], stats


HEAD = "cnn_head"  # the method name of a head's run (config.json, run folder)


def head_config(cfg: Config, seed: int, n_labeled: int, epochs: int, lr: float) -> Config:
    """The head's run settings: the feature model's config with the head's seed, learning rate and β1 (Adam's
    default 0.9), a constant rate, and `epochs` passes over the labeled images in iterations."""
    per_epoch = n_labeled // min(cfg.batch_size, n_labeled)
    return dataclasses.replace(cfg, method=HEAD, seed=seed, n_iters=epochs * per_epoch, lr=lr, beta1=0.9,
                               lr_final_ratio=1.0)
