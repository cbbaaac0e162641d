"""Benchmark of the sampler and the learning step: ``python -m repro.bench``.

For each grid network of a preset (smoke, paper) it times, on the same inputs and in one run:
- one Langevin step on the fast path used by training (``repro.langevin.langevin``: parameters out
  of autograd, only ∂f/∂Y computed, no host synchronisation inside the loop), and on a plain
  reference path (parameters left in autograd, ``torch.autograd.grad`` over the input and every
  parameter), checking that both give the same samples (same noise) within a tolerance;
- one parameter update of the whole learner (every grid), and one full multi-grid iteration.
It prints milliseconds per step, images per second, the reference/fast ratio, the FLOP count of a
step (torch.utils.flop_counter), the achieved TFLOP/s on CUDA and peak CUDA memory, and writes
rows to results/bench.csv with device, commit and date. It is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from repro.config import get_config
from repro.engine import Learner
from repro.io import provenance, write_csv
from repro.langevin import frozen, langevin, langevin_step

COLUMNS = ["preset", "what", "size", "batch", "path", "ms", "images_per_s", "ratio_ref_over_fast",
           "max_abs_diff", "gflop", "tflops", "peak_mem_mb", "device", "commit", "date"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of fn() over `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        tic = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def reference_langevin(net, y, *, steps, step_size, sigma, generator, clip):
    """The plain path: parameters stay in autograd and every gradient is computed at each step."""
    params = [p for p in net.parameters() if p.requires_grad]
    for _ in range(steps):
        y_var = y.detach().requires_grad_(True)
        grads = torch.autograd.grad(net(y_var).sum(), [y_var, *params])
        u = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        y = langevin_step(y_var.detach(), grads[0], step_size=step_size, sigma=sigma, noise=u).clamp(*clip)
    return y


def step_flops(net, y) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with frozen(net), FlopCounterMode(display=False) as counter:  # forward + backward to the input
        y_var = y.detach().requires_grad_(True)
        net(y_var).sum().backward()
    return float(counter.get_total_flops())


def bench_preset(preset: str, batch: int | None, repeats: int, device: torch.device, prov: dict) -> list[dict]:
    cfg = get_config(preset, device=str(device), **({"batch_size": batch} if batch else {}))
    torch.manual_seed(0)
    learner = Learner(cfg, 3, cfg.batch_size).to_device(device, cfg.dtype())
    b, rows = cfg.batch_size, []
    row = lambda **kw: {"preset": preset, "batch": b, "ratio_ref_over_fast": "", "max_abs_diff": "", "gflop": "",  # noqa
                        "tflops": "", "peak_mem_mb": "", **kw, **{k: prov[k] for k in ("device", "commit", "date")}}
    x = torch.rand(b, 3, cfg.image_size, cfg.image_size, device=device) * cfg.pixel_max
    for net, size in zip(learner.nets, learner.sizes):
        y = torch.rand(b, 3, size, size, device=device) * cfg.pixel_max
        kw = dict(steps=1, step_size=cfg.step_size, sigma=cfg.sigma)
        fast = lambda g=None: langevin(net, y, **kw, generator=g, clip=cfg.clip())  # noqa: E731
        ref = lambda g=None: reference_langevin(net, y, **kw, generator=g, clip=cfg.clip())  # noqa: E731
        diff = (fast(torch.Generator(device).manual_seed(1)) - ref(torch.Generator(device).manual_seed(1)))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t_fast, t_ref = timed(fast, device, repeats), timed(ref, device, repeats)
        flop = step_flops(net, y)
        mem = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else ""
        tflops = flop / t_fast / 1e12 if device.type == "cuda" else ""
        rows.append(row(what="langevin_step", size=size, path="fast", ms=1e3 * t_fast, images_per_s=b / t_fast,
                        ratio_ref_over_fast=t_ref / t_fast, max_abs_diff=float(diff.abs().max()),
                        gflop=flop / 1e9, tflops=tflops, peak_mem_mb=mem))
        rows.append(row(what="langevin_step", size=size, path="reference", ms=1e3 * t_ref, images_per_s=b / t_ref))
    samples = learner.sample(x, torch.arange(b))
    state = {k: v.clone() for k, v in learner.state_dict().items()}
    t_upd = timed(lambda: learner.update(x, samples), device, repeats)
    t_it = timed(lambda: learner.train_step(x, torch.arange(b)), device, max(1, repeats // 3))
    learner.load_state_dict(state)
    rows.append(row(what="update_all_grids", size=cfg.image_size, path="fast", ms=1e3 * t_upd, images_per_s=b / t_upd))
    rows.append(row(what="multigrid_iteration", size=cfg.image_size, path="fast", ms=1e3 * t_it,
                    images_per_s=b / t_it))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["smoke", "paper"])
    p.add_argument("--batch-size", type=int, default=None, help="override the presets' batch size")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="results/bench.csv")
    args = p.parse_args(argv)
    device = get_config("smoke", device=args.device).torch_device()
    prov, rows = provenance(device), []
    for preset in args.presets:
        rows += bench_preset(preset, args.batch_size, args.repeats, device, prov)
    for r in rows:
        ratio = f"  ref/fast {r['ratio_ref_over_fast']:.2f}  max|Δ| {r['max_abs_diff']:.1e}" \
            if r["ratio_ref_over_fast"] != "" else ""
        print(f"{r['preset']:6s} {r['what']:20s} {r['size']:3d} {r['path']:9s} {r['ms']:9.2f} ms "
              f"{r['images_per_s']:9.1f} img/s{ratio}")
    write_csv(args.out, rows, COLUMNS)
    print(f"[bench] wrote {args.out} ({prov['device']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
