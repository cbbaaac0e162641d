"""The benchmark runs, and its fast Langevin path gives the reference path's samples (not a timing test)."""
import torch

from repro.bench import COLUMNS, bench_preset, main
from repro.io import provenance, read_csv


def test_fast_path_matches_reference_and_rows(tmp_path):
    rows = bench_preset("smoke", 4, 1, torch.device("cpu"), provenance(torch.device("cpu")))
    steps = [r for r in rows if r["what"] == "langevin_step" and r["path"] == "fast"]
    assert [r["size"] for r in steps] == [2, 8, 32]
    assert all(r["max_abs_diff"] < 1e-3 and r["gflop"] > 0 and r["ms"] > 0 for r in steps)
    assert {r["what"] for r in rows} == {"langevin_step", "update_all_grids", "multigrid_iteration"}
    out = tmp_path / "bench.csv"
    assert main(["--presets", "smoke", "--batch-size", "4", "--repeats", "1", "--out", str(out)]) == 0
    assert list(read_csv(str(out))[0]) == COLUMNS
