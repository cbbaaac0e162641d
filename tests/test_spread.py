"""tools.spread runs independent commands one per GPU (CUDA_VISIBLE_DEVICES), every command once, split over
nodes; tested with stand-in GPU names and commands that record where and when they ran."""
import os
import subprocess
import sys
import time

import pytest
import torch

from tools import bench
from tools.spread import main, parse, read_commands, share


def test_commands_run_once_each_one_per_gpu_at_a_time(tmp_path):
    rec = tmp_path / "ran"
    rec.mkdir()
    py = sys.executable
    body = ("import os,time,sys; n=sys.argv[1]; d=sys.argv[2]; g=os.environ['CUDA_VISIBLE_DEVICES']; "
            "t=time.time(); time.sleep(0.3); open(os.path.join(d, n), 'w').write(f'{g} {t} {time.time()}')")
    script = tmp_path / "job.py"
    script.write_text(body)
    lines = ["# a comment", ""] + [f"{py} {script} {i} {rec}" for i in range(5)] + [f"{py} -c 'raise SystemExit(3)'"]
    cmds = tmp_path / "commands.txt"
    cmds.write_text("\n".join(lines) + "\n")
    assert main([str(cmds), "--gpus", "a", "b", "--logs", str(tmp_path / "logs")]) == 1  # the last one fails
    runs = {p.name: p.read_text().split() for p in rec.iterdir()}
    assert sorted(runs) == [str(i) for i in range(5)]  # each command once
    assert {g for g, _, _ in runs.values()} == {"a", "b"}
    for gpu in ("a", "b"):  # never two commands on one GPU at once
        spans = sorted((float(s), float(e)) for g, s, e in runs.values() if g == gpu)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))
    assert len(list((tmp_path / "logs").iterdir())) == 6


def test_nodes_share_the_file_without_overlap(tmp_path):
    cmds = tmp_path / "c.txt"
    cmds.write_text("\n".join(f"echo {i}" for i in range(7)))
    all_cmds = read_commands(str(cmds))
    parts = [share(all_cmds, 3, r) for r in range(3)]
    assert sorted(sum(parts, [])) == sorted(all_cmds) and sum(len(p) for p in parts) == 7
    assert main([str(cmds), "--gpus", "0", "--nodes", "2", "--node-rank", "2"]) == 2  # rank out of range


def test_the_readmes_line_form_takes_the_file_after_the_gpus(tmp_path, capsys):
    """`python -m tools.spread --gpus 0 1 2 3 COMMANDS` (README, the tool's own help) failed: --gpus (nargs='+') took
    the file name too. Now the last word after --gpus is the file when none is given otherwise; --commands FILE and
    one-word GPU lists ("0 1", "0,1") work too. Each command sees its GPU in CUDA_VISIBLE_DEVICES (no GPU needed)."""
    cmds = tmp_path / "COMMANDS"
    cmds.write_text("".join(f'echo "$CUDA_VISIBLE_DEVICES" > {tmp_path}/gpu{i}\n' for i in range(4)))
    assert main(["--gpus", "0", "1", "2", "3", str(cmds), "--logs", str(tmp_path / "logs")]) == 0
    assert sorted((tmp_path / f"gpu{i}").read_text().strip() for i in range(4)) == ["0", "1", "2", "3"]
    capsys.readouterr()
    for argv in (["--gpus", "0", "1", "2", "3", str(cmds)], [str(cmds), "--gpus", "0", "1"],
                 ["--gpus", "0 1", "--commands", str(cmds)], ["--gpus", "0,1", str(cmds)]):
        assert main([*argv, "--dry-run"]) == 0
        assert capsys.readouterr().out.count("line ") == 4
    assert parse(["--gpus", "0,1", "2", str(cmds)]).gpus == ["0", "1", "2"]
    assert parse(["--gpus", "0 1", "--commands", str(cmds)]).gpus == ["0", "1"]


def test_gpus_asked_for_without_cuda_stop_before_any_work_with_one_line(tmp_path, capsys):
    """`bash run_all.sh --gpus "0 1 2 3"` on a CPU machine started a paper-scale run on the CPU without a word, and
    `python -m tools.bench --device cuda` ended in a traceback: both now stop at once with one line."""
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert bench.main(["--device", "cuda", "--out", str(tmp_path / "bench.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda") and not (tmp_path / "bench.csv").exists()
    root = os.path.join(os.path.dirname(__file__), "..")
    # --profile reduced without --data-root would also stop at once (another line): nothing heavy can start
    start = time.time()
    res = subprocess.run(["bash", os.path.join(root, "run_all.sh"), "--gpus", "0", "--profile", "reduced",
                          "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and time.time() - start < 60
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    assert "--gpus \"0\" asks for GPUs, but CUDA is not available" in res.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
