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
    cfg = get_config("smoke", n_train=None, archs=("grid1", "grid2", "dcgan"), coop_steps=3, z_dim=7)
    assert Config.from_dict(cfg.flat()) == cfg and (cfg.coop.steps, cfg.gan.z_dim) == (3, 7)
    import json
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    with pytest.raises(ValueError, match="unknown config fields"):
        Config.from_dict({"learning_rate": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.coop.steps = 1


def test_family_settings_are_sections_with_the_flat_names_of_before():
    """A family's settings are a section of Config (cfg.coop.steps); the flags, config.json and the run folders'
    hash keep the flat names (coop_steps, gan_lr, z_dim), so the folders trained before the sections keep their
    names: the hash of a config.json written then is the folder's, and a section's setting changes it."""
    import json
    import os

    from repro.base.config import FLAT_FIELDS, SECTIONS
    from repro.runner.engine import run_dir
    cfg = get_config("reduced", method="context_encoder", dataset="images", n_train=2000, n_test=200,
                     center_crop=0.6067415730337079, data_root="/data/celebA")
    flat = cfg.to_dict()
    assert {"ce_bottleneck", "gan_lr", "gan_beta1", "z_dim"} <= set(flat) and not set(SECTIONS) & set(flat)
    assert not any(k.startswith(("coop_", "gcn_")) for k in flat)  # later fields at their defaults: not written
    assert set(FLAT_FIELDS) == set(cfg.flat()) and len(FLAT_FIELDS) == len(cfg.flat())
    # config.json of two run folders named before the sections existed (the paper-scale ContextEncoder; CD1 with
    # cond_start=fill, a later field set): the same settings give the same folder name
    data = os.path.join(os.path.dirname(__file__), "data")
    for name in ("paper-images-context_encoder-seed0-inpaint-a57a8ecb", "reduced-images-cd1-seed0-inpaint-2e3699b1"):
        with open(os.path.join(data, name + ".json")) as f:
            old = Config.from_dict(json.load(f))
        assert os.path.basename(run_dir(old, "runs", "inpaint")) == name
    assert run_dir(cfg.replace(ce_bottleneck=10), "r") != run_dir(cfg, "r")
    assert cfg.replace(gcn_net="object").gcn.net == "object" and cfg.gcn.net == "texture"
    with pytest.raises(ValueError, match="unknown config fields: coop_stepz"):
        cfg.replace(coop_stepz=1)


def test_cli_flags_from_fields():
    p = argparse.ArgumentParser()
    add_config_args(p, choices={"method": list(METHODS)})
    cfg = config_from_args(p.parse_args(["--profile", "paper", "--grid-sizes", "2", "8", "32", "--n-train",
                                         "none", "--noise", "false", "--method", "pcd", "--lr", "0.1"]))
    assert cfg.grid_sizes == (2, 8, 32) and cfg.n_train is None and cfg.noise is False
    assert cfg.method == "pcd" and cfg.lr == 0.1 and cfg.batch_size == 100  # rest from the preset
    with pytest.raises(SystemExit):
        p.parse_args(["--method", "cd7"])


BAD_NAMES = ["../x", "a/../../ESCAPED", "/tmp/x", "a\x00b", "a\nb", "..", ".hidden", "", "n" * 10_000]


@pytest.mark.parametrize("field", ["profile", "dataset", "method"])
@pytest.mark.parametrize("value", BAD_NAMES)
def test_a_name_that_names_the_run_folder_must_be_plain(field, value, tmp_path):
    """profile, dataset and method make the run folder's name (run_dir), and a Config is also read back from a
    checkpoint or config.json: a value that is not a plain name (a path, a NUL, 10,000 characters) is one line,
    from validate and from from_dict alike, before any folder is named."""
    import json
    with pytest.raises(ValueError, match=f"--{field} .* is not a plain name") as err:
        get_config("smoke", **{field: value}).validate()
    assert "\n" not in str(err.value) and len(str(err.value)) < 300
    (tmp_path / "config.json").write_text(json.dumps({**get_config("smoke").to_dict(), field: value}))
    with pytest.raises(ValueError, match="is not a plain name"):
        Config.from_dict(json.loads((tmp_path / "config.json").read_text()))


def test_plain_names_are_those_the_report_keeps_as_they_are():
    """The torch side's rule (Config's PLAIN_NAME) and the report's (tasks.files.safe_name) are one rule: a name
    either accepts is kept by the other."""
    from repro.base.config import PLAIN_NAME
    from tasks.files import safe_name
    for value in [*BAD_NAMES, "multigrid", "lfw_faces", "paper", "custom", "a.b", "a..b", "square|chains=4", "x+y",
                  "-x", "é", "a b", "n" * 100, "n" * 101]:
        assert bool(PLAIN_NAME.fullmatch(value)) == (safe_name(value) == value), value
    for name in ("paper", "reduced", "smoke"):
        get_config(name).validate()  # the presets' names are plain
