"""Synthesis (arXiv §7.2, CVPR §6.2; figures 1, 2, 4, 5; CVPR Table 1; tasks.synthesis). Its models take the
profile's Config as it is (no CONFIG override)."""

PROFILES = ("smoke", "reduced", "paper")
CONFIG = {profile: {} for profile in PROFILES}

FIGURE_METHODS = ("dcgan", "singlegrid", "multigrid")  # figure 2's columns: --methods unset and no --method

_OPTIONS = {
    "methods": None,  # None: --method if given, else FIGURE_METHODS
    "n_samples": 64,  # synthesized images per method for the panels (and the first of the IS/FID samples)
    "final_noise": True,  # Langevin noise in the final synthesis (CVPR CIFAR-10: off)
    "fidelity_samples": 0,  # samples for Inception score / FID (0: none)
    "inception_weights": None,  # path of the torch-fidelity Inception weights (None: its default place)
    "inception_size": None,  # side at which IS/FID are computed (None: the dataset's native side, else the image's)
    "fidelity": "optional",  # with fidelity_samples: optional skips IS/FID with a note when the weights are missing
}
OPTIONS = {profile: dict(_OPTIONS) for profile in PROFILES}
OPTIONS["paper"]["fidelity"] = "required"  # CVPR Table 1 is the point of a paper run: stop before any training
# options that change a number beyond what the rows record already (final_noise and inception_size in the setting,
# fidelity_samples in n_images): recorded in the setting of the rows they change (diversity, IS/FID) where they
# depart from OPTIONS
RECORDED = ("n_samples",)
