"""Data-parallel training (repro.dist): two CPU processes under torchrun with gloo give the run one
process gives, and a checkpoint resumes with a different number of processes.

Runs in float64: in float32, Adam at the paper's learning rate 0.3 turns rounding noise in
gradients that are exactly zero in exact arithmetic (convolution biases before batch norm) into
±0.3 steps, so any two float32 runs that round differently (2 processes vs 1, CPU vs GPU) part
after a few iterations; float64 shows that the computation itself is the same.
"""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from repro import dist
from repro.dist import BatchNorm2d

ARGS = ["--preset", "smoke", "--batch-size", "8", "--checkpoint-every", "1", "--no-progress",
        "--precision", "float64",
        "--lr-final-ratio", "1"]  # flat schedule: a run resumed with more iterations is the longer run (README)


def launch(nproc: int, out, method: str, n_iters: int, resume: bool = False) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    cmd = [*launcher, "-m", "repro.train", *ARGS, "--method", method, "--n-iters", str(n_iters),
           "--out", str(out), *(["--resume"] if resume else [])]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def load(path):
    return torch.load(os.path.join(path, "checkpoint.pt"), map_location="cpu", weights_only=False)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def initial_nets(ckpt: dict) -> dict:
    """The weights the checkpoint's run started from (repro.learner.initial_learner, its config and seed)."""
    from repro.config import Config
    from repro.learner import initial_learner
    cfg = Config.from_dict(ckpt["config"])
    return initial_learner(cfg, ckpt["channels"], ckpt["n_train"], device="cpu").nets.state_dict()


@pytest.mark.slow
def test_two_gloo_processes_match_one_and_resume_across_process_counts(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    launch(1, one, "multigrid", 2)
    launch(2, two, "multigrid", 2)
    a2, b2 = load(one), load(two)
    assert b2["iteration"] == 2
    assert max_diff(a2["nets"], b2["nets"]) < 1e-6
    assert max_diff(a2["nets"], initial_nets(a2)) > 0.1  # it learned: the weights left their initial values
    info = (two / "run_info.json").read_text()
    assert '"processes": 2' in info
    # the 2-process run resumed by 1 process equals the 1-process run resumed by 2 processes
    launch(1, two, "multigrid", 3, resume=True)
    launch(2, one, "multigrid", 3, resume=True)
    a3, b3 = load(one), load(two)
    assert a3["iteration"] == b3["iteration"] == 3
    assert max_diff(a3["nets"], b3["nets"]) < 1e-6
    assert max_diff(a3["nets"], a2["nets"]) > 1e-3  # the third iteration moved the parameters


@pytest.mark.slow
def test_persistent_chains_are_gathered_across_processes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    launch(1, one, "pcd", 2)
    launch(2, two, "pcd", 2)
    a, b = load(one), load(two)
    assert max_diff(a["nets"], b["nets"]) < 1e-6
    assert torch.equal(a["extra"]["started"], b["extra"]["started"]) and int(a["extra"]["started"].sum()) == 16
    assert float((a["extra"]["state"] - b["extra"]["state"]).abs().max()) < 1e-6


def test_single_process_helpers_are_identities():
    x = torch.randn(6, 3, 4, 4)
    assert not dist.active()
    assert dist.shard(x) is x and dist.gather(x) is x
    with dist.data_parallel():  # one process: nothing is sharded
        assert dist.shard(x) is x
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        assert torch.equal(dist.randn((6, 2), generator=g1, device="cpu", dtype=torch.float32),
                           torch.randn((6, 2), generator=g2))
    bn, ref = BatchNorm2d(3), torch.nn.BatchNorm2d(3, track_running_stats=False)
    assert set(bn.state_dict()) == set(ref.state_dict())
    assert torch.equal(bn(x), ref(x))


def test_uneven_batch_is_refused(monkeypatch, tmp_path):
    from repro.config import get_config
    from repro.engine import train
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        train(get_config("smoke", batch_size=8, n_iters=1), str(tmp_path / "r"), progress=False)
    shutil.rmtree(tmp_path / "r", ignore_errors=True)
