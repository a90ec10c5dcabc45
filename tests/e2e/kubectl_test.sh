#!/usr/bin/env bash
# End to end: `kaito up` driven by the real kubectl (/usr/bin/kubectl, 1.32 via the dispatcher).
# Usage: kubectl_test.sh path/to/kaito
source "$(dirname "$0")/lib.sh"
KAITO=${1:?usage: kubectl_test.sh path/to/kaito}
e2e_start "$KAITO"
K() { timeout 30 kubectl --cache-dir "$E2E_WORK/cache" "$@" 2>&1; }
# Runs a command that must fail; prints its output.
KFAIL() { if out=$(K "$@"); then e2e_fail "kubectl $* succeeded: $out"; fi; echo "$out"; }
norm() { tr -s ' ' <<<"$1"; }

EXAMPLE=$E2E_SRC/examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml
WS=workspace-tuning-phi-3

# --- apply: created, unchanged, configured
expect_has "$(K apply -f "$EXAMPLE")" "workspace.kaito.sh/$WS created"
expect_has "$(K apply -f "$EXAMPLE")" "workspace.kaito.sh/$WS unchanged"
# Kaito forbids changing instanceType; the edit adds a label.
sed 's/^  name: workspace-tuning-phi-3$/  name: workspace-tuning-phi-3\n  labels:\n    team: ml/' "$EXAMPLE" > "$E2E_WORK/edited.yaml"
expect_has "$(K apply -f "$E2E_WORK/edited.yaml")" "workspace.kaito.sh/$WS configured"

# --- get: Kaito's printer columns, short name, -o yaml, -o name, -A
out=$(K get workspace)
expect_has "$(norm "$out")" "NAME INSTANCE RESOURCEREADY INFERENCEREADY JOBSTARTED WORKSPACESUCCEEDED"
expect_has "$(norm "$out")" "$WS Standard_NC6s_v3"
expect_has "$(norm "$(K get wk)")" "NAME INSTANCE RESOURCEREADY INFERENCEREADY JOBSTARTED WORKSPACESUCCEEDED"
out=$(K get workspace $WS -o yaml)
expect_has "$out" "team: ml"
expect_has "$out" "generation: 1"
expect_has "$out" "count: 1"              # CRD defaults applied by admission
expect_has "$out" "accessMode: public"
expect_has "$out" "kubectl.kubernetes.io/last-applied-configuration"
expect_has "$(K get wk -o name)" "workspace.kaito.sh/$WS"
expect_has "$(norm "$(K get wk -A)")" "default $WS"
expect_has "$(K describe workspace $WS)" "Name:         $WS"
# --- every example applies (inference ones read the default inference-params-template, which
#     kaito up installs into kaito-workspace, like Kaito's Helm chart)
for f in "$E2E_SRC"/examples/inference/*.yaml; do
  expect_has "$(K apply -f "$f")" "created"
  expect_has "$(K delete -f "$f")" "deleted"
done
expect_has "$(K get configmap -n kaito-workspace inference-params-template -o yaml)" "cpu-offload-gb: 0"
expect_has "$(KFAIL get workspace nope)" 'Error from server (NotFound): workspaces.kaito.sh "nope" not found'

# --- patch: merge, json, the default strategic type refused for a custom resource, status
expect_has "$(K patch wk $WS --type=merge -p '{"tuning":{"input":{"urls":["https://example.com/a.parquet"]}}}')" \
  "workspace.kaito.sh/$WS patched"
expect_has "$(KFAIL patch wk $WS --type=merge -p '{"resource":{"count":2}}')" "resource.count: field is immutable"
expect_has "$(K patch wk $WS --type=json -p '[{"op":"add","path":"/metadata/labels","value":{"tier":"gold"}}]')" "patched"
expect_has "$(KFAIL patch wk $WS -p '{"resource":{"count":3}}')" "application/strategic-merge-patch+json is not supported"
expect_has "$(K label wk $WS extra=1)" "workspace.kaito.sh/$WS labeled"
gen=$(K get wk $WS -o jsonpath='{.metadata.generation}')
[[ "$gen" == 2 ]] || e2e_fail "generation after one spec patch: $gen"

# --- wait honours observedGeneration: a condition for an older generation is stale
stale='{"status":{"conditions":[{"type":"ResourceReady","status":"True","reason":"Test","message":"","lastTransitionTime":"2025-01-01T00:00:00Z","observedGeneration":1}]}}'
K patch wk $WS --subresource=status --type=merge -p "$stale" >/dev/null
expect_has "$(KFAIL wait --for=condition=ResourceReady workspace/$WS --timeout=2s)" "timed out waiting for the condition"
fresh=${stale/\"observedGeneration\":1/\"observedGeneration\":$gen}
(sleep 1; K patch wk $WS --subresource=status --type=merge -p "$fresh" >/dev/null) &
patcher=$!
expect_has "$(K wait --for=condition=ResourceReady workspace/$WS --timeout=20s)" "workspace.kaito.sh/$WS condition met"
wait $patcher
expect_has "$(norm "$(K get wk)")" "$WS Standard_NC6s_v3 True"

# --- get -w sees a change made while it watches
(timeout 9 kubectl --cache-dir "$E2E_WORK/cache" get wk -w --output-watch-events > "$E2E_WORK/watch.out" 2>&1 || true) &
watcher=$!
# Several changes, so one lands after the watch started even on a loaded machine.
for v in 1 2 3; do sleep 1.5; K label --overwrite wk $WS watched=$v >/dev/null; done
wait $watcher
expect_has "$(cat "$E2E_WORK/watch.out")" "MODIFIED"

# --- server-side apply
# `kubectl patch` above changed .tuning.input.urls: applying the file's value conflicts with it.
expect_has "$(KFAIL apply --server-side -f "$E2E_WORK/edited.yaml")" \
  'conflict with "kubectl-patch" using kaito.sh/v1beta1: .tuning.input.urls'
expect_has "$(K apply --server-side --force-conflicts -f "$E2E_WORK/edited.yaml")" \
  "workspace.kaito.sh/$WS serverside-applied"
cat > "$E2E_WORK/other.yaml" <<YAML
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: $WS
  labels:
    team: research
YAML
out=$(KFAIL apply --server-side --field-manager=other -f "$E2E_WORK/other.yaml")
expect_has "$out" "Apply failed with"
expect_has "$out" 'conflict with "kubectl"'
expect_has "$out" ".metadata.labels.team"
expect_has "$(K apply --server-side --field-manager=other --force-conflicts -f "$E2E_WORK/other.yaml")" \
  "workspace.kaito.sh/$WS serverside-applied"
out=$(K get wk $WS -o yaml --show-managed-fields)
expect_has "$out" "team: research"
expect_has "$out" "manager: other"
expect_has "$out" "manager: kubectl"$'\n'"    operation: Apply"
expect_has "$out" "f:team: {}"
expect_has "$out" "fieldsType: FieldsV1"

# --- built-ins: nodes, pods (with logs), services, jobs
expect_has "$(K get nodes)" "No resources found"
cat > "$E2E_WORK/builtins.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels: {app: web}
spec:
  containers:
  - {name: main, image: nginx}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 80}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: train
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: tune, image: busybox}
YAML
out=$(K apply -f "$E2E_WORK/builtins.yaml")
expect_has "$out" "pod/web-0 created"
expect_has "$out" "service/web created"
expect_has "$out" "job.batch/train created"
out=$(norm "$(K get pods,svc,jobs)")
expect_has "$out" "NAME READY STATUS RESTARTS AGE"
expect_has "$out" "pod/web-0 0/1 Pending 0"   # before the logs -f step marks it Succeeded
expect_has "$out" "service/web ClusterIP"
expect_has "$out" "80/TCP"
expect_has "$out" "job.batch/train Running 0/1"
mkdir -p "$KAITO_HOME/logs/default/web-0"
printf 'log line A\nlog line B\n' > "$KAITO_HOME/logs/default/web-0/main.log"
expect_has "$(K logs web-0)" $'log line A\nlog line B'
expect_has "$(K logs web-0 --tail=1)" "log line B"
# --previous: the restarted container's earlier log, which the runtime keeps beside it
expect_has "$(K logs web-0 --previous 2>&1)" 'previous terminated container "main" in pod "web-0" not found'
printf 'the crash before\n' > "$KAITO_HOME/logs/default/web-0/main.previous.log"
expect_has "$(K logs web-0 --previous)" "the crash before"
# logs -f ends when the container restarts (the runtime moves its log away).
L="$KAITO_HOME/logs/default/web-0"
(sleep 1; mv "$L/main.log" "$L/moved.log"; echo "the next container" > "$L/main.log") &
mover=$!
followed=$(timeout 20 kubectl logs -f web-0) || e2e_fail "logs -f did not end when the log moved"
wait $mover
expect_has "$followed" "log line B"
[[ "$followed" != *"the next container"* ]] || e2e_fail "logs -f went on into the next container's log"
mv "$L/moved.log" "$L/main.log"
# logs -f streams new lines and ends when the pod finishes.
(sleep 1; echo "log line C" >> "$KAITO_HOME/logs/default/web-0/main.log"; sleep 0.5
 K patch pod web-0 --subresource=status --type=merge -p '{"status":{"phase":"Succeeded"}}' >/dev/null) &
finisher=$!
expect_has "$(K logs -f web-0)" $'log line B\nlog line C'
wait $finisher
expect_has "$(K apply -f "$E2E_WORK/builtins.yaml")" "pod/web-0 unchanged"
expect_has "$(norm "$(K get pods)")" "web-0 0/1 Succeeded 0"
expect_has "$(norm "$(K get ns)")" "default Active"
# kubectl's typed generators POST protobuf bodies.
expect_has "$(K create namespace team-a)" "namespace/team-a created"
expect_has "$(K -n team-a create configmap cm1 --from-literal=a=b)" "configmap/cm1 created"
expect_has "$(K -n team-a get cm cm1 -o jsonpath='{.data.a}')" "b"
expect_has "$(K -n team-a create secret generic s1 --from-literal=k=v)" "secret/s1 created"
expect_has "$(K -n team-a get secret s1 -o jsonpath='{.data.k}{" "}{.type}')" "dg== Opaque"
expect_has "$(KFAIL create deployment d --image=nginx)" "the body of the request was in an unknown format"
expect_has "$(K delete namespace team-a)" 'namespace "team-a" deleted'
expect_has "$(KFAIL -n team-a get cm cm1)" "NotFound"

# --- errors kubectl prints the usual way
expect_has "$(KFAIL create -f "$E2E_WORK/edited.yaml")" "already exists"
sed 's/name: workspace-tuning-phi-3/name: BadName/' "$EXAMPLE" > "$E2E_WORK/badname.yaml"
expect_has "$(KFAIL apply -f "$E2E_WORK/badname.yaml")" 'The Workspace "BadName" is invalid: metadata.name'
# Kaito's admission rules (protocol/api) refuse invalid Workspaces; kubectl prints the field.
sed '/labelSelector/,+2d; s/name: workspace-tuning-phi-3/name: no-selector/' "$EXAMPLE" > "$E2E_WORK/nosel.yaml"
expect_has "$(KFAIL apply -f "$E2E_WORK/nosel.yaml")" \
  'The Workspace "no-selector" is invalid: resource.labelSelector: Required value'
sed 's/method: qlora/method: bogus/; s/name: workspace-tuning-phi-3/name: bad-method/' "$EXAMPLE" > "$E2E_WORK/badmethod.yaml"
expect_has "$(KFAIL apply -f "$E2E_WORK/badmethod.yaml")" 'tuning.method: Unsupported value: "bogus"'
# fieldValidation: kubectl's default Strict refuses unknown fields; Warn stores and warns.
sed 's/^resource:$/resource:\n  bogusField: 1/; s/name: workspace-tuning-phi-3/name: unknown-field/' "$EXAMPLE" > "$E2E_WORK/unk.yaml"
expect_has "$(KFAIL apply -f "$E2E_WORK/unk.yaml")" 'strict decoding error: unknown field "resource.bogusField"'
expect_has "$(K apply --validate=warn -f "$E2E_WORK/unk.yaml")" 'Warning: unknown field "resource.bogusField"'
K delete -f "$E2E_WORK/unk.yaml" >/dev/null
expect_has "$(KFAIL -n nosuchns apply -f "$EXAMPLE")" 'namespaces "nosuchns" not found'
expect_has "$(KFAIL --token=wrong get wk)" "Unauthorized"

# --- delete, then restart: state survives and a clean SIGTERM shutdown
expect_has "$(K delete -f "$E2E_WORK/edited.yaml")" "workspace.kaito.sh \"$WS\" deleted"
expect_has "$(KFAIL get wk $WS)" "NotFound"
e2e_stop
e2e_start "$KAITO"
expect_has "$(K get pods)" "web-0"
expect_has "$(K get wk)" "No resources found"

# --- kill -9 during a burst of writes: every acknowledged (201) object survives the restart
TOKEN=$(cat "$KAITO_HOME/token")
grep certificate-authority-data "$KUBECONFIG" | awk '{print $2}' | base64 -d > "$E2E_WORK/ca.crt"
(
  for i in $(seq 1 100000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$E2E_WORK/ca.crt" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d "{\"metadata\":{\"name\":\"burst-$i\"},\"data\":{\"i\":\"$i\"}}" \
      "$E2E_URL/api/v1/namespaces/default/configmaps") || break
    [[ "$code" == 201 ]] && echo "burst-$i" >> "$E2E_WORK/acked" || break
  done
) &
writer=$!
sleep 3
e2e_kill9
wait $writer || true
acked=$(wc -l < "$E2E_WORK/acked")
(( acked > 0 )) || e2e_fail "only $acked writes acknowledged before the kill"
e2e_start "$KAITO"
K get configmaps -o name > "$E2E_WORK/present"
missing=0
while read -r name; do grep -qx "configmap/$name" "$E2E_WORK/present" || missing=$((missing + 1)); done < "$E2E_WORK/acked"
(( missing == 0 )) || e2e_fail "$missing of $acked acknowledged writes lost after kill -9"
echo "ok: all $acked acknowledged writes survived kill -9"
echo "PASS kubectl e2e"
