"""Data-parallel training (repro.base.dist): two CPU processes under torchrun with gloo give the run one
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

from repro.base import dist
from repro.base.dist import BatchNorm2d
from repro.runner.engine import load_checkpoint

ARGS = ["--preset", "smoke", "--batch-size", "8", "--checkpoint-every", "1", "--no-progress",
        "--precision", "float64",
        "--lr-final-ratio", "1"]  # flat schedule: a run resumed with more iterations is the longer run (README)


def launch(nproc: int, out, method: str, n_iters: int, resume: bool = False) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    cmd = [*launcher, "-m", "repro.runner.train", *ARGS, "--method", method, "--n-iters", str(n_iters),
           "--out", str(out), *(["--resume"] if resume else [])]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def load(path):
    return load_checkpoint(os.path.join(path, "checkpoint.pt"))


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def initial_nets(ckpt: dict) -> dict:
    """The weights the checkpoint's run started from (repro.families.registry.initial_learner, its config and seed)."""
    from repro.base.config import Config
    from repro.families.registry import initial_learner
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
    from repro.base.config import get_config
    from repro.runner.engine import train
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        train(get_config("smoke", batch_size=8, n_iters=1), str(tmp_path / "r"), progress=False)
    shutil.rmtree(tmp_path / "r", ignore_errors=True)


def test_under_torchrun_each_process_takes_its_own_gpu(monkeypatch, capsys):
    """--device cuda:0 under torchrun would put every process on GPU 0 (NCCL refuses two processes on one GPU):
    each process takes GPU LOCAL_RANK, and rank 0 says so when another index was named. No GPU needed."""
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert dist.local_device(torch.device("cuda:0")) == torch.device("cuda", 2)
    assert "LOCAL_RANK" in capsys.readouterr().err
    assert dist.local_device(torch.device("cuda")) == torch.device("cuda", 2)
    assert dist.local_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert dist.local_device(torch.device("cuda:0")) == torch.device("cuda", 0)  # one process: as named


def test_initial_non_finite_batch_is_reported_after_the_loop():
    from repro.base.io import NonFiniteError
    from repro.core.langevin import langevin
    y = torch.zeros(2, 1, 4, 4)
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="initial batch"):
        langevin(lambda v: -(v ** 2).flatten(1).sum(1), y, steps=2, step_size=0.1, sigma=1.0)


@pytest.mark.slow
def test_an_error_on_rank_0_stops_every_process(tmp_path):
    """A check that only rank 0 makes (here: --out already holds a run) fails on every process at once;
    before, rank 0 stopped and the other ranks waited at a barrier for the backend's timeout (30 min)."""
    launch(1, tmp_path / "run", "cd1", 1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "repro.runner.train", *ARGS, "--method", "cd1", "--n-iters", "1", "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)  # a hang fails here
    assert res.returncode != 0
    assert res.stderr.count("already holds a run") >= 2, res.stderr[-2000:]  # both processes say why


COUNT_SCRIPT = r'''
import sys, torch.distributed as tdist
from repro.base import dist
counts = {"n": 0}
for name in ("all_reduce", "all_gather", "broadcast", "broadcast_object_list", "barrier"):
    real = getattr(tdist, name)
    def counted(*a, _real=real, **k):
        if dist.active():  # inside the training iterations only
            counts["n"] += 1
        return _real(*a, **k)
    setattr(tdist, name, counted)
from repro.base.config import get_config
from repro.runner.engine import train
cfg = get_config("smoke", method=sys.argv[1], batch_size=8, n_iters=1, steps_per_grid=int(sys.argv[2]),
                 batchnorm=sys.argv[3], precision="float64")
train(cfg, sys.argv[4], progress=False)
if dist.is_main():
    print("COLLECTIVES", counts["n"])
dist.teardown()
'''


def collectives(tmp_path, method: str, steps: int, batchnorm: str) -> int:
    script = tmp_path / "count.py"
    script.write_text(COUNT_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    out = tmp_path / f"{method}-{steps}-{batchnorm}"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), method, str(steps), batchnorm, str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return int(res.stdout.split("COLLECTIVES")[1].split()[0])


@pytest.mark.slow
def test_collectives_per_iteration(tmp_path):
    """The collectives of one data-parallel multi-grid iteration, counted under gloo, against the formula.

    Global batch norm (--batchnorm global, the default: the 1-process model) all-reduces each layer's
    statistics in the forward pass and their gradient in the backward pass: 2 per batch-norm layer per
    Langevin step, so a paper iteration (grids of 3, 4 and 3 batch-norm layers, 30 steps each) makes
    30 · 2 · 10 + 3 finite checks = 603 in sampling and 4 · 10 + 3 gradient averages + 1 = 44 in the update:
    647 (an iteration that checkpoints adds 3, gathering the sample grids). Per-process batch norm
    (--batchnorm local) makes none in sampling: 3 finite checks, 3 gradient averages and 1 for the statistics,
    7 whatever the number of steps (10 here: the one iteration checkpoints)."""
    n_bn, grids_gathered = (3, 4, 3), 3
    for steps in (1, 2):
        want = sum(steps * 2 * n + 1 for n in n_bn) + sum(4 * n + 1 for n in n_bn) + 1 + grids_gathered
        got = collectives(tmp_path, "multigrid", steps, "global")
        print(f"global batch norm, {steps} steps per grid: {got} collectives per iteration (formula {want})")
        assert got == want
    paper = sum(30 * 2 * n + 1 for n in n_bn) + sum(4 * n + 1 for n in n_bn) + 1
    local = [collectives(tmp_path, "multigrid", steps, "local") for steps in (1, 2)]
    print(f"paper setting: {paper} collectives per iteration with global batch norm, {local[0]} with local")
    assert local == [7 + grids_gathered] * 2


NAN_SCRIPT = r'''
import torch
from repro.base import dist
from repro.base.io import NonFiniteError
from repro.core.langevin import langevin
dist.setup(torch.device("cpu"))
y = torch.zeros(4, 1, 4, 4)
y[3, 0, 0, 0] = float("nan")  # in rank 1's share only
with dist.data_parallel():
    try:
        langevin(lambda v: -(v ** 2).flatten(1).sum(1), dist.shard(y), steps=2, step_size=0.1, sigma=1.0,
                 generator=torch.Generator().manual_seed(0))
    except NonFiniteError as err:
        print(f"rank {dist.rank()}: {err}", flush=True)
dist.teardown()
'''


@pytest.mark.slow
def test_a_non_finite_start_on_one_shard_stops_every_process(tmp_path):
    """Langevin's check of the initial batch is collective: the process whose share is finite raises too (before,
    only the process holding the NaN raised, and the other waited at its next collective)."""
    script = tmp_path / "nan.py"
    script.write_text(NAN_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "rank 0: langevin: the initial batch" in res.stdout and "rank 1: langevin: the initial batch" in res.stdout


def test_the_readmes_torchrun_examples_split_the_paper_batch():
    """Every torchrun example of the README starts: its processes (nodes × processes per node) divide the batch of
    the preset it runs (the paper's 100 had been shown on 2 nodes × 8 GPUs, which the runner refuses)."""
    import re

    from repro.base.config import PRESETS
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    joined = readme.replace("\\\n", " ")  # continuation lines joined
    commands = [c for c in re.findall(r"torchrun[^\n]*", joined) if "--nproc_per_node" in c]
    assert len(commands) >= 3
    for cmd in commands:
        per_node = int(re.search(r"--nproc_per_node=(\d+)", cmd).group(1))
        nodes = int(m.group(1)) if (m := re.search(r"--nnodes=(\d+)", cmd)) else 1
        preset = re.search(r"--profile (\w+)", cmd).group(1)
        batch = PRESETS[preset].batch_size
        assert batch % (nodes * per_node) == 0, (cmd, batch, nodes * per_node)
