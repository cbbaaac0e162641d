"""The registry says what each model family can do (repro.families.registry: Family.capabilities, inpaint_by, label),
and the tasks take their choices from it: a declared capability is an implemented verb, an undeclared one is not, and
a new family with its module and one registry entry is taken by the tasks that ask for its capabilities and shown by
the report. What the report calls each family (repro.families.names) agrees with the registry."""
import pytest
import torch
import torch.nn as nn

from repro.base.config import get_config
from repro.core.trainable import Trainable, grad_l1
from repro.families import registry


def declared_verbs_are_implemented(name: str) -> None:
    """Each capability of CAPABILITIES the family declares is a method its class defines (not Trainable's stub), and
    each it does not declare is not."""
    build = registry.FAMILIES[name].build
    cls = build if isinstance(build, type) else type(build(get_config("smoke", method=name), 3, 20))
    for capability, verb in registry.CAPABILITIES.items():
        own = getattr(cls, verb, None) not in (None, getattr(Trainable, verb, None))
        assert own == (capability in registry.FAMILIES[name].capabilities), (name, capability)


@pytest.mark.parametrize("name", registry.names())
def test_every_family_declares_the_verbs_it_implements(name):
    declared_verbs_are_implemented(name)


def test_the_tasks_choices_come_from_the_registry():
    from tasks import coopnets, inpainting
    assert inpainting.inpainters() == ["multigrid", "singlegrid", "cd1", "pcd", "context_encoder"]
    assert coopnets.learned() == ["dcgan", "coopnets"]
    assert registry.having("score_per_grid") == ["multigrid", "singlegrid", "cd1", "pcd"]
    assert registry.can("coopnets", "revise") and not registry.can("dcgan", "revise")
    with pytest.raises(ValueError, match="unknown capability"):
        registry.having("fly")
    with pytest.raises(ValueError, match="capabilities"):
        registry.Family(None, True, "bad", frozenset({"inpaint"}))  # inpaints, but not saying how
    with pytest.raises(ValueError, match="capabilities"):
        registry.Family(None, True, "bad", frozenset({"fly"}))


def test_the_registry_and_the_names_agree():
    """Every family has its entry in repro.families.names and its Family carries it; a scheme there is a scheme of
    METHODS; a family with a place among the inpainting table's columns or the orderings' rivals inpaints; each
    variant's settings give rows of its label (Family.label); the torch-free report reads the same table."""
    from repro.core.methods import METHODS
    from repro.families import names
    from tasks import tables
    assert list(names.NAMES) == list(registry.FAMILIES)
    assert repr(tables.NAMES.NAMES) == repr(names.NAMES)  # the same file (its copy read by path, where the report
    # was imported before repro)
    for name, fam in registry.FAMILIES.items():
        n = names.NAMES[name]
        assert fam.names is n and registry.display(name) is n
        assert n.scheme == (name in METHODS), name
        assert "inpaint" in fam.capabilities or not (n.rival or n.short or n.variants), name
        for v in n.variants:
            assert registry.method_label(get_config("smoke", method=name, **dict(v.settings))) == v.label
    assert names.PAPER_METHOD in registry.having("inpaint") and names.PAPER_METHOD not in names.rivals()
    assert [m for _, m in names.table4_columns()] == ["pcd", "cd1", "singlegrid", "context_encoder", "multigrid"]


def test_score_diagnostics_refuses_a_family_without_grid_scores(tmp_path):
    from tasks import score_diagnostics
    with pytest.raises(ValueError, match="no energy per grid"):
        score_diagnostics.main(["--method", "dcgan", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r"),
                                "--no-progress"])
    assert not (tmp_path / "r").exists()


class ToyInpainter:
    """A new model family as the checklist in docs/architecture.md adds one, with the inpainting and features
    capabilities: a Trainable subclass (here defined in the test, standing in for its module repro/families/toy.py)
    and one Family entry in repro/families/registry.py. Its network fills the masked pixels in one pass (inpaint_by
    "network") and its features are the network's channel means."""

    @staticmethod
    def build(cfg, channels, n_train):
        class Toy(Trainable):
            sizes = (cfg.image_size,)

            def __init__(self):
                super().__init__(cfg)
                self.nets = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1)])
                self.opts = [torch.optim.Adam(self.nets[0].parameters(), lr=1e-3)]
                self.scheds = [torch.optim.lr_scheduler.LambdaLR(self.opts[0], lambda t: 1.0)]

            def fill(self, x, mask):  # x (B, C, H, W) in [0, pixel_max], mask (B, 1, H, W), 1 = missing
                return self.nets[0](x * (1 - mask) / cfg.pixel_max) * cfg.pixel_max

            def train_step(self, x, idx, mask=None):
                mask = torch.zeros_like(x[:, :1]) if mask is None else mask
                self.opts[0].zero_grad()
                loss = ((self.fill(x, mask) - x) / cfg.pixel_max).pow(2).mean()
                self.backward(loss, self.nets[0])
                stats = torch.stack([loss.detach(), loss.detach(), grad_l1(self.nets[0]), loss.detach()])[None]
                self.step(stats, [(self.opts[0], self.scheds[0])])
                return [x], stats

            @torch.no_grad()
            def inpaint(self, x, mask, generator=None, **sampler):
                return torch.where(mask.bool().expand_as(x), self.fill(x, mask), x)

            @torch.no_grad()
            def features(self, x):
                return self.nets[0](x / cfg.pixel_max).mean((2, 3))  # (B, C)

        return Toy()


def test_a_new_family_with_inpainting_and_features_walks_through_the_registry(monkeypatch, tmp_path):
    """With one Family entry (capabilities inpaint and features, inpainting by a network), the inpainting task takes
    the new name among its --methods, trains it through the runner, inpaints the test images with it through the
    library's procedure (repro.core.inpaint) and writes its rows under the family's label; its features are read
    through the verb; the report shows its rows as a column of the inpainting table, after the paper's. Nothing but
    the family and its entry is touched."""
    from tasks import inpainting, report
    monkeypatch.setitem(registry.FAMILIES, "toy", registry.Family(
        ToyInpainter.build, True, "a test's family", frozenset({"inpaint", "features"}), "network",
        lambda cfg: f"{cfg.method}_net"))
    assert "toy" in inpainting.inpainters() and registry.having("features")[-1] == "toy"
    declared_verbs_are_implemented("toy")
    rows = inpainting.main(["--methods", "toy", "--no-floors", "--n-iters", "2", "--batch-size", "4",
                            "--n-test-images", "6", "--n-panels", "2", "--out", str(tmp_path / "o"),
                            "--runs", str(tmp_path / "r"), "--no-progress"])
    assert {r["method"] for r in rows} == {"toy_net"}
    assert {r["setting"] for r in rows} == set(inpainting.MASK_NAMES)  # no chains: no budgets, no procedures
    assert (tmp_path / "o" / "inpainting.csv").exists() and any((tmp_path / "r").iterdir())
    table = report.build_tables(report.load_results(str(tmp_path / "o")), report.paper_numbers()).split("\n## ")[1]
    assert table.startswith("CVPR Table 4")
    header, _, *lines = [line.split(" | ") for line in ("|  |" + table.split("|  |")[1]).split("\n\n")[0].splitlines()]
    col = header.index("toy_net")
    assert header[col - 1] == "MG" and header[col + 1] == "‖"  # after the paper's columns, before the floors
    assert len(lines) == 6 and all(line[col][0].isdigit() for line in lines), lines  # each mask's error, PSNR
    assert registry.display("toy").long == "toy"  # no names entry: the report calls it by its rows' label
    cfg = get_config("smoke", method="toy")
    learner = registry.initial_learner(cfg, 3, 20, device="cpu")
    x = torch.rand(4, 3, cfg.image_size, cfg.image_size) * cfg.pixel_max
    assert learner.features(x).shape == (4, 3) and learner.device == torch.device("cpu")
