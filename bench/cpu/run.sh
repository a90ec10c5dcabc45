#!/usr/bin/env bash
# CPU engine benchmark against PyTorch + PEFT on the same weights, same sizes, 2 threads each.
# Builds kaito_engine_bench (build dir $1, default build-bench), writes a random ~125M Llama + a
# PEFT adapter exported by our engine into $WORK, then a venv under /tmp with torch (CPU),
# transformers and peft runs bench/cpu/hf_peer.py on the same folder: ROUNDS (default 5) rounds
# alternating ours and PyTorch, ONE table of medians with every round's ratio.
# CI never runs this (it downloads torch).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build-bench}"
WORK="${WORK:-/tmp/kaito-engine-bench}"
VENV="${VENV:-/tmp/kaito-bench-venv}"
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
# Our GEMM is kernels/sgemm_avx512 on AVX-512 CPUs (threads: OPENBLAS_NUM_THREADS above, or
# KAITO_NUM_THREADS); OpenBLAS only serves the cblas comparison rows (and the engine on CPUs
# without AVX-512, or with KAITO_SGEMM=blas). OpenBLAS 0.3.21 (Debian bookworm) does not know newer
# Xeons (e.g. family 6 model 207) and falls back to its SSE3 "Prescott" kernels (~5x slower
# sgemm); name its AVX-512 kernels when the CPU has AVX-512 and the caller did not choose.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]] && grep -qw avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi

if [[ ! -f "$BUILD/build.ninja" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKAITO_WITH_CAF=OFF \
    -DKAITO_WITH_CUDA=OFF
fi
cmake --build "$BUILD" --target kaito_engine_bench -j2

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import torch, transformers, peft" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu ||
    "$VENV/bin/pip" install -q torch
  "$VENV/bin/pip" install -q transformers peft safetensors numpy
fi

rm -rf "$WORK"
mkdir -p "$WORK"
"$BUILD/bench/kaito_engine_bench" write "$WORK/model"
OURS=("$BUILD/bench/kaito_engine_bench" run "$WORK/model" "${B:-2}" "${T:-128}" "${PROMPT:-32}"
  "${NEW:-64}")
"${OURS[@]}" >"$WORK/ours.log"
echo "OpenBLAS core: $(grep -o '"openblas_core": "[^"]*"' "$WORK/model/ours.json")"
# ROUNDS alternating rounds (ours, then PyTorch), medians: single runs drift by +-20% here.
"$VENV/bin/python" "$ROOT/bench/cpu/hf_peer.py" "$WORK/model" "$WORK/model/ours.json" \
  --rounds "${ROUNDS:-5}" --ours-cmd "$(printf '%q ' "${OURS[@]}")"
