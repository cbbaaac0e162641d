"""Make ``import torchvision`` work beside a CPU-only torch.

The torchvision wheels on PyPI for torch 2.13 are CUDA builds. Beside the CPU
build of torch their compiled extension (``torchvision/_C.so``) fails to load,
and ``import torchvision`` then dies with ``RuntimeError: operator
torchvision::nms does not exist``: at import, torchvision registers "fake"
implementations for ``torchvision::nms`` and ``torchvision::qnms``, whose
schemas normally come from that extension.

``ensure_torchvision_importable()`` runs before torchvision is first imported.
If the extension loads, it does nothing (every CUDA machine). Otherwise it
declares the two schemas through ``torch.library`` so that the import
succeeds. Transforms, ``make_grid``/``save_image``, the dataset classes and
``ImageFolder`` then work; the detection operators themselves and
torchvision's own image decoding stay unavailable (this suite reads images
with PIL).
"""
from __future__ import annotations

import importlib.util
import os
import sys

import torch

_LIB = None  # keeps the schema definitions alive for the life of the process
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _extension_loads(spec) -> bool:
    folder = os.path.dirname(spec.origin)
    libs = [f for f in os.listdir(folder) if f.startswith("_C.") and f.endswith((".so", ".pyd"))]
    if not libs:
        return False
    try:
        torch.ops.load_library(os.path.join(folder, libs[0]))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Return True if the schemas had to be declared, False if nothing was done."""
    global _LIB
    if _LIB is not None or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None or _extension_loads(spec):
        return False
    _LIB = torch.library.Library("torchvision", "DEF")  # noqa: TOR901
    for schema in _SCHEMAS:
        _LIB.define(schema)
    return True
