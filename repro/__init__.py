"""mgcd engine: multi-grid energy-based generative ConvNets learned by minimal contrastive divergence.

Gao, Lu, Zhou, Zhu, Wu, "Learning Generative ConvNets via Multi-grid Modeling and
Sampling", CVPR 2018 (arXiv: "Learning Multi-grid Generative ConvNets by Minimal
Contrastive Divergence"). Equation numbers in this package refer to the arXiv version.

Six parts, bottom to top; a module imports only from its own part and the parts below it
(tests/test_layers.py reads every import, lazy ones included, and holds this; docs/architecture.md):

1. ``repro.base``: settings (config), files and provenance (io), processes (dist), speed switches
   (speed), the one batching rule (batching), the torchvision shim (_tv_compat).
2. ``repro.datasets``: the dataset loaders (data), image folders and their cache (imagefiles), masks.
3. ``repro.core``: the method: grid operators (pyramid), energy nets (models), Langevin dynamics
   (langevin), the schemes (methods), the Trainable interface (trainable), Algorithm 1 (learner).
4. ``repro.evaluation``: what scores a model or stands in for one: metrics, IS/FID (fidelity), feature
   read-outs and the L2-SVM (features, l2svm), inpainting floors (floors, mrf), texture statistics.
5. ``repro.families``: the other model families (baselines, coopnets, gconvnet, latent, semisup) and the
   table of every family ``--method`` names (registry).
6. ``repro.runner``: training runs (engine) and ``python -m repro.runner.train``.

This file belongs to base: it installs the shim, which must run before anything imports torchvision.
"""
from repro.base._tv_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # must run before anything imports torchvision

__version__ = "0.1.0"
