"""The generative ConvNet's experiments (ICML 2016 §7): ``python -m tasks.generative_convnet --experiment E``.

- ``textures`` (§7.1): one model per training image (default: scikit-image's brick, grass and gravel photographs,
  ``--dataset textures``; or any folder, ``--dataset images --data-root DIR``), the 3-layer texture net grown one
  layer at a time (repro.families.gconvnet), 16 chains, L = 10. The paper shows pictures only; we add a number: the
  Gram-matrix distance of a fixed random conv layer (repro.evaluation.texture_stats) of each synthesized image to the
  training image, beside a floor (white noise with the image's mean and variance) and a ceiling (random crops, side
  3/4, of the training image itself). Panels: the training texture beside 4 synthesized ones.
- ``objects`` (§7.2): one model from --n-train (10) aligned images (default: faces of the dataset, lfw_faces in the
  smoke profile), the 4-layer object net with its fully connected top filter, grown as above. Number: the same Gram
  distance, to the mean of the training images' Gram matrices; floor: noise with their mean and variance; ceiling:
  held-out test images of the same category.
- ``autoencode`` (§7.3): one-step contrastive divergence on 10 images with the texture net, all layers at once,
  T = 1200, L = 1. The reconstruction error of the one-step chain, ‖I − B_{w,δ}(I)‖ / ‖I‖ with B = σ²∂f/∂I the
  mean it moves towards (Proposition 3), is recorded against the iteration (the run folder's recon_curve.csv,
  <out>/gconvnet_autoencode_curve.csv and a PNG curve), beside the same error under the untrained network (the
  run's initial weights), and under a control that could fail: the trained weights with the entries of every
  tensor shuffled (same norms, arrangement lost).
Rows: <out>/gconvnet.csv: experiment gconvnet_synthesis (setting texture:<name> or objects; methods gconvnet,
noise_floor, ceiling; metric gram_distance) and gconvnet_autoencode (methods gconvnet_cd1, untrained; recon_error).

Settings the paper leaves open (ours; see repro.families.gconvnet for the model's): Langevin step δ = 0.3 (the
suite's, from the multi-grid release) with σ = 1 (the paper's σ² = 1) in [0, 255] units, no clamping; Adam at lr
0.01, β1 0.5.
Sizes per profile (repro.configs.generative_convnet): the paper's 224×224 and T = 700 per layer in the paper profile;
smoke runs the same structure at 64×64 with a quarter of the filters and T = 60 per layer (objects at 32×32; CD
on 48×48 faces, 300 iterations).
"""
from __future__ import annotations

import os
import sys

import torch

import repro  # noqa: F401  (installs the torchvision compat shim before torchvision is imported)
from repro.base.io import atomic_path, atomic_save_image, atomic_write_bytes, provenance, read_csv, write_csv
from repro.configs import config_overrides
from repro.configs.generative_convnet import RESULTS  # <out>/gconvnet.csv
from repro.datasets.data import ImageSet, load_dataset
from repro.evaluation.metrics import bootstrap_ci
from repro.evaluation.texture_stats import gram_distance, noise_like, random_crops
from repro.families.registry import initial_learner
from tasks.common import (
    check_results,
    cli,
    panel_title,
    parse_task_args,
    profile_of,
    result_row,
    run_columns,
    run_dir,
    task_parser,
    trained_learner,
    with_defaults,
    write_results,
)

EXPERIMENTS = ("textures", "objects", "autoencode")
SYNTHESIS, AUTOENCODE = "gconvnet_synthesis", "gconvnet_autoencode"  # experiments (§7.1–7.2 and §7.3)
CURVE_COLUMNS = ["iteration", "recon_error", "untrained_recon_error"]


def build_parser(profile: str = "smoke"):
    """The task's flags, their defaults the profile's (repro.configs.generative_convnet)."""
    parser = task_parser(__doc__)
    parser.add_argument("--experiment", choices=EXPERIMENTS, required=True, help="§7.1, §7.2 or §7.3")
    parser.add_argument("--n-textures", type=int, help="textures: learn only the first N images (default: all)")
    parser.add_argument("--curve-every", type=int,
                        help="autoencode: iterations between curve points (default %(default)s)")
    return with_defaults(parser, "generative_convnet", profile)


def defaults(profile: str, experiment: str) -> dict:
    """The experiment's Config settings under a profile (repro.configs.generative_convnet), under the user's flags."""
    return config_overrides(f"generative_convnet:{experiment}", profile)


def image_name(train_set: ImageSet, i: int) -> str:
    """The texture's name for embedded textures (scikit-image's), else its index."""
    from repro.datasets.data import TEXTURES
    if train_set.name == "textures" and train_set.labels is not None:
        return TEXTURES[int(train_set.labels[i])]
    return f"image{i}"


def distance_rows(cfg, experiment: str, setting: str, values: dict, n: int, *, prov, run: dict) -> list[dict]:
    """One row per method (the learned model, cfg.method's; the noise floor; the ceiling) of the mean Gram distance
    with its interval; the learned model's row carries its run."""
    rows = []
    for method, v in values.items():
        rows.append(result_row(cfg, experiment=experiment, method=method, setting=setting, metric="gram_distance",
                               value=float(v.mean()), ci=bootstrap_ci(v, seed=cfg.seed), n_images=n, prov=prov,
                               **(run if method == cfg.method else {})))
        print(f"{experiment} {setting}: {method} gram distance {float(v.mean()):.3f}")
    return rows


def textures(cfg, args, train_set, prov) -> list[dict]:
    rows, n = [], min(args.n_textures or len(train_set), len(train_set))
    for i in range(n):
        name = image_name(train_set, i)
        one = ImageSet(train_set.images[[i] * cfg.batch_size], None, train_set.name)  # the image fills a batch
        learner, path = trained_learner(cfg, args.runs, one, tag=f"texture-{name}", progress=not args.no_progress)
        ref = train_set.batch([i], pixel_max=cfg.pixel_max, dtype=torch.float64)  # (1, C, S, S)
        syn = learner.sample(cfg.gcn.n_chains)[0].double()  # (M̃, C, S, S): the learned chains
        gen = torch.Generator().manual_seed(cfg.seed)
        k = len(syn)
        values = {cfg.method: gram_distance(syn, ref),
                  "noise_floor": gram_distance(noise_like(ref, k, gen), ref),
                  "ceiling": gram_distance(random_crops(ref, k, 3 * cfg.image_size // 4, gen), ref)}
        rows += distance_rows(cfg, SYNTHESIS, f"texture:{name}", values, k, prov=prov,
                              run=run_columns([(learner, path)]))
        panel = torch.cat([ref, syn[:4]]) / cfg.pixel_max  # training texture, then 4 synthesized
        atomic_save_image(panel.float().clamp(0, 1), os.path.join(args.out, f"gconvnet_texture_{name}.png"), nrow=5,
                          title=panel_title(cfg, f"texture {name} · first: training texture, then synthesized"))
    return rows


def objects(cfg, args, train_set, prov) -> list[dict]:
    learner, path = trained_learner(cfg, args.runs, train_set, tag="objects", progress=not args.no_progress)
    refs = train_set.batch(torch.arange(len(train_set)), pixel_max=cfg.pixel_max, dtype=torch.float64)
    test = load_dataset(cfg, "test")
    held = test.batch(torch.arange(min(len(test), cfg.gcn.n_chains)), pixel_max=cfg.pixel_max, dtype=torch.float64)
    syn = learner.sample(cfg.gcn.n_chains)[0].double()  # the learned chains
    gen = torch.Generator().manual_seed(cfg.seed)
    noise = refs.mean() + refs.std() * torch.randn(syn.shape, generator=gen, dtype=torch.float64)
    values = {cfg.method: gram_distance(syn, refs), "noise_floor": gram_distance(noise, refs),
              "ceiling": gram_distance(held, refs)}
    rows = distance_rows(cfg, SYNTHESIS, "objects", values, len(syn), prov=prov, run=run_columns([(learner, path)]))
    panel = torch.cat([refs[:4], syn[:4]]) / cfg.pixel_max  # 4 training images above 4 synthesized
    atomic_save_image(panel.float().clamp(0, 1), os.path.join(args.out, "gconvnet_objects.png"), nrow=4,
                      title=panel_title(cfg, "objects · top: training images, bottom: synthesized"))
    return rows


def _upsert_curve(path: str, points: dict[int, tuple[float, float]]) -> None:
    """Merge {iteration: (error, untrained error)} into the CSV at path (same iteration → replaced)."""
    old = {int(r["iteration"]): (float(r["recon_error"]), float(r["untrained_recon_error"]))
           for r in read_csv(path)} if os.path.exists(path) else {}
    old.update(points)
    lines = [",".join(CURVE_COLUMNS)] + [f"{t},{e!r},{u!r}" for t, (e, u) in sorted(old.items())]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def autoencode(cfg, args, train_set, prov) -> list[dict]:
    x = train_set.batch(torch.arange(len(train_set)), pixel_max=cfg.pixel_max, dtype=cfg.dtype())  # on the CPU
    untrained = initial_learner(cfg, train_set.channels, len(train_set))  # this run's very initial weights
    untrained.set_center(x)
    base = untrained.reconstruction_error(x)  # (N,)
    curve_path = os.path.join(run_dir(cfg, args.runs, "autoencode"), "recon_curve.csv")
    os.makedirs(os.path.dirname(curve_path), exist_ok=True)

    def record(t, learner, samples, stats):
        if (t + 1) % args.curve_every == 0:
            err = learner.reconstruction_error(x)
            _upsert_curve(curve_path, {0: (float(base.mean()),) * 2, t + 1: (float(err.mean()), float(base.mean()))})

    learner, path = trained_learner(cfg, args.runs, train_set, tag="autoencode", progress=not args.no_progress,
                                    callback=record)
    err = learner.reconstruction_error(x)
    shuffled = learner.shuffled(cfg.seed).reconstruction_error(x)  # same weights, arrangement lost
    run = run_columns([(learner, path)])
    rows = [result_row(cfg, experiment=AUTOENCODE, method=m, setting="final", metric="recon_error",
                       value=float(v.mean()), ci=bootstrap_ci(v, seed=cfg.seed), n_images=len(x), prov=prov,
                       **(run if m in ("gconvnet_cd1", "shuffled_weights") else {}))
            for m, v in (("gconvnet_cd1", err), ("untrained", base), ("shuffled_weights", shuffled))]
    print(f"autoencode: reconstruction error {float(err.mean()):.4f} (untrained {float(base.mean()):.4f}, "
          f"the trained weights shuffled {float(shuffled.mean()):.4f})")
    curve = read_csv(curve_path) if os.path.exists(curve_path) else []
    write_csv(os.path.join(args.out, "gconvnet_autoencode_curve.csv"), curve, CURVE_COLUMNS)
    plot_curve(curve, os.path.join(args.out, "gconvnet_autoencode_curve.png"))
    rec = learner.reconstruct(x)
    panel = torch.cat([x[:4], rec[:4]]) / cfg.pixel_max  # training images above their reconstructions B(I)
    atomic_save_image(panel.float().clamp(0, 1), os.path.join(args.out, "gconvnet_autoencode.png"), nrow=4,
                      title=panel_title(cfg, "auto-encoding · top: training images, bottom: B(I)"))
    return rows


def plot_curve(curve: list[dict], path: str) -> None:
    """Reconstruction error of the one-step chain against the iteration, the untrained network's as a line."""
    if not curve:
        return
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    its = [int(r["iteration"]) for r in curve]
    ax.plot(its, [float(r["recon_error"]) for r in curve], label="one-step CD, learned")
    ax.axhline(float(curve[0]["untrained_recon_error"]), color="grey", ls="--", label="untrained network")
    ax.set_xlabel("iteration")
    ax.set_ylabel("‖I − B(I)‖ / ‖I‖")
    ax.set_title("CD1 learns to auto-encode (ICML 2016 §7.3)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a kill while drawing leaves the old file
        fig.savefig(tmp, dpi=100, format="png")


def main(argv=None) -> list[dict]:
    parser = build_parser(profile_of(argv))
    pre = parser.parse_known_args(argv)[0]
    cfg, args = parse_task_args(parser, argv, **defaults(pre.preset, pre.experiment))
    check_results(args.out, RESULTS)  # a malformed results file stops the task before it writes anything
    train_set = load_dataset(cfg, "train")
    os.makedirs(args.out, exist_ok=True)
    prov = provenance(cfg.torch_device())
    rows = {"textures": textures, "objects": objects, "autoencode": autoencode}[args.experiment](
        cfg, args, train_set, prov)
    path = write_results(args.out, RESULTS, rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    sys.exit(cli(main))

