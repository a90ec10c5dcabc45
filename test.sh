#!/usr/bin/env bash
# test.sh: run the whole test suite (unit tests, corpus replays, end-to-end scripts) through CTest.
# Rebuilds incrementally first. Extra arguments go to ctest (e.g. -R tokenizer, -L fuzz).
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -d "$BUILD_DIR" ]; then
  echo "test: no $BUILD_DIR/; run ./setup.sh first" >&2
  exit 1
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" "$@"
