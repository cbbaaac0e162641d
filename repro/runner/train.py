"""Learn one scheme on one dataset: ``python -m repro.runner.train --preset smoke --method multigrid --out runs/mg``.

Writes into --out: config.json, run_info.json (provenance), checkpoint.pt (atomic, every
--checkpoint-every iterations), log.csv (per iteration and grid: mean f of observed and synthesized
images, ℓ1 norm of the parameter gradient, loss, learning rate, seconds) and one sample-grid PNG
per grid. ``--resume`` continues an interrupted run exactly where its last checkpoint left it.
"""
from __future__ import annotations

import argparse
import os
import sys

from repro.base import dist
from repro.base.config import add_config_args, config_from_args
from repro.datasets.data import DATASETS
from repro.runner.engine import load_checkpoint, train
from repro.base.io import NonFiniteError, error_line
from repro.families.registry import FAMILIES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser, choices={"method": list(FAMILIES), "dataset": list(DATASETS)})
    parser.add_argument("--out", required=True, help="run folder (refused if it already holds a run)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args).validate()
        train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    except Exception as err:  # expected errors: one line (repro.base.io.error_line); any other keeps its traceback
        if (line := error_line(err)) is None:
            raise
        extra = f"; {kept_checkpoint(args.out)}" if isinstance(err, NonFiniteError) else ""
        print(f"error: {line}{extra}", file=sys.stderr)
        return 2
    finally:
        dist.teardown()
    return 0


def kept_checkpoint(out_dir: str) -> str:
    """What a diverged run leaves: its last good checkpoint, if it got as far as one."""
    path = os.path.join(out_dir, "checkpoint.pt")
    if not os.path.exists(path):
        return f"it diverged before its first checkpoint, so {out_dir} holds none: lower --step-size or --lr"
    return f"the last good checkpoint (iteration {load_checkpoint(path)['iteration']}) in {out_dir} is kept"


if __name__ == "__main__":
    sys.exit(main())
