"""tasks.figures: one function composes the completion panels of both inpainting tasks (tasks.inpainting, and
tasks.coopnets), each in its table's order with the names the report gives the families, variants and floors."""
import os

import numpy as np
from matplotlib.image import imsave

from tasks import figures
from tasks.files import panel_name


def test_completion_panels_of_both_tasks(tmp_path, monkeypatch):
    tile = np.zeros((3 * (8 + 2) + 2, 8 + 4, 3))  # a torchvision grid: 3 rows of 8-pixel tiles, padding 2
    panels = {("inpainting", "square"): ["biharmonic", "toy_net", "multigrid", "context_encoder_jitter", "pcd"],
              ("coopnets", "M20"): ["mrf_l1", "dcgan", "coopnets"]}
    for (kind, mask), methods in panels.items():
        for m in methods:
            imsave(tmp_path / panel_name(kind, method=m, mask=mask), tile)
    seen = {}

    def strips(rows, title, path, scale=2.0):
        seen[os.path.basename(path)] = ([label for label, _ in rows], title)
        return path

    monkeypatch.setattr(figures, "labeled_strips", strips)
    for kind, floors in (("inpainting", figures.FLOOR_NAMES), ("coopnets", figures.COOP_FLOOR_NAMES)):
        figures.completion_panels(str(tmp_path), str(tmp_path / "fig"), kind, floors, figures.PANEL_TITLES[kind])
    labels, title = seen["inpainting_square.png"]
    assert labels == ["original", "masked input", "PCD", "multi-grid", "ContextEncoder with their crop and flip",
                      "biharmonic (floor)", "toy_net"]  # the paper's columns, variants, floors, then the others
    assert title.startswith("Inpainting, square mask\n")
    labels, title = seen["coopnets_M20.png"]
    assert labels == ["original", "masked input", "CoopNets", "DCGAN", "MRF ℓ1 (floor)"]
    assert title.startswith("CoopNets face completion, M20\n")


def test_a_task_png_carries_its_title_and_the_report_reads_the_grid_alone(tmp_path):
    """Every PNG a task writes has a title band above its grid (repro.base.io.atomic_save_image); the grid's pixels
    are save_image's own, and the report's figures (figures.read_grid) read them back without the band, as they
    read PNGs written before the band existed."""
    import torch

    from repro.base import io as torch_io
    from tasks import files
    assert torch_io.TITLE_KEY == files.TITLE_KEY  # one name on both sides of the torch-free line
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    plain, titled = tmp_path / "plain.png", tmp_path / "titled.png"
    torch_io.atomic_save_image(images, str(plain), nrow=3)
    torch_io.atomic_save_image(images, str(titled), nrow=3, title="inpainting multigrid · square · smoke · seed 0")
    from PIL import Image
    with Image.open(titled) as im:
        band, title = int(im.info[files.TITLE_KEY]), im.info["Title"]
        assert band > 0 and im.size[1] == band + 2 + 2 * (8 + 2)  # the band, then the 2-row grid
    assert title.startswith("inpainting multigrid")
    assert np.array_equal(figures.read_grid(str(titled)), figures.read_grid(str(plain)))
    assert figures.read_grid(str(titled)).shape == figures.read_grid(str(plain)).shape == (22, 32, 3)
