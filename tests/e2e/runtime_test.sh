#!/usr/bin/env bash
# End to end: the actor runtime with real processes on 127.0.0.1. `kaito up` (API server +
# supervisor + local machine "local") and `kaito join` (machine "remote"), driven by kubectl and
# `kaito shell`: admission and refusals, a tuning Workspace's conditions, a killed worker process
# (restarted, its pod reported Failed and replaced), a killed machine (Node NotReady within the
# node timeout, its pod rescheduled to the other node), kill -9 of `kaito up` and a restart with
# the same home (reconciled again, no duplicate Jobs or Pods), deletion, clean SIGTERM.
# Usage: runtime_test.sh path/to/kaito
source "$(dirname "$0")/lib.sh"
KAITO=${1:?usage: runtime_test.sh path/to/kaito}
JOIN_PID=""
OP_PID=""
cleanup_all() {
  if [[ -n "$JOIN_PID" ]]; then kill -KILL "$JOIN_PID" 2>/dev/null || true; fi
  if [[ -n "$OP_PID" ]]; then kill -KILL "$OP_PID" 2>/dev/null || true; fi
  e2e_cleanup
}
trap cleanup_all EXIT
export KAITO_HOME=$E2E_WORK/home
export KUBECONFIG=$KAITO_HOME/kubeconfig
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ACTOR_PORT=$(free_port)
K() { timeout 20 kubectl --cache-dir "$E2E_WORK/cache" "$@" 2>&1; }
SH() { timeout 20 "$KAITO" shell --address "127.0.0.1:$ACTOR_PORT" "$@" 2>&1; }
dump_state() {
  echo "--- state at failure" >&2
  { K get nodes --show-labels; K get workspaces; K get jobs; K get pods -o wide
    SH -c top; K get events --sort-by=.lastTimestamp | tail -25; } >&2 || true
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
# up.log collects every run: wait for this run's own "local machine started" line.
start_up() {
  local before
  before=$(grep -c "local machine started" "$E2E_WORK/up.log" 2>/dev/null || true)
  before=${before:-0}
  "$KAITO" up --port 0 --home "$KAITO_HOME" --crds "$E2E_SRC/deploy/crds" \
    --actor-port "$ACTOR_PORT" --node-timeout 3 --machine-name local --slots 1 >> "$E2E_WORK/up.log" 2>&1 &
  E2E_PID=$!
  wait_for 30 "kaito up started its local machine" bash -c "(( \$(grep -c 'local machine started' '$E2E_WORK/up.log') > $before ))"
}
node_status() { K get node "$1" --no-headers | awk '{print $2}'; }
node_is() { [[ "$(node_status "$1")" == "$2" ]]; }
cond_true() { [[ "$(K get workspace "$1" -o jsonpath="{.status.conditions[?(@.type=='$2')].status}")" == True ]]; }
pod_phase() { K get pod "$1" -o jsonpath='{.status.phase}'; }
pod_is() { [[ "$(pod_phase "$1")" == "$2" ]]; }
workspace_yaml() {  # NAME SECONDS
  sed -e "s/^  name: workspace-tuning-phi-3\$/  name: $1\n  annotations:\n    kaito.sh\/self-test-seconds: \"$2\"/" \
    -e "s/app: tuning-phi-3/app: $1/" "$E2E_SRC/examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
}
# The pod of job $1 on node $2 that is Running (empty when none).
running_pod_on() {
  K get pods -l "job-name=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{"\n"}{end}' |
    awk -v n="$2" '$2==n && $3=="Running" {print $1}' | head -1
}
has_running_pod_on() { [[ -n "$(running_pod_on "$1" "$2")" ]]; }

# --- start: the local machine is admitted, its Node Ready; the join line names the port
start_up
TOKEN=$(cat "$KAITO_HOME/join-token")
expect_has "$(cat "$E2E_WORK/up.log")" "kaito join 127.0.0.1:$ACTOR_PORT --token $TOKEN"
wait_for 20 "node local Ready" node_is local Ready

# --- refusals: a wrong token for join and for the shell; the supervisor keeps running
out=$(timeout 20 "$KAITO" join "127.0.0.1:$ACTOR_PORT" --token 0000 --name intruder 2>&1) && e2e_fail "join with a wrong token succeeded: $out"
expect_has "$out" "invalid join token"
out=$(SH --token 0000 -c machines) && e2e_fail "shell with a wrong token succeeded: $out"
expect_has "$out" "invalid token"
expect_not_has "$(K get nodes)" "intruder"

# --- a second machine joins: Node, shell machines
"$KAITO" join "127.0.0.1:$ACTOR_PORT" --token "$TOKEN" --name remote --slots 1 > "$E2E_WORK/join.log" 2>&1 &
JOIN_PID=$!
wait_for 20 "node remote Ready" node_is remote Ready
out=$(SH -c machines)
expect_has "$(tr -s ' ' <<<"$out")" "local Ready"
expect_has "$(tr -s ' ' <<<"$out")" "remote Ready"

# --- a tuning Workspace runs to success (claims "local", the first free machine by name)
workspace_yaml ws-a 1 | K apply -f - >/dev/null
wait_for 40 "ws-a WorkspaceSucceeded" cond_true ws-a WorkspaceSucceeded
for c in ResourceReady JobStarted; do cond_true ws-a $c || e2e_fail "ws-a $c is not True"; done
out=$(K get workspace ws-a)
expect_has "$(tr -s ' ' <<<"$out")" "NAME INSTANCE RESOURCEREADY INFERENCEREADY JOBSTARTED WORKSPACESUCCEEDED"
expect_has "$(tr -s ' ' <<<"$out")" "ws-a Standard_NC6s_v3 True True True"
expect_has "$(SH -c 'logs ws-a')" "Succeeded exit=0"
expect_has "$(K logs ws-a-0)" "Succeeded exit=0"

# --- ws-b (8 s) runs on "remote" (local is held by finished ws-a)
workspace_yaml ws-b 8 | K apply -f - >/dev/null
wait_for 30 "a ws-b pod Running on remote" has_running_pod_on ws-b remote
POD1=$(running_pod_on ws-b remote)
# --- kill -9 of its worker process: restarted by the machine, the pod reported Failed, replaced
wait_for 10 "the shell lists the worker running $POD1" bash -c "'$KAITO' shell --address 127.0.0.1:$ACTOR_PORT -c workers | grep -q 'default/$POD1'"
WPID=$(SH -c workers | awk -v p="default/$POD1" '$4==p {print $2}')
[[ "$WPID" =~ ^[0-9]+$ ]] || e2e_fail "no worker pid for $POD1"
kill -KILL "$WPID"
wait_for 20 "$POD1 Failed after its worker was killed" pod_is "$POD1" Failed
expect_has "$(K get pod "$POD1" -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')" "137"
wait_for 20 "the worker on remote restarted" bash -c "'$KAITO' shell --address 127.0.0.1:$ACTOR_PORT -c workers | awk '\$1==\"remote/0\" && \$5>=1' | grep -q ."
wait_for 20 "a replacement ws-b pod Running on remote" bash -c "[[ -n \"\$(kubectl get pods -l job-name=ws-b -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{\"\\n\"}{end}' | awk '\$1!=\"$POD1\" && \$2==\"remote\" && \$3==\"Running\"')\" ]]"

# --- kill -9 of the joined machine: NotReady within the node timeout (3 s), pod rescheduled
kill -KILL "$JOIN_PID"
wait "$JOIN_PID" 2>/dev/null || true
JOIN_PID=""
T0=$SECONDS
wait_for 10 "node remote NotReady" node_is remote NotReady
((SECONDS - T0 <= 8)) || e2e_fail "remote turned NotReady only after $((SECONDS - T0)) s"
K delete workspace ws-a >/dev/null   # frees "local" for ws-b
wait_for 20 "ws-a gone" bash -c "! kubectl get workspace ws-a >/dev/null 2>&1"
wait_for 40 "ws-b rescheduled: a pod Running on local" has_running_pod_on ws-b local
wait_for 30 "ws-b WorkspaceSucceeded" cond_true ws-b WorkspaceSucceeded

# --- kill -9 of kaito up, restart with the same home: reconciled again, nothing duplicated
count() { K get "$1" -A --no-headers 2>/dev/null | grep -c . || true; }
JOBS=$(count jobs); PODS=$(count pods)
# A machine that dies while no supervisor runs: its Node must not stay Ready after the restart.
"$KAITO" join "127.0.0.1:$ACTOR_PORT" --token "$TOKEN" --name ghost --slots 1 > "$E2E_WORK/ghost.log" 2>&1 &
JOIN_PID=$!
wait_for 20 "node ghost Ready" node_is ghost Ready
e2e_kill9
kill -KILL "$JOIN_PID"
wait "$JOIN_PID" 2>/dev/null || true
JOIN_PID=""
# What a killed machine leaves in its pods folder is cleared when the next one claims it.
mkdir -p "$KAITO_HOME/pods/dead-pod-uid/mnt/results"
echo stale > "$KAITO_HOME/pods/dead-pod-uid/mnt/results/adapter_model.safetensors"
start_up
wait_for 20 "node local Ready again" node_is local Ready
[[ ! -e $KAITO_HOME/pods/dead-pod-uid ]] || e2e_fail "the dead run's pod folder is still there"
echo "ok: the dead run's pod folder was removed at start"
# A second machine on the same pods folder is refused, naming it.
out=$(timeout 20 "$KAITO" join "127.0.0.1:$ACTOR_PORT" --token "$TOKEN" --name twin --slots 1 \
  --pods-dir "$KAITO_HOME/pods" 2>&1) && e2e_fail "a second machine took the same pods folder"
expect_has "$out" "is in use by another machine"
wait_for 20 "node ghost (never reconnected) NotReady" node_is ghost NotReady
wait_for 20 "ws-b reconciled again" bash -c "'$KAITO' shell --address 127.0.0.1:$ACTOR_PORT -c top | grep -q 'workspace default/ws-b'"
sleep 3
[[ "$(count jobs)" == "$JOBS" ]] || e2e_fail "jobs: $JOBS before the restart, $(count jobs) after"
[[ "$(count pods)" == "$PODS" ]] || e2e_fail "pods: $PODS before the restart, $(count pods) after"
echo "ok: no duplicate Jobs ($JOBS) or Pods ($PODS) after the restart"
cond_true ws-b WorkspaceSucceeded || e2e_fail "ws-b lost WorkspaceSucceeded"

# --- shell: kill a worker through its machine (restarted), and the REPL on stdin
restarts() { "$KAITO" shell --address "127.0.0.1:$ACTOR_PORT" -c workers | awk '$1=="local/0" {print $5}'; }
R0=$(restarts)
[[ "$R0" =~ ^[0-9]+$ ]] || e2e_fail "no worker local/0 in: $(SH -c workers)"
SH -c "kill local/0" >/dev/null || e2e_fail "shell kill local/0 failed: $(SH -c 'kill local/0')"
wait_for 20 "local/0 restarted after shell kill" bash -c "(( \$('$KAITO' shell --address 127.0.0.1:$ACTOR_PORT -c workers | awk '\$1==\"local/0\" {print \$5}') > $R0 ))"
out=$(printf 'machines\nhelp\nexit\n' | timeout 20 "$KAITO" shell --address "127.0.0.1:$ACTOR_PORT" 2>&1)
expect_has "$(tr -s ' ' <<<"$out")" "local Ready"
expect_has "$out" "drain <machine>"

# --- a second supervisor (kaito operator) against the same API server is not the leader
OP_PORT=$(free_port)
"$KAITO" operator --kubeconfig "$KUBECONFIG" --actor-port "$OP_PORT" \
  --token-file "$KAITO_HOME/join-token" > "$E2E_WORK/operator.log" 2>&1 &
OP_PID=$!
wait_for 30 "kaito operator listening" grep -q "supervisor listening" "$E2E_WORK/operator.log"
out=$(timeout 20 "$KAITO" join "127.0.0.1:$OP_PORT" --token "$TOKEN" --name other 2>&1) && e2e_fail "a follower admitted a machine: $out"
expect_has "$out" "not the leader"
kill -TERM "$OP_PID"
rc=0; wait "$OP_PID" || rc=$?
OP_PID=""
[[ $rc -eq 0 ]] || e2e_fail "kaito operator exited with $rc on SIGTERM"
echo "ok: kaito operator stopped cleanly"

# --- shell restart: the Job is re-created and runs again; deleting the Workspace meanwhile stops
#     the running pod on its machine (stop_pod) and everything goes away
expect_has "$(SH -c 'restart ws-b')" "job/ws-b deleted"
wait_for 30 "ws-b runs again on local after restart" has_running_pod_on ws-b local
K delete workspace ws-b >/dev/null
wait_for 20 "ws-b gone" bash -c "! kubectl get workspace ws-b >/dev/null 2>&1"
wait_for 20 "job ws-b gone" bash -c "! kubectl get job ws-b >/dev/null 2>&1"
expect_has "$(SH -c workspaces)" "No workspaces."
wait_for 20 "the stopped pod's worker is idle again" bash -c "'$KAITO' shell --address 127.0.0.1:$ACTOR_PORT -c workers | awk '\$1==\"local/0\" && \$3==\"idle\"' | grep -q ."

# --- shell drain: the Node is cordoned
expect_has "$(SH -c 'drain local')" "node/local cordoned"
[[ "$(K get node local -o jsonpath='{.spec.unschedulable}')" == true ]] || e2e_fail "node local is not cordoned"

e2e_stop
echo "PASS runtime_test"
