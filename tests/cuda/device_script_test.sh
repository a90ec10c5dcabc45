#!/usr/bin/env bash
# tests/cuda/device_script_test.sh BUILD_DIR: bench/device/run.sh, the one script a GPU session
# runs (its 15 minutes leave no time to debug the script itself), dry-run on a machine without a
# GPU against BUILD_DIR's binaries, which exit 77 there:
#   - an unknown stage is refused (exit 2) with the list of stages;
#   - a list of stages runs just those, in order, each with a result line in the log as it ends,
#     with no build (the binaries are there) and exit 0 when every stage is skipped or ok;
#   - $OUT holds exactly device_report.txt, device_log.txt and device_files.tar.gz (the device
#     tool brings back at most 8 files), the report has the stage summary, the model table and
#     each stage's section, and the tarball holds the stages' own files;
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

if command -v shellcheck >/dev/null; then
  shellcheck "$RUN" "$0" || fail "shellcheck"
fi
echo "run.sh dry run: ok"
