#!/usr/bin/env bash
# shellcheck disable=SC2016  # the fake binaries' bodies expand when they run, not here
# tests/cuda/device_script_test.sh BUILD_DIR: bench/device/run.sh, the one script a GPU session
# runs (its 15 minutes leave no time to debug the script itself), dry-run on a machine without a
# GPU against BUILD_DIR's binaries, which exit 77 there:
#   - an unknown stage is refused (exit 2) with the list of stages;
#   - a list of stages runs just those, in order, each with a result line in the log as it ends,
#     with no build (the binaries are there) and exit 0 when every stage is skipped or ok;
#   - $OUT holds exactly device_report.txt, device_log.txt and device_files.tar.gz (the device
#     tool brings back at most 8 files), the report has the stage summary, the model table and
#     each stage's section, and the tarball holds the stages' own files;
#   - against a fake build of failing scripts: each stage reports its own failure (exit code,
#     missing fixture, fallback run, sanitizer error) yet does the rest of its work;
#   - shellcheck finds nothing, where shellcheck is installed.
# Exit 77 on a machine with a GPU (there run.sh runs for real, for minutes).
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$ROOT/bench/device/run.sh
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "a GPU is here: run bench/device/run.sh itself"
  exit 77
fi
# Without parity_test run.sh would configure a fresh build, deleting BUILD_DIR first.
[ -x "$BUILD/tests/cuda/parity_test" ] || {
  echo "FAIL: $BUILD/tests/cuda/parity_test is missing"
  exit 1
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

rc=0
bash "$RUN" parity,no_such_stage >"$TMP/usage.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "an unknown stage gave exit $rc, not 2"
grep -q "stages: parity model_bench" "$TMP/usage.txt" || fail "the usage does not list the stages"

STAGES=parity,model_bench,infer_bench,model_table,model_parity,infer_test,nccl,grad_reducer
rc=0
OUT=$TMP/out WORK_DIR=$TMP/work BUILD_DIR=$BUILD bash "$RUN" "$STAGES" >"$TMP/stdout.txt" 2>&1 ||
  rc=$?
cat "$TMP/stdout.txt"
[ "$rc" -eq 0 ] || fail "run.sh $STAGES exited $rc"
files=$(find "$TMP/out" -mindepth 1 -printf '%P\n' | sort | tr '\n' ' ')
[ "$files" = "device_files.tar.gz device_log.txt device_report.txt " ] ||
  fail "\$OUT holds: $files"
log=$TMP/out/device_log.txt
report=$TMP/out/device_report.txt
! grep -q "^=== build" "$log" || fail "the build ran though the binaries were there"
prev=0
for s in ${STAGES//,/ }; do
  line=$(grep -n -E "^=== $s +(ok|skipped) " "$log" | head -1 | cut -d: -f1)
  [ -n "$line" ] || fail "no result line for stage $s in the log"
  [ "$line" -gt "$prev" ] || fail "stage $s ran out of order"
  prev=$line
  grep -q -E "^  $s +(ok|skipped) " "$report" || fail "stage $s is not in the report's summary"
done
for title in "model level (the goals" "parity (CUDA twin" "training step (" "inference ("; do
  grep -qF "$title" "$report" || fail "the report has no section \"$title\""
done
grep -q "shape tiny:" "$report" || fail "model_parity_test's host checks are not in the report"
tar -tzf "$TMP/out/device_files.tar.gz" >"$TMP/tar.txt"
for f in parity.txt model_bench.txt infer_bench.txt model_table.txt model_parity.txt; do
  grep -q "^\./$f$" "$TMP/tar.txt" || fail "device_files.tar.gz lacks $f"
done

# Failures, against a fake build whose binaries are scripts: each stage reports its own failure
# and still does the rest of its work, and the exit code counts the failed stages.
FAKE=$TMP/fake
mkdir -p "$FAKE/tests/cuda" "$FAKE/bench/cuda" "$FAKE/bin"
fake() {  # fake PATH BODY: an executable shell script
  printf '#!/bin/sh\n%s\n' "$2" >"$1"
  chmod +x "$1"
}
fake "$FAKE/tests/cuda/parity_test" 'exit 77'
fake "$FAKE/tests/cuda/model_parity_test" 'echo "fake shape $2"; [ "$2" != phi3_heads ] || exit 3'
fake "$FAKE/tests/cuda/hf_parity_test" 'echo "fake hf_parity_test on $# fixtures"'
fake "$FAKE/tests/cuda/infer_test" 'echo "fake infer_test $*"'
fake "$FAKE/bench/cuda/model_bench" 'echo "fake model_bench $*"; [ "$1" = --simt-attention ]'
fake "$FAKE/bin/compute-sanitizer" 'b=${5##*/}; echo "fake sanitizer on $b"; [ "$b" != parity_test ] || exit 99'
fake "$FAKE/bin/python3" 'exit 1'  # a host whose transformers cannot make the fresh fixtures
rc=0
PATH=$FAKE/bin:$PATH OUT=$TMP/out2 WORK_DIR=$TMP/work2 BUILD_DIR=$FAKE bash "$RUN" \
  model_parity,hf_parity,model_bench,memcheck >"$TMP/stdout2.txt" 2>&1 || rc=$?
cat "$TMP/stdout2.txt"
[ "$rc" -eq 4 ] || fail "4 failed stages gave exit $rc"
log=$TMP/out2/device_log.txt
expect() {  # expect PATTERN WHY: a line of the log
  grep -qE "$1" "$log" || fail "$2"
}
expect "^=== model_parity +FAILED .* rc=3 " "model_parity: not the failing shape's code"
expect "^fake shape qwen2$" "model_parity: the shape after a failing one did not run"
expect "^hf_parity: the fresh Llama fixture was not made$" "hf_parity: a missing fixture unsaid"
expect "^fake hf_parity_test on 4 fixtures$" "hf_parity: the checked-in fixtures did not run"
expect "^=== hf_parity +FAILED .* rc=1 " "hf_parity: a missing fixture did not fail the stage"
expect "^fake model_bench --simt-attention$" "model_bench: no fallback run after a failure"
expect "^=== model_bench +FAILED " "model_bench: a fallback run hid the failure"
expect "^fake sanitizer on infer_test$" "memcheck: a kernel's error stopped the engine's run"
expect "^=== memcheck +FAILED .* rc=99 " "memcheck: not the sanitizer's code"
tar -tzf "$TMP/out2/device_files.tar.gz" >"$TMP/tar2.txt"  # not piped into grep -q: pipefail
grep -q "^\./model_bench.txt.failed$" "$TMP/tar2.txt" ||
  fail "the failed model_bench run's output is not kept"

if command -v shellcheck >/dev/null; then
  shellcheck "$RUN" "$0" || fail "shellcheck"
fi
echo "run.sh dry run: ok"
