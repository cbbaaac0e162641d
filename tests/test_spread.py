"""tools.spread runs independent commands one per GPU (CUDA_VISIBLE_DEVICES), every command once, split over
nodes; tested with stand-in GPU names and commands that record where and when they ran."""
import sys

from tools.spread import main, read_commands, share


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
