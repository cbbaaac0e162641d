"""CoopNets face completion (ICLR 2017 submission §5.1, Table 1; tasks.coopnets), and the latent inference every
family that completes by it uses by default (repro.families.latent: CoopNets, and DCGAN's column)."""

# X's Langevin inference on the observed pixels (repro.families.latent.infer_latent): the families' defaults and
# the task's --infer-steps / --infer-step-size
INFER = {"infer_steps": 1000,  # Langevin steps inferring X (the CoopNets paper: 1,000)
         "infer_step_size": 0.1}  # their step size (the CoopNets release, gen_step_size)

# "600 iterations" read as 600 passes over the 10,000 faces at batch 100 in the paper profile (MatConvNet counts
# epochs); the DCGAN column gets the same iterations
CONFIG = {
    "smoke": {"method": "coopnets", "n_iters": 400},
    "reduced": {"method": "coopnets", "n_iters": 1_600},
    "paper": {"method": "coopnets", "n_iters": 60_000, "n_train": 10_000, "batch_size": 100},
}

_OPTIONS = {
    "n_test_images": 100,  # the first test faces to complete (the paper: 100)
    **INFER,
    "n_panels": 8,  # test images shown per panel
    "mask_seed": 0,  # seed of the test masks and the inference noise, shared by every method and training seed
}
OPTIONS = {profile: dict(_OPTIONS) for profile in ("smoke", "reduced", "paper")}
# options that change a learned column's numbers: recorded in its rows' setting where they depart from OPTIONS
# (the floors' numbers depend on mask_seed alone, which is their seed)
RECORDED = ("infer_steps", "infer_step_size", "mask_seed")
