#!/usr/bin/env bash
# shellcheck disable=SC2317  # the stage functions run through `stage`, in a child bash
# bench/device/run.sh: the one script for the GPU host (H200; Ubuntu 24.04, g++ 13, CMake 4,
# CUDA 13; no CAF, OpenBLAS or GoogleTest needed; PyTorch in python3).
# Stages (each a function below; `all` runs them in this order, most telling first):
#   environment    nvidia-smi, nvcc, cmake, torch versions
#   build          -DKAITO_KERNELS_ONLY=ON into a fresh build dir, every target in ONE keep-going
#                  build (a target that fails to compile costs only the stages that need it), SASS
#                  for the machine's own GPU only (sm_90a on an H200; CI compiles the PTX fallback)
#   parity         tests/cuda/parity_test: every CUDA twin vs its CPU twin (fresh random inputs)
#   model_bench    bench/cuda/model_bench: training at the Phi-3-mini shape (our rows)
#   hf_baseline    bench/device/hf_model_bench.py: transformers + peft, the same shapes
#   infer_bench    bench/cuda/infer_bench: decode at batch 1 and 16, prefill at 2048
#   model_table    bench/device/model_report.py -> ONE table: metric, ours, HF, ratio, roofline
#                  fractions (engine/cuda/roofline.h work / H200 peaks), goal, verdict
#   hf_parity      tests/cuda/hf_parity_test: the GPU step, AdamW, prefill and a decode step vs
#                  transformers + PEFT on the checked-in Phi-3, Llama, Qwen2 and Phi-4-mini-like
#                  (partial rotary, tied) fixtures and two fresh ones made here by
#                  bench/device/hf_fixture.py (Phi-3's head dim 96, Llama's 128)
#   model_parity   tests/cuda/model_parity_test: the GPU training step vs a CPU composition of
#                  the twins (tiny shape, Phi-3's heads, Qwen2's biases and split LoRAs)
#   infer_test     tests/cuda/infer_test: GPU greedy decode vs the CPU twins; then
#                  tests/cuda/batch_decoder_test: serving's decode steps vs that generator
#   nccl           tests/cuda/nccl_test: unique id, one-rank communicator, bucketed all-reduce
#   grad_reducer   tests/cuda/grad_reducer_test (the step with NCCL's bucketed all-reduce on one
#                  rank: bit-identical grads) and host_grad_reducer_test (the same interface over
#                  a host all_reducer, the CPU ring's)
#   perf_rows      parity_test --perf (the parity rows, timed)
#   nf4_bench      bench/cuda/nf4_bench (our NF4 kernels)
#   baseline       bench/device/report.py: PyTorch baselines of nf4_bench's rows in the same run
#                  -> ONE table: op, shape, ours, baseline, ratio, roofline
#   kernel_lab     bench/cuda/nf4_gemv_versions: GEMV variants, CPU-checked, then timed
#   memcheck       compute-sanitizer --tool memcheck on parity_test --first, hf_parity_test on the
#                  small fixture (the whole engine) and infer_test --first (decode), when the tool
#                  is there and the machine lets it instrument the GPU; last, as it is the slowest
# Usage: bash bench/device/run.sh [all|check|perf|STAGE[,STAGE...]]
#   all (default)  every stage above in that order, in ONE device command: a session has 15
#                  minutes of device time, the machine's start included, so the first call must
#                  bring back everything it can (goals first, memcheck last)
#   check          the correctness stages (parity, hf_parity, model_parity, infer_test, nccl,
#                  grad_reducer, memcheck); perf: the timing stages
#   STAGE,...      only those, for a rerun after a fix (the build comes first whenever the build
#                  dir lacks the binaries, which on a fresh machine is always)
# Every stage logs to $OUT/device_log.txt as it runs, and the script goes on to the next stage
# when one fails, so a broken benchmark never hides the parity results; the exit code is the
# number of failed stages. The stages' own files go to $WORK (default /tmp/kaito-device-work); at
# the end $OUT gets device_report.txt (stage summary and every table; also printed last) and
# device_files.tar.gz (the stages' files): three files, as the device tool brings back at most 8.
# The whole run keeps inside BUDGET_S seconds (default 560: one device command may run 600).
set -euo pipefail
PART=${1:-all}
CHECK_STAGES=(parity hf_parity model_parity infer_test nccl grad_reducer memcheck)
PERF_STAGES=(model_bench hf_baseline infer_bench model_table perf_rows nf4_bench baseline
  kernel_lab)
ALL_STAGES=(parity model_bench hf_baseline infer_bench model_table hf_parity model_parity
  infer_test nccl grad_reducer perf_rows nf4_bench baseline kernel_lab memcheck)
case "$PART" in
  all) STAGES=("${ALL_STAGES[@]}") ;;
  check) STAGES=("${CHECK_STAGES[@]}") ;;
  perf) STAGES=("${PERF_STAGES[@]}") ;;
  *)
    IFS=, read -r -a STAGES <<<"$PART"
    for s in "${STAGES[@]}"; do
      if [[ " ${ALL_STAGES[*]} " != *" $s "* ]]; then
        echo "usage: $0 [all|check|perf|STAGE[,STAGE...]]; stages: ${ALL_STAGES[*]}" >&2
        exit 2
      fi
    done
    ;;
esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out/device}
WORK=${WORK_DIR:-/tmp/kaito-device-work}
BUILD=${BUILD_DIR:-/tmp/kaito-build-device}
JOBS=${JOBS:-16}
mkdir -p "$OUT" "$WORK"
rm -f "$WORK"/*.txt "$WORK"/*.failed  # no stale rows from an earlier run on this machine
LOG=$OUT/device_log.txt
REPORT=$OUT/device_report.txt
: >"$LOG"
: >"$REPORT"
SUMMARY=()
FAILED=0

# The device tool kills a command at 600 s: every stage's limit is cut to what is left of
# BUDGET_S (default 560) from the script's start, and a stage that would get under 10 s is not
# started, so the report is always written.
BUDGET_S=${BUDGET_S:-560}

# stage NAME TIMEOUT_S FUNCTION [ARGS]: run one of the functions below (exported, in a child bash)
# with a time limit; output to the terminal and the log, the result to the log at once (a run
# cut short still says how far it got) and to the summary.
stage() {
  local name=$1 limit=$2 line
  shift 2
  local left=$((BUDGET_S - SECONDS - 15))  # 15 s: --kill-after and the report
  if [ "$left" -lt 10 ]; then
    FAILED=$((FAILED + 1))
    line=$(printf '%-12s NOT RUN        (time budget of %ss spent)' "$name" "$BUDGET_S")
    SUMMARY+=("$line")
    echo "=== $line" | tee -a "$LOG"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s)" | tee -a "$LOG"
  local t0=$SECONDS rc
  set +e
  timeout --kill-after=10 "$limit" bash -eo pipefail -c "$*" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  set -e
  local dt=$((SECONDS - t0))
  if [ "$rc" -eq 0 ]; then
    line=$(printf '%-12s ok      %4ds' "$name" "$dt")
  elif [ "$rc" -eq 77 ]; then
    line=$(printf '%-12s skipped %4ds  (no CUDA device)' "$name" "$dt")
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    FAILED=$((FAILED + 1))
    line=$(printf '%-12s FAILED  %4ds  time limit of %ss (see device_log.txt)' "$name" "$dt" "$limit")
  else
    FAILED=$((FAILED + 1))
    line=$(printf '%-12s FAILED  %4ds  rc=%s (see device_log.txt)' "$name" "$dt" "$rc")
  fi
  SUMMARY+=("$line")
  echo "=== $line" | tee -a "$LOG"
  return 0
}

env_info() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true
  command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "nvcc not on PATH"
  cmake --version | head -1
  g++ --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true
  command -v compute-sanitizer || echo "compute-sanitizer not on PATH"
}

# The CUDA architectures to compile: SASS for this machine's GPU alone (90a-real on an H100/H200;
# CI compiles CMake's default, "90a-real;90-virtual", so the PTX fallback is built there), or
# that default where nvidia-smi cannot say.
device_archs() {
  local cc
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  case "$cc" in
    90) echo "-DCMAKE_CUDA_ARCHITECTURES=90a-real" ;;
    [0-9][0-9] | [0-9][0-9][0-9]) echo "-DCMAKE_CUDA_ARCHITECTURES=${cc}-real" ;;
    *) ;;
  esac
}

# Every binary a stage runs, in one keep-going build: a target that fails to compile (or one that
# does not exist here: nccl_test and grad_reducer_test need CMake to find NCCL) costs only the
# stages that run it, which then say its binary is missing.
TARGETS=(parity_test nf4_bench nf4_gemv_versions nccl_test model_parity_test infer_test
  batch_decoder_test hf_parity_test host_grad_reducer_test grad_reducer_test infer_bench model_bench)
configure_build() {
  local gen=() keep=(-k) rc=0 missing=()
  command -v ninja >/dev/null && gen=(-G Ninja) && keep=(-k 0)
  rm -rf "$BUILD"
  # shellcheck disable=SC2046  # device_archs prints one flag or none
  cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKAITO_KERNELS_ONLY=ON \
    -DKAITO_WITH_CAF=OFF -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" \
    $(device_archs)
  local known=() targets help
  read -r -a targets <<<"$TARGETS_LIST"  # arrays do not reach this child bash
  help=$(cmake --build "$BUILD" --target help 2>/dev/null || true)
  for t in "${targets[@]}"; do  # NCCL's targets exist only where CMake found it
    if grep -Eq "(^|[ /])$t(:| |\$)" <<<"$help"; then
      known+=("$t")
    else
      echo "target $t is not configured here (NCCL not found?)"
    fi
  done
  cmake --build "$BUILD" -j"$JOBS" --target "${known[@]}" -- "${keep[@]}" || rc=$?
  for t in "${known[@]}"; do
    [ -n "$(find "$BUILD" -name "$t" -type f -perm -u+x -print -quit)" ] || missing+=("$t")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "not built: ${missing[*]} (the stages that run them fail; the compiler's errors are above)"
    return 1
  fi
  return "$rc"
}

nccl() {
  if [ ! -x "$BUILD/tests/cuda/nccl_test" ]; then
    echo "no nccl_test binary: NCCL headers/library not found at configure time"
    return 1
  fi
  "$BUILD/tests/cuda/nccl_test"
}

memcheck() {
  if ! command -v compute-sanitizer >/dev/null; then
    echo "compute-sanitizer not found: memcheck not run"
    return 0
  fi
  # The first row of every op: each kernel once, at its smallest shape (a full run under the
  # sanitizer would not fit the device time). Some hosts' runtimes refuse the sanitizer ("Device
  # not supported"): that is reported, not counted as a failure of ours.
  local log=/tmp/kaito-memcheck.log rc=0
  compute-sanitizer --tool memcheck --error-exitcode 99 "$BUILD/tests/cuda/parity_test" --first \
    2>&1 | tee "$log" || rc=$?
  if grep -q -e "Device not supported" -e "LibraryNotLoaded" -e "Unable to find injection" "$log"; then
    echo "compute-sanitizer cannot instrument this machine's GPU: memcheck not run"
    return 0
  fi
  # The whole engine once under the sanitizer, whatever the kernels' run found: the training step
  # (and its checkpointed twin), AdamW and prefill on the small checked-in Hugging Face fixture;
  # then decode (both GEMV kernels in the measured choice, CUDA graph, programmatic launch) on
  # infer_test's tiny model. The first failure is kept.
  local r
  if [ -x "$BUILD/tests/cuda/hf_parity_test" ]; then
    r=0
    compute-sanitizer --tool memcheck --error-exitcode 99 "$BUILD/tests/cuda/hf_parity_test" \
      "$ROOT/tests/data/hf-phi3-gqa-window-longrope" || r=$?
    [ "$rc" -ne 0 ] || rc=$r
  fi
  if [ -x "$BUILD/tests/cuda/infer_test" ]; then
    r=0
    compute-sanitizer --tool memcheck --error-exitcode 99 "$BUILD/tests/cuda/infer_test" --first ||
      r=$?
    [ "$rc" -ne 0 ] || rc=$r
  fi
  return "$rc"
}

# parity_rows FILE [ARGS]: parity_test ARGS into FILE. A kernel that faults poisons the CUDA
# context and every later row is lost, so up to 3 reruns follow, each without the op of the first
# row that reported a CUDA error (appended to FILE).
parity_rows() {
  local file=$1 rc=0 skip="" run=0 log bad
  shift
  : >"$file"
  while :; do
    log=/tmp/kaito-parity-$run.txt
    "$BUILD/tests/cuda/parity_test" "$@" ${skip:+--skip "$skip"} | tee "$log" || rc=$?
    [ "$run" -eq 0 ] || echo "(rerun $run, without: $skip)" >>"$file"
    cat "$log" >>"$file"
    bad=$(awk '/ CUDA error/ {print $1; exit}' "$log")
    if [ -z "$bad" ] || [ "$run" -ge 3 ] || [[ ",$skip," == *",$bad,"* ]]; then break; fi
    skip=${skip:+$skip,}$bad
    run=$((run + 1))
    echo "=== parity_test: $bad hit a CUDA error; again without: $skip"
  done
  return "$rc"
}

parity() {
  parity_rows "$WORK/parity.txt"
}

perf_rows() {
  parity_rows "$WORK/parity_perf.txt" --perf
}

bench() {
  "$BUILD/bench/cuda/nf4_bench" | tee "$WORK/nf4_bench.txt"
}

# with_fallback FILE BIN [-- SAFE_ARGS...]: BIN into FILE. A kernel that never ran on a GPU may
# fault, and a fault poisons the process's CUDA context and ends the run; then the failed run's
# output moves to FILE.failed and BIN runs once more with SAFE_ARGS (the newest parts off) into
# FILE, so figures still come back. The stage stays failed.
with_fallback() {
  local file=$1 bin=$2 rc=0
  shift 2
  [ "${1:-}" != -- ] || shift
  if [ ! -x "$bin" ]; then
    echo "no $(basename "$bin") binary: it did not build (see the build stage)" | tee "$file"
    return 1
  fi
  "$bin" | tee "$file" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    mv "$file" "$file.failed"
    echo "$(basename "$bin") failed (rc=$rc; its output: $(basename "$file").failed): again with $*" |
      tee "$file"
    "$bin" "$@" | tee -a "$file" || true
  fi
  return "$rc"
}

lab() {
  with_fallback "$WORK/kernel_lab.txt" "$BUILD/bench/cuda/nf4_gemv_versions" -- --no-reg
}

report() {
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/report.py" "$WORK/nf4_bench.txt" "$WORK/kernel_table.txt"
}

grad_reducer() {
  local rc=0
  "$BUILD/tests/cuda/host_grad_reducer_test" || rc=$?  # both run, the first failure is kept
  if [ ! -x "$BUILD/tests/cuda/grad_reducer_test" ]; then
    echo "no grad_reducer_test binary: NCCL headers/library not found at configure time"
    return 1
  fi
  "$BUILD/tests/cuda/grad_reducer_test" || return $?
  return "$rc"
}

# The tiny shape, Phi-3's head size (96) with GQA 2:1 and a window, and 128 with Qwen2's q/k/v
# biases and split q/k/v, gate/up LoRAs (all run in CI on the emulated runtime; here the
# hardware's own kernels, rounding and ordering).
model_parity() {
  local rc=0 r shape  # all three run, each line reaching the log as it comes; first failure kept
  : >"$WORK/model_parity.txt"
  for shape in tiny phi3_heads qwen2; do
    r=0
    "$BUILD/tests/cuda/model_parity_test" --shape "$shape" 2>&1 |
      tee -a "$WORK/model_parity.txt" || r=$?
    [ "$rc" -ne 0 ] || rc=$r
  done
  return "$rc"
}

# The checked-in HF fixtures (Phi-3, Llama, Qwen2, Phi-4-mini-like) plus two fresh ones made here
# (new seeds each run), fp32 HF math on the CPU: Phi-3 at HS 96 (GQA, window 128 < T = 160,
# longrope with T > original_max 128), Llama at HS 128 (GQA 4:1, llama3 rope, split q/k/v and
# gate/up LoRAs).
hf_parity() {
  local fresh=/tmp/kaito-hf-fixture-hs96 fresh_llama=/tmp/kaito-hf-fixture-llama-hs128
  local seed=$((RANDOM + 1))
  local fresh_dirs=() rc=0 r=0
  rm -rf "$fresh" "$fresh_llama"
  echo "fresh fixtures: seeds $seed, $((seed + 1))"
  # A fixture the host's transformers cannot make fails the stage, but never costs the
  # checked-in fixtures their run.
  if PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_fixture.py" --out "$fresh" \
    --seed "$seed" --hidden 384 --layers 2 --heads 4 --kv-heads 2 --intermediate 1024 \
    --vocab 2048 --batch 2 --seq 160 --window 128 --longrope --original-max 128 --max-pos 4096 \
    --lora-r 8 --lora-alpha 16 --device cpu; then
    fresh_dirs+=("$fresh")
  else
    rc=1 && echo "hf_parity: the fresh Phi-3 fixture was not made"
  fi
  if PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_fixture.py" --arch llama \
    --out "$fresh_llama" --seed "$((seed + 1))" --hidden 512 --layers 2 --heads 4 --kv-heads 1 \
    --intermediate 1024 --vocab 2048 --batch 2 --seq 160 --llama3-rope --original-max 64 \
    --max-pos 4096 --lora-r 8 --lora-alpha 16 --device cpu; then
    fresh_dirs+=("$fresh_llama")
  else
    rc=1 && echo "hf_parity: the fresh Llama fixture was not made"
  fi
  "$BUILD/tests/cuda/hf_parity_test" "$ROOT/tests/data/hf-phi3-gqa-window-longrope" \
    "$ROOT/tests/data/hf-llama-gqa-llama3rope" "$ROOT/tests/data/hf-qwen2-gqa-bias" \
    "$ROOT/tests/data/hf-phi3-partial-rotary" "${fresh_dirs[@]}" | tee "$WORK/hf_parity.txt" ||
    r=$?
  [ "$r" -eq 0 ] || rc=$r  # the test's own code (77: no device) wins over a missing fixture
  return "$rc"
}

infer_t() {
  local rc=0 r=0
  "$BUILD/tests/cuda/infer_test" | tee "$WORK/infer_test.txt" || rc=$?
  # continuous batching's decode steps (engine/cuda/batch_decoder.h: a slot and position per
  # sequence) against the lockstep generator, bit for bit
  if [ -x "$BUILD/tests/cuda/batch_decoder_test" ]; then
    "$BUILD/tests/cuda/batch_decoder_test" | tee -a "$WORK/infer_test.txt" || r=$?
    [ "$rc" -ne 0 ] || rc=$r
  fi
  return "$rc"
}

infer_b() {
  with_fallback "$WORK/infer_bench.txt" "$BUILD/bench/cuda/infer_bench" -- \
    --gemv scaled_lut --no-pdl --no-fused-decode --simt-attention
}

model_b() {
  with_fallback "$WORK/model_bench.txt" "$BUILD/bench/cuda/model_bench" -- --simt-attention
}

hf_baseline() {
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_model_bench.py" | tee "$WORK/hf_model_bench.txt"
}

model_table() {
  python3 "$ROOT/bench/device/model_report.py" --out "$WORK/model_table.txt" "$WORK/model_bench.txt" \
    "$WORK/infer_bench.txt" "$WORK/hf_model_bench.txt"
}

export PATH=$PATH:/usr/local/cuda/bin
export ROOT WORK BUILD JOBS TARGETS_LIST="${TARGETS[*]}"  # what the stage functions read
export -f env_info device_archs configure_build parity_rows parity nccl perf_rows memcheck bench
export -f with_fallback lab report model_parity grad_reducer infer_t hf_parity infer_b model_b
export -f hf_baseline model_table
set -o pipefail

# run_stage NAME: one stage by its name, with its time limit.
run_stage() {
  case "$1" in
    parity) stage parity 120 parity ;;
    model_bench) stage model_bench 200 model_b ;;
    hf_baseline) stage hf_baseline 180 hf_baseline ;;
    infer_bench) stage infer_bench 120 infer_b ;;
    model_table) stage model_table 30 model_table ;;
    hf_parity) stage hf_parity 90 hf_parity ;;
    model_parity) stage model_parity 120 model_parity ;;
    infer_test) stage infer_test 60 infer_t ;;
    nccl) stage nccl 60 nccl ;;
    grad_reducer) stage grad_reducer 60 grad_reducer ;;
    perf_rows) stage perf_rows 60 perf_rows ;;
    nf4_bench) stage nf4_bench 120 bench ;;
    baseline) stage baseline 120 report ;;
    kernel_lab) stage kernel_lab 90 lab ;;
    memcheck) stage memcheck 120 memcheck ;;  # three programs under the sanitizer
  esac
}

if [ "$PART" = all ] || [ "$PART" = check ] || [ ! -x "$BUILD/tests/cuda/parity_test" ]; then
  stage environment 60 env_info
  stage build 300 configure_build
fi
for s in "${STAGES[@]}"; do run_stage "$s"; done

# show FILE TITLE: one stage's file in the report, indented under its title.
show() {
  echo "$2"
  if [ -s "$1" ]; then sed 's/^/  /' "$1"; else echo "  (no output: see the stages)"; fi
  echo
}

{
  echo "kaito-cpp device report, stages: $PART ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  echo
  echo "stages:"
  printf '  %s\n' "${SUMMARY[@]}"
  echo
  show "$WORK/model_table.txt" "model level (the goals of issue #6; bench/device/model_report.py):"
  show "$WORK/parity.txt" "parity (CUDA twin vs CPU twin):"
  show "$WORK/hf_parity.txt" \
    "Hugging Face parity (tests/cuda/hf_parity_test: GPU step, AdamW, prefill vs transformers + PEFT):"
  show "$WORK/model_parity.txt" \
    "training step (tests/cuda/model_parity_test: GPU step vs a CPU composition of the twins):"
  show "$WORK/infer_test.txt" \
    "inference (tests/cuda/infer_test: GPU greedy decode vs a CPU composition of the twins):"
  show "$WORK/kernel_table.txt" "NF4 kernels vs PyTorch (bench/device/report.py):"
  show "$WORK/kernel_lab.txt" "kernel lab (bench/cuda/nf4_gemv_versions; roof = fraction of 4.8 TB/s):"
} >"$REPORT"
# Everything the stages wrote, in one file ($OUT's other two: the log and the report).
tar -czf "$OUT/device_files.tar.gz" -C "$WORK" . 2>/dev/null || echo "(no stage files to pack)"
echo
echo "################ device_report.txt ################"
cat "$REPORT"
# Last, what matters most again, so that the end of the output (all a caller may see before the
# files come back) holds it: the stages and the goals table.
echo
echo "################ summary ################"
printf '  %s\n' "${SUMMARY[@]}"
[ ! -s "$WORK/model_table.txt" ] || cat "$WORK/model_table.txt"
exit "$FAILED"
