"""The benchmark runs, and its fast Langevin paths give the reference path's samples (not a timing test)."""
import torch

from repro.bench import COLUMNS, bench_preset, main
from repro.io import provenance, read_csv


def test_fast_paths_match_reference_and_rows(tmp_path):
    cpu = torch.device("cpu")
    rows = bench_preset("smoke", 4, 1, cpu, provenance(cpu), variants=["fast", "channels_last", "bf16"])
    steps = [r for r in rows if r["what"] == "langevin_step"]
    assert {r["path"] for r in steps} == {"reference", "fast", "channels_last"}  # bf16 is CUDA-only
    assert sorted({r["size"] for r in steps}) == [2, 8, 32]
    assert all(r["max_abs_diff"] < 1e-3 and r["gflop"] > 0 and r["ms"] > 0 for r in steps)
    assert all(r["ratio_ref_over_fast"] > 0 for r in steps)
    its = [r for r in rows if r["what"] == "multigrid_iteration"]
    assert {r["path"] for r in its} == {"reference", "fast"}  # the smoke preset has every switch off
    assert {r["what"] for r in rows} == {"langevin_step", "update_all_grids", "multigrid_iteration"}
    out = tmp_path / "bench.csv"
    assert main(["--presets", "smoke", "--batch-size", "4", "--repeats", "1", "--variants", "fast",
                 "--out", str(out)]) == 0
    assert list(read_csv(str(out))[0]) == COLUMNS
