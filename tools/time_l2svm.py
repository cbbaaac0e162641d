"""Seconds per L2-SVM fit on real features, the exact solver (repro.evaluation.l2svm) against liblinear, in one run.

    OMP_NUM_THREADS=1 python -m tools.time_l2svm --data-root /work/data/cifar10 --out results/l2svm_timing.csv

Features of CIFAR-10 (``--dataset imagefolder``, 32×32; the reduced profile's stand-in for SVHN): raw pixels
(3,072 values) and the max-pooled blocks of an untrained dcgan-structured net at the reduced width (3,840).
For each labeled count (class-balanced draw, seed 0) and each C of the grid, one row per solver: seconds,
Newton steps, validation and test error, and the fraction of test predictions the two solvers share. Each
source × count runs the new solver's whole C path first, then liblinear's fits one C at a time (slow at large
C: --max-liblinear-c bounds them). Rows are appended as they come, so an interrupted run keeps its timings.
"""
from __future__ import annotations

import argparse
import csv
import time

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from repro.base.config import get_config
from repro.core.models import build_energy_net, maxpool_features
from repro.datasets.data import load_dataset
from repro.evaluation.features import (
    DEFAULT_CS,
    SVM_SOLVERS,
    SpanProjection,
    balanced_draw,
    error_percent,
    extract,
    fit_one_c,
    gram_matrix,
    pixel_features,
)

COLUMNS = ["source", "dim", "labels", "C", "solver", "seconds", "val_error", "test_error", "agreement", "threads"]


def sources(width: float):
    torch.manual_seed(0)
    net = build_energy_net(32, 3, arch="dcgan", width=width)
    yield "raw_pixels", pixel_features
    yield f"untrained_dcgan_w{width:g}", lambda x: maxpool_features(net, x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--labels", nargs="+", type=int, default=[1000, 2000, 4000])
    p.add_argument("--val-labels", type=int, default=1000)
    p.add_argument("--cs", nargs="+", type=float, default=list(DEFAULT_CS))
    p.add_argument("--max-liblinear-c", type=float, default=1.0, help="largest C given to liblinear")
    p.add_argument("--width", type=float, default=0.25)
    args = p.parse_args(argv)
    cfg = get_config("reduced", dataset="imagefolder", data_root=args.data_root, image_size=32, n_train=10_000,
                     n_test=2_000)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        srcs = list(sources(args.width))
        tests = {name: extract(fn, test, 100).double().numpy() for name, fn in srcs}  # (N_test, d)
        for n in args.labels:
            for name, fn in srcs:
                feats = lambda s, fn=fn: extract(fn, s, 100).double().numpy()  # noqa: E731
                test_f = tests[name]
                lab, val = balanced_draw(train.labels, n, args.val_labels, 0)
                data = feats(train.subset(lab)), train.labels[lab].numpy(), feats(train.subset(val)), \
                    train.labels[val].numpy(), test_f, test.labels.numpy()
                new = {}
                for solver in SVM_SOLVERS:
                    cs = [c for c in sorted(args.cs) if solver == "newton" or c <= args.max_liblinear_c]
                    xt, yt, xv, yv = data[:4]
                    for c, sec, verr, pred in path(solver, cs, xt=xt, yt=yt, xv=xv, yv=yv, test_f=test_f):
                        new.setdefault(c, pred)
                        agree = "" if solver == "newton" else round(float(np.mean(pred == new[c])), 4)
                        r = {"source": name, "dim": data[0].shape[1], "labels": n, "C": c, "solver": solver,
                             "seconds": round(sec, 2), "val_error": round(verr, 2),
                             "test_error": round(error_percent(pred, data[5]), 2), "agreement": agree,
                             "threads": torch.get_num_threads()}
                        writer.writerow(r)
                        fh.flush()
                        print(" ".join(f"{k}={v}" for k, v in r.items()), flush=True)


def path(solver, cs, *, xt, yt, xv, yv, test_f):
    """(C, seconds, validation error %, test predictions) per C, as fit_l2svm computes them; the seconds of
    the shared preparation (standardising; the Gram matrix or the span projection) go to the first C."""
    start = time.perf_counter()
    steps = [("scale", StandardScaler())] + ([("span", SpanProjection())] if solver == "liblinear" else [])
    prep = Pipeline(steps).fit(xt)
    zt, zv, zs = prep.transform(xt), prep.transform(xv), prep.transform(test_f)
    gram = gram_matrix(zt) if solver == "newton" else None
    svm = None
    for c in cs:
        svm = fit_one_c(solver, c, zt, yt, svm, gram)
        yield c, time.perf_counter() - start, error_percent(svm.predict(zv), yv), svm.predict(zs)
        start = time.perf_counter()


if __name__ == "__main__":
    main()
