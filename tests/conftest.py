import os

import pytest
import torch

import repro  # noqa: F401  (torchvision compatibility step before any test imports torchvision)

# 2 threads (CI's 2 cores), or OMP_NUM_THREADS where it is set: on cores busy with other work, 2 threads each
# waiting on the other run 10-30 times slower than 1
torch.set_num_threads(int(os.environ.setdefault("OMP_NUM_THREADS", "2")))
# CUDA's driver reads CUDA_VISIBLE_DEVICES once, when first asked: asked here, before any test hides the GPU below,
# so that the tests marked `cuda` still see it
torch.cuda.is_available()


@pytest.fixture(autouse=True)
def cpu_unless_cuda_test(request, monkeypatch):
    """Every test runs on the CPU except those marked `cuda` (tests/test_cuda.py): without a GPU in sight,
    device "auto" (repro.base.config.Config.torch_device) resolves to the CPU and "cuda" is refused as on a machine
    without one, in this process (torch.cuda.is_available) and in the processes a test starts (CUDA_VISIBLE_DEVICES
    empty). So `pytest` on a GPU machine runs the same tests as without one, plus the CUDA ones."""
    if request.node.get_closest_marker("cuda") is None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def smoke_cfg():
    from repro.base.config import get_config
    # smaller than the smoke preset so that each scheme's step takes well under a second
    return get_config("smoke", batch_size=8, n_iters=2, checkpoint_every=1, steps_per_grid=3, n_show=4)
