"""The reduced-profile timing projection: measured rest + first iteration + (T − 1) × mean seconds per iteration."""
import csv
import json
import os

from repro.base.config import get_config
from tools.time_reduced import COLUMNS, project


def write_run(run, method, seconds):
    """A run folder as repro.runner.engine.train leaves it: config.json and one log row per iteration and grid."""
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"method": method}, f)
    with open(os.path.join(run, "log.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ["iteration", "grid", "seconds"])
        w.writeheader()
        for t, s in enumerate(seconds):
            for g in (1, 2, 3):  # one row per grid, the same seconds
                w.writerow({"iteration": t, "grid": g, "seconds": s})


def test_projection_from_logs(tmp_path):
    work = tmp_path / "w"
    write_run(str(work / "runs" / "synthesis" / "a"), "multigrid", [5.0, 1.0, 1.0, 1.0])
    write_run(str(work / "runs" / "synthesis" / "b"), "dcgan", [0.5, 0.5])
    write_run(str(work / "runs" / "svhn" / "c"), "cnn_head", [9.0, 9.0])  # a classifier head: not a model run
    (work / "times.csv").write_text("synthesis,20.0\nsvhn_cnn,30.0\n")
    rows = project(str(work), str(tmp_path / "out.csv"))
    got = {(r["table"], r["what"]): r["seconds"] for r in rows}
    t = get_config("reduced").n_iters
    rest = 20.0 - (8.0 + 1.0)  # wall minus the logged training seconds
    assert got["synthesis", "projected wall"] == round(rest + 5.0 + (t - 1) * 1.0 + 0.5 + (t - 1) * 0.5, 3)
    assert got["synthesis", "seconds per iteration: multigrid"] == 1.0
    assert got["synthesis", "measured wall"] == 20.0
    assert not any("cnn_head" in what for _, what in got)
    with open(tmp_path / "out.csv") as f:
        assert next(csv.reader(f)) == COLUMNS


def test_settings_come_from_their_owners():
    """The SVHN models train for the task's own reduced iterations (repro.base.config.TASK_CONFIG), not a copy."""
    from repro.base.config import task_config
    from tools.time_reduced import profile_iterations
    assert profile_iterations("svhn_cnn") == task_config("svhn_features", "reduced")["n_iters"]
    assert profile_iterations("synthesis") == get_config("reduced").n_iters
