"""The speed switches of the sampler (Config fields compile, compile_mode, channels_last, autocast, tf32).

Training is Langevin sampling: 90 forward-and-backward passes to the input per iteration. The fast
path is always on: parameters are out of autograd while sampling (``repro.core.langevin.frozen``), only
∂f/∂Y is computed, and the loop never synchronises with the host. On top of it, each switch below
is off unless a measurement (``python -m tools.bench``, docs/performance.md) showed it helps on
the device in question; the presets record the choices.

- compile: ``torch.compile`` of each grid network's forward, used only while sampling (parameters
  frozen; the compiled graph includes the backward to the input). The parameter update calls the
  plain module, so the compiled graph is never re-traced for parameters that require grad.
  compile_mode "reduce-overhead" adds CUDA graphs.
- channels_last: networks and chains in channels-last memory format.
- autocast "bf16": the networks run under bfloat16 autocast while sampling (on CUDA; on the CPU too, where
  it is slow, so that the tests and the benchmark can check it); the first convolution
  (repro.core.models.EnergyNet), scores, ∂f/∂Y and the Langevin update itself stay in the chain's precision,
  data-parallel batch-norm statistics in float32 or more, and parameter updates in float32.
- tf32 (on by default): TF32 matmuls and convolutions on CUDA. Off sets both flags off, so float32 is
  exact float32.
- deterministic (off by default): deterministic CUDA kernels, so a GPU run repeats bit for bit on the same
  GPU model and software; slower. Without it, GPU runs differ in the last bits from run to run.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import torch
import torch.nn as nn

from repro.base.config import AUTOCASTS, COMPILE_MODES, Config


def check(cfg: Config) -> None:
    if cfg.compile_mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile_mode {cfg.compile_mode!r}; known: {', '.join(COMPILE_MODES)}")
    if cfg.autocast not in AUTOCASTS:
        raise ValueError(f"unknown autocast {cfg.autocast!r}; known: {', '.join(AUTOCASTS)}")


def apply_backend_flags(cfg: Config, device: torch.device) -> None:
    """Process-wide CUDA flags: TF32, and deterministic kernels. A no-op on the CPU. repro.base.io.device_name
    reads them back into the provenance of every row."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
        torch.backends.cudnn.deterministic = cfg.deterministic
        torch.backends.cudnn.benchmark = False  # the algorithm search itself is not repeatable
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for repeatability
        # warn_only: an op without a deterministic CUDA kernel warns (naming itself) instead of stopping a run
        torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)


def to_memory_format(x: torch.Tensor, cfg: Config) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last and x.dim() == 4 else x


class Scorer(nn.Module):
    """f(Y) of one grid network as the Langevin sampler calls it, with cfg's speed switches.

    Its parameters are the network's, so ``repro.core.langevin.langevin`` freezes them while sampling.
    Not a registered submodule of any learner: checkpoints hold the plain networks only.
    """

    def __init__(self, net: nn.Module, cfg: Config):
        super().__init__()
        check(cfg)
        self.net, self.cfg = net, cfg
        if cfg.compile:
            # Networks of one class share compiled code, one cache entry per input shape and memory
            # format; a task with several learners (grids 4, 16, 64, evaluation batch sizes) can pass
            # dynamo's default limit of 8 entries, beyond which it silently runs eagerly.
            dynamo_config = torch._dynamo.config
            dynamo_config.cache_size_limit = max(dynamo_config.cache_size_limit, 64)
            dynamo_config.accumulated_cache_size_limit = max(dynamo_config.accumulated_cache_size_limit, 512)
        # dynamic=False: one static graph per grid size; without it dynamo recompiles the second grid size it meets
        # with symbolic shapes (slower kernels, and again for each new size)
        self._set_fn(torch.compile(net, mode=cfg.compile_mode, dynamic=False) if cfg.compile else net)
        self.__dict__["autocast_seen"] = "not called"  # the autocast dtype of the last call (None: off; tools.bench)

    def _set_fn(self, fn) -> None:
        self.__dict__["_fn"] = fn  # a plain attribute: not a registered submodule

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # (B, C, s, s) → (B,)
        y = to_memory_format(y, self.cfg)
        ctx = (torch.autocast(y.device.type, dtype=torch.bfloat16) if self.cfg.autocast == "bf16"
               and y.device.type in ("cuda", "cpu") else contextlib.nullcontext())
        with ctx:
            on = y.device.type in ("cuda", "cpu") and torch.is_autocast_enabled(y.device.type)
            self.__dict__["autocast_seen"] = torch.get_autocast_dtype(y.device.type) if on else None
            try:
                f = self._fn(y)
            except torch._dynamo.exc.BackendCompilerFailed as err:  # e.g. no C++ compiler on the machine
                warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err).splitlines()[0]}); "
                              f"sampling continues without compilation")
                self._set_fn(self.net)
                f = self.net(y)
        return f.to(y.dtype)
