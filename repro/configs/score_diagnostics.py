"""Score diagnostics (arXiv §7.2, Table 1; tasks.score_diagnostics): f_s(Y) per grid of a multi-grid model."""

PROFILES = ("smoke", "reduced", "paper")
CONFIG = {profile: {"method": "multigrid"} for profile in PROFILES}  # the paper's model; --method another scheme

# the negative images by training dataset (--negatives unset): the embedded faces' background crops, else MIT Places
NEGATIVES = {"lfw_faces": "lfw_nonfaces"}
DEFAULT_NEGATIVES = "places"

_OPTIONS = {
    "negatives": None,  # negative dataset (None: NEGATIVES by dataset, else DEFAULT_NEGATIVES)
    "negatives_root": None,  # their data root (None: --data-root)
    "negatives_center_crop": None,  # their center crop (as --center-crop; None: none, the faces' crop is not theirs)
    "n_score": 10_000,  # at most this many images per set (the paper scores 10,000 test images)
}
OPTIONS = {profile: dict(_OPTIONS) for profile in PROFILES}
# on the negative rows, where it departs from OPTIONS; the task reads a named default (--negatives places on a real
# dataset) as unnamed, so that only other images change the key. Their folder (--negatives-root) is not recorded.
RECORDED = ("negatives", "negatives_center_crop")
