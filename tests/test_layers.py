"""The architecture's rules (docs/architecture.md), read from the imports of every module, so that they are held
by a test rather than by prose: repro never imports tasks or tools; the report side imports no torch (nor repro,
which imports torch); no task imports another task; no model family imports the runner; module-level imports
inside repro have no cycle."""
import ast
import os

ROOT = os.path.join(os.path.dirname(__file__), "..")
# the torch-free side: what `python -m tasks.report` and the README tool load
TORCH_FREE = {"tasks.report", "tasks.tables", "tasks.figures", "tasks.files", "tasks.readme_blocks"}
# libraries of the tasks, which every task may import (the experiments' CLIs are the other modules of tasks/)
TASK_LIBRARIES = {"tasks.common"} | TORCH_FREE
FAMILIES = {"repro.learner", "repro.baselines", "repro.semisup", "repro.coopnets", "repro.gconvnet"}
RUNNER = {"repro.engine", "repro.train"}


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
