#!/usr/bin/env bash
# bench/device/run.sh: the one script for the GPU host (H200; Ubuntu 24.04, g++ 13, CMake 4,
# CUDA 13; no CAF, OpenBLAS or GoogleTest needed; PyTorch in python3).
#   1 environment      nvidia-smi, nvcc, cmake, torch versions
#   2 configure+build  -DKAITO_KERNELS_ONLY=ON into a fresh build dir: the kernel binaries, then
#                      (separately, so their errors never cost the parity stage its binaries)
#                      the model-level ones
#   3 parity           tests/cuda/parity_test: every CUDA twin vs its CPU twin (fresh random inputs)
#   3b nccl            tests/cuda/nccl_test: unique id, one-rank communicator, bucketed all-reduce
#   4 memcheck         (run last in `check`) compute-sanitizer --tool memcheck on parity_test --first (each op's first
#                      row), on hf_parity_test with the small fixture (the whole engine) and on
#                      infer_test --first (decode), when the tool is there and the machine lets
#                      it instrument the GPU
#   5 perf rows        parity_test --perf (the same rows, timed)
#   6 benchmarks       bench/cuda/nf4_bench (ours) + bench/device/report.py (PyTorch baselines in
#                      the same run) -> ONE table: op, shape, ours, baseline, ratio, roofline
#   7 kernel lab       bench/cuda/nf4_gemv_versions: GEMV variants, CPU-checked, then timed
#   8 model level      tests/cuda/model_parity_test (the GPU training step vs a CPU composition
#                      of the twins), tests/cuda/grad_reducer_test (the step with NCCL's
#                      bucketed all-reduce on one rank: bit-identical grads),
#                      tests/cuda/host_grad_reducer_test (the same interface over a host
#                      all_reducer, the CPU ring's),
#                      tests/cuda/infer_test (GPU greedy decode vs the CPU twins),
#                      tests/cuda/hf_parity_test (the GPU step, AdamW, prefill and a decode
#                      step vs Hugging Face transformers + PEFT: the checked-in Phi-3, Llama,
#                      Qwen2 and Phi-4-mini-like (partial rotary, tied) fixtures and fresh
#                      ones made here by bench/device/hf_fixture.py at
#                      Phi-3's head dim 96 and Llama's 128),
#                      bench/cuda/model_bench + infer_bench (kaito_engine_cuda) and
#                      bench/device/hf_model_bench.py (transformers + peft, same run), then
#                      bench/device/model_report.py -> ONE table: metric, ours, HF, ratio, goal
# Every stage logs to $OUT/device_log.txt and the script goes on to the next stage when one fails,
# so a broken benchmark never hides the parity results; the exit code is the number of failed
# stages. The table and a stage summary go to $OUT/device_report.txt and are printed last. Each
# half stays inside BUDGET_S seconds (default 560: one device command may run 600).
# Usage: bash bench/device/run.sh [all|check|perf]   (OUT defaults to ./out/device; BUILD_DIR to
#        /tmp/kaito-build-device). One device command may run at most 10 minutes, so the script
#        comes in two halves that each fit: `check` = environment, build, parity, nccl, memcheck,
#        model_parity, grad_reducer, infer_test, hf_parity; `perf` = perf rows, kernel benchmarks +
#        baselines, kernel lab, model benchmarks + HF baseline + table (it builds first only when
#        the build dir lacks the binaries, so run `check` first on the same machine). `all`
#        (default) runs both.
set -euo pipefail
PART=${1:-all}
case "$PART" in all | check | perf) ;; *)
  echo "usage: $0 [all|check|perf]" >&2
  exit 2
  ;;
esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out/device}
BUILD=${BUILD_DIR:-/tmp/kaito-build-device}
JOBS=${JOBS:-16}
mkdir -p "$OUT"
LOG=$OUT/device_log.txt
REPORT=$OUT/device_report.txt
: >"$LOG"
: >"$REPORT"
SUMMARY=()
FAILED=0

# The device tool kills a command at 600 s and then nothing comes back, report included: every
# stage's limit is cut to what is left of BUDGET_S (default 560) from the script's start, and a
# stage that would get under 10 s is not started.
BUDGET_S=${BUDGET_S:-560}

# stage NAME TIMEOUT_S FUNCTION [ARGS]: run one of the functions below (exported, in a child bash)
# with a time limit; output to the terminal and the log.
stage() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - SECONDS - 15))  # 15 s: --kill-after and the report
  if [ "$left" -lt 10 ]; then
    FAILED=$((FAILED + 1))
    SUMMARY+=("$(printf '%-12s NOT RUN        (time budget of %ss spent)' "$name" "$BUDGET_S")")
    echo "=== $name: not run, the ${BUDGET_S}s budget is spent" | tee -a "$LOG"
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
    SUMMARY+=("$(printf '%-12s ok      %4ds' "$name" "$dt")")
  elif [ "$rc" -eq 77 ]; then
    SUMMARY+=("$(printf '%-12s skipped %4ds  (no CUDA device)' "$name" "$dt")")
  else
    FAILED=$((FAILED + 1))
    SUMMARY+=("$(printf '%-12s FAILED  %4ds  rc=%s (see device_log.txt)' "$name" "$dt" "$rc")")
  fi
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

configure_build() {
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  rm -rf "$BUILD"
  cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKAITO_KERNELS_ONLY=ON \
    -DKAITO_WITH_CAF=OFF -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  cmake --build "$BUILD" --target parity_test nf4_bench nf4_gemv_versions -j"$JOBS"
  # nccl_test exists only where CMake found nccl.h + libnccl (NCCL::nccl).
  cmake --build "$BUILD" --target nccl_test -j"$JOBS" || echo "nccl_test not built (no NCCL found)"
  build_model
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
  [ "$rc" -eq 0 ] || return "$rc"
  # The whole engine once under the sanitizer: the training step (and its checkpointed twin),
  # AdamW and prefill on the small checked-in Hugging Face fixture; then decode (both GEMV
  # kernels in the measured choice, CUDA graph, programmatic launch) on infer_test's tiny model.
  if [ -x "$BUILD/tests/cuda/hf_parity_test" ]; then
    compute-sanitizer --tool memcheck --error-exitcode 99 "$BUILD/tests/cuda/hf_parity_test" \
      "$ROOT/tests/data/hf-phi3-gqa-window-longrope" || rc=$?
  fi
  if [ -x "$BUILD/tests/cuda/infer_test" ]; then
    local r=0
    compute-sanitizer --tool memcheck --error-exitcode 99 "$BUILD/tests/cuda/infer_test" --first ||
      r=$?
    [ "$rc" -ne 0 ] || rc=$r  # the first failure is kept
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
  parity_rows "$OUT/parity.txt"
}

perf_rows() {
  parity_rows "$OUT/parity_perf.txt" --perf
}

bench() {
  "$BUILD/bench/cuda/nf4_bench" | tee "$OUT/nf4_bench.txt"
}

# with_fallback FILE BIN [-- SAFE_ARGS...]: BIN into FILE. A kernel that never ran on a GPU may
# fault, and a fault poisons the process's CUDA context and ends the run; then the failed run's
# output moves to FILE.failed and BIN runs once more with SAFE_ARGS (the newest parts off) into
# FILE, so figures still come back. The stage stays failed.
with_fallback() {
  local file=$1 bin=$2 rc=0
  shift 2
  [ "${1:-}" != -- ] || shift
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
  with_fallback "$OUT/kernel_lab.txt" "$BUILD/bench/cuda/nf4_gemv_versions" -- --no-reg
}

report() {
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/report.py" "$OUT/nf4_bench.txt" "$REPORT.table"
}

# Called by configure_build after the kernel binaries, so a model-level compile error never costs
# the parity stage its binaries; failures are reported by the stages that need the binaries.
build_model() {
  rm -f "$OUT/infer_test.txt" "$OUT/infer_bench.txt" "$OUT/model_bench.txt" \
    "$OUT/hf_model_bench.txt" "$OUT/model_parity.txt" "$OUT/hf_parity.txt"  # no stale rows
  cmake --build "$BUILD" --target model_parity_test infer_test hf_parity_test \
    host_grad_reducer_test infer_bench model_bench -j"$JOBS" ||
    echo "model-level targets did not all build (see above)"
  # grad_reducer_test exists only where CMake found NCCL.
  cmake --build "$BUILD" --target grad_reducer_test -j"$JOBS" ||
    echo "grad_reducer_test not built (no NCCL found)"
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
  local rc=0
  "$BUILD/tests/cuda/model_parity_test" > "$OUT/model_parity.txt" 2>&1 || rc=$?
  "$BUILD/tests/cuda/model_parity_test" --shape phi3_heads >> "$OUT/model_parity.txt" 2>&1 ||
    rc=$?
  "$BUILD/tests/cuda/model_parity_test" --shape qwen2 >> "$OUT/model_parity.txt" 2>&1 || rc=$?
  cat "$OUT/model_parity.txt"
  return "$rc"
}

# The checked-in HF fixtures (Phi-3, Llama, Qwen2) plus two fresh ones made here (new seeds each run),
# fp32 HF math on the CPU: Phi-3 at HS 96 (GQA, window 128 < T = 160, longrope with T >
# original_max 128), Llama at HS 128 (GQA 4:1, llama3 rope, split q/k/v and gate/up LoRAs).
hf_parity() {
  local fresh=/tmp/kaito-hf-fixture-hs96 fresh_llama=/tmp/kaito-hf-fixture-llama-hs128
  local seed=$((RANDOM + 1))
  rm -rf "$fresh" "$fresh_llama"
  echo "fresh fixtures: seeds $seed, $((seed + 1))"
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_fixture.py" --out "$fresh" \
    --seed "$seed" --hidden 384 --layers 2 --heads 4 --kv-heads 2 --intermediate 1024 \
    --vocab 2048 --batch 2 --seq 160 --window 128 --longrope --original-max 128 --max-pos 4096 \
    --lora-r 8 --lora-alpha 16 --device cpu
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_fixture.py" --arch llama --out "$fresh_llama" \
    --seed "$((seed + 1))" --hidden 512 --layers 2 --heads 4 --kv-heads 1 --intermediate 1024 \
    --vocab 2048 --batch 2 --seq 160 --llama3-rope --original-max 64 --max-pos 4096 \
    --lora-r 8 --lora-alpha 16 --device cpu
  "$BUILD/tests/cuda/hf_parity_test" "$ROOT/tests/data/hf-phi3-gqa-window-longrope" \
    "$ROOT/tests/data/hf-llama-gqa-llama3rope" "$ROOT/tests/data/hf-qwen2-gqa-bias" \
    "$ROOT/tests/data/hf-phi3-partial-rotary" "$fresh" "$fresh_llama" | tee "$OUT/hf_parity.txt"
}

infer_t() {
  "$BUILD/tests/cuda/infer_test" | tee "$OUT/infer_test.txt"
}

infer_b() {
  with_fallback "$OUT/infer_bench.txt" "$BUILD/bench/cuda/infer_bench" -- \
    --gemv scaled_lut --no-pdl --no-fused-decode --simt-attention
}

model_b() {
  with_fallback "$OUT/model_bench.txt" "$BUILD/bench/cuda/model_bench" -- --simt-attention
}

hf_baseline() {
  PYTHONUNBUFFERED=1 python3 "$ROOT/bench/device/hf_model_bench.py" | tee "$OUT/hf_model_bench.txt"
}

model_table() {
  python3 "$ROOT/bench/device/model_report.py" --out "$REPORT.model" "$OUT/model_bench.txt" \
    "$OUT/infer_bench.txt" "$OUT/hf_model_bench.txt"
}

export PATH=$PATH:/usr/local/cuda/bin
export ROOT OUT BUILD JOBS REPORT
export -f env_info configure_build parity_rows parity nccl perf_rows memcheck bench with_fallback
export -f lab report
export -f build_model model_parity grad_reducer infer_t hf_parity infer_b model_b hf_baseline
export -f model_table
set -o pipefail
if [ "$PART" != perf ] || [ ! -x "$BUILD/tests/cuda/parity_test" ]; then
  stage environment 60 env_info
  stage build 300 configure_build
fi
if [ "$PART" != perf ]; then
  stage parity 120 parity
  stage nccl 60 nccl
  stage model_parity 120 model_parity
  stage grad_reducer 60 grad_reducer
  stage infer_test 60 infer_t
  stage hf_parity 90 hf_parity
  stage memcheck 120 memcheck # last: three programs under the sanitizer take what time is left
fi
if [ "$PART" != check ]; then
  stage perf_rows 60 perf_rows
  stage nf4_bench 120 bench
  stage baseline 120 report
  stage kernel_lab 90 lab
  stage infer_bench 120 infer_b
  stage model_bench 200 model_b
  stage hf_baseline 180 hf_baseline
  stage model_table 30 model_table
fi

{
  echo "kaito-cpp device report, part $PART ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  echo
  echo "stages:"
  printf '  %s\n' "${SUMMARY[@]}"
  echo
  echo "parity (CUDA twin vs CPU twin):"
  if [ -s "$OUT/parity.txt" ]; then sed 's/^/  /' "$OUT/parity.txt"; else echo "  (no parity output)"; fi
  echo
  if [ -s "$REPORT.table" ]; then cat "$REPORT.table"; else echo "(no benchmark table: see stages)"; fi
  echo
  echo "training step (tests/cuda/model_parity_test: GPU step vs a CPU composition of the twins):"
  if [ -s "$OUT/model_parity.txt" ]; then sed 's/^/  /' "$OUT/model_parity.txt"; else echo "  (no output)"; fi
  echo
  echo "Hugging Face parity (tests/cuda/hf_parity_test: GPU step, AdamW, prefill vs transformers + PEFT):"
  if [ -s "$OUT/hf_parity.txt" ]; then sed 's/^/  /' "$OUT/hf_parity.txt"; else echo "  (no output)"; fi
  echo
  echo "inference (tests/cuda/infer_test: GPU greedy decode vs a CPU composition of the twins):"
  if [ -s "$OUT/infer_test.txt" ]; then sed 's/^/  /' "$OUT/infer_test.txt"; else echo "  (no output)"; fi
  echo
  if [ -s "$REPORT.model" ]; then cat "$REPORT.model"; else echo "(no model-level table: see stages)"; fi
  echo
  echo "kernel lab (bench/cuda/nf4_gemv_versions; roof = fraction of 4.8 TB/s):"
  if [ -s "$OUT/kernel_lab.txt" ]; then sed 's/^/  /' "$OUT/kernel_lab.txt"; else echo "  (no output)"; fi
} >"$REPORT"
rm -f "$REPORT.table" "$REPORT.model"
echo
echo "################ device_report.txt ################"
cat "$REPORT"
exit "$FAILED"
