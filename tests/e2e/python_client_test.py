"""python3-kubernetes (Debian's, unmodified) against `kaito up`: CustomObjectsApi create, get,
list, patch, patch status, replace with a stale resourceVersion, watch; CoreV1Api namespaces, pods
and pod logs; the dynamic client's legacy discovery; Service defaults, and the service proxy
(connect_*_namespaced_service_proxy_with_path, call_api POST) to a Service whose Endpoints name a
local HTTP server. Usage: python_client_test.py KUBECONFIG"""
import http.server
import json
import sys
import threading
import time

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
co = client.CustomObjectsApi(api)
core = client.CoreV1Api(api)
G, V, NS, P = "kaito.sh", "v1beta1", "default", "workspaces"


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def expect_status(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except ApiException as e:
        check(e.status == code, f"{fn.__name__} -> {code} (got {e.status})")
        return e
    check(False, f"{fn.__name__} should fail with {code}")


check(client.VersionApi(api).get_code().minor == "32", "version minor 32")
ns_names = [n.metadata.name for n in core.list_namespace().items]
check("default" in ns_names and "kube-system" in ns_names, "CoreV1Api list namespaces")

ws = {"apiVersion": f"{G}/{V}", "kind": "Workspace",
      # transformers runtime: the vLLM ConfigMap check needs inference-params-template, not shipped yet.
      "metadata": {"name": "py-ws", "labels": {"app": "py"}, "annotations": {"kaito.sh/runtime": "transformers"}},
      "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"a": "b"}}},
      "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}}}
created = co.create_namespaced_custom_object(G, V, NS, P, ws)
check(created["metadata"]["generation"] == 1, "create")
e = expect_status(409, co.create_namespaced_custom_object, G, V, NS, P, ws)
check("AlreadyExists" in e.body, "409 body is a Status")
got = co.get_namespaced_custom_object(G, V, NS, P, "py-ws")
check(got["metadata"]["uid"] == created["metadata"]["uid"], "get")
expect_status(404, co.get_namespaced_custom_object, G, V, NS, P, "nope")
listed = co.list_namespaced_custom_object(G, V, NS, P, label_selector="app=py")
check(listed["kind"] == "WorkspaceList" and len(listed["items"]) == 1, "list with label selector")
check("py-ws" in [i["metadata"]["name"] for i in co.list_cluster_custom_object(G, V, P)["items"]],
      "list cluster-wide")
patched = co.patch_namespaced_custom_object(G, V, NS, P, "py-ws", {"metadata": {"labels": {"x": "y"}}})
check(patched["metadata"]["labels"]["x"] == "y", "patch (merge)")
st = co.patch_namespaced_custom_object_status(G, V, NS, P, "py-ws", {"status": {"conditions": [
    {"type": "WorkspaceSucceeded", "status": "True", "reason": "Done", "message": "",
     "lastTransitionTime": "2025-01-01T00:00:00Z"}]}})
check(st["status"]["conditions"][0]["status"] == "True", "patch status")
cur = co.get_namespaced_custom_object(G, V, NS, P, "py-ws")
cur["metadata"]["labels"]["replaced"] = "yes"
replaced = co.replace_namespaced_custom_object(G, V, NS, P, "py-ws", cur)
check(replaced["metadata"]["labels"]["replaced"] == "yes" and replaced["metadata"]["generation"] == 1 and
      replaced["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"], "replace (PUT with rv)")
expect_status(409, co.replace_namespaced_custom_object, G, V, NS, P, "py-ws", cur)

events = []


def watcher():
    w = watch.Watch()
    for ev in w.stream(co.list_namespaced_custom_object, G, V, NS, P, timeout_seconds=4):
        events.append((ev["type"], ev["object"]["metadata"]["name"]))
        if len(events) >= 2:
            w.stop()


t = threading.Thread(target=watcher)
t.start()
time.sleep(1.0)
co.patch_namespaced_custom_object(G, V, NS, P, "py-ws", {"metadata": {"labels": {"w": "1"}}})
t.join(10)
check(events[:2] == [("ADDED", "py-ws"), ("MODIFIED", "py-ws")], f"watch events {events}")

dyn = dynamic.DynamicClient(api)
wsres = dyn.resources.get(api_version=f"{G}/{V}", kind="Workspace")
check(wsres.get(name="py-ws", namespace=NS).metadata.name == "py-ws", "dynamic client (legacy discovery)")

deleted = co.delete_namespaced_custom_object(G, V, NS, P, "py-ws",
                                             body=client.V1DeleteOptions(propagation_policy="Foreground"))
check(deleted.get("status") == "Success", "delete")
expect_status(404, co.delete_namespaced_custom_object, G, V, NS, P, "py-ws")

pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "py-pod"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
core.create_namespaced_pod(NS, pod)
check("py-pod" in [p.metadata.name for p in core.list_namespaced_pod(NS).items], "core list pods")
p = core.patch_namespaced_pod("py-pod", NS, {"metadata": {"labels": {"a": "b"}}})
check(p.metadata.labels == {"a": "b"}, "core patch pod (strategic merge)")
# Services: the API server's proxy reaches the addresses of a Service's Endpoints (hand-written
# here: this `kaito up` runs without the operator that writes them for selector Services).
core.create_namespaced_service(NS, {"metadata": {"name": "py-sel"},
                                    "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}})
check(core.read_namespaced_service("py-sel", NS).spec.ports[0].target_port == 80,
      "service targetPort defaulted to port")


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.reply(json.dumps({"path": self.path}).encode())

    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
threading.Thread(target=backend.serve_forever, daemon=True).start()
core.create_namespaced_service(NS, {"metadata": {"name": "py-svc"},
                                    "spec": {"ports": [{"name": "http", "port": 80}]}})
core.create_namespaced_endpoints(NS, {"metadata": {"name": "py-svc"}, "subsets": [{
    "addresses": [{"ip": "127.0.0.1"}],
    "ports": [{"name": "http", "port": backend.server_address[1]}]}]})
got = core.connect_get_namespaced_service_proxy_with_path("py-svc:80", NS, "v1/models")
# The client hands back the body as text (the repr of its JSON): the backend saw the path.
check("/v1/models" in str(got), f"service proxy GET reaches the backend ({got!r})")
posted = api.call_api(f"/api/v1/namespaces/{NS}/services/py-svc:http/proxy/chat", "POST",
                      body={"prompt": "hi"}, response_type="object", auth_settings=["BearerToken"],
                      _return_http_data_only=True)
check(posted == {"prompt": "hi"}, f"service proxy POST body round trip ({posted!r})")
expect_status(503, core.connect_get_namespaced_service_proxy_with_path, "py-sel:80", NS, "x")
backend.shutdown()
print("PASS python e2e")
