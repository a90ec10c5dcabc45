# Shared by the e2e scripts: start `kaito up` on a free port with a temporary KAITO_HOME, stop it on
# exit (trap), and small assertion helpers. Every command runs under `timeout`.
set -euo pipefail

E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_WORK=$(mktemp -d /tmp/kaito_e2e.XXXXXX)
E2E_PID=""

e2e_cleanup() {
  if [[ -n "$E2E_PID" ]]; then
    kill "$E2E_PID" 2>/dev/null || true
    wait "$E2E_PID" 2>/dev/null || true
  fi
  rm -rf "$E2E_WORK"
}
trap e2e_cleanup EXIT

# e2e_start KAITO_BINARY: starts the server, sets KAITO_HOME, KUBECONFIG and E2E_URL.
e2e_start() {
  local kaito=$1
  export KAITO_HOME=$E2E_WORK/home
  : > "$E2E_WORK/up.log"
  "$kaito" up --no-supervisor --port 0 --home "$KAITO_HOME" --crds "$E2E_SRC/deploy/crds" \
    >> "$E2E_WORK/up.log" 2>&1 &
  E2E_PID=$!
  for _ in $(seq 1 200); do
    if grep -q "listening on" "$E2E_WORK/up.log"; then break; fi
    if ! kill -0 "$E2E_PID" 2>/dev/null; then e2e_fail "kaito up exited"; fi
    sleep 0.05
  done
  E2E_URL=$(grep -o 'https\?://127.0.0.1:[0-9]*' "$E2E_WORK/up.log" | head -1 || true)
  [[ -n "$E2E_URL" ]] || e2e_fail "kaito up did not report its address"
  export KUBECONFIG=$KAITO_HOME/kubeconfig
}

# e2e_stop: SIGTERM and wait for a clean exit (rc 0).
e2e_stop() {
  kill -TERM "$E2E_PID"
  local rc=0
  timeout 20 tail --pid="$E2E_PID" -f /dev/null || e2e_fail "kaito up did not stop on SIGTERM"
  wait "$E2E_PID" || rc=$?
  E2E_PID=""
  [[ $rc -eq 0 ]] || e2e_fail "kaito up exited with $rc"
}

# e2e_kill9: SIGKILL, no shutdown at all.
e2e_kill9() {
  kill -KILL "$E2E_PID"
  wait "$E2E_PID" 2>/dev/null || true
  E2E_PID=""
}

e2e_fail() {
  echo "FAIL: $*" >&2
  echo "--- kaito up log (tail)" >&2
  tail -40 "$E2E_WORK/up.log" >&2 || true
  exit 1
}

# expect_has OUTPUT NEEDLE: NEEDLE is a line-independent substring of OUTPUT.
expect_has() {
  if [[ "$1" != *"$2"* ]]; then e2e_fail "expected output to contain [$2], got:"$'\n'"$1"; fi
  echo "ok: $2"
}
# expect_eq ACTUAL WANT: exactly equal.
expect_eq() {
  if [[ "$1" != "$2" ]]; then e2e_fail "expected [$2], got [$1]"; fi
  echo "ok: $2"
}
expect_not_has() {
  if [[ "$1" == *"$2"* ]]; then e2e_fail "expected output not to contain [$2], got:"$'\n'"$1"; fi
}
