"""The report's figures (matplotlib, no pyplot state): bar charts per table block, learning curves per run,
and labeled sample and inpainting panels composed from the task-written PNGs.

Every figure is a ``matplotlib.figure.Figure`` saved with the Agg canvas at ``DPI``: its PNG is exactly
``figsize × DPI`` pixels. Panels are cut from torchvision grids (``make_grid``: tiles of h pixels with
``padding`` pixels around and between them), so their rows are read back by position.
"""
from __future__ import annotations

import glob
import io
import json
import os
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.image import imread

from tasks.files import TITLE_KEY, atomic_write_bytes, inside, panel_glob, parse_panel, safe_name
from tasks.tables import COOP_FLOORS, COOP_METHODS, INPAINT_FLOORS, NEAREST_ROWS
from tasks.tables import NAMES as FAMILY_NAMES

DPI = 100
PANEL_W, PANEL_H = 5.0, 3.6  # inches per bar-chart panel
LEGEND_W = 2.3  # inches right of the panels for the legend
BAR_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
FLOOR_STYLES = [("#222222", "--"), ("#777777", ":"), ("#aa3377", "-."), ("#228833", (0, (5, 1)))]
FLOOR_NAMES = dict((m, label) for label, m in INPAINT_FLOORS)  # floor → its name in a figure
# CVPR Table 4's columns, then the families' variants, then the floors (repro/families/names.py)
INPAINT_ORDER = ([m for _, m in FAMILY_NAMES.table4_columns()] + [v.label for v in FAMILY_NAMES.variants()]
                 + list(FLOOR_NAMES))
SYNTH_ORDER = [m for _, m in NEAREST_ROWS]  # as Figure 4's check lists them
PAPER_SHORT = {m: short for short, m in FAMILY_NAMES.table4_columns()}  # family → its CVPR Table 4 column
YLABELS = {"inpainting_celeba": {"error": "MAE on masked pixels", "PSNR": "PSNR on masked pixels (dB, [−1, 1])"},
           "svhn_l2svm": "test error (%)", "svhn_cnn": "test error (%)", "score_diagnostics_celeba": "mean f(Y)",
           "nearest_train": "mean L2 to nearest training image"}


def save(fig: Figure, path: str) -> str:
    """The figure as a PNG at path, atomically (a kill while drawing leaves the old file, never a torn one)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write_bytes(path, buf.getvalue())
    return path


def long_name(method: str) -> str:
    """A family's, a variant's or an inpainting floor's name in a figure (else the method's own)."""
    return FAMILY_NAMES.long_name(method, FLOOR_NAMES.get(method, method))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def figure_path(out_dir: str, stem: str) -> str:
    """out_dir/<stem>.png, the stem as tasks.files.safe_name makes it: parts of it (a profile, a mask, a run folder's
    name) are read from CSVs and folders, so they must not name another folder, or a file too long to write."""
    return inside(out_dir, os.path.join(out_dir, safe_name(stem) + ".png"))


# ----------------------------------------------------------------------------- bar charts

def chart_layout(b, r, c) -> tuple[str, str, object]:
    """(panel, group on the x axis, series axis) of one cell of block b."""
    if b.spec.key == "inpainting_celeba":  # paper's rows are metric · mask, its columns the methods
        metric, mask = r.label.split(" · ")
        return metric, mask, c
    if b.spec.key in ("score_diagnostics_celeba", "inception_cifar10"):
        return c.label, "", r
    return "", c.label, r


def chart_data(b) -> dict:
    """panel → group → [(series label, floor, stat, paper)], cells with a result only."""
    data: dict = {}
    for cell in b.cells:
        if cell.stat is None:
            continue
        panel, group, series = chart_layout(b, cell.row, cell.col)
        label = series.label
        if b.spec.key == "score_diagnostics_celeba" and series.floor:  # the untrained net scores every set near 0:
            label = "untrained network (each set)"  # one legend entry, not five lines drawn on top of each other
        data.setdefault(panel, {}).setdefault(group, []).append((label, series.floor, cell.stat, cell.paper))
    return data


# The range a metric can take, by table: its whiskers are clipped to it (a t interval over two values of an error
# rate can reach below 0%), and the title says so.
BOUNDS = {"svhn_l2svm": (0.0, 100.0), "svhn_cnn": (0.0, 100.0), "coopnets_completion": (0.0, 1.0)}


def draw_panel(ax, groups: dict, ylabel: str, bounds: tuple[float, float] | None = None) -> None:
    names = list(dict.fromkeys(s for items in groups.values() for s, floor, _, _ in items if not floor))
    floors = list(dict.fromkeys(s for items in groups.values() for s, floor, _, _ in items if floor))
    width = 0.8 / max(1, len(names))
    ours = [abs(st.value) for items in groups.values() for _, _, st, _ in items]
    papers = [abs(p) for items in groups.values() for _, floor, _, p in items if p is not None and not floor]
    pax, plabel = ax, "paper"
    if papers and max(ours) > 0 and not 0.2 < max(papers) / max(ours) < 5:  # other scale: paper on its own axis
        pax, plabel = ax.twinx(), "paper (right axis)"
        pax.set_ylabel("paper", fontsize=8)
    seen = set()
    for g, (group, items) in enumerate(groups.items()):
        for label, floor, st, paper in items:
            if floor:
                color, style = FLOOR_STYLES[floors.index(label) % len(FLOOR_STYLES)]
                ax.hlines(st.value, g - 0.45, g + 0.45, colors=color, linestyles=style, linewidth=1.6,
                          label=None if label in seen else f"floor: {label}")
            else:
                k = names.index(label)
                x = g - 0.4 + width * (k + 0.5)
                err = None
                if st.has_interval:
                    low, high = (st.low, st.high) if bounds is None else (max(st.low, bounds[0]),
                                                                           min(st.high, bounds[1]))
                    err = [[max(0.0, st.value - low)], [max(0.0, high - st.value)]]
                ax.bar(x, st.value, width * 0.9, yerr=err, capsize=2, color=BAR_COLORS[k % len(BAR_COLORS)],
                       label=None if label in seen else label, error_kw={"linewidth": 0.8})
                if paper is not None:
                    pax.plot(x, paper, "kD", markersize=4, label=None if "paper" in seen else plabel)
                    seen.add("paper")
            seen.add(label)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.grid(axis="y", alpha=0.3)


def bar_chart(b, path: str) -> str | None:
    data = chart_data(b)
    if not data:
        return None
    longest = max((len(lab) for groups in data.values() for items in groups.values() for lab, *_ in items),
                  default=0)
    legend_w = max(LEGEND_W, 0.9 + 0.065 * longest)  # inches: the legend beside the panels, never over them
    fig = Figure(figsize=(PANEL_W * len(data) + legend_w, PANEL_H))
    axes = fig.subplots(1, len(data), squeeze=False)[0]
    labels = YLABELS.get(b.spec.key, "")
    for ax, (panel, groups) in zip(axes, data.items()):
        ylabel = labels.get(panel, panel) if isinstance(labels, dict) else (labels or panel)
        draw_panel(ax, groups, ylabel, BOUNDS.get(b.spec.key))
        if panel and not isinstance(labels, dict):
            ax.set_title(panel, fontsize=9)
    handles, names = [], []
    for ax in fig.axes:  # the bars' axes and any twin axis of paper markers
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.legend(handles, names, loc="center right", fontsize=7, frameon=False)
    ds = b.dataset if b.dataset == b.spec.paper_dataset else f"{b.dataset} (stand-in for {b.spec.paper_dataset})"
    clip = (f", clipped to [{BOUNDS[b.spec.key][0]:g}, {BOUNDS[b.spec.key][1]:g}]" if b.spec.key in BOUNDS else "")
    fig.suptitle(f"{b.spec.title}\n{b.profile} profile, {ds} (bars: ours with 95% intervals{clip})", fontsize=9)
    fig.subplots_adjust(left=0.8 / fig.get_figwidth(), right=1 - (legend_w - 0.1) / fig.get_figwidth(), top=0.82,
                        bottom=0.1, wspace=0.5)
    return save(fig, path)


def score_rows(b) -> dict[str, dict[str, list]]:
    """The score-diagnostics block as {row of panels: {grid: [(image set, Stat)]}}: the trained network's values,
    the untrained network's and the paper's, each a row of its own (rows without values left out)."""
    untrained = "ours, untrained network (its initial weights)"
    rows: dict[str, dict[str, list]] = {"ours, trained network": {}, untrained: {}, "the paper": {}}
    for cell in b.cells:
        if cell.stat is None:
            continue
        grid, label = cell.col.label, cell.row.label
        if cell.row.floor:
            rows[untrained].setdefault(grid, []).append((label.split(" · ")[-1], cell.stat))
            continue
        rows["ours, trained network"].setdefault(grid, []).append((label, cell.stat))
        if cell.paper is not None:
            rows["the paper"].setdefault(grid, []).append((label, type(cell.stat)(cell.paper)))
    return {k: v for k, v in rows.items() if v}


def score_chart(b, path: str) -> str | None:
    """arXiv Table 1 as rows of panels (score_rows), one panel per grid in each: the trained network's mean f(Y) per
    image set (bars with 95% intervals), the untrained network's (on its own scale: it scores every set near 0,
    which beside the trained values could not be seen), and the paper's values (on their own scale: another network
    and other images; drawn on a second axis of another scale they read as ours). A set keeps its colour in every
    row."""
    rows = score_rows(b)
    if not rows:
        return None
    grids = list(dict.fromkeys(g for by_grid in rows.values() for g in by_grid))
    sets = list(dict.fromkeys(lab for by_grid in rows.values() for items in by_grid.values() for lab, _ in items))
    fig = Figure(figsize=(PANEL_W * len(grids) + LEGEND_W, 0.4 + 0.85 * PANEL_H * len(rows)))
    axes = fig.subplots(len(rows), len(grids), squeeze=False)
    for ax_row, (name, by_grid) in zip(axes, rows.items()):
        for ax, grid in zip(ax_row, grids):
            for label, st in by_grid.get(grid, []):
                k = sets.index(label)
                err = [[st.value - st.low], [st.high - st.value]] if st.has_interval else None
                ax.bar(k, st.value, 0.8, yerr=err, capsize=2, color=BAR_COLORS[k % len(BAR_COLORS)], label=label,
                       error_kw={"linewidth": 0.8})
            ax.set_xticks([])
            ax.axhline(0, color="black", linewidth=0.5)
            ax.grid(axis="y", alpha=0.3)
            ax.set_title(f"{grid}: {name}", fontsize=8)
            ax.set_ylabel("mean f(Y)", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = {n: h for ax in fig.axes for h, n in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=7, frameon=False,
               title="image set", title_fontsize=7)
    ds = b.dataset if b.dataset == b.spec.paper_dataset else f"{b.dataset} (stand-in for {b.spec.paper_dataset})"
    fig.suptitle(f"{b.spec.title}\n{b.profile} profile, {ds}: ours (95% intervals over images), each row on its own "
                 f"scale", fontsize=9)
    fig.subplots_adjust(left=0.8 / fig.get_figwidth(), right=1 - (LEGEND_W - 0.1) / fig.get_figwidth(),
                        top=1 - 0.75 / fig.get_figheight(), bottom=0.05, wspace=0.45, hspace=0.45)
    return save(fig, path)


# ----------------------------------------------------------------------------- learning curves

def run_progress(log_csv: str, log: pd.DataFrame) -> str:
    """"N of M iterations" from the log and the run's config.json, "(unfinished)" when N < M: a curve
    drawn from a run still training (or stopped) says so."""
    done = int(log.iteration.max()) + 1
    try:
        with open(os.path.join(os.path.dirname(log_csv), "config.json")) as f:
            total = int(json.load(f)["n_iters"])
    except (OSError, ValueError, KeyError):
        return f"{done} iterations"
    return f"{done} of {total} iterations" + (" (unfinished)" if done < total else "")


def learning_curves(log_csv: str, path: str) -> str | None:
    """f(observed) and f(synthesized) per grid, the gradient's ℓ1 norm per grid and the learning rate."""
    log = pd.read_csv(log_csv)
    if log.empty or not {"iteration", "grid", "f_obs", "f_syn", "grad_l1", "lr"} <= set(log.columns):
        return None
    grids = sorted(log.grid.unique())
    ncols = max(len(grids), 2)
    fig = Figure(figsize=(3.3 * ncols, 6.0))
    axes = fig.subplots(2, ncols, squeeze=False)
    for ax, g in zip(axes[0], grids):
        part = log[log.grid == g]
        size = int(part["size"].iloc[0]) if "size" in part else g
        ax.plot(part.iteration, part.f_obs, label="f(observed)")
        ax.plot(part.iteration, part.f_syn, label="f(synthesized)", alpha=0.8)
        ax.set(title=f"grid {g} ({size}×{size})", xlabel="iteration", ylabel="mean f")
        ax.legend(fontsize=7)
    for ax in axes[0][len(grids):]:
        ax.set_axis_off()
    for g in grids:
        part = log[log.grid == g]
        axes[1][0].plot(part.iteration, part.grad_l1.abs().clip(lower=1e-12), label=f"grid {g}")
    axes[1][0].set(yscale="log", xlabel="iteration", ylabel="ℓ1 norm of gradient", title="gradient norm")
    axes[1][0].legend(fontsize=7)
    lr = log.groupby("iteration").lr.first()
    axes[1][1].plot(lr.index, lr.values)
    axes[1][1].set(xlabel="iteration", ylabel="learning rate", title="learning rate")
    for ax in axes[1][2:]:
        ax.set_axis_off()
    # two lines: a run folder's name (up to ~60 characters) fits the two-panel width on its own line
    fig.suptitle(f"Learning curves: {os.path.basename(os.path.dirname(log_csv))}\n{run_progress(log_csv, log)}",
                 fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.97, top=0.86, bottom=0.09, hspace=0.45, wspace=0.35)
    return save(fig, path)


# ----------------------------------------------------------------------------- validation error against training

def curve_label(r) -> str:
    """A learned line's legend entry: method, profile, width and images trained on the curve's run."""
    width = r.setting.partition("|width=")[2]
    return f"{long_name(r.method)} · {r.profile} · width {width}"


def inpainting_curve(curve: pd.DataFrame, paper: pd.DataFrame | None, path: str) -> str | None:
    """Masked MAE on the curve's test faces against the iterations trained, one panel per mask: a line per run
    (inpainting_curve.csv rows from tasks.inpainting --curve-every), the floors as flat lines, and the paper's number
    for each learned method as a dotted line (where the curve would have to go). A curve point is never a table
    entry: it is read, not chosen from."""
    curve = curve[curve.metric == "mae_masked"].copy()
    if curve.empty:
        return None
    curve["mask"] = curve.setting.str.partition("|")[0]
    masks = [m for m in ("square", "doodle", "pepper") if m in set(curve["mask"])]
    fig = Figure(figsize=(PANEL_W * len(masks) + LEGEND_W, PANEL_H + 0.6))
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    learned = curve[curve.run != ""]
    floors = curve[curve.run == ""]
    methods, runs = sorted(set(learned.method)), sorted(set(learned.run))
    color = {m: BAR_COLORS[i % len(BAR_COLORS)] for i, m in enumerate(methods)}  # a method and its paper number
    marker = {r: "osD^v"[i % 5] for i, r in enumerate(runs)}
    handles = {}
    for ax, mask in zip(axes, masks):
        for (run, method), part in learned[learned["mask"] == mask].groupby(["run", "method"]):
            part = part.assign(it=pd.to_numeric(part.iterations)).sort_values("it")
            label = curve_label(part.iloc[0])
            handles[label] = ax.plot(part.it, part.value, "-", marker=marker[run], color=color[method], ms=3.5,
                                     label=label)[0]
        for j, (name, part) in enumerate(floors[floors["mask"] == mask].groupby("method", sort=False)):
            style_color, style = FLOOR_STYLES[j % len(FLOOR_STYLES)]
            label = f"{long_name(name)} (no model)"  # images and masks alone: one value in every profile
            handles[label] = ax.axhline(float(part.value.iloc[0]), color=style_color, ls=style, lw=1, label=label)
        for method in methods if paper is not None else []:
            hit = paper[(paper.table == "inpainting_celeba") & (paper.row == "error") &
                        (paper.column == f"{mask}_{PAPER_SHORT.get(method, '')}")]
            if len(hit):
                label = f"paper: {long_name(method)}"
                handles[label] = ax.axhline(float(hit.value.iloc[0]), color=color[method], ls=(0, (1, 1.5)), lw=1.6,
                                            label=label)
        ax.set(title=mask, xlabel="training iterations", ylabel="MAE on masked pixels", ylim=(0, None))
    n = sorted({int(v) for v in curve.n_images})
    fig.suptitle(f"Inpainting error while training, on the first {'/'.join(map(str, n))} test faces (each point: "
                 "one model, the paper's test procedure)", fontsize=10)
    fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.05, right=1 - LEGEND_W / fig.get_figwidth() - 0.01, top=0.86, bottom=0.13,
                        wspace=0.25)
    return save(fig, path)


# ----------------------------------------------------------------------------- labeled panels

def grid_rows(img: np.ndarray, rows: int, padding: int) -> list[np.ndarray]:
    """The strips (with their borders) of a torchvision grid of `rows` rows of tiles."""
    h = (img.shape[0] - padding) // rows - padding
    return [img[i * (h + padding): (i + 1) * (h + padding) + padding] for i in range(rows)]


def rgb(img: np.ndarray) -> np.ndarray:
    img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
    return img.astype(np.float32)


def read_grid(path: str) -> np.ndarray:
    """A task's PNG as an (H, W, 3) float array of its image grid alone: without the title band a task writes above
    it (its height in the PNG's text chunk TITLE_KEY; none in PNGs written before the band)."""
    from PIL import Image
    with Image.open(path) as im:
        band = int(im.info.get(TITLE_KEY, 0))
    return rgb(imread(path))[band:]


def labeled_strips(strips: list[tuple[str, np.ndarray]], title: str, path: str, scale: float = 2.0) -> str:
    width = max(s.shape[1] for _, s in strips)
    strips = [(lab, np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)))) for lab, s in strips]
    img = np.concatenate([s for _, s in strips])
    left = max(130, 12 + 7 * max(len(lab) for lab, _ in strips))  # pixels for the row labels (9 pt), none cut
    fig = Figure(figsize=((scale * width + left + 20) / DPI, (scale * img.shape[0] + 70) / DPI))
    ax = fig.add_axes([left / fig.get_figwidth() / DPI, 10 / fig.get_figheight() / DPI,
                       scale * width / fig.get_figwidth() / DPI, scale * img.shape[0] / fig.get_figheight() / DPI])
    ax.imshow(img, interpolation="nearest")
    tops = np.cumsum([0] + [s.shape[0] for _, s in strips])
    ax.set_yticks((tops[:-1] + tops[1:]) / 2 - 0.5, [lab for lab, _ in strips], fontsize=9)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, fontsize=10, y=1 - 8 / fig.get_figheight() / DPI, va="top")
    return save(fig, path)


def ordered(names, order) -> list[str]:
    return [m for m in order if m in names] + sorted(set(names) - set(order))


def completion_panels(results_dir: str, out_dir: str, kind: str, floors: dict[str, str], title: str) -> list[str]:
    """Per mask of the task's panels of `kind` (tasks.files.PANELS: "inpainting", "coopnets"): original, masked
    input, then each method's result, the learned methods in their table's order, then the floors (name: `floors`);
    title: the figure's title, with "{mask}" for the mask's name."""
    found: dict[str, dict[str, str]] = {}
    for f in glob.glob(os.path.join(results_dir, panel_glob(kind))):
        if p := parse_panel(kind, os.path.basename(f)):
            found.setdefault(p["mask"], {})[p["method"]] = f
    paths = []
    for mask, files in sorted(found.items()):
        methods = ordered(files, PANEL_ORDER[kind])
        first = grid_rows(read_grid(files[methods[0]]), 3, 2)
        strips = [("original", first[0]), ("masked input", first[1])]
        strips += [(f"{floors[m]} (floor)" if m in floors else long_name(m), grid_rows(read_grid(files[m]), 3, 2)[2])
                   for m in methods]
        paths.append(labeled_strips(strips, title.format(mask=mask), figure_path(out_dir, f"{kind}_{mask}")))
    return paths


COOP_FLOOR_NAMES = {m: label for label, m, _ in COOP_FLOORS}
PANEL_ORDER = {"inpainting": INPAINT_ORDER, "coopnets": [m for _, m, _ in COOP_METHODS] + list(COOP_FLOOR_NAMES)}
PANEL_TITLES = {"inpainting": "Inpainting, {mask} mask\nrows: original, masked input (missing pixels grey), each "
                              "method's result",
                "coopnets": "CoopNets face completion, {mask}\nrows: original, masked input (grey), each column's "
                            "completion"}


def synthesis_panels(results_dir: str, out_dir: str) -> list[str]:
    """Samples of each method at each grid, and each method's samples above their nearest training images."""
    grids: dict[str, dict[int, str]] = {}
    for f in glob.glob(os.path.join(results_dir, panel_glob("synthesis_grid"))):
        if p := parse_panel("synthesis_grid", os.path.basename(f)):
            grids.setdefault(p["method"], {})[int(p["size"])] = f
    paths = []
    if grids:
        methods = ordered(grids, SYNTH_ORDER)
        sizes = sorted({s for g in grids.values() for s in g})
        fig = Figure(figsize=(1.9 * len(sizes) + 1.0, 1.9 * len(methods) + 0.6))
        axes = fig.subplots(len(methods), len(sizes), squeeze=False)
        for i, method in enumerate(methods):
            for j, size in enumerate(sizes):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                if size in grids[method]:
                    ax.imshow(read_grid(grids[method][size]), interpolation="nearest")
                else:  # DCGAN and single-grid sample at the finest size only: no coarser grid exists for them
                    for side in ax.spines.values():
                        side.set_visible(False)
                    ax.text(0.5, 0.5, f"not applicable:\n{long_name(method)}\nhas no {size}×{size} grid",
                            ha="center", va="center", fontsize=8, color="#555555", transform=ax.transAxes)
                if i == 0:
                    ax.set_title(f"grid {size}×{size}", fontsize=9)
                if j == 0:
                    ax.set_ylabel(long_name(method), fontsize=9)
        fig.suptitle("Synthesis: samples at each grid (multi-grid: chains from the 1×1 histogram)", fontsize=10)
        fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.55 / fig.get_figheight(), bottom=0.02,
                            wspace=0.05, hspace=0.08)
        paths.append(save(fig, figure_path(out_dir, "synthesis_samples")))
    nearest = {p["method"]: f for f in glob.glob(os.path.join(results_dir, panel_glob("nearest_train")))
               if (p := parse_panel("nearest_train", os.path.basename(f)))}
    if nearest:
        strips = []
        for method in ordered(nearest, SYNTH_ORDER):
            top, bottom = grid_rows(read_grid(nearest[method]), 2, 1)
            strips += [(f"{long_name(method)}: sample", top), ("nearest training image", bottom)]
        paths.append(labeled_strips(strips, "Synthesized images above their nearest training images",
                                    figure_path(out_dir, "synthesis_nearest_train"), scale=1.5))
    return paths


# ----------------------------------------------------------------------------- all figures

def write_figures(blocks, results_dir: str, runs_dir: str | None, out_dir: str, *, curve: pd.DataFrame | None = None,
                  paper: pd.DataFrame | None = None, runs_used: set[str] | None = None) -> list[str]:
    """Bar charts of every block that ran, labeled panels, learning curves of the runs under runs_dir (only those
    named in runs_used, the `run` column of the folder's rows, when it is given: a results folder links the
    curves of the runs behind its numbers, not of every run that shares the runs folder), and the inpainting
    error against training iterations (curve: inpainting_curve rows)."""
    paths = []
    if curve is not None and len(curve):
        paths.append(inpainting_curve(curve, paper, figure_path(out_dir, "inpainting_curve")))
    for b in blocks:
        if b.profile:
            chart = score_chart if b.spec.key == "score_diagnostics_celeba" else bar_chart
            paths.append(chart(b, figure_path(out_dir, f"{slug(b.spec.key)}_{b.profile}_{b.dataset}")))
    paths += completion_panels(results_dir, out_dir, "inpainting", FLOOR_NAMES, PANEL_TITLES["inpainting"])
    paths += synthesis_panels(results_dir, out_dir)
    paths += completion_panels(results_dir, out_dir, "coopnets", COOP_FLOOR_NAMES, PANEL_TITLES["coopnets"])
    if runs_dir and os.path.isdir(runs_dir):
        for log in sorted(glob.glob(os.path.join(runs_dir, "*", "log.csv"))):
            name = os.path.basename(os.path.dirname(log))
            if runs_used is not None and name not in runs_used:
                continue
            paths.append(learning_curves(log, figure_path(out_dir, f"learning_{name}")))
    return [p for p in paths if p]
