"""Learn one scheme on one dataset: ``python -m repro.train --preset smoke --method multigrid --out runs/mg``.

Writes into --out: config.json, run_info.json (provenance), checkpoint.pt (atomic, every
--checkpoint-every iterations), log.csv (per iteration and grid: mean f of observed and synthesized
images, ℓ1 norm of the parameter gradient, loss, learning rate, seconds) and one sample-grid PNG
per grid. ``--resume`` continues an interrupted run exactly where its last checkpoint left it.
"""
from __future__ import annotations

import argparse
import sys

from repro.config import add_config_args, config_from_args
from repro.data import DATASETS
from repro.engine import train
from repro.langevin import NonFiniteError
from repro.baselines import BASELINES
from repro.methods import METHODS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser, choices={"method": [*METHODS, *BASELINES], "dataset": list(DATASETS)})
    parser.add_argument("--out", required=True, help="run folder (refused if it already holds a run)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    try:
        train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    except NonFiniteError as err:
        print(f"error: {err}\nThe last good checkpoint in {args.out} is kept.", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
