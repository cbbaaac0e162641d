"""The generative ConvNet's experiments (ICML 2016 §7; tasks.generative_convnet --experiment E): textures (§7.1),
objects (§7.2), one-step CD auto-encoding (§7.3). CONFIG is keyed by experiment, then profile (the accessor's
"generative_convnet:<experiment>")."""

PROFILES = ("smoke", "reduced", "paper")
RESULTS = "gconvnet"  # <out>/gconvnet.csv: the rows of the three experiments
# settings the three share: Langevin δ = 0.3 (the suite's) with σ = 1 (the paper's σ² = 1) in [0, 255] units, no
# clamping; Adam at lr 0.01, β1 0.5; 16 chains of L = 10 steps
_COMMON = dict(method="gconvnet", sigma=1.0, step_size=0.3, clip_min=None, clip_max=None, lr=0.01, beta1=0.5,
               steps_per_grid=10, gcn_chains=16, n_show=16)
_EXPERIMENTS = {
    "textures": dict(dataset="textures", gcn_net="texture", batch_size=2),
    "objects": dict(gcn_net="object", n_train=10, batch_size=10),
    "autoencode": dict(gcn_net="texture", gcn_iters_per_layer=0, gcn_start="observed", steps_per_grid=1,
                       n_train=10, batch_size=10),
}
# (profile, experiment) → sizes; "*" for every experiment. Layers grown: 3 convolutions (the object net's fully
# connected filter sits on top of whichever is last), so n_iters = 3 × gcn_iters_per_layer
_SIZES = {
    ("paper", "*"): dict(image_size=224, width=1.0, gcn_iters_per_layer=700, n_iters=2100, compile=False),
    ("paper", "autoencode"): dict(n_iters=1200, gcn_iters_per_layer=0),
    ("reduced", "*"): dict(image_size=112, width=0.5, gcn_iters_per_layer=300, n_iters=900, compile=False),
    ("reduced", "objects"): dict(image_size=64),
    ("reduced", "autoencode"): dict(image_size=64, n_iters=1200, gcn_iters_per_layer=0),
    ("smoke", "*"): dict(image_size=64, width=0.25, gcn_iters_per_layer=60, n_iters=180, checkpoint_every=60),
    ("smoke", "objects"): dict(dataset="lfw_faces", image_size=32),
    ("smoke", "autoencode"): dict(dataset="lfw_faces", image_size=48, n_iters=300, gcn_iters_per_layer=0),
}
CONFIG = {e: {p: {**_COMMON, **own, **_SIZES.get((p, "*"), {}), **_SIZES.get((p, e), {})} for p in PROFILES}
          for e, own in _EXPERIMENTS.items()}

_OPTIONS = {
    "n_textures": None,  # textures: learn only the first N images (None: every one)
    "curve_every": 10,  # autoencode: iterations between the reconstruction curve's points
}
OPTIONS = {profile: dict(_OPTIONS) for profile in PROFILES}
RECORDED = ()  # neither option changes a row's number (n_textures picks rows; the curve is its own file)
