"""SVHN semi-supervised classification from learned features (CVPR §6.3 Tables 2-3, arXiv §7.3 Table 2;
tasks.svhn_features, its protocol tasks.svhn_protocol)."""

CONFIG = {
    "smoke": {"dataset": "digits", "n_iters": 60},  # the embedded digits, 60 iterations
    # reduced: 1,000 iterations (5 passes over 10,000 images) leave room within about two hours on 2 CPU cores for
    # the SVMs and CNN heads of seven feature sources (README, "The reduced profile")
    "reduced": {"dataset": "svhn", "n_train": 10_000, "n_test": 2_000, "n_iters": 1_000},
    "paper": {"dataset": "svhn", "n_train": None, "n_test": None},  # all 73,257 / 26,032 SVHN images
}

# labeled counts, label draws, training seeds, validation images choosing C, CNN head epochs, and the images the
# L2-SVM and CNN experiments' models learn from (CVPR: train+test for the L2-SVM)
_SHARED = {"classifier_lr": 1e-3,  # the CNN heads' Adam rate
           "svm_cs": None,  # the L2-SVM's C grid (None: the library's, repro.evaluation.features.DEFAULT_CS)
           "svm_solver": "newton"}  # exact (repro.evaluation.l2svm), or liblinear (scikit-learn's LinearSVC)
OPTIONS = {
    "smoke": {"labels": [100, 200, 400], "label_seeds": 2, "train_seeds": 1, "val_labels": 100,
              "classifier_epochs": 10, "l2svm_unsup": "train", "cnn_unsup": "train", **_SHARED},
    "reduced": {"labels": [1000, 2000, 4000], "label_seeds": 2, "train_seeds": 1, "val_labels": 1000,
                "classifier_epochs": 15, "l2svm_unsup": "train", "cnn_unsup": "train", **_SHARED},
    "paper": {"labels": [1000, 2000, 4000], "label_seeds": 3, "train_seeds": 3, "val_labels": 10_000,
              "classifier_epochs": 100, "l2svm_unsup": "train+test", "cnn_unsup": "train", **_SHARED},
}
# options that change an experiment's test errors beyond what its rows record already (labels in the setting,
# seeds in the seed column, the unsupervised set in the run folder): recorded in the setting "labels=<n>" where
# they depart from OPTIONS
RECORDED = {"svhn_l2svm": ("val_labels", "svm_cs", "svm_solver"),
            "svhn_cnn": ("val_labels", "classifier_epochs", "classifier_lr")}

L2SVM_ARCH = "dcgan"  # the finest grid's net of the L2-SVM experiment's models (repro.core.models.ARCHS): four 5×5
# stride-2 convolutions, the DCGAN discriminator (CVPR §6.3)
UNTRAINED = "multigrid"  # the untrained control: this family's structure at its initial weights
L2SVM_BASELINES = ("dcgan",)  # CVPR Table 2's DCGAN row: trained beside the schemes, read by the L2-SVM only
