"""Image inpainting (CVPR §6.4 Table 4, arXiv §7.4 Table 3; tasks.inpainting): the task's options per profile.
Its models take the profile's Config as it is (no CONFIG override)."""

PROFILES = ("smoke", "reduced", "paper")
CONFIG = {profile: {} for profile in PROFILES}

_OPTIONS = {
    "n_test_images": None,  # test images to inpaint (None: every one of the test split)
    "train_mask_side": None,  # side of the square training (and test) mask (None: image_size / 2)
    "n_panels": 8,  # test images shown per example panel
    "procedures": [],  # extra test-time procedures (repro.core.inpaint.Procedure specs), each its own setting
    "test_steps": None,  # an extra test-time budget (Langevin steps in all), its own setting
    "train_seeds": 1,  # training seeds per method: --seed, --seed + 1, ...
    "mask_seed": 0,  # seed of the test masks and test-time noise, shared by every method and training seed
    "curve_every": None,  # learning curve: iterations between its points (None: no curve)
    "curve_images": 200,  # test images of the learning curve (the same faces in every profile)
}
OPTIONS = {profile: dict(_OPTIONS) for profile in PROFILES}
OPTIONS["paper"]["n_test_images"] = 1000  # the paper's 1,000 random CelebA test faces
# options that change numbers and are recorded in the rows' setting where they depart from OPTIONS (the others
# are recorded already: procedures and test_steps in the setting, the seeds in the seed column, image counts in
# n_images); train_mask_side departs where the side is not image_size / 2
RECORDED = ("train_mask_side", "mask_seed")
