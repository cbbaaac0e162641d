"""mgcd engine: multi-grid energy-based generative ConvNets learned by minimal contrastive divergence.

Gao, Lu, Zhou, Zhu, Wu, "Learning Generative ConvNets via Multi-grid Modeling and
Sampling", CVPR 2018 (arXiv: "Learning Multi-grid Generative ConvNets by Minimal
Contrastive Divergence"). Equation numbers in this package refer to the arXiv version.
"""
from repro._tv_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # must run before anything imports torchvision

__version__ = "0.1.0"
