"""The architecture's rules (docs/architecture.md), read from the imports of every module, so that they are held
by a test rather than by prose: repro's parts import only downward and every module of repro sits in one part;
repro never imports tasks or tools; the report side imports no torch (nor repro, which imports torch); no task
imports another task; no model family imports the runner; module-level imports inside repro have no cycle; no module
of tasks names a model family in a string or imports a family's module other than the registry (or names, what the
report calls each family, which imports only the standard library)."""
import ast
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")
# the parts of repro, bottom to top: a module imports only from its own part and the parts before it (an import
# inside a function counts too). The package's own __init__ (it installs the torchvision shim) counts as base.
PARTS = ("repro.base", "repro.datasets", "repro.core", "repro.evaluation", "repro.configs", "repro.families",
         "repro.runner")
# the torch-free side: what `python -m tasks.report` and the README tool load
TORCH_FREE = {"tasks.report", "tasks.report_inputs", "tasks.blocks", "tasks.verdicts", "tasks.tables", "tasks.stats",
              "tasks.figures", "tasks.files", "tasks.readme_blocks", "tasks.prose"}
# libraries of the tasks, which every task may import (the experiments' CLIs are the other modules of tasks/)
TASK_LIBRARIES = {"tasks.common", "tasks.svhn_protocol"} | TORCH_FREE
FAMILIES = {"repro.core.learner", "repro.families.baselines", "repro.families.semisup", "repro.families.coopnets",
            "repro.families.gconvnet", "repro.families.latent", "repro.families.registry", "repro.families.names"}
# how the tasks reach the model families: the registry (what each can do, how to build it) and the names (what the
# report calls each, which the torch-free report reads by its path)
FAMILY_DOORS = {"repro.families.registry", "repro.families.names"}
RUNNER = ("repro.runner",)


def modules() -> dict[str, str]:
    """module name → file, for repro/, tasks/ and tools/."""
    out = {}
    for pkg in ("repro", "tasks", "tools"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].replace(os.sep, ".")
                    out[rel.removesuffix(".__init__")] = os.path.join(dirpath, f)
    return out


def imports(path: str, top_level_only: bool = False) -> set[str]:
    """The modules a file imports (`import a.b`, `from a.b import c` → a.b and a.b.c), optionally only those at
    module level (not inside a function: a lazy import)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def under(name: str, roots) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def part(name: str) -> int | None:
    """The index in PARTS of the part that a repro module, or a name imported from one, belongs to; None if none."""
    if name == "repro":
        return 0
    found = [i for i, p in enumerate(PARTS) if under(name, (p,))]
    return found[0] if len(found) == 1 else None


def upward_imports(mods: dict[str, str]) -> dict[str, list[str]]:
    """module → the repro names it imports (module level or lazily) from a part above its own."""
    bad = {m: sorted(i for i in imports(p) if under(i, ("repro",)) and (part(i) is None or part(i) > part(m)))
           for m, p in mods.items() if part(m) is not None}
    return {m: v for m, v in bad.items() if v}


def relative_imports(path: str) -> list[int]:
    """Lines of `from . import x` style imports, which the checks here would not see."""
    return [n.lineno for n in ast.walk(ast.parse(open(path, encoding="utf-8").read()))
            if isinstance(n, ast.ImportFrom) and n.level]


def test_every_repro_module_sits_in_one_part():
    """A new file of repro must be placed in a part (a subpackage of PARTS), not beside them."""
    mods = {m for m in modules() if under(m, ("repro",))}
    assert not sorted(m for m in mods if part(m) is None)
    assert set(PARTS) <= mods  # each part is a package of its own


def test_parts_import_only_downward():
    mods = {m: p for m, p in modules().items() if under(m, ("repro",))}
    assert not upward_imports(mods)
    assert not {m: v for m, v in ((m, relative_imports(p)) for m, p in modules().items()) if v}


def test_repro_never_imports_tasks_or_tools():
    bad = {m: sorted(i for i in imports(p) if under(i, ("tasks", "tools")))
           for m, p in modules().items() if under(m, ("repro",))}
    assert not {m: v for m, v in bad.items() if v}


def test_the_report_side_imports_no_torch():
    bad = {m: sorted(i for i in imports(p) if under(i, ("torch", "torchvision", "repro")))
           for m, p in modules().items() if m in TORCH_FREE}
    assert not {m: v for m, v in bad.items() if v}
    assert set(TORCH_FREE) <= set(modules())  # the list names real modules


def test_no_task_imports_another_task():
    mods = modules()
    tasks = {m for m in mods if under(m, ("tasks",)) and m not in TASK_LIBRARIES and m != "tasks"}
    bad = {m: sorted(i for i in imports(mods[m]) if i in tasks or any(i.startswith(t + ".") for t in tasks))
           for m in tasks}
    assert not {m: v for m, v in bad.items() if v}
    assert {"tasks.inpainting", "tasks.coopnets", "tasks.svhn_features"} <= tasks


def test_no_model_family_imports_the_runner():
    mods = modules()
    assert FAMILIES <= set(mods)  # the list names real modules
    bad = {m: sorted(i for i in imports(mods[m]) if under(i, RUNNER)) for m in FAMILIES}
    assert not {m: v for m, v in bad.items() if v}


def test_module_level_imports_in_repro_have_no_cycle():
    mods = {m: p for m, p in modules().items() if under(m, ("repro",))}
    graph = {m: {i for i in imports(p, top_level_only=True) if i in mods and i != m} for m, p in mods.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_the_rules_fail_when_broken(tmp_path):
    """The checks themselves: an `import torch` in the report and a `from tasks` in repro are seen."""
    report = tmp_path / "report.py"
    report.write_text("import torch\nfrom tasks.tables import TABLES\n")
    assert "torch" in imports(str(report))
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from tasks.common import cli\n")
    assert "tasks.common" in imports(str(lazy)) and not imports(str(lazy), top_level_only=True)



def test_an_upward_import_is_seen(tmp_path):
    """The layer check itself: a lazy import of the runner in the core, a family imported by the evaluation, and a
    module beside the parts all fail it; a downward import passes."""
    up = tmp_path / "up.py"
    up.write_text("from repro.base.config import Config\n\ndef f():\n    from repro.runner.engine import train\n")
    assert upward_imports({"repro.core.learner": str(up)}) == {"repro.core.learner": ["repro.runner.engine",
                                                                                      "repro.runner.engine.train"]}
    assert upward_imports({"repro.runner.engine": str(up)}) == {}
    family = tmp_path / "family.py"
    family.write_text("import repro.families.baselines\n")
    assert upward_imports({"repro.evaluation.metrics": str(family)})
    assert part("repro.newmodule") is None and part("repro") == 0 and part("repro.core") == 2
    rel = tmp_path / "rel.py"
    rel.write_text("from ..runner import engine\n")
    assert relative_imports(str(rel)) == [1]


def family_name_tests(path: str, names) -> list[int]:
    """Lines where a file compares a value with a string literal naming a model family (`method == "coopnets"`,
    `m in ("coopnets", "dcgan")`): a task that branches on a family's name instead of asking the registry what it
    can do (repro.families.registry: Family.capabilities, inpaint_by, label)."""
    def literals(node) -> list:
        elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]

    tree = ast.parse(open(path, encoding="utf-8").read())
    return sorted({n.lineno for n in ast.walk(tree) if isinstance(n, ast.Compare)
                   and any(v in names for side in (n.left, *n.comparators) for v in literals(side))})


def test_no_task_tests_a_family_by_name():
    """Tasks ask the registry (a capability, a family attribute), never compare a method with a family's name; nor
    does the report side, which takes what it shows of a family from repro/families/names.py."""
    from repro.families.registry import FAMILIES
    mods = modules()
    bad = {m: family_name_tests(p, set(FAMILIES)) for m, p in mods.items() if under(m, ("tasks",))}
    assert not {m: v for m, v in bad.items() if v}


def family_literals(path: str, names, allowed=()) -> list[tuple[int, str]]:
    """(line, string) of every string literal of a file that is a model family's name or one of its variants' row
    labels (`"context_encoder"`, `("pcd", "cd1")`, `method="multigrid"`), but those in `allowed` (names that mean
    something else too: a task's name, which is its experiment's, as tasks/coopnets.py's "coopnets")."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    return sorted({(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str) and n.value in names and n.value not in allowed})


def family_spellings() -> set[str]:
    """Every family's --method name and every variant's row label (repro.families.names)."""
    from repro.families import names
    from repro.families.registry import FAMILIES
    return set(FAMILIES) | set(names.NAMES) | {v.label for v in names.variants()}


def test_no_task_names_a_family():
    """No module of tasks spells a family's name: the tasks take their families from the registry's queries, the
    report side its columns, orders, rivals and variants from repro/families/names.py (through tasks.tables), so that
    a family is renamed, added or given a variant in repro/families alone. A task's own name (its experiment) is
    not a family's even where the words agree."""
    mods = modules()
    tasks = {m.removeprefix("tasks.") for m in mods if under(m, ("tasks",))}
    bad = {m: family_literals(p, family_spellings(), allowed=tasks) for m, p in mods.items() if under(m, ("tasks",))}
    assert not {m: v for m, v in bad.items() if v}


def family_modules() -> set[str]:
    """The modules that define the classes the registry builds (repro.core.learner for the four schemes, ...)."""
    from repro.families.registry import FAMILIES
    return {f.build.__module__ for f in FAMILIES.values()}


def family_imports(path: str, family_mods) -> list[str]:
    """The names a file imports from a family's module, or the module itself (any import but FAMILY_DOORS')."""
    return sorted(i for i in imports(path) if any(under(i, (f,)) for f in family_mods) and i not in FAMILY_DOORS
                  and not any(under(i, (d,)) for d in FAMILY_DOORS))


def test_tasks_reach_the_families_through_the_registry():
    """A task imports no family's module (its class, its helpers): it builds a family and asks it for a verb through
    repro.families.registry, and the report reads repro/families/names.py."""
    family_mods = family_modules()
    assert {"repro.core.learner", "repro.families.baselines", "repro.families.coopnets"} <= family_mods
    bad = {m: family_imports(p, family_mods) for m, p in modules().items() if under(m, ("tasks",))}
    assert not {m: v for m, v in bad.items() if v}


def test_the_family_names_import_only_the_standard_library():
    """repro/families/names.py is read by the torch-free report by its path: it imports nothing of repro, torch or
    any other package, and loaded so it leaves torch unloaded."""
    path = modules()["repro.families.names"]
    assert imports(path) <= {"__future__", "__future__.annotations", "dataclasses", "dataclasses.dataclass"}
    code = ("import sys, tasks.tables as t; assert t.NAMES.NAMES\n"
            "sys.exit('torch' in sys.modules or 'repro' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_family_rules_fail_when_broken(tmp_path):
    """The checks themselves: a family's name or a variant's label as a literal, in a list or as a keyword's value,
    is seen, a task's name and a floor's are not; an import of a family's class or module is seen, the registry's is
    not."""
    task = tmp_path / "task.py"
    task.write_text('ORDER = ["pcd", "observed_mean"]\nx = dict(method="context_encoder_jitter")\n'
                    'EXPERIMENT = "coopnets"\nfloor = "multigrid_start"\n')
    assert family_literals(str(task), family_spellings(), allowed={"coopnets"}) == [
        (1, "pcd"), (2, "context_encoder_jitter")]
    imp = tmp_path / "imp.py"
    imp.write_text("from repro.families.baselines import ContextEncoder\nfrom repro.families import registry\n"
                   "from repro.families.names import NAMES\n\ndef f():\n    import repro.core.learner\n")
    assert family_imports(str(imp), family_modules()) == ["repro.core.learner", "repro.families.baselines",
                                                          "repro.families.baselines.ContextEncoder"]


def test_a_family_name_test_is_seen(tmp_path):
    """The check itself: a comparison with a family's name, in either order or as a member of a literal tuple, is
    seen; a row label, a registry query and a non-family literal pass."""
    task = tmp_path / "task.py"
    task.write_text('if method == "context_encoder":\n    pass\nok = "coopnets" != m\nx = m in ("dcgan", "x")\n'
                    'label = "context_encoder_jitter"\nfine = method == "observed_mean"\nq = can(m, "revise")\n')
    assert family_name_tests(str(task), {"context_encoder", "coopnets", "dcgan"}) == [1, 3, 4]
