"""What the report calls each model family: its long name, the paper's short name and place in CVPR Table 4, its
variants (the result rows of a family trained or scored otherwise than the paper's reading, with their settings),
and whether the paper's orderings compare the paper's method against it.

The standard library alone, no import of torch nor of any other module of repro: the torch-free report
(tasks.tables) reads this file by its path, as it reads repro/data/paper_numbers.csv, while
repro.families.registry imports it, and every ``Family`` entry there carries its family's ``Names`` from ``NAMES``
(tests/test_registry_capabilities.py holds that the two tables agree). A family without an entry here is still
reported: the inpainting table gives it a column of its own after the paper's, labelled by its rows' method name.
"""
from __future__ import annotations

from dataclasses import dataclass

# the names --method takes (repro.families.registry.FAMILIES), for code that must name one family (the tables'
# rows of the paper's other tables, the orderings the paper claims between two families)
MULTIGRID, SINGLEGRID, CD1, PCD = "multigrid", "singlegrid", "cd1", "pcd"
DCGAN, CONTEXT_ENCODER, COOPNETS, GCONVNET = "dcgan", "context_encoder", "coopnets", "gconvnet"
PAPER_METHOD = MULTIGRID  # the paper's own method: "ours" in its orderings


@dataclass(frozen=True)
class Variant:
    """Result rows of a family under settings other than the paper's reading (repro.families.registry:
    Family.label), shown beside the family, never in its place."""
    label: str  # the rows' method name
    long: str  # its name in the report
    settings: tuple[tuple[str, object], ...]  # flat Config settings that give rows this label


@dataclass(frozen=True)
class Names:
    """One family as the report names it."""
    long: str  # its name in the report's prose, orderings and figures ("single-grid")
    short: str | None = None  # its column label in CVPR Table 4 ("SG"), where the paper has one
    column: int | None = None  # its place among that table's columns (0 first), with `short`
    scheme: bool = False  # one of Algorithm 1's learning schemes (repro.core.methods.METHODS)
    rival: bool = False  # the inpainting orderings compare the paper's method against it
    variants: tuple[Variant, ...] = ()  # its rows under other settings that the inpainting orderings compare

    def __post_init__(self):
        if (self.short is None) != (self.column is None):
            raise ValueError(f"{self.long}: a CVPR Table 4 column needs both its label and its place")


FILL_START = (("cond_start", "fill"),)  # a scheme's training chains started from the masked image's fill
NAMES: dict[str, Names] = {
    MULTIGRID: Names("multi-grid", "MG", 4, scheme=True,
                     variants=(Variant("multigrid_fill_start", "multi-grid trained from the fill", FILL_START),)),
    SINGLEGRID: Names("single-grid", "SG", 2, scheme=True, rival=True,
                      variants=(Variant("singlegrid_fill_start", "single-grid trained from the fill", FILL_START),)),
    CD1: Names("CD1", "CD1", 1, scheme=True, rival=True,
               variants=(Variant("cd1_fill_start", "CD1 trained from the fill", FILL_START),)),
    PCD: Names("PCD", "PCD", 0, scheme=True, rival=True,
               variants=(Variant("pcd_fill_start", "PCD trained from the fill", FILL_START),)),
    DCGAN: Names("DCGAN"),
    CONTEXT_ENCODER: Names("ContextEncoder", "CE", 3, rival=True, variants=(
        Variant("context_encoder_jitter", "ContextEncoder with their crop and flip", (("ce_load_scale", 2.734375),)),
        Variant("context_encoder_running_bn", "ContextEncoder with running batch norm", (("ce_test_bn", "running"),)),
    )),
    COOPNETS: Names("CoopNets"),
    GCONVNET: Names("generative ConvNet"),
}


def long_name(method: str, default: str | None = None) -> str:
    """A family's or a variant's long name; `default` (or the name itself) for any other method."""
    if method in NAMES:
        return NAMES[method].long
    return next((v.long for n in NAMES.values() for v in n.variants if v.label == method),
                method if default is None else default)


def table4_columns() -> list[tuple[str, str]]:
    """(short name, family) of CVPR Table 4's columns, in the paper's order."""
    placed = sorted((n.column, n.short, name) for name, n in NAMES.items() if n.column is not None)
    return [(short, name) for _, short, name in placed]


def rivals() -> list[str]:
    """The families the inpainting orderings compare the paper's method against, in the registry's order."""
    return [name for name, n in NAMES.items() if n.rival]


def variants() -> list[Variant]:
    """Every family's variants, in the registry's order."""
    return [v for n in NAMES.values() for v in n.variants]
