"""Data-parallel training across processes: ``torchrun --nproc_per_node=N -m tasks.synthesis ...``.

Every process holds a full replica of the networks and optimisers and runs its share of each
batch's chains: the global batch of iteration t is the one a single process would use
(``repro.runner.engine.BatchOrder``), cut into N equal contiguous shards, one per process (rank). What
keeps the N-process run equal to the 1-process run, up to floating-point rounding:

- Batch norm uses batch statistics everywhere (repro.core.models), also inside Langevin dynamics, so
  the statistics are those of the global batch: ``BatchNorm2d`` all-reduces each channel's count,
  sum and centred sum of squares (one collective per layer in the forward pass, in float64, and one
  for their gradient in the backward pass), so the Langevin gradient and the parameter gradient
  include the coupling through the statistics exactly as in one process. (``torch.nn.SyncBatchNorm``
  does this on GPUs only.) That is 2 collectives per batch-norm layer per Langevin step: 647 per
  paper iteration (tests/test_distributed.py counts them). ``--batchnorm local`` takes each process's
  own statistics instead (7 collectives per iteration, none while sampling), which is another model:
  statistics of B/N images; it is recorded in the run's config, so such runs never mix with global ones.
- Random draws (Langevin noise, DCGAN latents, training masks) are made for the global batch from
  the one generator every process holds in the same state, and each process keeps its shard.
- Gradients are averaged over processes (one all-reduce per network) before each optimiser step,
  and the logged statistics likewise, so every process takes the same step and makes the same
  non-finite decision. We all-reduce by hand instead of wrapping the networks in
  ``DistributedDataParallel``: the same networks are also called with frozen parameters for
  ∂f/∂Y inside the sampler, which DDP's hooks do not expect.
- Persistent-CD chains are gathered after each iteration so every process holds them all.

Checkpoints, logs, figures and result CSVs are written by rank 0 only. A checkpoint holds only
global state, so a run can be resumed with a different number of processes (the batch size must
divide by it). The run folder must be on a file system every process sees. The backend is gloo on
CPUs and NCCL on GPUs; process rank r uses GPU LOCAL_RANK.
"""
from __future__ import annotations

import contextlib
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn

_SHARDED = False  # True inside data_parallel(): the batch dimension is split over the processes
_GLOBAL_BN = True  # inside data_parallel(): batch norm over the global batch (Config.batchnorm "global")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> None:
    """Join the process group when launched by torchrun with more than one process (idempotent)."""
    if world_size() == 1 or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def local_device(device: torch.device) -> torch.device:
    """The device of this process. Under torchrun with several processes a CUDA device is GPU LOCAL_RANK,
    whatever index --device names (``--device cuda:0`` would put every process on GPU 0, which NCCL refuses);
    a note says so when the index named differs."""
    if device.type == "cuda" and world_size() > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is not None and device.index != local and is_main():
            print(f"note: --device {device} under torchrun: each process uses GPU LOCAL_RANK (this one cuda:{local}); "
                  f"choose the GPUs with CUDA_VISIBLE_DEVICES", file=sys.stderr, flush=True)
        return torch.device("cuda", local)
    return device


def teardown() -> None:
    """Leave the process group (at the end of a task or run), so that no process exits holding it."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def on_main(fn, *args, **kwargs):
    """fn(*args, **kwargs) on rank 0 alone, its result or its error handed to every process.

    A check or a decision that only rank 0 makes (a folder is writable, a run folder holds a finished run)
    then holds, or fails with the same error, on every process alike: no process goes on to a collective
    that the others never reach (they would wait out the backend's timeout). The result must pickle; one
    process (or no process group): just fn(*args, **kwargs)."""
    if world_size() == 1 or not dist.is_initialized():
        return fn(*args, **kwargs)
    box = [None]
    if is_main():
        try:
            box[0] = ("ok", fn(*args, **kwargs))
        except Exception as err:  # handed to every process, then raised on each
            box[0] = ("error", err)
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def all_true(flags: torch.Tensor) -> torch.Tensor:
    """(k,) bool flags → (k,) bool: each flag true on every process (flags itself outside data_parallel).
    One collective, no host sync."""
    if not active():
        return flags
    return gather(flags.reshape(1, -1).int()).all(dim=0)


def max_over_processes(value: int, device: torch.device) -> int:
    """The largest of every process's `value` (one collective; `value` itself without a process group). E.g. the
    signal that asked some of the processes to stop (0: none), so that all stop after the same iteration."""
    if world_size() == 1 or not dist.is_initialized():
        return value
    t = torch.tensor([value], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def active() -> bool:
    return _SHARDED and world_size() > 1


@contextlib.contextmanager
def data_parallel(batchnorm: str = "global"):
    """Inside this block (training iterations), batches are sharded across the processes; batchnorm "global"
    takes batch-norm statistics over the global batch, "local" over each process's share (Config.batchnorm)."""
    global _SHARDED, _GLOBAL_BN
    if world_size() > 1 and not dist.is_initialized():
        raise RuntimeError("data_parallel: WORLD_SIZE > 1 but no process group; call repro.base.dist.setup first")
    old, _SHARDED = (_SHARDED, _GLOBAL_BN), True
    _GLOBAL_BN = batchnorm == "global"
    try:
        yield
    finally:
        _SHARDED, _GLOBAL_BN = old


def shard(x: torch.Tensor) -> torch.Tensor:
    """This process's contiguous share of a global batch (all of it outside data_parallel)."""
    if not active():
        return x
    n = world_size()
    if len(x) % n:
        raise ValueError(f"a batch of {len(x)} does not split evenly over {n} processes")
    b = len(x) // n
    return x[rank() * b:(rank() + 1) * b]


def randn(local_shape, *, generator: torch.Generator | None, device, dtype) -> torch.Tensor:
    """N(0, I) draws of shape local_shape: drawn for the global batch, then sharded, so that the
    draws of a sample do not depend on the number of processes."""
    shape = tuple(local_shape)
    if active():
        shape = (shape[0] * world_size(), *shape[1:])
    return shard(torch.randn(shape, generator=generator, device=device, dtype=dtype))


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's shard along the batch dimension (the input outside data_parallel)."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def average_(tensors) -> None:
    """Average tensors over the processes in place (one flattened all-reduce)."""
    tensors = [t for t in tensors if t is not None]
    if not active() or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over processes: the gradient of a global sum is itself summed."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class BatchNorm2d(nn.BatchNorm2d):
    """Batch norm with batch statistics, taken over the global batch inside data_parallel(). Same parameters and
    state-dict keys as ``torch.nn.BatchNorm2d``. running: also keep running averages (momentum 0.1) for a network
    that is scored in eval mode (the ContextEncoder's ce_test_bn "running"); they never change a training output,
    and inside data_parallel() with global batch norm they are not updated (no such run uses them)."""

    def __init__(self, num_features: int, eps: float = 1e-5, running: bool = False):
        super().__init__(num_features, eps=eps, track_running_stats=running)

    @torch.compiler.disable
    def _global_forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B_local, C, H, W)
        n = x.numel() // x.shape[1]  # per-channel count on this process
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # float32 at least, also under bf16 autocast
        m = xf.mean(dim=(0, 2, 3))  # local mean (C,)
        m2 = ((xf - m.view(1, -1, 1, 1)) ** 2).sum(dim=(0, 2, 3))  # local centred sum of squares
        m, m2 = m.double(), m2.double()
        # Chan et al.'s pooled moments: N, Σ n m_r, Σ (M2_r + n m_r²); float64 keeps N μ² from cancelling
        tot = _AllReduceSum.apply(torch.cat([n * m, m2 + n * m ** 2, m.new_full((1,), float(n))]))
        c = x.shape[1]
        count = tot[-1]
        mean = tot[:c] / count
        var = (tot[c:2 * c] / count - mean ** 2).clamp_min(0)  # biased, as batch norm normalises
        scale = (var + self.eps).rsqrt().to(xf.dtype)
        y = (xf - mean.to(xf.dtype).view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)
        return (y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if active() and _GLOBAL_BN:
            return self._global_forward(x)
        return super().forward(x)
