import subprocess
import sys

import pytest


@pytest.mark.slow
def test_torchvision_and_fidelity_import_after_repro():
    code = ("import repro, torch, torchvision, torch_fidelity\n"
            "from torchvision.utils import make_grid, save_image\n"
            "import torchvision.transforms as T\n"
            "g = make_grid(torch.rand(4, 3, 8, 8), nrow=2)\n"
            "assert g.shape == (3, 22, 22), g.shape  # 2 px padding\n"
            "assert T.CenterCrop(4)(torch.rand(1, 3, 8, 8)).shape == (1, 3, 4, 4)\n"
            "from repro.base._tv_compat import ensure_torchvision_importable\n"
            "assert ensure_torchvision_importable() is False  # idempotent once torchvision is loaded\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
