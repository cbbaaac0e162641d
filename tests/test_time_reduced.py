"""The reduced-profile timing projection: measured rest + first iteration + (T − 1) × mean seconds per iteration."""
import csv
import os

from repro.config import get_config
from repro.time_reduced import COLUMNS, project


def write_log(run, seconds):
    os.makedirs(run)
    with open(os.path.join(run, "log.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ["iteration", "grid", "seconds"])
        w.writeheader()
        for t, s in enumerate(seconds):
            for g in (1, 2, 3):  # one row per grid, the same seconds
                w.writerow({"iteration": t, "grid": g, "seconds": s})


def test_projection_from_logs(tmp_path):
    work = tmp_path / "w"
    write_log(str(work / "runs" / "reduced-places-multigrid-seed0-aa"), [5.0, 1.0, 1.0, 1.0])
    write_log(str(work / "runs" / "reduced-places-dcgan-seed0-bb"), [0.5, 0.5])
    (work / "times.csv").write_text("synthesis,20.0\n")
    rows = project(str(work), str(tmp_path / "out.csv"))
    got = {r["what"]: r["seconds"] for r in rows}
    t = get_config("reduced").n_iters
    rest = 20.0 - (8.0 + 1.0)  # wall minus the logged training seconds
    assert got["projected wall"] == round(rest + 5.0 + (t - 1) * 1.0 + 0.5 + (t - 1) * 0.5, 3)
    assert got["seconds per iteration: multigrid"] == 1.0 and got["measured wall"] == 20.0
    with open(tmp_path / "out.csv") as f:
        assert next(csv.reader(f)) == COLUMNS
