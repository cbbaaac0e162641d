"""Names read from data stay inside their folder: a results CSV's profile, dataset, method, setting or run, and a
run folder's name, become file names only through tasks.files.safe_name, and the report writes nothing outside its
results folder whatever those columns hold (path parts, an absolute path, a NUL, a name longer than any file
system allows)."""
import csv
import os

import pytest

from tasks.files import RESULT_COLUMNS, inside, safe_name

PLAIN = ["multigrid", "reduced", "lfw_faces", "square|chains=4", "square|test_steps=90", "M20", "cd1_fill_start",
         "smoke-lfw_faces-cd1-seed0-inpaint-9a04a160", "a+b", "v1.2"]


@pytest.mark.parametrize("name", PLAIN)
def test_a_plain_name_is_kept_as_it_is(name):
    assert safe_name(name) == name and safe_name(safe_name(name)) == name


@pytest.mark.parametrize("name", ["a/../../../../ESCAPED", "/tmp/x", "..", ".", ".hidden", "a\x00b", "a\nb",
                                  "a\\b", "", "x" * 10_000, "é" * 300, "../" * 100])
def test_any_name_becomes_one_bounded_path_component(name, tmp_path):
    out = safe_name(name)
    assert out and len(out) <= 100 and out not in (".", "..") and not out.startswith(".")
    assert not any(c in out for c in "/\\\x00") and ".." not in out and all(c.isprintable() for c in out)
    assert safe_name(out) == out  # a safe name is its own name
    path = os.path.join(tmp_path, out)
    assert os.path.dirname(path) == str(tmp_path)
    with open(path, "w"):  # the file system takes it
        pass


def test_distinct_names_keep_distinct_file_names():
    long = ["x" * 5000 + "a", "x" * 5000 + "b", "x" * 200, "x" * 201, "y" * 10_000]
    assert len({safe_name(n) for n in long}) == len(long)
    changed = ["a/b", "a_b", "a\\b", "a\x00b", "a:b", "..a", "_a"]  # an altered name carries its original's hash
    assert len({safe_name(n) for n in changed}) == len(changed)


def test_inside_refuses_a_path_outside_its_root(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    assert inside(str(root), str(root / "figures" / "x.png")) == str(root / "figures" / "x.png")
    for bad in (str(root / ".." / "x.png"), "/tmp/x.png", str(tmp_path / "results2" / "x.png")):
        with pytest.raises(ValueError, match="outside") as err:
            inside(str(root), bad)
        assert str(root) in str(err.value) and "\n" not in str(err.value)
    (root / "link").symlink_to(tmp_path)  # a link that leads out is out
    with pytest.raises(ValueError, match="outside"):
        inside(str(root), str(root / "link" / "x.png"))


# --- the report ---------------------------------------------------------------------------

COLUMNS = ("profile", "dataset", "method", "setting", "run")


def bad_values(tmp_path) -> dict[str, str]:
    return {"parent": "a/../../../../ESCAPED", "absolute": str(tmp_path / "ESCAPED_ABS"), "nul": "a\x00b",
            "long": "L" * 10_000}


def rows_with(column: str, value: str) -> list[dict]:
    """Inpainting rows (two methods, one mask, the table's two metrics) whose `column` holds value."""
    base = {"experiment": "inpainting", "seed": "0", "ci_low": "", "ci_high": "", "profile": "smoke",
            "dataset": "lfw_faces", "n_images": "20", "device": "cpu", "commit": "abc", "date": "2024-01-01",
            "run": "", "iterations": ""}
    rows = [{**base, "method": m, "setting": "square", "metric": metric, "value": str(v)}
            for m, v in (("multigrid", 0.1), ("biharmonic", 0.2))
            for metric, v in (("mae_masked", v), ("psnr11_masked", 20 * v))]
    return [{**r, column: value} for r in rows]


def files_under(root) -> dict[str, int]:
    return {os.path.join(d, f): os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs}


def test_every_figure_name_is_one_component_of_the_figures_folder(monkeypatch, tmp_path):
    """write_figures names a bar chart after its block's profile and dataset, and a learning curve after its run
    folder: whatever they hold, the path is a file directly in the figures folder (charts not drawn here: see the
    report's test below for the whole command)."""
    from types import SimpleNamespace

    import tasks.figures as figures
    monkeypatch.setattr(figures, "bar_chart", lambda b, path: path)
    monkeypatch.setattr(figures, "learning_curves", lambda log, path: path)
    runs = tmp_path / "runs"
    for name in ("r" * 250, "-x", "a b"):
        (runs / name).mkdir(parents=True)
        (runs / name / "log.csv").write_text("iteration\n")
    out = tmp_path / "results" / "figures"
    blocks = [SimpleNamespace(profile=v, dataset=d, spec=SimpleNamespace(key="inpainting_celeba"))
              for v in [*bad_values(tmp_path).values(), "smoke"] for d in ("lfw_faces", v)]
    paths = figures.write_figures(blocks, str(tmp_path / "results"), str(runs), str(out))
    assert len(set(paths)) == len(paths) == len(blocks) + 3
    assert all(os.path.dirname(p) == str(out) and len(os.path.basename(p)) <= 255 - 13 for p in paths), paths
    assert str(out / "inpainting_celeba_smoke_lfw_faces.png") in paths  # a plain name keeps its file name


@pytest.mark.slow
@pytest.mark.parametrize("column", COLUMNS)
def test_the_report_writes_nothing_outside_its_results_folder(column, tmp_path):
    from tasks.report import main
    results, runs = tmp_path / "a" / "b" / "results", tmp_path / "a" / "b" / "runs"
    results.mkdir(parents=True)
    long_run = "r" * 240  # a run folder whose name is near the file system's limit: learning_<name>.png is over it
    (runs / long_run).mkdir(parents=True)
    with open(runs / long_run / "log.csv", "w") as f:
        f.write("iteration,grid,size,f_obs,f_syn,grad_l1,lr\n0,1,32,1.0,0.5,0.1,0.3\n1,1,32,1.1,0.6,0.1,0.3\n")
    with open(results / "inpainting.csv", "w", newline="") as f:
        w = csv.DictWriter(f, RESULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for value in bad_values(tmp_path).values():
            w.writerows(rows_with(column, value))
        w.writerows([{**r, "run": long_run} for r in rows_with("profile", "reduced")])
    outside = {p: s for p, s in files_under(tmp_path).items() if not p.startswith(str(results) + os.sep)}
    assert main(["--results", str(results), "--runs", str(runs)]) == 0
    after = {p: s for p, s in files_under(tmp_path).items() if not p.startswith(str(results) + os.sep)}
    assert after == outside  # nothing written, nothing changed outside the results folder
    figures = sorted(os.listdir(results / "figures"))
    assert safe_name(f"learning_{long_run}") + ".png" in figures  # shortened, not refused
    assert all(f.endswith(".png") and safe_name(f[:-4]) == f[:-4] for f in figures), figures
    assert all(os.path.dirname(p) == str(results / "figures") for p in files_under(results / "figures"))
    if column == "profile":  # each bad profile got its own chart, under its safe name
        assert sum(f.startswith("inpainting_celeba_") for f in figures) == 1 + len(bad_values(tmp_path))
