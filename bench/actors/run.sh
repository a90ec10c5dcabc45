#!/usr/bin/env bash
# Reconcile benchmark (issue 5): `kaito up` (API server + supervisor, no local machine) plus
# MACHINES `kaito join` processes on 127.0.0.1, then COUNT tuning Workspaces through
# python3-kubernetes (/usr/bin/python3); prints one table (reconcile_bench.py). Not a CTest.
# Usage: bench/actors/run.sh path/to/kaito [COUNT=1000] [MACHINES=4]
#   KAITO_BENCH_LOG=FILE keeps kaito up's log (with KAITO_LOG=debug: every API request and its time).
set -euo pipefail
KAITO=$(readlink -f "${1:?usage: run.sh path/to/kaito [COUNT] [MACHINES]}")
COUNT=${2:-1000}
MACHINES=${3:-4}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/kaito_rbench.XXXXXX)
PIDS=()
cleanup() {
  [[ -n "${KAITO_BENCH_LOG:-}" ]] && cp "$WORK/up.log" "$KAITO_BENCH_LOG"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$KAITO" up --port 0 --home "$WORK/home" --crds "$SRC/deploy/crds" --actor-port 0 \
  --no-local-machine > "$WORK/up.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do
  grep -q "kaito join" "$WORK/up.log" && break
  sleep 0.05
done
ADDR=$(grep -o 'kaito join [0-9.]*:[0-9]*' "$WORK/up.log" | head -1 | awk '{print $3}')
[[ -n "$ADDR" ]] || { cat "$WORK/up.log"; exit 1; }
for i in $(seq 1 "$MACHINES"); do
  "$KAITO" join "$ADDR" --token-file "$WORK/home/join-token" --name "bench-m$i" \
    --instance-type Standard_NC24ads_A100_v4 > "$WORK/m$i.log" 2>&1 &
  PIDS+=($!)
done
export KUBECONFIG=$WORK/home/kubeconfig
for _ in $(seq 1 100); do
  n=$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready" || true)
  [[ "$n" -ge "$MACHINES" ]] && break
  sleep 0.2
done
kubectl create secret generic push --from-literal=x=y > /dev/null
/usr/bin/python3 "$SRC/bench/actors/reconcile_bench.py" "$WORK/home/kubeconfig" "$COUNT" "$MACHINES"
