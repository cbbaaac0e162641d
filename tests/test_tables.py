"""tasks.tables takes what it shows of a model family from repro/families/names.py: CVPR Table 4's columns (their
order, short names and paper cells), the rivals its orderings compare the paper's method against and their variants;
a learned method the names do not place still gets a column of its own, after the paper's."""
import pandas as pd
from _helpers import inpainting_rows, row

from tasks import tables


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({"setting": str, "method": str, "metric": str})


def columns(rows) -> list[tuple[str, str, str | None, bool]]:
    _, cols = tables.inpaint_layout(frame(rows))
    return [(c.label, dict(c.keys)["method"], c.paper, c.floor) for c in cols]


def test_the_inpainting_columns_are_the_papers_then_the_runs_others_then_the_floors():
    rows = inpainting_rows() + [row(method="toy_net"), row(method="context_encoder_jitter"),
                                row(method="cd1", setting="square|start=multigrid")]
    cols = columns(rows)
    assert [c[0] for c in cols if not c[3]] == ["PCD", "CD1", "SG", "CE", "MG", "toy_net"]
    assert [c[2] for c in cols if not c[3]] == ["PCD", "CD1", "SG", "CE", "MG", None]  # no paper cell for the new one
    assert [c[1] for c in cols if c[3]] == ["observed_mean", "mean_face", "biharmonic", "multigrid_start"]
    assert tables.inpaint_paper_cell(tables.ax("error · square", paper="error|square"),
                                     tables.ax("CE", paper="CE")) == ("error", "square_CE")


def test_a_family_placed_in_the_names_is_a_column_and_a_rival(monkeypatch):
    """An entry in repro.families.names with a place in CVPR Table 4 and rival=True: its column at that place with
    its short name, and the paper's method compared against it and its variants under each mask."""
    names = tables.NAMES
    monkeypatch.setitem(names.NAMES, "newfam", names.Names(
        "new family", "NF", 5, rival=True, variants=(names.Variant("newfam_big", "new family, bigger", ()),)))
    rows = inpainting_rows() + [row(method="newfam", value=0.2, ci_low=0.19, ci_high=0.21)]
    rws, cols = tables.inpaint_layout(frame(rows))
    assert [c.label for c in cols if not c.floor] == ["PCD", "CD1", "SG", "CE", "MG", "NF"]
    claims = [(cl.where.label, f"{cl.a.label} {cl.op} {cl.b.label}") for cl in tables.inpaint_claims(rws, cols)]
    square = [c for w, c in claims if w == "error · square"]
    assert square[:4] == ["multi-grid < single-grid", "multi-grid < CD1", "multi-grid < PCD",
                          "multi-grid < ContextEncoder"]
    assert "multi-grid < new family" in square and "multi-grid < new family, bigger" in square
    assert "multi-grid < single-grid trained from the fill" in square  # a rival scheme's variant
    assert square[-1] == "multi-grid < multi-grid trained from the fill"  # ours against its own training start
    assert "multi-grid < new family from the multi-grid start" not in square  # not a scheme: no chains to start
    assert not [c for w, c in claims if w.startswith("PSNR")]  # orderings on the error only


def test_long_names_of_families_variants_and_others():
    names = tables.NAMES
    assert names.long_name("singlegrid") == "single-grid"
    assert names.long_name("context_encoder_running_bn") == "ContextEncoder with running batch norm"
    assert names.long_name("biharmonic") == "biharmonic" and names.long_name("x", "a floor") == "a floor"
    assert names.rivals() == ["singlegrid", "cd1", "pcd", "context_encoder"]
