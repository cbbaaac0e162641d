"""Learn one scheme on one dataset: ``python -m repro.runner.train --profile smoke --method multigrid --out runs/mg``.

Writes into --out: config.json, run_info.json (provenance), checkpoint.pt (atomic, every
--checkpoint-every iterations), log.csv (per iteration and grid: mean f of observed and synthesized
images, ℓ1 norm of the parameter gradient, loss, learning rate, seconds) and one sample-grid PNG
per grid. ``--resume`` continues an interrupted run exactly where its last checkpoint left it.
Ctrl-C (SIGINT) or SIGTERM finishes the iteration under way, checkpoints it and stops with one line that gives
the command resuming the run (exit status 130 or 143); a second signal stops at once, every file old or whole.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from repro.base import dist
from repro.base.config import add_config_args, config_from_args
from repro.base.io import Interrupted, NonFiniteError, error_line
from repro.datasets.data import DATASETS
from repro.families.registry import FAMILIES
from repro.runner.engine import load_checkpoint, train


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
    except Interrupted as stop:  # checkpointed where it stopped: one line with the command that resumes it
        if dist.is_main():
            print(stop.line(resume_hint(sys.argv[1:] if argv is None else argv, args.out)), file=sys.stderr)
        return stop.status
    except KeyboardInterrupt:  # before training began or after it ended: nothing half-written (atomic writes)
        if dist.is_main():
            print(f"interrupted (SIGINT) outside the training loop; every file in {args.out} is whole: "
                  f"{resume_hint(sys.argv[1:] if argv is None else argv, args.out)}", file=sys.stderr)
        return 130
    except Exception as err:  # expected errors: one line (repro.base.io.error_line); any other keeps its traceback
        if (line := error_line(err)) is None:
            raise
        extra = f"; {kept_checkpoint(args.out)}" if isinstance(err, NonFiniteError) else ""
        sys.stderr.write(f"error: {line}{extra}\n")  # one write: under torchrun the ranks' lines must not interleave
        return 2
    finally:
        dist.teardown()
    return 0


def resume_hint(argv: list[str], out_dir: str) -> str:
    """What continues the run in out_dir: this command with --resume when it holds a checkpoint, else this command
    again without --resume (nothing to resume from yet)."""
    argv = [a for a in argv if a != "--resume"]
    python = sys.orig_argv[0] if sys.orig_argv[1:3] == ["-m", "repro.runner.train"] else "python"
    if os.path.exists(os.path.join(out_dir, "checkpoint.pt")):
        return "resume with: " + shlex.join([python, "-m", "repro.runner.train", *argv, "--resume"])
    return "no checkpoint yet; start again with: " + shlex.join([python, "-m", "repro.runner.train", *argv])


def kept_checkpoint(out_dir: str) -> str:
    """What a diverged run leaves: its last good checkpoint, if it got as far as one."""
    path = os.path.join(out_dir, "checkpoint.pt")
    if not os.path.exists(path):
        return f"it diverged before its first checkpoint, so {out_dir} holds none: lower --step-size or --lr"
    return f"the last good checkpoint (iteration {load_checkpoint(path)['iteration']}) in {out_dir} is kept"


if __name__ == "__main__":
    sys.exit(main())
