#!/usr/bin/env bash
# Run every experiment of the paper, then rebuild its tables (results/tables.md).
#
#   bash run_all.sh                                   # smoke profile, embedded datasets, CPU, no download
#   bash run_all.sh --profile reduced --data-root DIR # the paper's method on real-data subsets, CPU-sized
#   bash run_all.sh --profile paper --data-root DIR   # the paper's settings on the real datasets
#
# Options: --profile smoke|reduced|paper, --data-root DIR, --device auto|cpu|cuda, --out DIR (results),
# --runs DIR (trained models; reused and resumed when present), --seed N.
# Several GPUs: --gpus "0 1 2 3" runs the tasks side by side, one per GPU (tools.spread), then the report;
# several nodes sharing a file system: add --nodes N --node-rank R on each node, then run the report once
# all are done (--gpus stops at once, with one line, where torch sees no CUDA GPU). --print-commands lists the
# task commands (one per line) instead of running them. A run prints its plan first (the steps, by name), then
# after each step one line (its time, the files it wrote under --out, CSVs with their rows) and the time so far.
# Layout of DIR for the reduced and paper profiles (nothing is downloaded):
#   DIR/celeba/img_align_celeba/ + DIR/celeba/*.txt    (torchvision CelebA layout), or, reduced profile only,
#   DIR/faces/<aligned face images, any layout>         (read by --dataset images, the paper's 108-of-178 crop)
#   DIR/svhn/train_32x32.mat, DIR/svhn/test_32x32.mat   or, reduced profile only, as a stand-in for SVHN:
#   DIR/cifar10/{train,test}/<class>/<images>           (read by --dataset imagefolder)
#   DIR/cifar-10-batches-py/                            (paper profile: CVPR Table 1)
#   DIR/places/<one category folder of images>          (negatives for the score diagnostics; reduced profile
#                                                        without it: the classification images stand in)
# The reduced profile writes to --out results/reduced unless --out is given.
set -euo pipefail
cd "$(dirname "$0")"

PROFILE=smoke DATA_ROOT="" DEVICE=auto OUT="" RUNS=runs SEED=0 GPUS="" NODES=1 NODE_RANK=0 PRINT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --data-root) DATA_ROOT=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --gpus) GPUS=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --node-rank) NODE_RANK=$2; shift 2 ;;
    --print-commands) PRINT=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ -n "$OUT" ] || { [ "$PROFILE" = reduced ] && OUT=results/reduced || OUT=results; }
PY=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
# GPUs asked for: stop before any work when torch sees none (else the paper profile would run on the CPU)
if [ -n "$GPUS" ] && [ "$PRINT" = 0 ] && ! WHY=$($PY -c 'import torch
if not torch.cuda.is_available():
    print("this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible")
    raise SystemExit(1)' 2>&1 | tail -n 1); then
  echo "run_all.sh: --gpus \"$GPUS\" asks for GPUs, but CUDA is not available ($WHY); run without --gpus to use the CPU" >&2
  exit 2
fi
COMMON=(--profile "$PROFILE" --device "$DEVICE" --seed "$SEED" --out "$OUT" --runs "$RUNS")

# The steps are collected first (step: the header of the next task commands; run: one task command), then printed
# (--print-commands), spread over GPUs (--gpus) or run one after the other with a plan and a line per step.
CMDS=() NAMES=() HEADS=() HEAD=""
step() { HEAD="$*"; }
run() {  # run [--name=NAME] CMD...: NAME (default: the task's module, with its --experiment) names it in the plan
  local name=""
  case "$1" in --name=*) name=${1#--name=}; shift ;; esac
  if [ -z "$name" ]; then
    local a prev="" module="" exp=""
    for a in "$@"; do
      [ "$prev" = -m ] && module=${a#tasks.}
      [ "$prev" = --experiment ] && exp=" $a"
      prev=$a
    done
    name="$module$exp"
  fi
  CMDS+=("$(printf '%q ' "$@")") NAMES+=("$name") HEADS+=("$HEAD")
  HEAD=""
}

# The companion papers' experiments (issue 16) on the faces given as arguments; textures: scikit-image's.
companions() {
  step "CoopNets face completion (ICLR 2017 Table 1): CoopNets, DCGAN, biharmonic and MRF floors"
  run $PY -m tasks.coopnets "${COMMON[@]}" "$@"
  step "generative ConvNet (ICML 2016 §7): textures, objects (faces), one-step CD auto-encoding"
  run $PY -m tasks.generative_convnet "${COMMON[@]}" --experiment textures
  run $PY -m tasks.generative_convnet "${COMMON[@]}" --experiment objects "$@"
  run $PY -m tasks.generative_convnet "${COMMON[@]}" --experiment autoencode "$@"
}

case "$PROFILE" in
  smoke)
    step "synthesis (figures 1, 2, 4, 5), DCGAN beside single-grid and multi-grid"
    run $PY -m tasks.synthesis "${COMMON[@]}" --dataset lfw_faces --methods dcgan singlegrid multigrid \
      --fidelity-samples 64  # Inception score and FID run if the Inception weights are present
    step "score diagnostics (arXiv Table 1)"
    run $PY -m tasks.score_diagnostics "${COMMON[@]}" --dataset lfw_faces --negatives lfw_nonfaces
    step "SVHN features (CVPR Tables 2 and 3) on the embedded digits, with DCGAN and floors"
    run $PY -m tasks.svhn_features "${COMMON[@]}" --dataset digits --image-size 32
    step "inpainting (CVPR Table 4), with the ContextEncoder and training-free floors"
    run $PY -m tasks.inpainting "${COMMON[@]}" --dataset lfw_faces
    companions --dataset lfw_faces
    ;;
  reduced)
    [ -n "$DATA_ROOT" ] || { echo "run_all.sh: --profile reduced needs --data-root DIR" >&2; exit 2; }
    if [ -d "$DATA_ROOT/celeba" ]; then FACES=(--dataset celeba --data-root "$DATA_ROOT")
    elif [ -d "$DATA_ROOT/faces" ]; then FACES=(--dataset images --data-root "$DATA_ROOT/faces" --center-crop 0.6067415730337079)
    else echo "run_all.sh: --profile reduced needs $DATA_ROOT/celeba or $DATA_ROOT/faces" >&2; exit 2; fi
    if [ -d "$DATA_ROOT/svhn" ]; then LABELED=(--dataset svhn --data-root "$DATA_ROOT/svhn")
    elif [ -d "$DATA_ROOT/cifar10/train" ]; then LABELED=(--dataset imagefolder --data-root "$DATA_ROOT/cifar10")
    else echo "run_all.sh: --profile reduced needs $DATA_ROOT/svhn or $DATA_ROOT/cifar10/{train,test}" >&2; exit 2; fi
    if [ -d "$DATA_ROOT/places" ]; then NEG=(--negatives places --negatives-root "$DATA_ROOT/places")
    else NEG=(--negatives "${LABELED[1]}" --negatives-root "${LABELED[3]}"); fi
    step "inpainting on a face subset (reduced profile: CVPR Table 4), with the ContextEncoder and the floors"
    run $PY -m tasks.inpainting "${COMMON[@]}" "${FACES[@]}"
    step "synthesis on a face subset (reduced profile: figures 1, 2, 4, 5)"
    run $PY -m tasks.synthesis "${COMMON[@]}" "${FACES[@]}" --methods dcgan singlegrid multigrid --fidelity-samples 1000
    step "score diagnostics (reduced profile: arXiv Table 1), negatives: ${NEG[1]}"
    run $PY -m tasks.score_diagnostics "${COMMON[@]}" "${FACES[@]}" "${NEG[@]}" --n-score 1000
    step "SVHN features (reduced profile: CVPR Tables 2 and 3) on ${LABELED[1]}"
    run $PY -m tasks.svhn_features "${COMMON[@]}" "${LABELED[@]}" --image-size 64
    companions "${FACES[@]}"
    ;;
  paper)
    [ -n "$DATA_ROOT" ] || { echo "run_all.sh: --profile paper needs --data-root DIR" >&2; exit 2; }
    step "synthesis on CelebA (figures 1, 2, 4, 5)"
    run $PY -m tasks.synthesis "${COMMON[@]}" --dataset celeba --data-root "$DATA_ROOT" --methods dcgan singlegrid multigrid
    step "CIFAR-10 Inception score and FID (CVPR Table 1): one multi-grid model per class, 40 steps per grid," \
      "no final noise, 50,000 pooled samples; real images scored by the same code; DCGAN unconditional"
    run --name="synthesis cifar10 multigrid" $PY -m tasks.synthesis "${COMMON[@]}" --dataset cifar10 \
      --data-root "$DATA_ROOT" --n-train none --n-test none --methods multigrid --per-class --steps-per-grid 40 \
      --final-noise off --fidelity-samples 50000
    run --name="synthesis cifar10 dcgan" $PY -m tasks.synthesis "${COMMON[@]}" --dataset cifar10 \
      --data-root "$DATA_ROOT" --n-train none --n-test none --methods dcgan --fidelity-samples 50000
    step "score diagnostics on CelebA against MIT Places (arXiv Table 1)"
    run $PY -m tasks.score_diagnostics "${COMMON[@]}" --dataset celeba --data-root "$DATA_ROOT" \
      --negatives places --negatives-root "$DATA_ROOT/places"
    step "SVHN features (CVPR Tables 2 and 3)"
    run $PY -m tasks.svhn_features "${COMMON[@]}" --dataset svhn --data-root "$DATA_ROOT/svhn" --n-train none \
      --n-test none --image-size 64 --grid-sizes 4 16 64
    step "inpainting on CelebA (CVPR Table 4)"
    run $PY -m tasks.inpainting "${COMMON[@]}" --dataset celeba --data-root "$DATA_ROOT"
    companions --dataset celeba --data-root "$DATA_ROOT"
    ;;
  *) echo "run_all.sh: unknown profile $PROFILE (smoke, reduced or paper)" >&2; exit 2 ;;
esac

if [ "$PRINT" = 1 ]; then printf '%s\n' "${CMDS[@]}"; exit 0; fi

N=$(( ${#CMDS[@]} + 1 ))  # the task commands and the report
PLAN=$(IFS=,; echo "${NAMES[*]}" | sed 's/,/, /g')
where=""; [ -n "$GPUS" ] && where=", spread over GPUs $GPUS (node $NODE_RANK of $NODES)"
echo "run_all.sh: $N steps: $PLAN, report; profile $PROFILE$where; results in $OUT, models in $RUNS"
start=$(date +%s)
MARK=$(mktemp)
trap 'rm -f "$MARK"' EXIT

dur() {  # seconds as the README writes times: 8 s, 3 min 10 s, 1 h 01 min
  local s=$1
  if [ "$s" -lt 60 ]; then echo "$s s"
  elif [ "$s" -lt 3600 ]; then echo "$(( s / 60 )) min $(( s % 60 )) s"
  else printf '%d h %02d min\n' $(( s / 3600 )) $(( s % 3600 / 60 )); fi
}
written() {  # the files under $OUT written since $MARK: each CSV with its rows, each .md, then a count of the others
  local f csvs=() other=0
  [ -d "$OUT" ] || { echo "no file written in $OUT"; return; }
  while IFS= read -r f; do
    case "$f" in
      *.csv) csvs+=("$f ($(( $(wc -l < "$f") - 1 )) rows)") ;;
      *.md) csvs+=("$f") ;;
      *) other=$(( other + 1 )) ;;
    esac
  done < <(find "$OUT" -type f -newer "$MARK" ! -name '*.lock' ! -name '.tmp-*' | LC_ALL=C sort)
  [ ${#csvs[@]} -gt 0 ] || [ "$other" -gt 0 ] || { echo "no file written in $OUT"; return; }
  local IFS=';'; local out="${csvs[*]}"; out=${out//;/, }
  [ "$other" -gt 0 ] && out="${out:+$out, }$other other file$([ "$other" = 1 ] || echo s) (figures, panels, …)"
  echo "$out"
}
# one step: its header, the command, then one line with its time, the files it wrote, the time so far, steps left
do_step() {  # do_step INDEX NAME HEADER CMD
  local i=$1 name=$2 head=$3 cmd=$4 t0 rc=0
  [ -n "$head" ] && { echo; echo "=== [$(date +%H:%M:%S)] $head"; }
  echo "--- [$i/$N] $name: $cmd"
  touch "$MARK"; t0=$(date +%s)
  eval "$cmd" || rc=$?
  local now; now=$(date +%s)
  if [ "$rc" != 0 ]; then
    echo "[$i/$N] $name failed (exit status $rc) after $(dur $(( now - t0 ))); elapsed $(dur $(( now - start )));" \
      "steps left $(( N - i + 1 )); the same command goes on from here (finished models and rows are reused)" >&2
    exit "$rc"
  fi
  echo "[$i/$N] $name done in $(dur $(( now - t0 ))); $(written)"
  echo "[$i/$N] elapsed $(dur $(( now - start ))); steps left $(( N - i ))"
}

SPREAD=0
if [ -n "$GPUS" ]; then
  COMMANDS=$(mktemp)
  printf '%s\n' "${CMDS[@]}" > "$COMMANDS"
  echo "=== [$(date +%H:%M:%S)] the tasks, spread over GPUs $GPUS (node $NODE_RANK of $NODES)"
  touch "$MARK"
  # shellcheck disable=SC2086
  $PY -m tools.spread "$COMMANDS" --gpus $GPUS --nodes "$NODES" --node-rank "$NODE_RANK" --logs "$OUT/logs" || SPREAD=$?
  rm -f "$COMMANDS"
  echo "[$(( N - 1 ))/$N] the ${#CMDS[@]} task steps $([ "$SPREAD" = 0 ] && echo done || echo "ended, some failed,")" \
    "in $(dur $(( $(date +%s) - start ))); $(written)"
  if [ "$NODES" -gt 1 ]; then
    echo "run_all.sh: node $NODE_RANK done; when every node is, run: $PY -m tasks.report --results $OUT --runs $RUNS"
    exit 0
  fi
else
  for i in "${!CMDS[@]}"; do do_step $(( i + 1 )) "${NAMES[$i]}" "${HEADS[$i]}" "${CMDS[$i]}"; done
fi
# shellcheck disable=SC2086
do_step "$N" report "report" "$(printf '%q ' $PY -m tasks.report --results "$OUT" --runs "$RUNS")"  # tables.md
if [ "$SPREAD" != 0 ]; then echo "run_all.sh: some tasks failed (listed above; logs in $OUT/logs)" >&2; exit 1; fi
echo "run_all.sh: done in $(dur $(( $(date +%s) - start ))); tables in $OUT/tables.md"
