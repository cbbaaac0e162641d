#!/usr/bin/env bash
# GPU acceptance check: run on a machine with a CUDA GPU, from the repository root, in the project's venv.
#
#   bash tools/gpu_check.sh [--out DIR] [--quick]     (sized for under 8 minutes on one GPU, not yet timed on one; --quick skips the benchmark)
#
# Each check prints PASS, FAIL or SKIP and writes one row to DIR/gpu_check.csv (default results/gpu_check):
#   cuda_build      torch sees a GPU and was built with CUDA; a torchvision op (nms) runs on the GPU (torch and
#                   torchvision from the same CUDA build); torch.compile compiles and runs a function on the GPU
#                   (Triton and a C compiler present)
#   cuda_tests      pytest tests/test_cuda.py: every model family trains on the GPU, samples, and loads on the
#                   CPU; a CPU run resumes on the GPU; --deterministic runs repeat bit for bit; TF32 and bf16
#                   chains keep the float32 chains' sample statistics
#   discipline      pytest tests/test_device_discipline.py (the meta stand-in for CUDA, as CI runs it)
#   determinism     two 3-iteration runs without --deterministic: weights' largest difference (informational:
#                   passes whatever it is; the deterministic case is in cuda_tests)
#   cpu_to_gpu      a run of 2 iterations on the CPU, resumed on the GPU to 4 through repro.runner.train --resume
#   bench           python -m tools.bench at the paper preset, plain path and variants tf32, bf16,
#                   compile+tf32, compile_cudagraphs: ms per Langevin step and per iteration, each variant's
#                   ratio to the plain path (DIR/bench.csv)
#   bn_collectives  with 2 or more GPUs: seconds per iteration of 2-process data-parallel training with global and
#                   with local batch norm (torchrun); SKIP with one GPU
#   task            one task end to end on the GPU: the generative ConvNet's auto-encoding experiment (the crash
#                   of issue 29) and the inpainting task, smoke profile, a few iterations
# Exit status: 0 when no check failed.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=results/gpu_check QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
CSV="$OUT/gpu_check.csv"
DEVICE=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" 2>/dev/null)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "check,status,seconds,detail,device,torch,commit,date" > "$CSV"
TORCH=$($PY -c "import torch; print(torch.__version__)" 2>/dev/null)
FAILED=0

# check NAME COMMAND...: run COMMAND (its last output line is the detail), record PASS/FAIL, or SKIP on exit 77
check() {
  local name=$1; shift
  local t0=$(date +%s) status detail rc
  "$@" > "$WORK/$name.log" 2>&1; rc=$?
  detail=$(grep -v '^\s*$' "$WORK/$name.log" | tail -1 | tr ',\n' ';  ' | cut -c1-300)
  case $rc in 0) status=PASS ;; 77) status=SKIP ;; *) status=FAIL; FAILED=1 ;; esac
  printf '%-15s %s  (%ss) %s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$detail"
  echo "$name,$status,$(( $(date +%s) - t0 )),\"${detail//\"/\'}\",$DEVICE,$TORCH,$COMMIT,$(date -u +%FT%TZ)" >> "$CSV"
  cp "$WORK/$name.log" "$OUT/$name.log"
}

cuda_build() {
  $PY - <<'EOF'
import torch, torchvision
assert torch.cuda.is_available(), f"no CUDA GPU visible to torch {torch.__version__} (CUDA {torch.version.cuda})"
x = torch.rand(8, 4, device="cuda"); boxes = torch.cat([x[:, :2], x[:, :2] + 1], 1)
keep = torchvision.ops.nms(boxes, torch.rand(8, device="cuda"), 0.5)
f = torch.compile(lambda v: (v.sin() ** 2).sum())
assert torch.isfinite(f(torch.rand(64, device="cuda")))
print(f"torch {torch.__version__} CUDA {torch.version.cuda}, torchvision {torchvision.__version__} nms on GPU, "
      f"torch.compile ok, {torch.cuda.get_device_name(0)}")
EOF
}

determinism() {
  for r in a b; do
    $PY -m repro.runner.train --preset smoke --device cuda --n-iters 3 --batch-size 8 --checkpoint-every 1 --no-progress \
      --out "$WORK/det_$r" || return 1
  done
  $PY - "$WORK" <<'EOF'
import sys
from repro.runner.engine import load_checkpoint
a, b = (load_checkpoint(f"{sys.argv[1]}/det_{r}/checkpoint.pt")["nets"] for r in "ab")
d = max(float((a[k] - b[k]).abs().max()) for k in a)
print(f"without --deterministic two identical 3-iteration runs differ by at most {d:.3g} in a weight")
EOF
}

cpu_to_gpu() {
  local args=(--preset smoke --batch-size 8 --checkpoint-every 1 --no-progress --lr-final-ratio 1 --out "$WORK/move")
  $PY -m repro.runner.train "${args[@]}" --device cpu --n-iters 2 || return 1
  $PY -m repro.runner.train "${args[@]}" --device cuda --n-iters 4 --resume || return 1
  grep -c '"device"' "$WORK/move/run_info.json" | xargs -I{} echo "resumed on the GPU: {} sessions' devices in run_info.json"
}

bench() {
  [ "$QUICK" = 1 ] && { echo "skipped (--quick)"; return 77; }
  timeout 300 $PY -m tools.bench --presets paper --repeats 3 --out "$OUT/bench.csv" \
    --variants fast tf32 bf16 compile+tf32 compile_cudagraphs
}

bn_collectives() {
  local n; n=$($PY -c "import torch; print(torch.cuda.device_count())")
  [ "$n" -ge 2 ] || { echo "one GPU: no collective to time"; return 77; }
  for bn in global local; do
    $PY -m torch.distributed.run --standalone --nproc_per_node=2 -m repro.runner.train --preset paper --dataset lfw_faces \
      --n-train none --n-test none --image-size 64 --n-iters 6 --checkpoint-every 6 --no-progress --compile false \
      --batchnorm $bn --out "$WORK/bn_$bn" || return 1
  done
  $PY - "$WORK" <<'EOF'
import csv, statistics, sys
for bn in ("global", "local"):
    rows = list(csv.DictReader(open(f"{sys.argv[1]}/bn_{bn}/log.csv")))
    s = statistics.median(float(r["seconds"]) for r in rows if int(r["iteration"]) > 0)
    print(f"{bn} batch norm: {s * 1e3:.1f} ms per iteration (2 GPUs, batch 100)", end="; ")
print()
EOF
}

task() {
  $PY -m tasks.generative_convnet --profile smoke --device cuda --experiment autoencode --n-iters 20 \
    --out "$WORK/task" --runs "$WORK/runs" --no-progress || return 1
  $PY -m tasks.inpainting --profile smoke --device cuda --methods multigrid context_encoder --n-iters 20 \
    --n-test-images 32 --out "$WORK/task" --runs "$WORK/runs" --no-progress || return 1
  echo "generative ConvNet autoencode and inpainting ran on the GPU: $(ls "$WORK/task" | wc -l) files"
}

check cuda_build cuda_build
if [ "$FAILED" = 1 ]; then
  echo "gpu_check.sh: no usable CUDA build here (see $OUT/cuda_build.log); the other checks need one" >&2
  exit 1
fi
check cuda_tests $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py
check discipline $PY -m pytest -q -p no:cacheprovider tests/test_device_discipline.py
check determinism determinism
check cpu_to_gpu cpu_to_gpu
check bench bench
check bn_collectives bn_collectives
check task task
rm -rf "$WORK"
echo "gpu_check.sh: wrote $CSV"
exit $FAILED
