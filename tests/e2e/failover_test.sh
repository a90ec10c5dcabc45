#!/usr/bin/env bash
# End to end: leader failover between two `kaito operator` processes against one API server
# (`kaito up --no-supervisor`), as client-go's Lease election, with the operator's lease flags
# (Lease kaito-workspace/kaito-e2e, 6 s lease, 4 s renew deadline, 0.5 s retry). Operator A leads
# (leaseTransitions 0) and alone reconciles: tuning Workspace ws-1
# succeeds on machine m1 while follower B has no reconciler for it. kill -9 of A: B takes the
# Lease only once it expired (6 s lease, no earlier than ~5 s after the kill), holderIdentity
# op-b and leaseTransitions 1; B reconciles ws-1 again without duplicating its Job, Pods or
# ControllerRevisions, and ws-2, applied after the kill, reaches the same conditions and Job as
# ws-1 did under A (on machine m2 joined to B). SIGTERM of B releases the Lease (holder "" as
# client-go's ReleaseOnCancel), so standby C takes it well before it could have expired
# (leaseTransitions 2).
# Usage: failover_test.sh path/to/kaito   (exit 77: kubectl or python3 missing)
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl not found"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
source "$(dirname "$0")/lib.sh"
KAITO=${1:?usage: failover_test.sh path/to/kaito}
declare -A PIDS=()  # name -> pid of every operator / machine still running
cleanup_all() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  e2e_cleanup
}
trap cleanup_all EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
K() { timeout 20 kubectl --cache-dir "$E2E_WORK/cache" "$@" 2>&1; }
dump_state() {
  echo "--- state at failure" >&2
  { K get lease -n kaito-workspace kaito-e2e -o yaml; K get nodes --show-labels
    K get workspaces; K get jobs; K get pods -o wide; K get controllerrevisions
    for n in op-a op-b op-c m1 m2; do
      [[ -f "$E2E_WORK/$n.log" ]] && { echo "--- $n.log (tail)"; tail -15 "$E2E_WORK/$n.log"; }
    done; } >&2 || true
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND (every 0.2 s) until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      dump_state
      e2e_fail "timed out after ${secs}s waiting for: $what"
    fi
    sleep 0.2
  done
  echo "ok: $what"
}
declare -A PORTS=()
# start_operator ID: `kaito operator --identity ID` on a free actor port, until it listens.
start_operator() {
  PORTS[$1]=$(free_port)
  "$KAITO" operator --kubeconfig "$KUBECONFIG" --actor-port "${PORTS[$1]}" --identity "$1" \
    --node-timeout 3 --token-file "$KAITO_HOME/join-token" --lease-name kaito-e2e \
    --lease-duration 6 --renew-deadline 4 --retry-period 0.5 > "$E2E_WORK/$1.log" 2>&1 &
  PIDS[$1]=$!
  wait_for 30 "$1 listening" grep -q "supervisor listening" "$E2E_WORK/$1.log"
}
# join NAME OPERATOR: a machine with one slot joined to OPERATOR (its leader), until Ready.
join() {
  "$KAITO" join "127.0.0.1:${PORTS[$2]}" --token "$(cat "$KAITO_HOME/join-token")" --name "$1" \
    --slots 1 > "$E2E_WORK/$1.log" 2>&1 &
  PIDS[$1]=$!
  wait_for 20 "node $1 Ready" node_is "$1" Ready
}
SH() { timeout 20 "$KAITO" shell --address "127.0.0.1:${PORTS[$1]}" --token "$(cat "$KAITO_HOME/join-token")" -c "$2" 2>&1; }
lease() { K get lease -n kaito-workspace kaito-e2e -o jsonpath="{.spec.$1}"; }
holder_is() { [[ "$(lease holderIdentity)" == "$1" ]]; }
node_is() { [[ "$(K get node "$1" --no-headers | awk '{print $2}')" == "$2" ]]; }
cond_true() { [[ "$(K get workspace "$1" -o jsonpath="{.status.conditions[?(@.type=='$2')].status}")" == True ]]; }
# type=status/reason of every condition, sorted: what "the same conditions" compares.
conditions() {
  K get workspace "$1" -o jsonpath='{range .status.conditions[*]}{.type}={.status}/{.reason}{"\n"}{end}' | sort
}
# The Job's shape without names, uids and times.
job_shape() {
  K get job "$1" -o jsonpath='{.spec.completions} {.spec.parallelism} {.spec.backoffLimit} {.metadata.ownerReferences[0].kind} {.metadata.annotations.workspace\.kaito\.io/revision} {.spec.template.spec.containers[0].image} {.status.succeeded}'
}
workspace_yaml() {  # NAME SECONDS
  sed -e "s/^  name: workspace-tuning-phi-3\$/  name: $1\n  annotations:\n    kaito.sh\/self-test-seconds: \"$2\"/" \
    -e "s/app: tuning-phi-3/app: $1/" "$E2E_SRC/examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
}
count() { K get "$1" -A --no-headers 2>/dev/null | grep -c . || true; }
reconciles() { SH "$1" top | grep -q "workspace default/$2"; }

# --- a bare API server; operator A leads (the first to create the Lease), B follows
e2e_start "$KAITO"
start_operator op-a
wait_for 20 "op-a holds the Lease" holder_is op-a
start_operator op-b
[[ "$(lease leaseTransitions)" == 0 ]] || e2e_fail "leaseTransitions $(lease leaseTransitions), want 0"
[[ "$(lease leaseDurationSeconds)" == 6 ]] || e2e_fail "leaseDurationSeconds $(lease leaseDurationSeconds)"
K get lease -n kaito-workspace kaito-operator >/dev/null 2>&1 &&
  e2e_fail "a Lease under the default name exists: --lease-name was ignored"
out=$("$KAITO" operator --kubeconfig "$KUBECONFIG" --lease-duration 3 --renew-deadline 4 2>&1) &&
  e2e_fail "lease 3 s < renew 4 s was accepted"
expect_has "$out" "--lease-duration must be greater than --renew-deadline"
ACQUIRED_A=$(lease acquireTime)
join m1 op-a
out=$(timeout 20 "$KAITO" join "127.0.0.1:${PORTS[op-b]}" --token "$(cat "$KAITO_HOME/join-token")" --name intruder 2>&1) &&
  e2e_fail "the follower admitted a machine: $out"
expect_has "$out" "not the leader"

# --- only the leader reconciles: ws-1 succeeds under A; B has no reconciler for it
workspace_yaml ws-1 1 | K apply -f - >/dev/null
wait_for 40 "ws-1 WorkspaceSucceeded" cond_true ws-1 WorkspaceSucceeded
wait_for 10 "op-a reconciles ws-1" reconciles op-a ws-1
reconciles op-b ws-1 && e2e_fail "the follower op-b reconciled ws-1: $(SH op-b top)"
echo "ok: the follower op-b has no reconciler for ws-1"
COND1=$(conditions ws-1)
JOB1=$(job_shape ws-1)
expect_has "$COND1" "WorkspaceSucceeded=True"
echo "ws-1 conditions under op-a: $(tr '\n' ' ' <<<"$COND1")"
JOBS=$(count jobs); PODS=$(count pods); REVS=$(count controllerrevisions)
[[ "$JOBS/$PODS/$REVS" == 1/1/1 ]] || e2e_fail "jobs/pods/controllerrevisions $JOBS/$PODS/$REVS, want 1/1/1"

# --- kill -9 of the leader: the Lease is taken over only after it expired
kill -KILL "${PIDS[op-a]}"
wait "${PIDS[op-a]}" 2>/dev/null || true
unset 'PIDS[op-a]'
T0=$SECONDS
sleep 3
holder_is op-a || e2e_fail "the Lease changed hands 3 s after the kill (before expiry): $(lease holderIdentity)"
wait_for 30 "op-b holds the Lease" holder_is op-b
TAKEOVER=$((SECONDS - T0))
((TAKEOVER >= 4)) || e2e_fail "op-b took the Lease ${TAKEOVER}s after the kill, before the 6 s lease expired"
echo "ok: op-b took over ${TAKEOVER}s after kill -9 of op-a"
[[ "$(lease leaseTransitions)" == 1 ]] || e2e_fail "leaseTransitions $(lease leaseTransitions), want 1"
[[ "$(lease acquireTime)" != "$ACQUIRED_A" ]] || e2e_fail "acquireTime unchanged after the takeover"
wait_for 10 "op-b reconciles ws-1" reconciles op-b ws-1

# --- a Workspace applied after the kill reaches the same conditions and Job as ws-1 under A
join m2 op-b
workspace_yaml ws-2 1 | K apply -f - >/dev/null
wait_for 40 "ws-2 WorkspaceSucceeded" cond_true ws-2 WorkspaceSucceeded
[[ "$(conditions ws-2)" == "$COND1" ]] || e2e_fail "ws-2 conditions differ from ws-1's:"$'\n'"$(conditions ws-2)"$'\n'"vs"$'\n'"$COND1"
[[ "$(job_shape ws-2)" == "$JOB1" ]] || e2e_fail "ws-2's Job [$(job_shape ws-2)] differs from ws-1's [$JOB1]"
echo "ok: ws-2 under op-b: the same conditions and Job as ws-1 under op-a"
sleep 2
[[ "$(count jobs)/$(count pods)/$(count controllerrevisions)" == 2/2/2 ]] ||
  e2e_fail "jobs/pods/controllerrevisions $(count jobs)/$(count pods)/$(count controllerrevisions) after the failover, want 2/2/2"
for kind in jobs pods controllerrevisions; do
  n=$(K get "$kind" --no-headers | grep -c '^ws-1' || true)
  [[ "$n" == 1 ]] || e2e_fail "ws-1 has $n $kind after the failover"
done
echo "ok: no duplicate Jobs, Pods or ControllerRevisions for ws-1"
cond_true ws-1 WorkspaceSucceeded || e2e_fail "ws-1 lost WorkspaceSucceeded"

# --- SIGTERM of the leader releases the Lease: standby C takes it long before it would expire
start_operator op-c
holder_is op-b || e2e_fail "the Lease moved to $(lease holderIdentity) when op-c started"
kill -TERM "${PIDS[op-b]}"
T0=$SECONDS
rc=0; wait "${PIDS[op-b]}" || rc=$?
unset 'PIDS[op-b]'
[[ $rc -eq 0 ]] || e2e_fail "op-b exited with $rc on SIGTERM"
wait_for 10 "op-c holds the Lease" holder_is op-c
((SECONDS - T0 < 4)) || e2e_fail "op-c took the Lease only $((SECONDS - T0))s after SIGTERM of op-b"
echo "ok: op-c took over $((SECONDS - T0))s after SIGTERM of op-b"
[[ "$(lease leaseTransitions)" == 2 ]] || e2e_fail "leaseTransitions $(lease leaseTransitions), want 2"
wait_for 10 "op-c reconciles ws-2" reconciles op-c ws-2
kill -TERM "${PIDS[op-c]}"
wait "${PIDS[op-c]}" || e2e_fail "op-c exited with $? on SIGTERM"
unset 'PIDS[op-c]'
[[ "$(lease holderIdentity)" == "" ]] || e2e_fail "op-c did not release the Lease: $(lease holderIdentity)"
echo "ok: op-c released the Lease on SIGTERM"
for m in m1 m2; do
  kill -TERM "${PIDS[$m]}"
  wait "${PIDS[$m]}" 2>/dev/null || true
  unset "PIDS[$m]"
done
e2e_stop
echo "PASS failover_test"
