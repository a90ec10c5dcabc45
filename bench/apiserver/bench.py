"""API server benchmark driver (python3-kubernetes against a running `kaito up`): 1,000 Workspaces
created one by one, gets, lists, a batch through `kubectl apply`, and 100 concurrent watchers that
must each see every ADDED event exactly once. Prints one table.
Usage: bench.py KUBECONFIG [COUNT] [WATCHERS] [KUBECTL_BATCH]"""
import os
import subprocess
import sys
import tempfile
import threading
import time

from kubernetes import client, config, watch

KCFG = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
WATCHERS = int(sys.argv[3]) if len(sys.argv) > 3 else 100
KUBECTL_BATCH = int(sys.argv[4]) if len(sys.argv) > 4 else 20
G, V, NS, P = "kaito.sh", "v1beta1", "default", "workspaces"
config.load_kube_config(config_file=KCFG)


def workspace(name, i):
    sizes = ["Standard_NC6s_v3", "Standard_NC24ads_A100_v4", "Standard_NC12s_v3"]
    return {"apiVersion": f"{G}/{V}", "kind": "Workspace",
            "metadata": {"name": name, "labels": {"bench": "1", "shard": str(i % 7)},
                         "annotations": {"kaito.sh/runtime": "transformers"}},
            "resource": {"instanceType": sizes[i % 3],
                         "labelSelector": {"matchLabels": {"apps": f"bench-{i % 11}"}}},
            "inference": {"preset": {"name": "phi-3-mini-128k-instruct"}}}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


rows = []


def row(op, lat, wall, goal="", met=""):
    rows.append((op, len(lat), len(lat) / wall if wall > 0 else 0.0,
                 pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, goal, met))


co = client.CustomObjectsApi(client.ApiClient())
rv = co.list_namespaced_custom_object(G, V, NS, P)["metadata"]["resourceVersion"]
names = [f"bench-{i:04d}-{'abcdefg'[i % 7]}" for i in range(COUNT)]
acked = {}
seen = [dict() for _ in range(WATCHERS)]
dups = [0] * WATCHERS
ready = threading.Barrier(WATCHERS + 1)


def watcher(k):
    w_api = client.CustomObjectsApi(client.ApiClient())
    w = watch.Watch()
    ready.wait()
    try:
        for ev in w.stream(w_api.list_namespaced_custom_object, G, V, NS, P,
                           resource_version=rv, timeout_seconds=300):
            if ev["type"] != "ADDED":
                continue
            n = ev["object"]["metadata"]["name"]
            if n in seen[k]:
                dups[k] += 1
            seen[k][n] = time.time()
            if len(seen[k]) >= COUNT:
                w.stop()
    except Exception as e:  # reported as loss below
        print(f"watcher {k}: {e}", file=sys.stderr)


threads = [threading.Thread(target=watcher, args=(k,), daemon=True) for k in range(WATCHERS)]
for t in threads:
    t.start()
ready.wait()
time.sleep(1.0)  # let every watch request reach the server

lat = []
t0 = time.time()
for i, n in enumerate(names):
    s = time.time()
    co.create_namespaced_custom_object(G, V, NS, P, workspace(n, i))
    acked[n] = time.time()
    lat.append(acked[n] - s)
row("create (python, 1 client)", lat, time.time() - t0, "p99 < 50 ms",
    "yes" if pct(lat, 99) < 0.050 else "NO")

lat = []
t0 = time.time()
for n in names[:300]:  # fewer when COUNT < 300
    s = time.time()
    co.get_namespaced_custom_object(G, V, NS, P, n)
    lat.append(time.time() - s)
row("get (python)", lat, time.time() - t0)

lat = []
t0 = time.time()
for i in range(min(300, COUNT)):
    s = time.time()
    co.patch_namespaced_custom_object(G, V, NS, P, names[i], {"metadata": {"labels": {"p": str(i)}}})
    lat.append(time.time() - s)
row("patch merge (python)", lat, time.time() - t0, "p99 < 50 ms",
    "yes" if pct(lat, 99) < 0.050 else "NO")

lat = []
t0 = time.time()
for _ in range(10):
    s = time.time()
    items = co.list_namespaced_custom_object(G, V, NS, P)["items"]
    lat.append(time.time() - s)
row(f"list {len(items)} (python)", lat, time.time() - t0)

env = dict(os.environ, KUBECONFIG=KCFG)
lat = []
with tempfile.TemporaryDirectory() as d:
    import json
    t0 = time.time()
    for i in range(KUBECTL_BATCH):
        f = os.path.join(d, f"ws{i}.json")
        with open(f, "w") as fh:
            json.dump(workspace(f"kubectl-{i:03d}", i), fh)
        s = time.time()
        subprocess.run(["kubectl", "--cache-dir", os.path.join(d, "cache"), "apply", "-f", f],
                       env=env, check=True, capture_output=True)
        lat.append(time.time() - s)
    row("kubectl apply (process)", lat, time.time() - t0)
    lat = []
    t0 = time.time()
    for _ in range(5):
        s = time.time()
        subprocess.run(["kubectl", "--cache-dir", os.path.join(d, "cache"), "get", "wk"],
                       env=env, check=True, capture_output=True)
        lat.append(time.time() - s)
    row("kubectl get wk (process)", lat, time.time() - t0)

deadline = time.time() + 120
for t in threads:
    t.join(max(0.0, deadline - time.time()))
delivered = sum(len(s) for s in seen)
missing = WATCHERS * COUNT - sum(sum(1 for n in names if n in s) for s in seen)
dl = [max(0.0, s[n] - acked[n]) for s in seen for n in names if n in s]
first = min(acked.values())
last = max((max(s.values()) for s in seen if s), default=first)
ok = missing == 0 and sum(dups) == 0
row(f"watch events ({WATCHERS} watchers)", dl, last - first, "no loss, no dup",
    "yes" if ok else f"NO ({missing} lost, {sum(dups)} dup)")

print(f"{'operation':34} {'count':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  {'goal':16} met")
for op, n, rps, p50, p99, goal, met in rows:
    print(f"{op:34} {n:7d} {rps:9.1f} {p50:8.2f} {p99:8.2f}  {goal:16} {met}")
sys.exit(0 if ok else 1)
