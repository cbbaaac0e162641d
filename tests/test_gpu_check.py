"""tools/gpu_check.sh: its --help describes every check it runs, and without a GPU it stops at the first check
with a row that says so (the checks themselves need a GPU: they run there, not in CI)."""
import os
import re
import subprocess

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "tools", "gpu_check.sh")


def test_help_describes_every_check():
    text = open(SCRIPT).read()
    checks = re.findall(r"(?m)^check (\w+) ", text)
    assert len(checks) >= 8
    shown = subprocess.run(["bash", SCRIPT, "--help"], capture_output=True, text=True, check=True).stdout
    for name in checks:
        assert re.search(rf"(?m)^#\s+{name}\s+\S", shown), f"--help does not describe the check {name}"


def test_without_a_gpu_it_stops_with_a_failed_row(tmp_path):
    import torch
    if torch.cuda.is_available():
        return  # on a GPU machine the script runs for minutes: tools/gpu_check.sh itself is the test there
    res = subprocess.run(["bash", SCRIPT, "--quick", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1 and "no usable CUDA build" in res.stderr
    rows = (tmp_path / "gpu_check.csv").read_text().splitlines()
    assert rows[0].startswith("check,status") and rows[1].startswith("cuda_build,FAIL")
