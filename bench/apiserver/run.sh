#!/usr/bin/env bash
# API server benchmark: `kaito up` on a free port with a temporary KAITO_HOME, driven by
# python3-kubernetes (/usr/bin/python3) and the real kubectl; prints one table (bench.py).
# Not a CTest. Usage: bench/apiserver/run.sh path/to/kaito [COUNT] [WATCHERS] [KUBECTL_BATCH]
set -euo pipefail
KAITO=${1:?usage: run.sh path/to/kaito [COUNT] [WATCHERS] [KUBECTL_BATCH]}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/kaito_bench.XXXXXX)
PID=""
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$KAITO" up --no-supervisor --port 0 --home "$WORK/home" --crds "$SRC/deploy/crds" > "$WORK/up.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$WORK/up.log" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/up.log"; exit 1; }
  sleep 0.05
done
/usr/bin/python3 "$SRC/bench/apiserver/bench.py" "$WORK/home/kubeconfig" "${@:2}"
