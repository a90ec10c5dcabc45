"""Reconcile benchmark driver (python3-kubernetes against a running `kaito up` with machines):
COUNT tuning Workspaces created as fast as the client can, then the time until the world stops
changing: every Workspace has status conditions for its current generation, and no Workspace, Job
or Pod event arrives for QUIET seconds (watched, not polled). Machines are
claimed exclusively (as Kaito's NodeClaims are), so with M machines M Workspaces run their
self-test job to Succeeded and the rest settle at ResourceReady=False, waiting for machines.
Usage: reconcile_bench.py KUBECONFIG COUNT MACHINES [QUIET_S] [LIMIT_S]"""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, config, watch

KCFG, COUNT, MACHINES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
QUIET = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
LIMIT = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
G, V, NS, P = "kaito.sh", "v1beta1", "default", "workspaces"
config.load_kube_config(config_file=KCFG)
co = client.CustomObjectsApi(client.ApiClient())
core = client.CoreV1Api(client.ApiClient())
batch = client.BatchV1Api(client.ApiClient())


def workspace(i):
    return {"apiVersion": f"{G}/{V}", "kind": "Workspace",
            "metadata": {"name": f"rb-{i:04d}",
                         "annotations": {"kaito.sh/self-test-seconds": "1"}},
            "resource": {"instanceType": "Standard_NC24ads_A100_v4",
                         "labelSelector": {"matchLabels": {"apps": f"rb-{i:04d}"}}},
            "tuning": {"preset": {"name": "phi-3-mini-128k-instruct"}, "method": "qlora",
                       "input": {"urls": ["https://example.com/data.parquet"]},
                       "output": {"image": "registry.local/rb/adapter:0.1",
                                  "imagePushSecret": "push"}}}


# Watches (not polls: a full list of 1,000 Workspaces every half second would be a load of its
# own): every event on a Workspace, Job or Pod moves `last_change`; Workspace events also keep
# each one's latest object for the settled/succeeded/waiting counts.
lock = threading.Lock()
last_change = [time.time()]
latest = {}


def watch_kind(list_fn, args, is_ws):
    w = watch.Watch()
    for ev in w.stream(list_fn, *args, timeout_seconds=int(LIMIT) + 30):
        obj = ev["object"]
        with lock:
            last_change[0] = time.time()
            if is_ws:
                latest[obj["metadata"]["name"]] = obj


def counts():
    with lock:
        ws = list(latest.values())
    settled = sum(1 for w in ws
                  if any(c.get("type") == "ResourceReady" and
                         c.get("observedGeneration") == w["metadata"].get("generation")
                         for c in w.get("status", {}).get("conditions", [])))
    succeeded = sum(1 for w in ws if w.get("status", {}).get("state") == "Succeeded")
    waiting = sum(1 for w in ws
                  if any(c.get("type") == "ResourceReady" and c.get("status") == "False"
                         for c in w.get("status", {}).get("conditions", [])))
    return settled, succeeded, waiting


for fn, args, is_ws in ((co.list_namespaced_custom_object, (G, V, NS, P), True),
                        (batch.list_namespaced_job, (NS,), False),
                        (core.list_namespaced_pod, (NS,), False)):
    threading.Thread(target=watch_kind, args=(fn, args, is_ws), daemon=True).start()
time.sleep(0.5)

t0 = time.time()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: co.create_namespaced_custom_object(G, V, NS, P, workspace(i)),
                  range(COUNT)))
t_created = time.time() - t0
result = None
while time.time() - t0 < LIMIT:
    settled, succeeded, waiting = counts()
    with lock:
        quiet_since = last_change[0]
    if settled == COUNT and time.time() - quiet_since >= QUIET:
        result = (quiet_since - t0, settled, succeeded, waiting)
        break
    time.sleep(0.2)
print(f"reconcile bench: {COUNT} tuning Workspaces, {MACHINES} machines, 8 client threads")
print(f"{'metric':44s} {'value':>10s} {'goal':>10s}")
print(f"{'create all (s)':44s} {t_created:10.2f}")
if result is None:
    settled, succeeded, waiting = counts()
    print(f"{'steady state (s)':44s} {'not reached':>10s} {'< 10':>10s}  "
          f"({settled}/{COUNT} with status, {succeeded} succeeded, {waiting} waiting after {LIMIT:.0f} s)")
    sys.exit(1)
t, settled, succeeded, waiting = result
print(f"{'all reached steady state (s, from first create)':44s} {t:10.2f} {'< 10':>10s}  "
      f"{'met' if t < 10 else 'MISSED'}")
print(f"{'  Succeeded (self-test job done)':44s} {succeeded:10d}")
print(f"{'  ResourceReady=False (waiting for machines)':44s} {waiting:10d}")
