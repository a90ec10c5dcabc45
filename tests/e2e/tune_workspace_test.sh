#!/usr/bin/env bash
# End to end: a Kaito tuning Workspace does the real job. `kaito up --models DIR --model-image`
# (the local machine's model store starts empty and pulls the preset's model, the tiny Phi-3 with
# the tiny chat tokenizer, from an oras-style image in the registry, as Kaito's weights
# downloader does), a dataset served over HTTP on 127.0.0.1, a real `docker-registry`, the push secret made by
# `kubectl create secret docker-registry` and a tuning ConfigMap (v1alpha1, as Kaito's tuning
# examples). The Job's pod waits for its
# missing push secret (FailedMount, as the kubelet's), then downloads the Parquet file, trains
# QLoRA, and pushes the adapter image; `skopeo` pulls it back and the adapter is byte for byte the
# one `kaito tune` writes for the same data and settings. A Workspace whose data URL answers 404
# fails, the pod's message naming the field and the status. A second tuning Workspace reads the
# same data from a dataset image (tuning.input.image, pulled with its imagePullSecrets) and pushes
# the same adapter. Then an inference Workspace's pod serves the same preset's model over HTTP
# until the Workspace is deleted, and one with the pushed adapter (inference.adapters) answers as
# `kaito serve --adapter` does (the transformers runtime: merged at its strength), and under the
# default vLLM runtime as the LoRA module named by the adapter. The registry asks for the
# secret's credentials (htpasswd) when this host can make a bcrypt line.
# Usage: tune_workspace_test.sh path/to/kaito SHARED_DIR   (exit 77 without docker-registry/skopeo)
source "$(dirname "$0")/lib.sh"
KAITO=${1:?usage: tune_workspace_test.sh path/to/kaito SHARED_DIR}
SHARED=${2:?shared dir}
for tool in docker-registry skopeo kubectl python3; do
  command -v "$tool" > /dev/null || { echo "SKIP: no $tool"; exit 77; }
done
REG_PID=""
HTTP_PID=""
SERVE_PID=""
cleanup_all() {
  for p in "$REG_PID" "$HTTP_PID" "$SERVE_PID"; do [[ -n "$p" ]] && kill "$p" 2> /dev/null; done
  e2e_cleanup
}
trap cleanup_all EXIT
export KAITO_HOME=$E2E_WORK/home
export KUBECONFIG=$KAITO_HOME/kubeconfig
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
K() { timeout 30 kubectl --cache-dir "$E2E_WORK/cache" "$@" 2>&1; }
wait_for() {  # SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" > /dev/null 2>&1; do
    if ((SECONDS >= end)); then
      { K get workspaces,jobs,pods -o wide; K get events; K logs -l job-name=tune-tiny; } >&2 || true
      e2e_fail "timed out after ${secs}s waiting for: $what"
    fi
    sleep 0.2
  done
  echo "ok: $what"
}

# --- the model: a Hugging Face folder here (for kaito tune / kaito serve) and, as an image in the
# registry, what the machine's empty model store pulls
MODEL=$E2E_WORK/hf/phi-3-mini-128k-instruct
mkdir -p "$MODEL" "$E2E_WORK/models"
cp "$SHARED/fixtures/tiny-phi3/base/config.json" "$SHARED/fixtures/tiny-phi3/base/model.safetensors" "$MODEL/"
cp "$E2E_SRC/tests/data/tiny-chat/tokenizer.json" "$E2E_SRC/tests/data/tiny-chat/tokenizer_config.json" "$MODEL/"

# --- the dataset over HTTP, the registry
mkdir -p "$E2E_WORK/www" "$E2E_WORK/registry"
cp "$E2E_SRC/tests/data/tiny-chat/chat.parquet" "$E2E_WORK/www/train.parquet"
# The dataset host: an HTTP proxy on 127.0.0.1 that serves www/<basename> for any URL. Admission
# refuses loopback data URLs (Kaito's SSRF rule), so the Workspace names a public-looking host and
# the machine reaches it through http_proxy, as a node behind a corporate proxy would.
HTTP_PORT=$(free_port)
cat > "$E2E_WORK/data_host.py" << 'PY'
import http.server, os, sys, urllib.parse
root, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = os.path.basename(urllib.parse.urlsplit(self.path).path)
        path = os.path.join(root, name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$E2E_WORK/data_host.py" "$E2E_WORK/www" "$HTTP_PORT" > "$E2E_WORK/http.log" 2>&1 &
HTTP_PID=$!
DATA_HOST=http://datasets.kaito-e2e.example
REG_PORT=$(free_port)
cat > "$E2E_WORK/registry.yml" << YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $E2E_WORK/registry
http:
  addr: 127.0.0.1:$REG_PORT
YAML
# The secret's user, tuner:s3cret, as a bcrypt htpasswd line (docker-registry takes only bcrypt).
HTPASSWD=$(python3 -W ignore -c 'import crypt; print("tuner:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' 2> /dev/null ||
  python3 -c 'import bcrypt; print("tuner:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode())' 2> /dev/null || true)
CREDS=()
if [[ $HTPASSWD == 'tuner:$2'* ]]; then
  echo "$HTPASSWD" > "$E2E_WORK/htpasswd"
  printf 'auth:\n  htpasswd:\n    realm: kaito-e2e\n    path: %s\n' "$E2E_WORK/htpasswd" >> "$E2E_WORK/registry.yml"
  CREDS=(--creds tuner:s3cret)
  echo "ok: the registry asks for tuner's password"
else
  echo "note: no bcrypt on this host; the registry runs without auth"
fi
docker-registry serve "$E2E_WORK/registry.yml" > "$E2E_WORK/registry.log" 2>&1 &
REG_PID=$!
wait_for 20 "the registry answers" sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$REG_PORT/v2/ | grep -Eq '200|401'"
wait_for 20 "the dataset host answers" curl -sf -o /dev/null -x "http://127.0.0.1:$HTTP_PORT" "$DATA_HOST/train.parquet"

# OCI layouts pushed with skopeo. tar mode: one tar+gzip layer with the files under ARC names
# (Kaito's adapter and dataset images); oras mode: each file its own layer named by its title
# annotation (what `oras push REF FILE...` writes, Kaito's model images).
cat > "$E2E_WORK/oci_layout.py" << 'PY'
import gzip, hashlib, io, json, os, sys, tarfile
layout, tag, mode, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(layout + "/blobs/sha256", exist_ok=True)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(layout + "/blobs/sha256/" + d, "wb").write(b)
    return {"digest": "sha256:" + d, "size": len(b)}
cfg = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
layers = []
if mode == "tar":
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for p in pairs:
            src, arc = p.split("=", 1)
            t.add(src, arcname=arc)
    tar = buf.getvalue()
    cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gzip.compress(tar, mtime=0))})
else:
    for p in pairs:
        src, arc = p.split("=", 1)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(open(src, "rb").read()),
                       "annotations": {"org.opencontainers.image.title": arc}})
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(cfg).encode())},
     "layers": layers}
desc = {"mediaType": m["mediaType"], **blob(json.dumps(m).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag}}
json.dump({"schemaVersion": 2, "manifests": [desc]}, open(layout + "/index.json", "w"))
open(layout + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
push_layout() {  # LAYOUT TAG REPO:TAG
  timeout 60 skopeo copy --preserve-digests --dest-tls-verify=false ${CREDS[@]/#--creds/--dest-creds} \
    "oci:$1:$2" "docker://127.0.0.1:$REG_PORT/$3" > "$E2E_WORK/skopeo.log" 2>&1 ||
    e2e_fail "skopeo copy of $3: $(cat "$E2E_WORK/skopeo.log")"
}
model_files=()
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do model_files+=("$MODEL/$f=$f"); done
python3 "$E2E_WORK/oci_layout.py" "$E2E_WORK/model-layout" 0.0.1 oras "${model_files[@]}"
push_layout "$E2E_WORK/model-layout" 0.0.1 kaito/kaito-phi-3-mini-128k-instruct:0.0.1
# The machine's credentials for the model image: a docker config, as `docker login` writes it.
python3 -c 'import base64,json,sys; json.dump({"auths":{sys.argv[1]:{"auth":base64.b64encode(b"tuner:s3cret").decode()}}}, open(sys.argv[2],"w"))' \
  "127.0.0.1:$REG_PORT" "$E2E_WORK/model-pull.json"

# --- the control plane with its local machine
ACTOR_PORT=$(free_port)
http_proxy=http://127.0.0.1:$HTTP_PORT no_proxy=127.0.0.1,localhost "$KAITO" up --port 0 --home "$KAITO_HOME" --crds "$E2E_SRC/deploy/crds" --actor-port "$ACTOR_PORT" \
  --machine-name local --slots 1 --models "$E2E_WORK/models" \
  --model-image "127.0.0.1:$REG_PORT/kaito/kaito-{preset}:0.0.1" --model-pull-secret "$E2E_WORK/model-pull.json" \
  >> "$E2E_WORK/up.log" 2>&1 &
E2E_PID=$!
wait_for 30 "kaito up started its local machine" grep -q "local machine started" "$E2E_WORK/up.log"
wait_for 20 "node local Ready" sh -c "kubectl get node local --no-headers | grep -q ' Ready'"

cat > "$E2E_WORK/training_config.yaml" << 'YAML'
training_config:
  ModelConfig:
    torch_dtype: "bfloat16"
    local_files_only: true
  QuantizationConfig:
    load_in_4bit: true
    bnb_4bit_quant_type: "nf4"
    bnb_4bit_compute_dtype: "bfloat16"
    bnb_4bit_use_double_quant: true
  LoraConfig:
    r: 8
    lora_alpha: 8
    lora_dropout: 0.0
  TrainingArguments:
    output_dir: "/mnt/results"
    max_steps: 12
    learning_rate: 0.005
    per_device_train_batch_size: 1
  DatasetConfig:
    shuffle_dataset: true
YAML
K create configmap tune-params --from-file=training_config.yaml="$E2E_WORK/training_config.yaml" > /dev/null
workspace() {  # NAME DATA_URL [INPUT_IMAGE]
  local input="    urls:
      - \"$2\""
  [[ -n ${3:-} ]] && input="    image: \"$3\"
    imagePullSecrets: [push-secret]"
  cat << YAML
apiVersion: kaito.sh/v1alpha1
kind: Workspace
metadata:
  name: $1
resource:
  instanceType: "Standard_NC24ads_A100_v4"
  labelSelector:
    matchLabels:
      apps: $1
tuning:
  preset:
    name: phi-3-mini-128k-instruct
  method: qlora
  config: tune-params
  input:
$input
  output:
    image: "127.0.0.1:$REG_PORT/adapters/$1:v1"
    imagePushSecret: push-secret
YAML
}

# --- no push secret yet: the pod waits, and says why
workspace tune-tiny "$DATA_HOST/train.parquet" > "$E2E_WORK/ws.yaml"
out=$(K apply -f "$E2E_WORK/ws.yaml") || e2e_fail "apply: $out"
expect_has "$out" "workspace.kaito.sh/tune-tiny created"
wait_for 30 "a FailedMount event for the missing secret" \
  sh -c "kubectl get events | grep FailedMount | grep -q 'secret \"push-secret\" not found'"
[[ "$(K get pods -l job-name=tune-tiny -o jsonpath='{.items[0].status.phase}')" == Pending ]] ||
  e2e_fail "the pod ran without its push secret"

# --- with the secret: download, train, push
out=$(K create secret docker-registry push-secret --docker-server="127.0.0.1:$REG_PORT" \
  --docker-username=tuner --docker-password=s3cret) || e2e_fail "create secret: $out"
wait_for 120 "the tuning Job completed" \
  sh -c "kubectl get job tune-tiny -o jsonpath='{.status.conditions[?(@.type==\"Complete\")].status}' | grep -q True"
wait_for 30 "the Workspace succeeded" \
  sh -c "kubectl get workspace tune-tiny -o jsonpath='{.status.conditions[?(@.type==\"WorkspaceSucceeded\")].status}' | grep -q True"
msg=$(K get pods -l job-name=tune-tiny -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')
expect_has "$msg" "tuned 12 steps over 6 examples"
expect_has "$msg" "pushed 127.0.0.1:$REG_PORT/adapters/tune-tiny:v1@sha256:"
logs=$(K logs -l job-name=tune-tiny --tail=-1)
expect_has "$logs" "pulling 127.0.0.1:$REG_PORT/kaito/kaito-phi-3-mini-128k-instruct:0.0.1 for phi-3-mini-128k-instruct"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cmp "$MODEL/$f" "$E2E_WORK/models/phi-3-mini-128k-instruct/$f" || e2e_fail "the pulled $f differs"
done
echo "ok: the machine pulled the preset's model into its store"
expect_has "$logs" "step 12/12 loss"
expect_has "$logs" "not applied: DatasetConfig.shuffle_dataset, ModelConfig.local_files_only, ModelConfig.torch_dtype"

# --- the image, as a registry client sees it
inspect=$(timeout 30 skopeo inspect --raw --tls-verify=false "${CREDS[@]}" "docker://127.0.0.1:$REG_PORT/adapters/tune-tiny:v1")
expect_has "$inspect" '"sh.kaito.model.name":"phi-3-mini-128k-instruct"'
timeout 60 skopeo copy --src-tls-verify=false ${CREDS[@]/#--creds/--src-creds} "docker://127.0.0.1:$REG_PORT/adapters/tune-tiny:v1" \
  "dir:$E2E_WORK/pulled" > /dev/null || e2e_fail "skopeo copy failed"
mkdir -p "$E2E_WORK/unpacked"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"].split(":")[1])' "$E2E_WORK/pulled/manifest.json")
tar -xzf "$E2E_WORK/pulled/$layer" -C "$E2E_WORK/unpacked"
[[ -s $E2E_WORK/unpacked/data/adapter_model.safetensors ]] || e2e_fail "no data/adapter_model.safetensors in the image"
grep -q '"peft_type": "LORA"' "$E2E_WORK/unpacked/data/adapter_config.json" || e2e_fail "not a PEFT config"

# --- the same adapter as `kaito tune` with the same data and settings
"$KAITO" tune --model "$MODEL" --data "$E2E_WORK/www/train.parquet" --out "$E2E_WORK/local" \
  --max-steps 12 --lr 0.005 > "$E2E_WORK/tune.log" 2>&1 || e2e_fail "kaito tune: $(cat "$E2E_WORK/tune.log")"
cmp "$E2E_WORK/local/adapter_model.safetensors" "$E2E_WORK/unpacked/data/adapter_model.safetensors" ||
  e2e_fail "the pushed adapter differs from kaito tune's"
echo "ok: the pushed adapter is kaito tune's, byte for byte"

# --- a dataset URL that answers 404 (on the machine tune-tiny releases): the pod fails naming
# the field and the status
K delete workspace tune-tiny > /dev/null
workspace tune-missing "$DATA_HOST/no-such.parquet" > "$E2E_WORK/ws2.yaml"
K apply -f "$E2E_WORK/ws2.yaml" > /dev/null
wait_for 60 "the 404 run failed" \
  sh -c "kubectl get pods -l job-name=tune-missing -o jsonpath='{.items[*].status.phase}' | grep -q Failed"
msg=$(K get pods -l job-name=tune-missing -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')
expect_has "$msg" "input.urls[0]"
expect_has "$msg" "404"
K delete workspace tune-missing > /dev/null

# --- the same data as a dataset image (Kaito's format: files under /data), pushed with skopeo from
# an OCI layout; the Workspace pulls it with its imagePullSecrets and pushes the same adapter
printf 'not a dataset file\n' > "$E2E_WORK/README.md"
python3 "$E2E_WORK/oci_layout.py" "$E2E_WORK/dataset-layout" v1 tar \
  "$E2E_WORK/www/train.parquet=data/train.parquet" "$E2E_WORK/README.md=data/README.md"
push_layout "$E2E_WORK/dataset-layout" v1 datasets/chat:v1
workspace tune-image "" "127.0.0.1:$REG_PORT/datasets/chat:v1" > "$E2E_WORK/ws3.yaml"
out=$(K apply -f "$E2E_WORK/ws3.yaml") || e2e_fail "apply: $out"
wait_for 120 "the dataset-image Job completed" \
  sh -c "kubectl get job tune-image -o jsonpath='{.status.conditions[?(@.type==\"Complete\")].status}' | grep -q True"
logs=$(K logs -l job-name=tune-image --tail=-1)
expect_has "$logs" "pulling 127.0.0.1:$REG_PORT/datasets/chat:v1"
expect_has "$logs" "training qlora on 1 file(s)"
timeout 60 skopeo copy --src-tls-verify=false ${CREDS[@]/#--creds/--src-creds} "docker://127.0.0.1:$REG_PORT/adapters/tune-image:v1" \
  "dir:$E2E_WORK/pulled-image" > /dev/null || e2e_fail "skopeo copy of tune-image failed"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"].split(":")[1])' "$E2E_WORK/pulled-image/manifest.json")
mkdir -p "$E2E_WORK/unpacked-image"
tar -xzf "$E2E_WORK/pulled-image/$layer" -C "$E2E_WORK/unpacked-image"
cmp "$E2E_WORK/local/adapter_model.safetensors" "$E2E_WORK/unpacked-image/data/adapter_model.safetensors" ||
  e2e_fail "the adapter tuned on the dataset image differs from kaito tune's"
echo "ok: tuning.input.image gives the same adapter as the URL"
K delete workspace tune-image > /dev/null

# --- an inference Workspace: its pod serves the preset's model on 5000 + slot (slot 0 here)
if python3 -c 'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 5000))' 2> /dev/null; then
cat > "$E2E_WORK/inference.yaml" << 'YAML'
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: serve-tiny
resource:
  instanceType: "Standard_NC24ads_A100_v4"
  labelSelector:
    matchLabels:
      apps: serve-tiny
inference:
  preset:
    name: phi-3-mini-128k-instruct
  config: serve-tiny-params
YAML
# Kaito's inference ConfigMap: vLLM's max-num-seqs and max-model-len apply, and
# kv_cache_cpu_memory_utilization sizes the KV cache; the rest is listed.
printf 'kv_cache_cpu_memory_utilization: 0.5\nvllm:\n  cpu-offload-gb: 0\n  max-num-seqs: 2\n  max-model-len: 200\n' \
  > "$E2E_WORK/inference_config.yaml"
K create configmap serve-tiny-params --from-file=inference_config.yaml="$E2E_WORK/inference_config.yaml" > /dev/null
K apply -f "$E2E_WORK/inference.yaml" > /dev/null
wait_for 60 "the inference Workspace is ready" \
  sh -c "kubectl get workspace serve-tiny -o jsonpath='{.status.conditions[?(@.type==\"InferenceReady\")].status}' | grep -q True"
serve_log=$(K logs serve-tiny-0 --tail=-1)
expect_has "$serve_log" "serving phi-3-mini-128k-instruct on :5000"
expect_has "$serve_log" "max-num-seqs 2, max-model-len 200; not applied: vllm.cpu-offload-gb; kv cache "
expect_has "$(curl -s http://127.0.0.1:5000/health)" '"status":"Healthy"'
answer=$(curl -s http://127.0.0.1:5000/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"model":"phi-3-mini-128k-instruct","messages":[{"role":"user","content":"Color of the sky?"}],"max_tokens":8,"temperature":0}')
expect_has "$answer" '"object":"chat.completion"'
expect_has "$answer" '"model":"phi-3-mini-128k-instruct"'
# Kaito's probes on /health, run by the machine as the kubelet would: the pod is Ready through
# its readiness probe (the liveness restart itself is tested in actors_machine_test).
expect_eq "$(K get pod serve-tiny-0 -o jsonpath='{.spec.containers[0].livenessProbe.httpGet.path}')" "/health"
expect_eq "$(K get pod serve-tiny-0 -o jsonpath='{.spec.containers[0].startupProbe.failureThreshold}')" "180"
expect_eq "$(K get pod serve-tiny-0 -o jsonpath='{.status.containerStatuses[0].ready}')" "true"
# The Service routes: its Endpoints name the pod on the machine's address and the port its worker
# really listens on, and the API server's service proxy reaches it (kubectl get --raw, kubectl
# proxy), streaming included.
expect_eq "$(K get pod serve-tiny-0 -o jsonpath='{.status.podIP}')" "127.0.0.1"
wait_for 20 "the Service's Endpoints list the pod" \
  sh -c "kubectl get endpoints serve-tiny --no-headers | grep -q '127.0.0.1:5000'"
expect_eq "$(K get endpoints serve-tiny -o jsonpath='{.subsets[0].addresses[0].targetRef.name}')" "serve-tiny-0"
expect_has "$(K describe service serve-tiny)" "127.0.0.1:5000"
expect_has "$(K get --raw /api/v1/namespaces/default/services/serve-tiny:80/proxy/health)" '"status":"Healthy"'
PROXY_PORT=$(free_port)
kubectl proxy --port "$PROXY_PORT" > "$E2E_WORK/kubectl-proxy.log" 2>&1 &
PROXY_PID=$!
SVC_URL="http://127.0.0.1:$PROXY_PORT/api/v1/namespaces/default/services/serve-tiny:http/proxy"
wait_for 20 "kubectl proxy reaches the Service" curl -sf -o /dev/null "$SVC_URL/health"
via_proxy=$(curl -s "$SVC_URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"phi-3-mini-128k-instruct","messages":[{"role":"user","content":"Color of the sky?"}],"max_tokens":8,"temperature":0}')
message() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["message"])' "$1"; }
expect_eq "$(message "$via_proxy")" "$(message "$answer")"
streamed=$(curl -sN "$SVC_URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"phi-3-mini-128k-instruct","messages":[{"role":"user","content":"Color of the sky?"}],"max_tokens":8,"temperature":0,"stream":true}')
expect_has "$streamed" 'data: [DONE]'
expect_has "$(curl -s "$SVC_URL/chat" -d '{"prompt":"The sky is","generate_kwargs":{"max_length":12}}')" '"Result":"The sky is'
kill "$PROXY_PID" 2> /dev/null || true
echo "ok: the Service routes through the API server's proxy: $(K get endpoints serve-tiny --no-headers)"
# kubectl port-forward to the Service (kubectl 1.32's websocket tunnel, SPDY inside).
PF_PORT=$(free_port)
kubectl port-forward --address 127.0.0.1 svc/serve-tiny "$PF_PORT:80" > "$E2E_WORK/port-forward.log" 2>&1 &
PF_PID=$!
wait_for 20 "kubectl port-forward listens" grep -q "Forwarding from" "$E2E_WORK/port-forward.log"
expect_has "$(curl -s "http://127.0.0.1:$PF_PORT/health")" '"status":"Healthy"'
via_pf=$(curl -s "http://127.0.0.1:$PF_PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"phi-3-mini-128k-instruct","messages":[{"role":"user","content":"Color of the sky?"}],"max_tokens":8,"temperature":0}')
expect_eq "$(message "$via_pf")" "$(message "$answer")"
kill "$PF_PID" 2> /dev/null || true
echo "ok: kubectl port-forward svc/serve-tiny reaches the pod"
K delete workspace serve-tiny > /dev/null
wait_for 20 "the Endpoints went with the Service" sh -c "! kubectl get endpoints serve-tiny 2> /dev/null"
wait_for 30 "the server stopped with its pod" sh -c "! curl -s -m 1 http://127.0.0.1:5000/health"

# --- an inference Workspace whose server cannot start (its model is neither in --models nor in
# the model registry): the container crash-loops and InferenceReady says so, as Kaito's does
cat > "$E2E_WORK/broken.yaml" << 'YAML'
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: serve-broken
resource:
  instanceType: "Standard_NC24ads_A100_v4"
  labelSelector:
    matchLabels:
      apps: serve-broken
inference:
  preset:
    name: phi-3-mini-4k-instruct
YAML
K apply -f "$E2E_WORK/broken.yaml" > /dev/null
wait_for 60 "InferenceReady names the crash loop" sh -c "kubectl get workspace serve-broken -o jsonpath='{.status.conditions[?(@.type==\"InferenceReady\")].reason}' | grep -qx ContainerCrashLoopBackOff"
expect_has "$(K get workspace serve-broken -o jsonpath='{.status.conditions[?(@.type=="InferenceReady")].message}')" \
  'container "serve-broken" is in CrashLoopBackOff; last termination: '
expect_has "$(K get pod serve-broken-0 --no-headers | tr -s " ")" "serve-broken-0 0/1 CrashLoopBackOff 1 ("
K delete workspace serve-broken > /dev/null
wait_for 30 "the crash-looping pod went with its Workspace" sh -c "! kubectl get pod serve-broken-0 2> /dev/null"

# --- a plain Pod's probes: a tcpSocket readiness probe on a port nobody serves keeps it unready,
# with the kubelet's Unhealthy events; an exec probe is not run, and a ProbeNotRun event says so
cat > "$E2E_WORK/probed.yaml" << 'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  nodeName: local  # bare pods are not scheduled here: bound by hand, as without kube-scheduler
  containers:
  - name: main
    image: kaito
    args: ["--task=serve-self-test", "--duration-seconds=0", "--memory-mib=0"]
    ports: [{name: web, containerPort: 5999}]
    readinessProbe: {tcpSocket: {port: web}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {exec: {command: ["true"]}}
YAML
K apply -f "$E2E_WORK/probed.yaml" > /dev/null
wait_for 30 "the kubelet's Unhealthy event for the probed pod" \
  sh -c "kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name}|{.source.component}|{.reason}|{.message}{\"\\n\"}{end}' | grep -q '^probed|kubelet|Unhealthy|Readiness probe failed: dial tcp 127.0.0.1:[0-9]*: connect: Connection refused'"
expect_has "$(K get events -o jsonpath='{range .items[*]}{.involvedObject.name}|{.reason}|{.message}{"\n"}{end}')" \
  "probed|ProbeNotRun|livenessProbe: exec probes are not run by kaito's machines"
expect_eq "$(K get pod probed -o jsonpath='{.status.phase}/{.status.containerStatuses[0].ready}')" "Running/false"
K delete pod probed --wait=false > /dev/null

# --- a container that keeps failing: restarted at once, then held in CrashLoopBackOff with the
# kubelet's status, RESTARTS column and BackOff event
cat > "$E2E_WORK/crasher.yaml" << 'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  nodeName: local
  containers:
  - name: main
    image: kaito
    args: ["--task=self-test", "--memory-mib=x"]
YAML
K apply -f "$E2E_WORK/crasher.yaml" > /dev/null
wait_for 30 "the crashing pod waits in CrashLoopBackOff" \
  sh -c "kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -qx CrashLoopBackOff"
expect_has "$(K get pod crasher --no-headers | tr -s " ")" "crasher 0/1 CrashLoopBackOff 1 ("
uid=$(K get pod crasher -o jsonpath='{.metadata.uid}')
expect_eq "$(K get pod crasher -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')" \
  "back-off 10s restarting failed container=main pod=crasher_default($uid)"
expect_eq "$(K get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}/{.status.containerStatuses[0].lastState.terminated.reason}')" "2/InvalidArgs"
expect_has "$(K get events -o jsonpath='{range .items[*]}{.involvedObject.name}|{.source.component}|{.reason}|{.message}{"\n"}{end}')" \
  "crasher|kubelet|BackOff|Back-off restarting failed container main in pod crasher_default($uid)"
# kubectl logs: the last container's end; --previous: the one before (rotated at the restart)
expect_has "$(K logs crasher)" 'Terminated exit=2 InvalidArgs: --memory-mib: want an integer, got "x"'
expect_has "$(K logs crasher --previous)" 'Terminated exit=2 InvalidArgs: --memory-mib: want an integer, got "x"'
K delete pod crasher > /dev/null
# a new pod of the same name starts with a log of its own
sed -i 's/--memory-mib=x/--memory-mib=y/' "$E2E_WORK/crasher.yaml"
K apply -f "$E2E_WORK/crasher.yaml" > /dev/null
wait_for 30 "the second crasher logged its end" sh -c "kubectl logs crasher 2> /dev/null | grep -q 'got \"y\"'"
[[ "$(K logs crasher)" != *'got "x"'* ]] || e2e_fail "the new crasher's log holds the deleted pod's lines"
K delete pod crasher --wait=false > /dev/null
echo "ok: a crashing container backs off as the kubelet's does: CrashLoopBackOff, restart 1"

# --- with the tuned adapter (inference.adapters, pulled with the push secret, strength 0.75):
# the answer is `kaito serve --adapter ... --adapter-strength 0.75`'s for the same adapter folder
cat > "$E2E_WORK/inference-adapter.yaml" << YAML
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: serve-tuned
  annotations:
    kaito.sh/runtime: transformers  # strength is the transformers runtime's (vLLM refuses it)
resource:
  instanceType: "Standard_NC24ads_A100_v4"
  labelSelector:
    matchLabels:
      apps: serve-tuned
inference:
  preset:
    name: phi-3-mini-128k-instruct
  adapters:
    - source:
        name: tiny-chat-adapter
        image: "127.0.0.1:$REG_PORT/adapters/tune-tiny:v1"
        imagePullSecrets: [push-secret]
      strength: "0.75"
YAML
out=$(K apply -f "$E2E_WORK/inference-adapter.yaml") || e2e_fail "apply: $out"
wait_for 60 "the adapter Workspace is ready" \
  sh -c "kubectl get workspace serve-tuned -o jsonpath='{.status.conditions[?(@.type==\"InferenceReady\")].status}' | grep -q True"
question='{"model":"phi-3-mini-128k-instruct","messages":[{"role":"user","content":"Color of the sky?"}],"max_tokens":12,"temperature":0}'
# Kaito's legacy /chat continues the prompt greedily for 40 tokens: a long, adapter-specific text
# (the tiny model's chat answers are often just its end token).
legacy='{"prompt":"Color of the sky?","generate_kwargs":{"max_length":40,"do_sample":false}}'
tuned=$(curl -s http://127.0.0.1:5000/v1/chat/completions -H 'Content-Type: application/json' -d "$question")
expect_has "$tuned" '"object":"chat.completion"'
tuned_legacy=$(curl -s http://127.0.0.1:5000/chat -H 'Content-Type: application/json' -d "$legacy")
expect_has "$tuned_legacy" '"Result":"Color of the sky?'
"$KAITO" serve --model "$MODEL" --adapter "$E2E_WORK/local" --adapter-strength 0.75 --port 0 \
  --served-model-name phi-3-mini-128k-instruct > "$E2E_WORK/serve.out" 2> "$E2E_WORK/serve.log" &
SERVE_PID=$!
wait_for 30 "kaito serve --adapter listens" grep -q "on http://" "$E2E_WORK/serve.out"
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$E2E_WORK/serve.out" | head -1)
local_answer=$(curl -s "$url/v1/chat/completions" -H 'Content-Type: application/json' -d "$question")
local_legacy=$(curl -s "$url/chat" -H 'Content-Type: application/json' -d "$legacy")
kill "$SERVE_PID"
wait "$SERVE_PID" 2> /dev/null || true
SERVE_PID=""
content() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["message"]["content"])' "$1"; }
[[ "$(content "$tuned")" == "$(content "$local_answer")" ]] ||
  e2e_fail "the Workspace's adapter answers differently: $tuned vs $local_answer"
[[ "$tuned_legacy" == "$local_legacy" ]] ||
  e2e_fail "the Workspace's adapter continues differently: $tuned_legacy vs $local_legacy"
echo "ok: inference.adapters answers as kaito serve --adapter --adapter-strength 0.75: $tuned_legacy"
# kaito serve pulls the same image itself (--adapter-image, the machine's docker config).
"$KAITO" serve --model "$MODEL" --adapter-image "127.0.0.1:$REG_PORT/adapters/tune-tiny:v1" \
  --docker-config "$E2E_WORK/model-pull.json" --adapter-strength 0.75 --port 0 \
  --served-model-name phi-3-mini-128k-instruct > "$E2E_WORK/serve2.out" 2> "$E2E_WORK/serve2.log" &
SERVE_PID=$!
wait_for 30 "kaito serve --adapter-image listens" grep -q "on http://" "$E2E_WORK/serve2.out"
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$E2E_WORK/serve2.out" | head -1)
image_legacy=$(curl -s "$url/chat" -H 'Content-Type: application/json' -d "$legacy")
kill "$SERVE_PID"
wait "$SERVE_PID" 2> /dev/null || true
SERVE_PID=""
[[ "$image_legacy" == "$local_legacy" ]] ||
  e2e_fail "kaito serve --adapter-image continues differently: $image_legacy vs $local_legacy"
expect_has "$(cat "$E2E_WORK/serve2.log")" "pulling 127.0.0.1:$REG_PORT/adapters/tune-tiny:v1"
K delete workspace serve-tuned > /dev/null
wait_for 30 "the adapter server stopped with its pod" sh -c "! curl -s -m 1 http://127.0.0.1:5000/health"

# --- the same adapter under Kaito's default vLLM runtime: a LoRA module, requested by its name
# (the base model answers the preset's name); no strength (admission refuses one for vLLM)
sed -e 's/serve-tuned/serve-lora/' -e '/kaito.sh\/runtime/d' -e '/^  annotations:$/d' \
  -e '/strength:/d' "$E2E_WORK/inference-adapter.yaml" > "$E2E_WORK/inference-lora.yaml"
out=$(K apply -f "$E2E_WORK/inference-lora.yaml") || e2e_fail "apply: $out"
expect_has "$(K get statefulset serve-lora -o jsonpath='{.spec.template.spec.containers[0].args}')" \
  '"--runtime=vllm"'
wait_for 60 "the LoRA module Workspace is ready" \
  sh -c "kubectl get workspace serve-lora -o jsonpath='{.status.conditions[?(@.type==\"InferenceReady\")].status}' | grep -q True"
models=$(curl -s http://127.0.0.1:5000/v1/models)
expect_has "$models" '"id":"tiny-chat-adapter"'
expect_has "$models" '"root":"/mnt/adapter/tiny-chat-adapter","parent":"phi-3-mini-128k-instruct"'
completion() {  # $1 url, $2 model: 24 greedy tokens after "Color of the sky?", end tokens too
  curl -s "$1/v1/completions" -H 'Content-Type: application/json' -d "{\"model\":\"$2\",
    \"prompt\":\"Color of the sky?\",\"max_tokens\":24,\"temperature\":0,\"ignore_eos\":true}" |
    python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["model"], repr(b["choices"][0]["text"]))'
}
lora_answer=$(completion http://127.0.0.1:5000 tiny-chat-adapter)
base_answer=$(completion http://127.0.0.1:5000 phi-3-mini-128k-instruct)
"$KAITO" serve --model "$MODEL" --adapter "$E2E_WORK/local" --port 0 \
  --served-model-name tiny-chat-adapter > "$E2E_WORK/serve3.out" 2> "$E2E_WORK/serve3.log" &
SERVE_PID=$!
wait_for 30 "kaito serve --adapter (strength 1) listens" grep -q "on http://" "$E2E_WORK/serve3.out"
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$E2E_WORK/serve3.out" | head -1)
merged_answer=$(completion "$url" tiny-chat-adapter)
kill "$SERVE_PID"
wait "$SERVE_PID" 2> /dev/null || true
SERVE_PID=""
[[ "$lora_answer" == "$merged_answer" ]] ||
  e2e_fail "the LoRA module answers differently from the merged adapter: $lora_answer vs $merged_answer"
[[ "${base_answer#* }" != "${lora_answer#* }" ]] ||
  e2e_fail "the base model answers as the adapter: $base_answer"
echo "ok: under the vLLM runtime the adapter is the model tiny-chat-adapter: $lora_answer; base: $base_answer"
K delete workspace serve-lora > /dev/null
wait_for 30 "the LoRA server stopped with its pod" sh -c "! curl -s -m 1 http://127.0.0.1:5000/health"
else
  echo "skipped: port 5000 is taken on this host, so the inference pod could not listen"
fi
e2e_stop
echo "PASS"
