"""The benchmark runs, and its fast Langevin paths give the reference path's samples (not a timing test)."""
import math

import pytest
import torch

from repro.base.io import provenance, read_csv
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
