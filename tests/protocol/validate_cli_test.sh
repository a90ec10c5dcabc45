#!/bin/sh
# e2e: the built `kaito validate` accepts Kaito's seed (exit 0) and rejects an invalid Workspace
# (exit 1), printing kubectl's `The Workspace "x" is invalid:` lines with the field paths.
# usage: validate_cli_test.sh <kaito binary> <source dir>
set -u
KAITO="$1"
SRC="$2"
out=$("$KAITO" validate -f "$SRC/examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: seed exit code $rc"; exit 1; }
echo "$out" | grep -qx 'workspace.kaito.sh/workspace-tuning-phi-3 valid' || { echo "FAIL: seed line"; exit 1; }

out=$("$KAITO" validate -f "$SRC/tests/protocol/data/invalid_workspaces.yaml" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: invalid exit code $rc"; exit 1; }
echo "$out" | grep -q '^The Workspace "workspace-tuning-bad" is invalid: $' || { echo "FAIL: header"; exit 1; }
echo "$out" | grep -q '^\* tuning.method: Unsupported value: "sft": supported values: "lora", "qlora"$' || { echo "FAIL: method"; exit 1; }
echo "$out" | grep -q '^\* tuning.input.urls\[0\]: Invalid value: "http://169.254.169.254/latest/meta-data/": data source URL must not target a loopback, private, or link-local address$' || { echo "FAIL: url"; exit 1; }
echo "$out" | grep -q '^\* tuning.output.imagePushSecret: Required value: Must specify imagePushSecret with destination image$' || { echo "FAIL: push secret"; exit 1; }
echo "$out" | grep -q '^\* resource.count: Invalid value: 2: Tuning does not currently support multinode' || { echo "FAIL: count"; exit 1; }

# every example at once (multi-document files with their ConfigMaps), and stdin
"$KAITO" validate -f "$SRC"/examples/*/*.yaml || { echo "FAIL: examples"; exit 1; }
"$KAITO" validate -f - < "$SRC/examples/inference/kaito_workspace_phi_3_mini_128k.yaml" | grep -qx 'workspace.kaito.sh/workspace-phi-3-mini valid' || { echo "FAIL: stdin"; exit 1; }

# a malformed file: an error with line and column, exit 1
printf 'apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: x\n bad: y\n' > "${TMPDIR:-/tmp}/kaito_bad_$$.yaml"
out=$("$KAITO" validate -f "${TMPDIR:-/tmp}/kaito_bad_$$.yaml" 2>&1)
rc=$?
rm -f "${TMPDIR:-/tmp}/kaito_bad_$$.yaml"
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: malformed exit code $rc"; exit 1; }
echo "$out" | grep -q 'line 5, column 2' || { echo "FAIL: line/column"; exit 1; }
echo PASS
