#!/usr/bin/env bash
# The actor runtime where process and network isolation matter (issue 5), with real processes:
#   1. `kaito up` and two `kaito join` machines, each PID 1 in its own PID namespace on the same
#      host network (same MACs, same PID: CAF 0.17's node ids collide without
#      actors/node_identity.cpp, and the joins fail), are all connected and admitted;
#   2. SIGTERM to a machine running as PID 1 shuts it down cleanly (exit 0, within 5 s);
#   3. a machine in a network namespace behind a veth pair is partitioned (link down): its Node
#      turns NotReady within the node timeout; the link comes back: it rejoins and is Ready again;
#   4. SIGTERM to `kaito up` running as PID 1: clean exit 0.
# Needs root (unshare --pid, ip netns); exits 77 (CTest: skipped) where that is not allowed.
# Usage: runtime_isolation_test.sh path/to/kaito
source "$(dirname "$0")/lib.sh"
KAITO=$(readlink -f "${1:?usage: runtime_isolation_test.sh path/to/kaito}")
NS=kaito-e2e-$$
VETH_H=kvh$$
VETH_N=kvn$$
NET=10.$((200 + $$ % 50)).$(($$ % 250)).
JOIN_PIDS=()

cleanup() {
  for p in "${JOIN_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$VETH_H" 2>/dev/null || true
  e2e_cleanup
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]] || ! unshare --pid --fork --mount-proc true 2>/dev/null ||
   ! ip netns add "$NS" 2>/dev/null; then
  echo "SKIP: needs root with PID and network namespaces"
  exit 77
fi

# The veth pair: host side ${NET}1, namespace side ${NET}2.
ip link add "$VETH_H" type veth peer name "$VETH_N"
ip link set "$VETH_N" netns "$NS"
ip addr add "${NET}1/24" dev "$VETH_H"
ip link set "$VETH_H" up
ip netns exec "$NS" ip addr add "${NET}2/24" dev "$VETH_N"
ip netns exec "$NS" ip link set "$VETH_N" up
ip netns exec "$NS" ip link set lo up

export KAITO_HOME=$E2E_WORK/home
unshare --pid --fork --kill-child --mount-proc "$KAITO" up --port 0 --home "$KAITO_HOME" \
  --crds "$E2E_SRC/deploy/crds" --actor-port 0 --actor-address 0.0.0.0 --node-timeout 3 \
  --no-local-machine >> "$E2E_WORK/up.log" 2>&1 &
E2E_PID=$!
for _ in $(seq 1 200); do
  grep -q "kaito join" "$E2E_WORK/up.log" && break
  kill -0 "$E2E_PID" 2>/dev/null || e2e_fail "kaito up exited"
  sleep 0.05
done
ACTOR_PORT=$(grep -o 'kaito join [0-9.]*:[0-9]*' "$E2E_WORK/up.log" | head -1 | sed 's/.*://')
[[ -n "$ACTOR_PORT" ]] || e2e_fail "kaito up did not print a join line"
export KUBECONFIG=$KAITO_HOME/kubeconfig
TOKEN_FILE=$KAITO_HOME/join-token

# node_ready NAME -> True / False / Unknown / "" (no such node)
node_ready() {
  timeout 10 kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
    2>/dev/null || true
}
# wait_ready NAME WANT SECONDS
wait_ready() {
  local deadline=$((SECONDS + $3)) got=""
  while ((SECONDS < deadline)); do
    got=$(node_ready "$1")
    [[ "$got" == "$2" ]] && { echo "ok: node $1 Ready=$2"; return 0; }
    sleep 0.2
  done
  e2e_fail "node $1: Ready=$got, want $2 within $3 s"
}

# 1. Two machines as PID 1, same host network.
for m in pid1-a pid1-b; do
  unshare --pid --fork --kill-child --mount-proc "$KAITO" join "127.0.0.1:$ACTOR_PORT" \
    --token-file "$TOKEN_FILE" --name "$m" > "$E2E_WORK/$m.log" 2>&1 &
  JOIN_PIDS+=($!)
done
wait_ready pid1-a True 20
wait_ready pid1-b True 20
# Both really run as PID 1 inside their namespaces.
for p in "${JOIN_PIDS[@]}"; do
  child=$(pgrep -P "$p" -f "kaito join" | head -1)
  [[ -n "$child" ]] || e2e_fail "no kaito join under unshare pid $p"
  nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$child/status")
  [[ "$nspid" == "1" ]] || e2e_fail "kaito join is PID $nspid in its namespace, want 1"
done
echo "ok: both machines are PID 1 in their namespaces and both were admitted"

# 2. SIGTERM to the PID-1 machine pid1-a: clean exit.
child=$(pgrep -P "${JOIN_PIDS[0]}" -f "kaito join" | head -1)
kill -TERM "$child"
if ! timeout 5 tail --pid="$child" -f /dev/null; then
  e2e_fail "kaito join as PID 1 ignored SIGTERM for 5 s"
fi
rc=0
wait "${JOIN_PIDS[0]}" || rc=$?
[[ $rc -eq 0 ]] || e2e_fail "kaito join as PID 1 exited $rc after SIGTERM (log: $(tail -3 "$E2E_WORK/pid1-a.log"))"
echo "ok: SIGTERM to PID 1 -> clean exit"
wait_ready pid1-a Unknown 10

# 3. Partition: a machine in the network namespace joins over the veth.
ip netns exec "$NS" "$KAITO" join "${NET}1:$ACTOR_PORT" --token-file "$TOKEN_FILE" \
  --name part-m --address "${NET}2" > "$E2E_WORK/part-m.log" 2>&1 &
JOIN_PIDS+=($!)
wait_ready part-m True 20
ip link set "$VETH_H" down
t0=$SECONDS
wait_ready part-m Unknown 12
echo "ok: partition detected after $((SECONDS - t0)) s (node timeout 3 s)"
kill -0 "${JOIN_PIDS[-1]}" || e2e_fail "the partitioned machine process died"
ip link set "$VETH_H" up
wait_ready part-m True 30
echo "ok: the partitioned machine rejoined when the link came back"
kill -0 "$E2E_PID" || e2e_fail "kaito up died"

# 4. SIGTERM to `kaito up` as PID 1.
up_child=$(pgrep -P "$E2E_PID" -f "kaito up" | head -1)
[[ "$(awk '/^NSpid:/ {print $NF}' "/proc/$up_child/status")" == "1" ]] || e2e_fail "kaito up is not PID 1"
kill -TERM "$up_child"
timeout 10 tail --pid="$up_child" -f /dev/null || e2e_fail "kaito up as PID 1 ignored SIGTERM for 10 s"
rc=0
wait "$E2E_PID" || rc=$?
E2E_PID=""
[[ $rc -eq 0 ]] || e2e_fail "kaito up as PID 1 exited $rc after SIGTERM"
echo "ok: SIGTERM to kaito up as PID 1 -> clean exit"
echo "PASS runtime_isolation_test"
