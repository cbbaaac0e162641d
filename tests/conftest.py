import os

import pytest
import torch

import repro  # noqa: F401  (torchvision compatibility step before any test imports torchvision)

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


@pytest.fixture
def smoke_cfg():
    from repro.base.config import get_config
    # smaller than the smoke preset so that each scheme's step takes well under a second
    return get_config("smoke", batch_size=8, n_iters=2, checkpoint_every=1, steps_per_grid=3, n_show=4)
