"""Every command the README gives runs as written, as far as can be checked without training: each `python -m MODULE`
(in a bash block or in backticks, torchrun's `-m MODULE` too) answers --help with exit status 0 and accepts every
--flag the README writes after it; each `bash run_all.sh ...` line runs with --print-commands added (DIR: a folder in
the layout it reads); tools/gpu_check.sh answers --help and lists the flags written after it."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
FLAG = re.compile(r"(?<![\w-])--[A-Za-z0-9][A-Za-z0-9_-]*")
# run in one process (torch imported once): each module's main under `--help`; module → [exit status, output]
HELP_DRIVER = r"""
import contextlib, io, json, runpy, sys
out = {}
for module in sys.argv[1:]:
    text = io.StringIO()
    sys.argv = [module, "--help"]
    try:
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as err:  # an import error, a crash: the module does not answer --help
        code, text = 1, io.StringIO(f"{type(err).__name__}: {err}")
    out[module] = [code, text.getvalue()]
print(json.dumps(out))
"""


def readme_commands(text: str) -> list[str]:
    """The shell commands of the README: each line of its bash blocks (continuations joined, comments and `&&`
    split off) and each backticked span that starts a command (python -m, bash, torchrun), whitespace normalised."""
    commands = []
    for lang, body in FENCE.findall(text):
        if lang != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            commands += [c.strip() for c in line.split("&&") if c.strip()]
    prose = FENCE.sub("", text)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if re.match(r"(python3? -m |bash |torchrun )", span):
            commands.append(span)
    return list(dict.fromkeys(commands))


def without_env(argv: list[str]) -> list[str]:
    """argv without its leading VAR=value assignments."""
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        argv = argv[1:]
    return argv


def module_calls(commands: list[str]) -> dict[str, list[str]]:
    """project or pytest module → the README's flags written after `-m MODULE` (python -m, torchrun -m); modules
    named by a placeholder (tasks.NAME) and those outside the project (venv) are left out."""
    out: dict[str, list[str]] = {}
    for cmd in commands:
        argv = without_env(shlex.split(cmd))
        if not argv or os.path.basename(argv[0]) not in ("python", "python3", "torchrun") or "-m" not in argv:
            continue
        module, rest = argv[argv.index("-m") + 1], argv[argv.index("-m") + 2:]
        if module.split(".")[0] not in ("tasks", "tools", "repro", "pytest") or re.search(r"\.[A-Z]+$", module):
            continue
        flags = [a.split("=")[0] for a in rest if FLAG.fullmatch(a.split("=")[0])]
        out[module] = sorted({*out.get(module, []), *flags})
    return out


def script_calls(commands: list[str], script: str) -> list[list[str]]:
    """The arguments of each README call of `bash SCRIPT ...`."""
    calls = []
    for cmd in commands:
        argv = without_env(shlex.split(cmd))
        if argv[:2] == ["bash", script]:
            calls.append(argv[2:])
    return calls


def help_flags(text: str) -> set[str]:
    return set(FLAG.findall(text))


COMMANDS = readme_commands(open(README, encoding="utf-8").read())


def test_the_readme_commands_are_found():
    """The parser finds the README's commands (a change of its Markdown would otherwise empty the checks below)."""
    calls = module_calls(COMMANDS)
    assert {"tasks.synthesis", "tasks.report", "repro.runner.train", "pytest"} <= set(calls), calls
    assert [] in script_calls(COMMANDS, "run_all.sh") and script_calls(COMMANDS, "tools/gpu_check.sh")
    assert "--per-class" in calls["tasks.synthesis"] and "--nproc_per_node" not in calls["tasks.synthesis"]


@pytest.mark.slow
def test_every_readme_module_answers_help_and_accepts_the_readme_s_flags():
    calls = module_calls(COMMANDS)
    res = subprocess.run([sys.executable, "-c", HELP_DRIVER, *calls], capture_output=True, text=True, cwd=ROOT,
                         timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert res.returncode == 0, res.stderr[-3000:]
    helps = json.loads(res.stdout.splitlines()[-1])
    failed = {m: f"exit status {code}: {text[-500:]}" for m, (code, text) in helps.items() if code != 0}
    assert not failed, failed
    unknown = {m: sorted(set(flags) - help_flags(helps[m][1])) for m, flags in calls.items()}
    assert not any(unknown.values()), f"README flags that the module's parser does not list: {unknown}"


def data_root(tmp_path) -> str:
    """A --data-root in the layout run_all.sh's reduced profile reads (faces and SVHN folders; nothing in them:
    --print-commands reads no image)."""
    for folder in ("faces", "svhn", "places"):
        (tmp_path / "data" / folder).mkdir(parents=True, exist_ok=True)
    return str(tmp_path / "data")


def test_every_readme_run_all_line_prints_its_commands(tmp_path):
    helped = subprocess.run(["bash", "run_all.sh", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert helped.returncode == 0
    calls = script_calls(COMMANDS, "run_all.sh")
    assert calls
    for args in calls:
        args = [data_root(tmp_path) if a == "DIR" else a for a in args]
        assert set(a for a in args if FLAG.fullmatch(a)) <= help_flags(helped.stdout) | {"--print-commands"}, args
        res = subprocess.run(["bash", "run_all.sh", *args, "--print-commands"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60, env={**os.environ, "PYTHON": sys.executable})
        assert res.returncode == 0 and res.stderr == "", (args, res.stderr)
        assert all(" -m tasks." in line for line in res.stdout.splitlines()) and res.stdout, (args, res.stdout)


def test_gpu_check_answers_help_and_lists_the_readme_s_flags():
    res = subprocess.run(["bash", "tools/gpu_check.sh", "--help"], capture_output=True, text=True, cwd=ROOT,
                         timeout=30)
    assert res.returncode == 0
    written = {a for args in script_calls(COMMANDS, "tools/gpu_check.sh") for a in args if FLAG.fullmatch(a)}
    assert written and written - {"--help"} <= help_flags(res.stdout), written - help_flags(res.stdout)
