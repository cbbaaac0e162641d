"""tools/gpu_check.sh, checked cheaply: its --help describes every check with the budget the script gives it, every
check runs under its own timeout and the budgets fit (8 minutes on one GPU), and its output is three files outside
the repository. The checks themselves run in CI through `bash tools/gpu_check.sh --device cpu` (.ci/run), not here:
the suite stays fast."""
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCRIPT = os.path.join(REPO, "tools", "gpu_check.sh")
GPU_MINUTES = 8  # the script's promise for a one-GPU machine
CPU_SECONDS = 240  # the --device cpu run's ceiling by its timeouts (CI's budget); it takes 1.5–2.5 min on 2 busy cores


def checks() -> list[tuple[str, int, int]]:
    """(name, GPU budget s, CPU budget s) of each `check NAME GPU CPU` line, in the order they run."""
    return [(n, int(g), int(c)) for n, g, c in re.findall(r"(?m)^check (\w+) (\d+) (\d+)$", open(SCRIPT).read())]


def test_every_check_has_a_timeout_and_help_states_it():
    text = open(SCRIPT).read()
    found = checks()
    assert [n for n, _, _ in found] == ["cuda_build", "cuda_tests", "discipline", "determinism", "cpu_to_gpu",
                                        "task", "bench", "bn_collectives"]  # task before bench
    assert len(re.findall(r"(?m)^check \w+", text)) == len(found), "a check without its two budgets"
    assert re.search(r'timeout -k \d+ "\$limit" bash -c "\$name"', text), "checks must run under their timeout"
    shown = subprocess.run(["bash", SCRIPT, "--help"], capture_output=True, text=True, check=True).stdout
    for name, gpu, cpu in found:
        assert re.search(rf"(?m)^#\s+{name}\s+\({gpu} s / {cpu} s\) \S", shown), f"--help misstates {name}'s budget"
    one_gpu = sum(g for n, g, _ in found if n != "bn_collectives")  # SKIP with one GPU
    assert one_gpu <= GPU_MINUTES * 60, one_gpu
    assert sum(c for _, _, c in found) <= CPU_SECONDS
    for option in ("--out DIR", "--device cpu", "--quick", "--only NAME"):
        assert option in shown


@pytest.mark.slow
def test_cpu_mode_writes_three_files(tmp_path):
    """--device cpu, one check (cuda_build: SKIP there): a CSV, a log and an archive of the per-check logs."""
    out = tmp_path / "out"
    res = subprocess.run(["bash", SCRIPT, "--device", "cpu", "--only", "cuda_build", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(os.listdir(out)) == ["gpu_check.csv", "gpu_check.log", "gpu_check_logs.tar.gz"]
    rows = (out / "gpu_check.csv").read_text().splitlines()
    assert rows[0].startswith("check,status,seconds,timeout_s") and rows[1].startswith("cuda_build,SKIP,")
    assert re.search(r"(?m)^cuda_build\s+SKIP", res.stdout) and "cuda_build" in (out / "gpu_check.log").read_text()
    with tarfile.open(out / "gpu_check_logs.tar.gz") as tar:
        assert "./cuda_build.log" in tar.getnames()


@pytest.mark.slow
def test_without_a_gpu_it_stops_with_a_failed_row_outside_the_repository():
    """No GPU (tests/conftest.py hides a GPU from the processes a test starts): a FAIL row and a clear stop."""
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
    res = subprocess.run(["bash", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 1 and "no usable CUDA build" in res.stderr
    out = re.search(r"writing (\S+)", res.stdout).group(1)  # the default --out: a new temporary folder
    try:
        assert not os.path.realpath(out).startswith(REPO + os.sep)
        rows = open(os.path.join(out, "gpu_check.csv")).read().splitlines()
        assert rows[1].startswith("cuda_build,FAIL")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_tests_run_on_the_cpu():
    """tests/conftest.py: a test not marked `cuda` sees no GPU, here and in the processes it starts, so device "auto"
    is the CPU and "cuda" is refused (tests/test_cuda.py::test_cuda_tests_see_the_gpu is the other side)."""
    from repro.base.config import get_config
    assert not torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES") == ""
    assert get_config("smoke").torch_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="--device cuda"):
        get_config("smoke", device="cuda").validate()
