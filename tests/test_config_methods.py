import argparse
import dataclasses

import pytest

from repro.base.config import Config, add_config_args, config_from_args, get_config
from repro.core.methods import METHODS, get_method


def test_paper_preset_is_the_papers_settings():
    cfg = get_config("paper")
    assert (cfg.steps_per_grid, cfg.step_size, cfg.batch_size, cfg.lr, cfg.lr_decay_every) == (30, 0.3, 100, 0.3, 10)
    assert cfg.grid_sizes == (4, 16, 64) and cfg.image_size == 64
    steps = {name: get_method(name).steps(cfg) for name in METHODS}
    assert steps == {"multigrid": 30, "singlegrid": 90, "cd1": 1, "pcd": 90}
    assert get_method("multigrid").grid_sizes(cfg) == (4, 16, 64)
    assert get_method("pcd").grid_sizes(cfg) == (64,)


def test_unknown_method_lists_known():
    with pytest.raises(ValueError, match="multigrid, singlegrid, cd1, pcd"):
        get_method("cd2")
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")


def test_config_json_round_trip_and_frozen():
    cfg = get_config("smoke", n_train=None, archs=("grid1", "grid2", "dcgan"))
    assert Config.from_dict(dataclasses.asdict(cfg)) == cfg
    import json
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    with pytest.raises(ValueError, match="unknown config fields"):
        Config.from_dict({"learning_rate": 1})


def test_cli_flags_from_fields():
    p = argparse.ArgumentParser()
    add_config_args(p, choices={"method": list(METHODS)})
    cfg = config_from_args(p.parse_args(["--profile", "paper", "--grid-sizes", "2", "8", "32", "--n-train",
                                         "none", "--noise", "false", "--method", "pcd", "--lr", "0.1"]))
    assert cfg.grid_sizes == (2, 8, 32) and cfg.n_train is None and cfg.noise is False
    assert cfg.method == "pcd" and cfg.lr == 0.1 and cfg.batch_size == 100  # rest from the preset
    with pytest.raises(SystemExit):
        p.parse_args(["--method", "cd7"])
