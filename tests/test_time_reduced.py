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
    """The SVHN models train for the task's own reduced iterations (repro.configs.svhn_features), not a copy."""
    from repro.configs import config_overrides
    from tools.time_reduced import profile_iterations
    assert profile_iterations("svhn_cnn") == config_overrides("svhn_features", "reduced")["n_iters"]
    assert profile_iterations("synthesis") == get_config("reduced").n_iters


def test_the_timed_commands_are_run_all_sh_s(tmp_path):
    """Each timed command is the one run_all.sh --profile reduced runs (its --print-commands), with WORK's results
    and runs folders and a fraction of the iterations: a flag changed in run_all.sh changes the timing run too."""
    from tools.time_reduced import TASKS, profile_iterations, run_all_commands, task_commands, with_flag
    assert with_flag(["--a", "1", "--m", "x", "y", "--b"], "--m", "z") == ["--a", "1", "--m", "z", "--b"]
    assert with_flag(["--a", "1"], "--c") == ["--a", "1", "--c"]
    for sub in ("faces", "svhn"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    printed = run_all_commands(str(tmp_path / "data"))
    cmds = task_commands(str(tmp_path), 10, list(TASKS))
    for name, cmd in cmds.items():
        module = TASKS[name][0]
        assert cmd[1:3] == ["-m", module]
        mine = cmd[3:]
        assert mine[mine.index("--n-iters") + 1] == str(profile_iterations(name) // 10)
        assert mine[mine.index("--runs") + 1] == str(tmp_path / "runs" / TASKS[name][1])
        assert mine[mine.index("--out") + 1] == str(tmp_path / "results")
        theirs = printed[module]
        for flag in ("--profile", "--dataset", "--data-root", "--center-crop", "--methods", "--negatives"):
            if flag in theirs:  # run_all.sh's own settings, untouched
                assert mine[mine.index(flag) + 1] == theirs[theirs.index(flag) + 1], (name, flag)
    assert cmds["inpainting"][cmds["inpainting"].index("--data-root") + 1] == str(tmp_path / "data" / "faces")
    assert "--experiments" in cmds["svhn_cnn"] and "--experiments" not in printed["tasks.svhn_features"]
