"""Inception score and FID through torch-fidelity, with local weights only.

torch-fidelity downloads its Inception weights on first use; this suite never
downloads. ``inception_weights()`` finds ``weights-inception-2015-12-05-6726825d.pth``
at a path the user gives or in the torch hub cache ($TORCH_HOME/hub/checkpoints/),
and raises ``MissingWeights`` naming the file and where to put it otherwise.
A custom feature extractor (registered with ``torch_fidelity.register_feature_extractor``)
can stand in for Inception, as the tests do.
"""
from __future__ import annotations

import os

import torch

import repro  # noqa: F401  (torchvision compatibility step before torch_fidelity imports torchvision)

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE)
KEY_IS, KEY_IS_STD, KEY_FID = "inception_score_mean", "inception_score_std", "frechet_inception_distance"


class MissingWeights(FileNotFoundError):
    pass


def inception_weights(path: str | None = None) -> str:
    """The local Inception weights file, or MissingWeights with instructions."""
    candidates = [path] if path else []
    candidates.append(os.path.join(torch.hub.get_dir(), "checkpoints", INCEPTION_FILE))
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    raise MissingWeights(f"Inception weights {INCEPTION_FILE} not found (looked in: {', '.join(candidates)}). "
                         f"Download {INCEPTION_URL} on a machine with network access and either pass "
                         f"--inception-weights PATH or put it in {os.path.dirname(candidates[-1])}/.")


def to_uint8_rgb(x: torch.Tensor, pixel_max: float) -> torch.Tensor:
    """(N, 1|3, H, W) floats in [0, pixel_max] → (N, 3, H, W) uint8 (grey images repeated)."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got {tuple(x.shape)}")
    x = (x.detach().float().cpu() * (255.0 / pixel_max)).round().clamp(0, 255).to(torch.uint8)
    return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x


class _Images(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor):
        self.x = x  # (N, 3, H, W) uint8

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def fidelity_metrics(fake: torch.Tensor, real: torch.Tensor | None = None, *, isc: bool = True,
                     fid: bool = False, weights_path: str | None = None, feature_extractor: str | None = None,
                     isc_splits: int = 10, batch_size: int = 64, cuda: bool | None = None) -> dict:
    """IS of `fake` and FID between `fake` and `real`, both (N, 3, H, W) uint8.

    feature_extractor None: torch-fidelity's Inception (weights found by ``inception_weights``);
    otherwise the name of a registered extractor (no weights needed).
    """
    import torch_fidelity
    if fid and real is None:
        raise ValueError("FID needs the real images")
    kwargs = {}
    if feature_extractor is None:
        kwargs["feature_extractor_weights_path"] = inception_weights(weights_path)
    else:
        kwargs["feature_extractor"] = feature_extractor
    cuda = torch.cuda.is_available() if cuda is None else cuda
    out = torch_fidelity.calculate_metrics(
        input1=_Images(fake), input2=_Images(real) if real is not None else None, isc=isc, fid=fid,
        isc_splits=isc_splits, batch_size=batch_size, cuda=cuda, verbose=False, cache=False, **kwargs)
    return {k: float(v) for k, v in out.items()}
