#!/usr/bin/env bash
# GPU acceptance check, run from the repository root:
#
#   bash tools/gpu_check.sh [--out DIR] [--device cuda|cpu] [--quick] [--only NAME...]
#
# --out DIR      where the results go (default: a new folder mktemp -d makes under $TMPDIR or /tmp, never inside
#                the repository; its path is printed). Exactly 3 files: gpu_check.csv (one row per check),
#                gpu_check.log (the lines printed below) and gpu_check_logs.tar.gz (each check's full log, bench.csv)
# --device cpu   every check on the CPU, smaller (CI runs it after the tests, so that no check rots): cuda_build is
#                SKIP, cuda_tests runs tests/test_cuda.py with the CPU as its device, bn_collectives uses 2 gloo
#                processes, bench runs in its quick mode. 1.5–2.5 minutes on 2 busy CPU cores (4 at most, by the timeouts)
# --quick        bench in its quick mode (smoke preset, batch 4, 1 repeat) on the GPU too
# --only NAME    run only the named checks (repeatable)
# Python: $PYTHON if set, else the active venv's, else .venv/bin/python, else python3. Nothing is installed or
# downloaded; the repository is put on PYTHONPATH, so a python3 that holds torch, torchvision, pytest and the
# packages of pyproject.toml runs it uninstalled.
#
# Each check prints NAME PASS|FAIL|SKIP (seconds/timeout) and the last line of its log, in this order. Its timeout
# is its budget, on one GPU / on the CPU (GPU budgets of a one-GPU machine: 480 s = 8 minutes together; estimates,
# not yet timed on a GPU):
#   cuda_build      (50 s / 5 s) torch sees a GPU and was built with CUDA; a torchvision op (nms) runs on the GPU
#                   (torch and torchvision from one CUDA build); torch.compile compiles and runs a function there
#                   (Triton and a C compiler present). SKIP with --device cpu
#   cuda_tests      (90 s / 45 s) pytest tests/test_cuda.py: every model family trains on the device, samples, and
#                   loads on the CPU; a CPU run resumes on the device; --deterministic runs repeat bit for bit; ∂f/∂Y
#                   and one update under TF32 and bf16 agree with float32 (on the CPU: bf16 only)
#   discipline      (40 s / 30 s) pytest tests/test_device_discipline.py (the meta stand-in for CUDA, as CI runs it)
#   determinism     (35 s / 30 s) two 3-iteration runs without --deterministic: weights' largest difference
#                   (informational: passes whatever it is; the deterministic case is in cuda_tests)
#   cpu_to_gpu      (35 s / 25 s) a run of 2 iterations on the CPU, resumed on the device to 4 (repro.runner.train
#                   --resume)
#   task            (50 s / 40 s) two tasks end to end on the device, smoke profile, a few iterations: the
#                   generative ConvNet's auto-encoding experiment (the crash of issue 29) and inpainting
#   bench           (180 s / 20 s) python -m tools.bench at the paper preset, plain path and variants tf32, bf16,
#                   compile+tf32, compile_cudagraphs+tf32, cudagraph_loop+tf32 (the whole Langevin loop as one
#                   captured CUDA graph; a failed capture skips that row only): ms per Langevin step and per iteration, each variant's ratio
#                   to the plain path and the backend flags in force (bench.csv in the archive); --quick and --device
#                   cpu: its quick mode (the CUDA-only variants are left out on the CPU)
#   bn_collectives  (90 s / 45 s) seconds per iteration of 2-process data-parallel training (torchrun) with global and
#                   with local batch norm: 2 GPUs (NCCL, paper preset, batch 100), SKIP with one; on the CPU 2 gloo
#                   processes at the smoke preset
# Exit status: 0 when no check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

OUT="" DEV=cuda QUICK=0 ONLY=" "
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --device) DEV=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only) ONLY+="$2 "; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEV" in cuda|cpu) ;; *) echo "gpu_check.sh: --device is cuda or cpu, not $DEV" >&2; exit 2 ;; esac
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then PY=$VIRTUAL_ENV/bin/python
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_work.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PY DEV WORK LOGS QUICK
[ "$DEV" = cpu ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # CI's 2 cores: one thread per process
CSV=$OUT/gpu_check.csv SUMMARY=$OUT/gpu_check.log
INFO=$($PY -c "import torch; print((torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')
  + ',' + torch.__version__)" 2>/dev/null || echo "no torch,none")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "check,status,seconds,timeout_s,detail,device,gpu,torch,commit,date" > "$CSV"
: > "$SUMMARY"
FAILED=0

finish() {  # the archive of every log, then the work folder goes
  tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$LOGS" . 2>/dev/null
  rm -rf "$WORK"
}
trap finish EXIT
say() { echo "$*" | tee -a "$SUMMARY"; }
say "gpu_check.sh: --device $DEV, $PY ($INFO), writing $OUT"

# check NAME GPU_SECONDS CPU_SECONDS: run the function NAME under its timeout (its budget on this device); its last
# output line is the detail; exit 0 PASS, 77 SKIP, else (a timeout included) FAIL
check() {
  local name=$1 limit=$2 t0 rc status detail secs
  [ "$DEV" = cpu ] && limit=$3
  [ "$ONLY" = " " ] || [[ "$ONLY" == *" $name "* ]] || return 0
  t0=$(date +%s)
  timeout -k 10 "$limit" bash -c "$name" < /dev/null > "$LOGS/$name.log" 2>&1; rc=$?
  secs=$(( $(date +%s) - t0 ))
  detail=$(grep -v '^\s*$' "$LOGS/$name.log" | tail -1 | tr ',' ';' | cut -c1-300)
  case $rc in
    0) status=PASS ;;
    77) status=SKIP ;;
    124|137) status=FAIL; detail="timed out after its budget of ${limit} s; last line: $detail" ;;
    *) status=FAIL ;;
  esac
  [ "$status" = FAIL ] && FAILED=1
  say "$(printf '%-15s %s  (%ss/%ss) %s' "$name" "$status" "$secs" "$limit" "$detail")"
  echo "$name,$status,$secs,$limit,\"${detail//\"/\'}\",$DEV,$INFO,$COMMIT,$(date -u +%FT%TZ)" >> "$CSV"
}

cuda_build() {
  [ "$DEV" = cpu ] && { echo "--device cpu: no CUDA build to check"; return 77; }
  $PY - <<'EOF'
import repro  # noqa: F401  (torchvision compatibility step)
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

cuda_tests() {  # on the CPU: the same tests with the CPU as their device (the TF32 and CUDA bf16 cases skip)
  MGCD_CUDA_TESTS_DEVICE=$DEV $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py
}

discipline() {
  $PY -m pytest -q -p no:cacheprovider tests/test_device_discipline.py
}

determinism() {
  for r in a b; do
    $PY -m repro.runner.train --preset smoke --device "$DEV" --n-iters 3 --batch-size 8 --checkpoint-every 3 \
      --no-progress --out "$WORK/det_$r" || return 1
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
  local args=(--preset smoke --batch-size 8 --checkpoint-every 2 --no-progress --lr-final-ratio 1 --out "$WORK/move")
  $PY -m repro.runner.train "${args[@]}" --device cpu --n-iters 2 || return 1
  $PY -m repro.runner.train "${args[@]}" --device "$DEV" --n-iters 4 --resume || return 1
  $PY - "$WORK/move" "$DEV" <<'EOF'
import sys
from repro.runner.engine import load_checkpoint
it = load_checkpoint(f"{sys.argv[1]}/checkpoint.pt")["iteration"]
assert it == 4, f"the resumed run ended at iteration {it}, not 4"
print(f"a run of 2 iterations on the CPU resumed on {sys.argv[2]} to iteration {it}")
EOF
}

task() {
  local n=20 imgs=32
  [ "$DEV" = cpu ] && n=3 imgs=8
  $PY -m tasks.generative_convnet --profile smoke --device "$DEV" --experiment autoencode --n-iters $n \
    --curve-every $n --out "$WORK/task" --runs "$WORK/runs" --no-progress || return 1
  $PY -m tasks.inpainting --profile smoke --device "$DEV" --methods multigrid context_encoder --n-iters $n \
    --n-test-images $imgs --out "$WORK/task" --runs "$WORK/runs" --no-progress || return 1
  echo "generative ConvNet autoencode and inpainting ran on $DEV: $(ls "$WORK/task" | wc -l) files"
}

bench() {
  local mode=(--presets paper --repeats 3)
  { [ "$QUICK" = 1 ] || [ "$DEV" = cpu ]; } && mode=(--quick)
  $PY -m tools.bench "${mode[@]}" --device "$DEV" --out "$LOGS/bench.csv" \
    --variants fast tf32 bf16 compile+tf32 compile_cudagraphs+tf32 cudagraph_loop+tf32 || return 1
  $PY - "$LOGS/bench.csv" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["what"] == "multigrid_iteration"]
print(f"{rows[0]['preset']} iteration, ms (plain/this): " + ", ".join(
    f"{r['path']} {float(r['ms']):.0f} ({float(r['ratio_plain_over_this']):.2f}x)" for r in rows))
EOF
}

bn_collectives() {
  local n args
  if [ "$DEV" = cpu ]; then  # 2 gloo processes: the same code path as NCCL's, sized for CI
    args=(--preset smoke --n-iters 3 --checkpoint-every 3 --steps-per-grid 10)
  else
    n=$($PY -c "import torch; print(torch.cuda.device_count())")
    [ "$n" -ge 2 ] || { echo "one GPU: no collective to time"; return 77; }
    args=(--preset paper --dataset digits --n-train none --n-test none --image-size 64 --n-iters 4
          --checkpoint-every 4 --compile false)  # digits: 1,437 training images, the paper's batch of 100
  fi
  for bn in global local; do
    $PY -m torch.distributed.run --standalone --nproc_per_node=2 -m repro.runner.train "${args[@]}" \
      --device "$DEV" --no-progress --batchnorm $bn --out "$WORK/bn_$bn" || return 1
  done
  $PY - "$WORK" "$DEV" <<'EOF'
import csv, statistics, sys
for bn in ("global", "local"):
    rows = list(csv.DictReader(open(f"{sys.argv[1]}/bn_{bn}/log.csv")))
    s = statistics.median(float(r["seconds"]) for r in rows if int(r["iteration"]) > 0)
    print(f"{bn} batch norm: {s * 1e3:.1f} ms per iteration", end="; ")
print(f"2 processes on {sys.argv[2]}")
EOF
}

export -f cuda_build cuda_tests discipline determinism cpu_to_gpu task bench bn_collectives
check cuda_build 50 5
if [ "$FAILED" = 1 ]; then
  say "gpu_check.sh: FAIL: no usable CUDA build here (cuda_build.log in $OUT/gpu_check_logs.tar.gz); the other checks" \
    "need one (--device cpu runs them on the CPU)" >&2
  exit 1
fi
check cuda_tests 90 45
check discipline 40 30
check determinism 35 30
check cpu_to_gpu 35 25
check task 50 40
check bench 180 20
check bn_collectives 90 45
say "gpu_check.sh: $([ "$FAILED" = 0 ] && echo PASS || echo FAIL); wrote $CSV, $SUMMARY and $OUT/gpu_check_logs.tar.gz"
exit $FAILED
