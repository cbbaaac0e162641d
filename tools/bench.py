"""Benchmark of the sampler and the learning step: ``python -m tools.bench``.

For each grid network of a preset (smoke, paper, reduced) it times, on the same inputs and in one run:
- one Langevin step on a plain reference path (parameters left in autograd, ``torch.autograd.grad``
  over the input and every parameter, eager, default memory format), and on the fast path used by
  training (``repro.core.langevin.langevin`` through ``repro.base.speed.Scorer``: parameters out of autograd,
  only ∂f/∂Y computed, no host synchronisation inside the loop) under each speed switch of
  ``VARIANTS`` (channels-last, torch.compile, and on CUDA TF32, bf16 autocast, CUDA graphs),
  checking each against the reference samples (same noise: max |Δ| in pixel units, 0..255);
- one parameter update of the whole learner (every grid), and one full multi-grid iteration on the
  reference path, on the plain fast path, with the preset's own switches and under ``ITERATION_VARIANTS``.
Each measurement sets its own backend flags right before it runs (the paths are timed in interleaved rounds), and
each row records the flags in force, read back from torch afterwards (``flags_in_force``: TF32 of matmuls and
convolutions, cuDNN benchmark, deterministic algorithms, the autocast dtype the networks saw).
It prints milliseconds, images per second, the reference/variant ratio, the FLOP count of a step
(torch.utils.flop_counter: forward and backward to the input), the achieved TFLOP/s and peak
memory on CUDA, and writes rows to results/bench.csv with device, commit and date. It is a
benchmark, not a test: the sizes come from the presets, the repetitions from --repeats.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time

import torch

from repro.base import speed
from repro.base.config import get_config
from repro.base.io import provenance, write_csv
from repro.core.langevin import frozen, langevin, langevin_step
from repro.core.learner import Learner
from repro.core.pyramid import downscale, upscale
from repro.families.registry import initial_learner

COLUMNS = ["preset", "what", "size", "batch", "path", "ms", "images_per_s", "ratio_ref_over_fast",
           "ratio_plain_over_this", "max_abs_diff", "gflop", "tflops", "fraction_of_peak", "peak_mem_mb",
           "first_call_ms", "flags", "device", "commit", "date"]
# Dense peak TFLOP/s of the math a variant uses (vendor data sheets, SXM parts), by GPU name.
PEAK_TFLOPS = {"H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
               "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
               "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0}}


def peak_tflops(device: torch.device, flags: dict) -> float | None:
    """The hardware limit a measurement is held to, by the math it ran under (``flags_in_force``): bf16 under
    autocast, tf32 when cuDNN's convolutions may use it (the networks' work), else fp32."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    math = "bf16" if flags["autocast"] == "bfloat16" else "tf32" if flags["cudnn_tf32"] else "fp32"
    return next((p[math] for k, p in PEAK_TFLOPS.items() if k in name), None)


def flags_in_force(device: torch.device, scorers=()) -> dict:
    """The backend flags a measurement ran under, read back from torch (not from the variant's settings): TF32 of
    cuBLAS matmuls and cuDNN convolutions, cuDNN's algorithm search, deterministic algorithms (each effective on CUDA
    only), and the autocast dtype the sampler's networks saw (repro.base.speed.Scorer.autocast_seen; the process's
    autocast state for a path without scorers)."""
    seen = {s.autocast_seen for s in scorers}
    if not scorers:
        seen = {torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None}
    return {"autocast": "+".join(sorted("none" if d is None else str(d).removeprefix("torch.") for d in seen)),
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "deterministic": torch.are_deterministic_algorithms_enabled()}


def flags_text(flags: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in flags.items())  # the flags column


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


# Speed switches timed against each other (repro.base.speed); the CUDA-only ones are skipped on the CPU.
VARIANTS: dict[str, dict] = {
    "fast": {},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "compile+channels_last": {"compile": True, "channels_last": True},
    "tf32": {"tf32": True},
    "bf16": {"autocast": "bf16"},
    "compile+tf32": {"compile": True, "tf32": True},
    "compile+bf16": {"compile": True, "autocast": "bf16"},
    # CUDA graphs as a GPU run would use them: with TF32 (the CUDA default); a name without tf32 or bf16 is exact fp32
    "compile_cudagraphs+tf32": {"compile": True, "compile_mode": "reduce-overhead", "tf32": True},
}
# The whole Langevin loop captured as one CUDA graph (repro.core.langevin.CapturedLangevin), its noise drawn before the
# loop, under TF32: not a config switch but a path of its own, timed per Langevin step beside the variants
LOOP_GRAPH = "cudagraph_loop+tf32"
CUDA_ONLY = {"tf32", "compile+tf32", "compile_cudagraphs+tf32", LOOP_GRAPH}  # bf16 autocast runs on the CPU too
SWITCHES = ("compile", "compile_mode", "channels_last", "autocast", "tf32")
# Variants also timed over a whole multi-grid iteration (beside the plain fast path and the preset's switches)
ITERATION_VARIANTS = ("tf32", "bf16", "compile_cudagraphs+tf32")


def _variant_cfg(cfg, variant: str):
    base = {"compile": False, "compile_mode": "default", "channels_last": False, "autocast": "none",
            "tf32": False}  # every switch off: the plain fast path, exact float32
    return cfg.replace(**{**base, **VARIANTS[variant]})


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device):
    """Peak memory in MiB: on CUDA the allocator's peak since the last reset (this measurement alone);
    on the CPU the process's peak resident set so far (Linux ru_maxrss), an upper bound that also
    counts the Python runtime and every earlier measurement."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _achieved(flop: float, seconds: float, device: torch.device, flags: dict) -> dict:
    if device.type != "cuda":
        return {}
    tflops, peak = flop / seconds / 1e12, peak_tflops(device, flags)
    return {"tflops": tflops, "fraction_of_peak": tflops / peak if peak else ""}


def reference_iteration(learner: Learner, x: torch.Tensor) -> None:
    """One multi-grid iteration on the reference path: reference Langevin at every grid, then the update."""
    cfg, y, samples = learner.cfg, downscale(x, 1), []
    for net, size in zip(learner.nets, learner.sizes):
        y = reference_langevin(net, upscale(y, size), steps=learner.steps, step_size=cfg.step_size,
                               sigma=cfg.sigma, generator=learner.gen, clip=cfg.clip())
        samples.append(y.detach())
    learner.update(x, samples)


def _run(fn, cfg, device: torch.device, scorers=()):
    """fn() under cfg's backend flags, set right before it (the paths of one round set their own in turn; the
    learners' construction set the last one's): (seconds, fn's result, the flags read back after it)."""
    speed.apply_backend_flags(cfg, device)
    _sync(device)
    tic = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - tic, out, flags_in_force(device, scorers)


def _measure(paths: dict, device: torch.device, repeats: int, first_kw=dict):
    """paths: name → (fn, cfg, scorers). One warm-up call of each, fn(**first_kw()) (compilation: first-call
    seconds; peak memory; its output), then `repeats` interleaved rounds, so that a slow spell of a shared machine
    hits them alike. Returns per path: median seconds, first-call seconds, peak memory, warm-up output, flags."""
    first, peaks, outs, flags = {}, {}, {}, {}
    for p, (fn, cfg, scorers) in paths.items():
        _peak_reset(device)
        first[p], outs[p], _ = _run(lambda: fn(**first_kw()), cfg, device, scorers)
        peaks[p] = _peak(device)
    times = {p: [] for p in paths}
    for _ in range(repeats):
        for p, (fn, cfg, scorers) in paths.items():
            t, _, flags[p] = _run(fn, cfg, device, scorers)
            times[p].append(t)
    med = {p: sorted(v)[len(v) // 2] for p, v in times.items()}
    return med, first, peaks, outs, flags


def loop_graph_path(net, y: torch.Tensor, kw: dict, cfg, device: torch.device) -> dict:
    """{LOOP_GRAPH: (fn, cfg, scorers)}: the chain of `kw` captured whole as a CUDA graph under TF32, its noise drawn
    before each replay from the call's generator as the chain would draw it (draw_noise); {} with a one-line note when
    capture fails, so that a first GPU still measures every other path."""
    from repro.core.langevin import CapturedLangevin, draw_noise
    gcfg = _variant_cfg(cfg, "tf32")
    speed.apply_backend_flags(gcfg, device)
    sc = speed.Scorer(copy.deepcopy(net), gcfg)
    try:
        captured = CapturedLangevin(sc, tuple(y.shape), device=device, **kw)
    except Exception as err:  # a capture that fails on a new GPU or torch costs this row only
        print(f"[bench] {LOOP_GRAPH} not measured: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return {}

    def run(g=None):
        return captured(y, draw_noise(kw["steps"], y.shape, generator=g, device=y.device, dtype=y.dtype))
    return {LOOP_GRAPH: (run, gcfg, (sc,))}


def bench_preset(preset: str, batch: int | None, repeats: int, device: torch.device, prov: dict,
                 variants=None) -> list[dict]:
    """The rows of one preset: one Langevin step per grid on every path, the update of all grids, and whole
    multi-grid iterations on the reference, plain fast and switched paths."""
    cfg = get_config(preset, device=str(device), **({"batch_size": batch} if batch else {}))
    variants = ["fast", *(v for v in (variants or [*VARIANTS, LOOP_GRAPH]) if v != "fast" and
                          (device.type == "cuda" or v not in CUDA_ONLY))]
    plain = _variant_cfg(cfg, "fast")
    learner = initial_learner(plain, 3, cfg.batch_size, device=device)
    b = cfg.batch_size
    row = lambda **kw: {"preset": preset, "batch": b, "ratio_ref_over_fast": "", "ratio_plain_over_this": "",  # noqa
                        "max_abs_diff": "", "gflop": "",
                        "tflops": "", "fraction_of_peak": "", "peak_mem_mb": "", "first_call_ms": "", "flags": "",
                        **kw, **{k: prov[k] for k in ("device", "commit", "date")}}
    x = torch.rand(b, 3, cfg.image_size, cfg.image_size, device=device) * cfg.pixel_max
    rows = _langevin_rows(learner, cfg, variants, repeats=repeats, device=device, row=row)
    speed.apply_backend_flags(plain, device)
    rows += _iteration_rows(learner, cfg, x, variants, repeats=repeats, device=device, row=row)
    speed.apply_backend_flags(cfg, device)
    return rows


def _langevin_rows(learner, cfg, variants: list[str], *, repeats: int, device: torch.device, row) -> list[dict]:
    """One Langevin step of each grid's network on every path (row: the preset's row maker)."""
    plain, b, rows = _variant_cfg(cfg, "fast"), cfg.batch_size, []
    for net, size in zip(learner.nets, learner.sizes):
        y = torch.rand(b, 3, size, size, device=device) * cfg.pixel_max
        kw = dict(steps=1, step_size=cfg.step_size, sigma=cfg.sigma, clip=cfg.clip())
        flop = step_flops(net, y)
        paths = {"reference": (lambda g=None: reference_langevin(net, y, **kw, generator=g), plain, ())}
        for v in (v for v in variants if v != LOOP_GRAPH):  # each with its own copy of the network
            vcfg = _variant_cfg(cfg, v)
            vnet = copy.deepcopy(net).to(memory_format=torch.channels_last if vcfg.channels_last
                                         else torch.contiguous_format)
            sc = speed.Scorer(vnet, vcfg)
            paths[v] = (lambda g=None, sc=sc: langevin(sc, y, **kw, generator=g), vcfg, (sc,))
        if LOOP_GRAPH in variants:
            paths.update(loop_graph_path(net, y, kw, cfg, device))
        # the same noise in each path's warm-up call: the samples must agree with the reference's
        med, first, peaks, out, flags = _measure(paths, device, repeats,
                                                 first_kw=lambda: {"g": torch.Generator(device).manual_seed(1)})
        for p in paths:
            rows.append(row(what="langevin_step", size=size, path=p, ms=1e3 * med[p], images_per_s=b / med[p],
                            ratio_ref_over_fast=med["reference"] / med[p], ratio_plain_over_this=med["fast"] / med[p],
                            max_abs_diff=float((out[p] - out["reference"]).abs().max()), gflop=flop / 1e9,
                            peak_mem_mb=peaks[p], first_call_ms=1e3 * first[p], flags=flags_text(flags[p]),
                            **_achieved(flop, med[p], device, flags[p])))
    return rows


def _iteration_rows(learner, cfg, x: torch.Tensor, variants: list[str], *, repeats: int, device: torch.device,
                    row) -> list[dict]:
    """The update of all grids, then whole iterations on x (B, 3, H, W): the reference path, the plain fast path,
    and the preset's own switches (row: the preset's row maker)."""
    plain, b, rows = _variant_cfg(cfg, "fast"), cfg.batch_size, []
    state = {k: v.clone() for k, v in learner.state_dict().items()}
    samples = learner.run_chains(x, torch.arange(b))
    _peak_reset(device)
    t_upd = timed(lambda: learner.update(x, samples), device, repeats)
    rows.append(row(what="update_all_grids", size=cfg.image_size, path="fast", ms=1e3 * t_upd,
                    images_per_s=b / t_upd, peak_mem_mb=_peak(device), flags=flags_text(flags_in_force(device))))
    flop_kw = lambda t, f: {}  # noqa: E731
    if device.type == "cuda":  # FLOPs of one whole iteration (the plain path's work), for TFLOP/s
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter:
            learner.train_step(x, torch.arange(b))
        it_flop = float(counter.get_total_flops())
        learner.load_state_dict(state)
        flop_kw = lambda t, f: {"gflop": it_flop / 1e9, **_achieved(it_flop, t, device, f)}  # noqa: E731
    paths = {"reference": (lambda: reference_iteration(learner, x), plain, ())}
    on_device = cfg if device.type == "cuda" else dataclasses.replace(cfg, tf32=False)  # TF32 is CUDA's alone
    its = {"fast": plain, "preset": cfg} if plain != on_device else {"fast": plain}
    its.update({v: _variant_cfg(cfg, v) for v in variants if v in ITERATION_VARIANTS})
    for name, icfg in its.items():  # each learner's construction sets its flags: _run sets each path's again
        it_learner = initial_learner(icfg, 3, b, device=device)
        it_learner.load_state_dict(state)
        path = name if name != "preset" else "preset:" + "+".join(f"{k}={getattr(cfg, k)}" for k in SWITCHES
                                                                  if getattr(cfg, k) != getattr(plain, k))
        paths[path] = (lambda learner=it_learner: learner.train_step(x, torch.arange(b)), icfg, it_learner.scorers)
    med, first, peaks, _, flags = _measure(paths, device, max(1, repeats // 2))
    for p in paths:
        rows.append(row(what="multigrid_iteration", size=cfg.image_size, path=p, ms=1e3 * med[p],
                        images_per_s=b / med[p], ratio_ref_over_fast=med["reference"] / med[p],
                        ratio_plain_over_this=med["fast"] / med[p], peak_mem_mb=peaks[p],
                        first_call_ms=1e3 * first[p], flags=flags_text(flags[p]), **flop_kw(med[p], flags[p])))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["smoke", "reduced", "paper"])
    p.add_argument("--variants", nargs="+", default=None, choices=[*VARIANTS, LOOP_GRAPH],
                   help="speed switches to time (default: all; the CUDA-only ones only on CUDA)")
    p.add_argument("--batch-size", type=int, default=None, help="override the presets' batch size")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="results/bench.csv")
    p.add_argument("--quick", action="store_true",
                   help="a check that the benchmark runs, not a measurement: the smoke preset at batch 4, 1 repeat "
                        "(tools/gpu_check.sh on the CPU)")
    args = p.parse_args(argv)
    try:  # a device that is not there (--device cuda without CUDA): one line before any work
        get_config("smoke", device=args.device).validate()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.quick:
        args.presets, args.repeats, args.batch_size = ["smoke"], 1, args.batch_size or 4
    device = get_config("smoke", device=args.device).torch_device()
    prov, rows = provenance(device), []
    for preset in args.presets:
        rows += bench_preset(preset, args.batch_size, args.repeats, device, prov, args.variants)
    for r in rows:
        ratio = f"  ref/this {r['ratio_ref_over_fast']:.2f}" if r["ratio_ref_over_fast"] != "" else ""
        ratio += f"  plain/this {r['ratio_plain_over_this']:.2f}" if r["ratio_plain_over_this"] != "" else ""
        ratio += f"  max|Δ| {r['max_abs_diff']:.1e}" if r["max_abs_diff"] != "" else ""
        ratio += f"  {r['tflops']:.1f} TFLOP/s" if r["tflops"] != "" else ""
        ratio += f" ({100 * r['fraction_of_peak']:.0f}% of peak)" if r["fraction_of_peak"] != "" else ""
        ratio += f"  peak {r['peak_mem_mb']:.0f} MiB" if r["peak_mem_mb"] != "" else ""
        ratio += f"  [{r['flags']}]" if r["what"] == "multigrid_iteration" else ""
        print(f"{r['preset']:7s} {r['what']:20s} {r['size']:3d} {r['path']:22s} {r['ms']:9.2f} ms "
              f"{r['images_per_s']:9.1f} img/s{ratio}")
    write_csv(args.out, rows, COLUMNS)
    print(f"[bench] wrote {args.out} ({prov['device']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
