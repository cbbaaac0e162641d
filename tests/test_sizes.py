"""The suite's size limits (STYLE.md, practice 9), counted with `ast` and `tokenize` over repro/, tasks/, tools/
and tests/:

- a file holds fewer than MAX_CODE_LINES code lines. A *code line* is a physical line on which at least one token
  begins, ends or passes other than a comment, a line break, an indent or dedent, or a docstring. A *docstring* is
  the string literal that is the whole first statement of a module, class or function; every other string literal
  counts, a multi-line one with every line it spans. So blank lines, comment lines and docstrings do not count;
  a line that continues a bracket with code, or lies inside a multi-line string that is no docstring, does.
- a function (or method, nested ones included) is fewer than MAX_FUNCTION_LINES lines long, counted from its
  `def` line (decorators excluded) to its last line, both included, blank and comment lines included.
- a function takes at most MAX_POSITIONAL positional parameters: positional-only and ordinary ones, less a first
  one named `self` or `cls`; `*args`, and the keyword-only parameters after `*` or `*args`, are not counted.

Each failure names every offender as path:line and its count."""
import ast
import io
import os
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("repro", "tasks", "tools", "tests")
MAX_CODE_LINES = 400  # code lines per file: fewer than this
MAX_FUNCTION_LINES = 60  # lines per function: fewer than this
MAX_POSITIONAL = 6  # positional parameters per function: at most this
NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def python_files() -> list[str]:
    """Every .py file under FOLDERS, as a path relative to ROOT."""
    out = []
    for folder in FOLDERS:
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            out += [os.path.relpath(os.path.join(dirpath, f), ROOT) for f in sorted(files) if f.endswith(".py")]
    return out


def scopes(node: ast.AST):
    """node and every module, class and function (nested ones included) defined in its statements. Walks statements
    only (a def or class cannot sit inside an expression), which is several times faster than ast.walk."""
    if isinstance(node, (ast.Module, ast.ClassDef, *FUNCTIONS)):
        yield node
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(node, field, ()):
            if isinstance(child, (ast.stmt, ast.ExceptHandler, ast.match_case)):
                yield from scopes(child)


def docstrings(tree: ast.Module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, as tokenize gives them, of every docstring in tree."""
    spans = []
    for node in scopes(tree):
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            spans.append(((first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset)))
    return spans


def code_lines(source: str, tree: ast.Module) -> int:
    """The number of code lines in source (module docstring)."""
    spans = docstrings(tree)
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in NOT_CODE or (tok.type == tokenize.STRING  # a docstring's own string literal(s)
                                    and any(a <= tok.start and tok.end <= b for a, b in spans)):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """fn's positional parameters, less a first one named self or cls."""
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return len(params) - (params[:1] in (["self"], ["cls"]))


def measure() -> tuple[list[str], list[str], list[str]]:
    """The offenders: (files too long, functions too long, functions with too many positional parameters)."""
    files, long_functions, many_params = [], [], []
    for rel in python_files():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source, rel)
        if (n := code_lines(source, tree)) >= MAX_CODE_LINES:
            files.append(f"{rel}:1 {n} code lines")
        for node in scopes(tree):
            if not isinstance(node, FUNCTIONS):
                continue
            if (n := node.end_lineno - node.lineno + 1) >= MAX_FUNCTION_LINES:
                long_functions.append(f"{rel}:{node.lineno} {node.name} {n} lines")
            if (n := positional(node)) > MAX_POSITIONAL:
                many_params.append(f"{rel}:{node.lineno} {node.name} {n} positional parameters")
    return files, long_functions, many_params


def test_the_counts_follow_their_definitions():
    source = ('"""Module\ndocstring."""\nimport os  # a comment\n\n# a comment line\nX = """not a\ndocstring"""\n\n\n'
              'def f(self, a, b, /, c, *args, d, e=1, **kw):\n    """Doc."""\n    return (a +\n            b)\n'
              'class C:\n    "doc"\n    def g(cls, a): "doc"; return a\n')
    tree = ast.parse(source)
    # import, X = (2 lines), def, return (2 lines), class, def g (its docstring shares the line with code)
    assert code_lines(source, tree) == 1 + 2 + 1 + 2 + 1 + 1
    f, g = [n for n in scopes(tree) if isinstance(n, FUNCTIONS)]
    walked = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, *FUNCTIONS))]
    assert sorted(map(id, scopes(tree))) == sorted(map(id, walked))
    assert (positional(f), positional(g)) == (3, 1)
    assert f.end_lineno - f.lineno + 1 == 4


def test_files_functions_and_parameter_lists_stay_under_their_limits():
    files, long_functions, many_params = measure()
    problems = ([f"files of {MAX_CODE_LINES} code lines or more:", *files] if files else []) + \
        ([f"functions of {MAX_FUNCTION_LINES} lines or more:", *long_functions] if long_functions else []) + \
        ([f"functions with more than {MAX_POSITIONAL} positional parameters:", *many_params] if many_params else [])
    assert not problems, "\n".join(problems)
