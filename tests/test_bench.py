"""The benchmark runs, its fast Langevin paths give the reference path's samples, and each row records the backend
flags it ran under (not a timing test)."""
import math

import pytest
import torch

from repro.base import speed
from repro.base.config import get_config
from repro.base.io import provenance, read_csv
from repro.core.models import build_energy_net
from tools import bench
from tools.bench import COLUMNS, bench_preset, main


@pytest.mark.slow
def test_fast_paths_match_reference_and_rows(tmp_path):
    cpu = torch.device("cpu")
    rows = bench_preset("smoke", 4, 1, cpu, provenance(cpu), variants=["fast", "channels_last", "bf16"])
    steps = [r for r in rows if r["what"] == "langevin_step"]
    assert {r["path"] for r in steps} == {"reference", "fast", "channels_last", "bf16"}  # bf16 runs on the CPU too
    assert sorted({r["size"] for r in steps}) == [2, 8, 32]
    for r in steps:  # samples agree with the reference; every number is what its column says
        # bf16 scores ∂f/∂Y to about 3 significant digits: one step moves a pixel by a fraction of a level less
        assert r["max_abs_diff"] < (0.5 if r["path"] == "bf16" else 1e-3), r
        assert math.isclose(r["ratio_plain_over_this"], next(
            q["ms"] for q in steps if q["path"] == "fast" and q["size"] == r["size"]) / r["ms"], rel_tol=1e-9)
        assert math.isclose(r["images_per_s"], 4 / (r["ms"] / 1e3), rel_tol=1e-9)
        assert r["path"] != "reference" or (r["max_abs_diff"] == 0 and r["ratio_ref_over_fast"] == 1)
    # the FLOP count of one step of a (B, C, s, s) batch grows with the grid: more pixels, more work
    flops = {r["size"]: r["gflop"] for r in steps if r["path"] == "fast"}
    assert 0 < flops[2] < flops[8] < flops[32]
    its = [r for r in rows if r["what"] == "multigrid_iteration"]
    # the smoke preset's one switch (TF32) is CUDA's: on the CPU it is the plain path; bf16 is timed on its own
    assert {r["path"] for r in its} == {"reference", "fast", "bf16"}
    ref = next(r for r in its if r["path"] == "reference")
    assert ref["ratio_ref_over_fast"] == 1
    assert {r["what"] for r in rows} == {"langevin_step", "update_all_grids", "multigrid_iteration"}
    out = tmp_path / "bench.csv"
    assert main(["--presets", "smoke", "--batch-size", "4", "--repeats", "1", "--variants", "fast",
                 "--out", str(out)]) == 0
    written = read_csv(str(out))
    assert list(written[0]) == COLUMNS and {r["preset"] for r in written} == {"smoke"}


@pytest.fixture
def restore_backend_flags():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def cuda_like_flags(cfg, device):
    """repro.base.speed.apply_backend_flags as on CUDA, on any device: the CPU test sees which flags each path set."""
    torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    torch.backends.cudnn.allow_tf32 = cfg.tf32


@pytest.mark.slow
def test_each_row_records_the_flags_it_ran_under(monkeypatch, restore_backend_flags):
    """Every learner is built before the iterations are timed, and building one sets its flags: a benchmark that
    did not set each path's flags right before measuring it would time every iteration under the last learner's
    (bf16's, TF32 off), and this test would find matmul_tf32=False on the tf32 rows."""
    monkeypatch.setattr(speed, "apply_backend_flags", cuda_like_flags)
    monkeypatch.setattr(bench, "CUDA_ONLY", set())  # tf32 timed on the CPU (no effect there; its flags are read)
    cpu = torch.device("cpu")
    rows = bench_preset("smoke", 2, 1, cpu, provenance(cpu), variants=["fast", "tf32", "bf16"])
    for what in ("langevin_step", "multigrid_iteration"):
        got = {(r["path"], r["size"]): dict(kv.split("=") for kv in r["flags"].split()) for r in rows
               if r["what"] == what}
        assert {p for p, _ in got} == {"reference", "fast", "tf32", "bf16"}, got
        for (path, _), flags in got.items():
            assert flags["matmul_tf32"] == flags["cudnn_tf32"] == str(path == "tf32"), (what, path, flags)
            assert flags["autocast"] == ("bfloat16" if path == "bf16" else "none"), (what, path, flags)


def test_flags_are_read_back_from_torch(restore_backend_flags):
    cfg = get_config("smoke", autocast="bf16")
    scorer = speed.Scorer(build_energy_net(8, 3, width=0.25), cfg)
    assert bench.flags_in_force(torch.device("cpu"), [scorer])["autocast"] == "not called"
    scorer(torch.rand(2, 3, 8, 8) * 255)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = True, False
    flags = bench.flags_in_force(torch.device("cpu"), [scorer])
    assert flags["autocast"] == "bfloat16" and flags["matmul_tf32"] is True and flags["cudnn_tf32"] is False
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a path without scorers: the process's autocast state
        assert bench.flags_in_force(torch.device("cpu"))["autocast"] == "bfloat16"
    assert bench.flags_in_force(torch.device("cpu"))["autocast"] == "none"


def test_every_variant_is_named_by_its_precision():
    """A variant's name says its math: tf32 or bf16 in the name exactly when it turns them on; none: exact fp32."""
    cfg = get_config("paper")
    for name in bench.VARIANTS:
        vcfg = bench._variant_cfg(cfg, name)
        assert ("tf32" in name) == vcfg.tf32 and ("bf16" in name) == (vcfg.autocast == "bf16"), name
    assert bench._variant_cfg(cfg, "compile_cudagraphs+tf32").compile_mode == "reduce-overhead"
    assert set(bench.ITERATION_VARIANTS) <= set(bench.VARIANTS)
    assert bench.CUDA_ONLY <= set(bench.VARIANTS) | {bench.LOOP_GRAPH} and "tf32" in bench.LOOP_GRAPH


def test_the_loop_graph_path_is_skipped_with_a_line_where_capture_fails(capsys):
    """The whole-loop CUDA graph runs first on a GPU no test has seen: a capture that fails costs its own row only,
    with one line saying why (on the CPU, CapturedLangevin refuses at once)."""
    cfg = get_config("smoke")
    net = build_energy_net(8, 3, width=0.25)
    y = torch.rand(2, 3, 8, 8) * 255
    kw = dict(steps=1, step_size=cfg.step_size, sigma=cfg.sigma, clip=cfg.clip())
    assert bench.loop_graph_path(net, y, kw, cfg, torch.device("cpu")) == {}
    assert "cudagraph_loop+tf32 not measured: ValueError" in capsys.readouterr().err


def test_compile_builds_static_graphs(monkeypatch):
    """torch.compile with dynamic=False: a static graph per grid size, not a recompilation to symbolic shapes."""
    seen = {}
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: seen.update(kw) or fn)
    speed.Scorer(build_energy_net(8, 3, width=0.25), get_config("smoke", compile=True))
    assert seen.get("dynamic") is False, seen
