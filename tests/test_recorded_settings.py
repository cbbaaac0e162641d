"""Each experiment's settings live in one place (repro.configs), and every task option that changes a number is
recorded in its rows: an option that departs from the profile's default adds itself to the row's setting, so two rows
that differ in it never share a key, while rows at the defaults keep the keys they had. No model is trained here."""
import pytest

import repro  # noqa: F401  (installs the torchvision compat shim before torchvision is imported)
from repro.base.config import get_config
from repro.configs import EXPERIMENTS, PROFILES, config_overrides, options
from tasks import coopnets, generative_convnet, inpainting, score_diagnostics, svhn_features, synthesis

REQUIRED = {"generative_convnet": ["--experiment", "textures"]}  # flags a task's parser cannot go without
TASKS = {"coopnets": coopnets, "generative_convnet": generative_convnet, "inpainting": inpainting,
         "score_diagnostics": score_diagnostics, "svhn_features": svhn_features, "synthesis": synthesis}


def parse(task: str, profile: str, *flags: str):
    """The task's options as its parser reads them under the profile (no Config, nothing checked or written)."""
    return TASKS[task].build_parser(profile).parse_args(["--profile", profile, *REQUIRED.get(task, []), *flags])


# task → (the setting suffix of a learned row, from the parsed options and the profile; one departing value per
# recorded option). Every option in a settings module's RECORDED has a case here.
SUFFIX = {
    "coopnets": lambda args, p: coopnets.setting_suffix(args, p, learned=True),
    "inpainting": lambda args, p: inpainting.record_suffix(get_config(p), args, learned=True),
    "svhn_l2svm": lambda args, p: svhn_features.setting_suffix(svhn_features.resolve(args, p), p, "svhn_l2svm"),
    "svhn_cnn": lambda args, p: svhn_features.setting_suffix(svhn_features.resolve(args, p), p, "svhn_cnn"),
    "synthesis": lambda args, p: synthesis.setting_suffix(args, p),
    "score_diagnostics": lambda args, p: score_diagnostics.negative_suffix(args, p),
}
DEPARTURES = {
    "coopnets": {"infer_steps": ["--infer-steps", "500"], "infer_step_size": ["--infer-step-size", "0.05"],
                 "mask_seed": ["--mask-seed", "1"]},
    "inpainting": {"train_mask_side": ["--train-mask-side", "10"], "mask_seed": ["--mask-seed", "1"]},
    "svhn_l2svm": {"val_labels": ["--val-labels", "50"], "svm_cs": ["--svm-cs", "0.1", "1"],
                   "svm_solver": ["--svm-solver", "liblinear"]},
    "svhn_cnn": {"val_labels": ["--val-labels", "50"], "classifier_epochs": ["--classifier-epochs", "3"],
                 "classifier_lr": ["--classifier-lr", "0.01"]},
    "synthesis": {"n_samples": ["--n-samples", "8"]},
    "score_diagnostics": {"negatives": ["--negatives", "imagefolder"],
                          "negatives_center_crop": ["--negatives-center-crop", "0.5"]},
}
TASK_OF = {"svhn_l2svm": "svhn_features", "svhn_cnn": "svhn_features"}


def recorded(case: str) -> tuple:
    """The settings module's RECORDED options for a case (svhn_features: per experiment)."""
    rec = EXPERIMENTS[TASK_OF.get(case, case)].RECORDED
    return tuple(rec[case]) if isinstance(rec, dict) else tuple(rec)


def test_every_recorded_option_has_a_case():
    for case in SUFFIX:
        assert set(recorded(case)) == set(DEPARTURES[case]), case
    assert generative_convnet.RESULTS and not EXPERIMENTS["generative_convnet"].RECORDED  # no option moves a number


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", list(SUFFIX))
def test_a_departing_option_changes_the_key_and_the_defaults_keep_it(case, profile):
    task = TASK_OF.get(case, case)
    assert SUFFIX[case](parse(task, profile), profile) == ""  # the profile's defaults: the key committed rows have
    seen = {""}
    for option, flags in DEPARTURES[case].items():
        suffix = SUFFIX[case](parse(task, profile, *flags), profile)
        assert suffix.startswith("|") and f"|{option}=" in suffix, (option, suffix)
        seen.add(suffix)
        default = options(task, profile)[option]
        if default is not None and not isinstance(default, list):  # the default given as a flag: the same key
            assert SUFFIX[case](parse(task, profile, flags[0], str(default)), profile) == ""
    assert len(seen) == len(DEPARTURES[case]) + 1  # each departure a key of its own


def test_the_recorded_options_reach_the_rows_settings():
    """The suffixes are joined to the settings the rows are built with (a learned column; a floor's only where its
    numbers depend on the option)."""
    args = parse("coopnets", "smoke", "--infer-steps", "5")
    assert coopnets.setting_suffix(args, "smoke", learned=False) == ""  # a floor infers nothing
    assert coopnets.setting_suffix(args, "smoke", learned=True) == "|infer_steps=5"
    cfg = get_config("smoke")
    args = parse("inpainting", "smoke", "--mask-seed", "2", "--train-mask-side", str(cfg.image_size // 2))
    assert inpainting.record_suffix(cfg, args, learned=False) == ""  # the floors' seed column holds the mask seed
    assert inpainting.record_suffix(cfg, args, learned=True) == "|mask_seed=2"  # side image_size/2: the default
    assert inpainting.curve_setting("square", cfg, "|mask_seed=2") == "square|width=0.25|mask_seed=2"
    rows = svhn_features.rows(cfg, type("D", (), {"test": [0] * 3})(), {"device": "cpu", "commit": "", "date": ""},
                              "svhn_cnn", [("cd1", 50, 0, 12.5, None)], {"cd1": 64}, suffix="|classifier_epochs=3")
    assert [r["setting"] for r in rows] == ["labels=50|classifier_epochs=3", "all"]


def test_validation_choice_reads_only_this_commands_recorded_settings():
    """--procedure-from-val picks among the procedures of rows made with the same recorded options: a row of another
    mask seed is neither chosen nor parsed as a procedure."""
    from repro.core.inpaint import Procedure
    cfg = get_config("smoke")

    def rows(suffix, value):
        return [{"experiment": "inpainting_validation", "method": "multigrid", "metric": "mae_masked",
                 "profile": "smoke", "dataset": cfg.dataset, "setting": m + suffix, "value": str(value)}
                for m in inpainting.MASK_NAMES]
    table = rows("", 0.10) + rows("|chains=4", 0.09) + rows("|noise=off|mask_seed=1", 0.01) + rows("|mask_seed=1", 0.2)
    assert inpainting.chosen_on_validation(table, "multigrid", cfg) == Procedure(n_chains=4)
    assert inpainting.chosen_on_validation(table, "multigrid", cfg, "|mask_seed=1") == Procedure(noise=False)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("task", list(TASKS))
def test_the_parsers_defaults_are_the_settings_modules(task, profile):
    """A task's options are flags of its parser, and their defaults are the experiment's for the profile."""
    args = vars(parse(task, profile))
    for name, value in options(task, profile).items():
        assert name in args and args[name] == value, (task, profile, name)


def test_the_accessor_reads_one_table_per_experiment_and_profile():
    assert config_overrides("coopnets", "paper")["n_iters"] == 60_000
    assert config_overrides("generative_convnet:autoencode", "smoke")["gcn_start"] == "observed"
    assert options("inpainting", "paper")["n_test_images"] == 1000
    assert options("inpainting", "smoke")["n_test_images"] is None  # every test image
    options("svhn_features", "smoke")["labels"].append(1)  # a copy: the table is unchanged
    assert options("svhn_features", "smoke")["labels"] == [100, 200, 400]
    for bad in (("nowhere", "smoke"), ("coopnets", "custom"), ("generative_convnet:nothing", "smoke")):
        with pytest.raises(ValueError, match="unknown"):
            config_overrides(*bad)
    for name in EXPERIMENTS:  # plain data: every profile of every table
        module = EXPERIMENTS[name]
        tables = module.CONFIG.values() if name == "generative_convnet" else [module.CONFIG]
        assert all(set(t) == set(PROFILES) for t in tables) and set(module.OPTIONS) == set(PROFILES)


def test_the_families_inference_defaults_are_the_experiments():
    import inspect

    from repro.configs.coopnets import INFER
    from repro.families.baselines import DCGAN
    from repro.families.coopnets import CoopNets
    for family in (DCGAN, CoopNets):
        params = inspect.signature(family.inpaint).parameters
        assert (params["steps"].default, params["step_size"].default) == (INFER["infer_steps"],
                                                                           INFER["infer_step_size"])
    assert {k: options("coopnets", p)[k] for p in PROFILES for k in INFER} == INFER


def test_the_negatives_are_recorded_only_where_they_are_not_the_datasets_default():
    """--negatives names another dataset: its name is in the negative rows' setting; naming the default (the
    embedded faces' background crops, or MIT Places for a real dataset) gives the unnamed default's key."""
    for dataset, default in (("lfw_faces", "lfw_nonfaces"), ("images", "places")):
        args = parse("score_diagnostics", "reduced", "--negatives", default)
        assert score_diagnostics.resolve_negatives(args, dataset) == default
        assert score_diagnostics.negative_suffix(args, "reduced") == ""
        args = parse("score_diagnostics", "reduced", "--negatives", "imagefolder")
        assert score_diagnostics.resolve_negatives(args, dataset) == "imagefolder"
        assert score_diagnostics.negative_suffix(args, "reduced") == "|negatives=imagefolder"
