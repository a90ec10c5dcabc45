"""Reconcile benchmark driver (python3-kubernetes against a running `kaito up` with machines):
COUNT tuning Workspaces created as fast as the client can, then the time until the world stops
changing: every Workspace has status conditions for its current generation, and no Workspace, Job,
Pod or Node changes for QUIET seconds (resourceVersions compared across polls). Machines are
claimed exclusively (as Kaito's NodeClaims are), so with M machines M Workspaces run their
self-test job to Succeeded and the rest settle at ResourceReady=False, waiting for machines.
Usage: reconcile_bench.py KUBECONFIG COUNT MACHINES [QUIET_S] [LIMIT_S]"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, config

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


def snapshot():
    ws = co.list_namespaced_custom_object(G, V, NS, P)["items"]
    state = {("ws", w["metadata"]["name"]): w["metadata"]["resourceVersion"] for w in ws}
    for kind, items in (("job", batch.list_namespaced_job(NS).items),
                        ("pod", core.list_namespaced_pod(NS).items),
                        ("node", core.list_node().items)):
        for o in items:
            state[(kind, o.metadata.name)] = o.metadata.resource_version
    settled = sum(1 for w in ws
                  if any(c.get("type") == "ResourceReady" and
                         c.get("observedGeneration") == w["metadata"].get("generation")
                         for c in w.get("status", {}).get("conditions", [])))
    succeeded = sum(1 for w in ws if w.get("status", {}).get("state") == "Succeeded")
    waiting = sum(1 for w in ws
                  if any(c.get("type") == "ResourceReady" and c.get("status") == "False"
                         for c in w.get("status", {}).get("conditions", [])))
    return state, settled, succeeded, waiting, len(ws)


t0 = time.time()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: co.create_namespaced_custom_object(G, V, NS, P, workspace(i)),
                  range(COUNT)))
t_created = time.time() - t0
prev, last_change, result = None, time.time(), None
while time.time() - t0 < LIMIT:
    state, settled, succeeded, waiting, total = snapshot()
    now = time.time()
    if state != prev:
        prev, last_change = state, now
    elif settled == total == COUNT and now - last_change >= QUIET:
        result = (last_change - t0, settled, succeeded, waiting)
        break
    time.sleep(0.5)
print(f"reconcile bench: {COUNT} tuning Workspaces, {MACHINES} machines, 8 client threads")
print(f"{'metric':44s} {'value':>10s} {'goal':>10s}")
print(f"{'create all (s)':44s} {t_created:10.2f}")
if result is None:
    state, settled, succeeded, waiting, total = snapshot()
    print(f"{'steady state (s)':44s} {'not reached':>10s} {'< 10':>10s}  "
          f"({settled}/{COUNT} with status, {succeeded} succeeded, {waiting} waiting after {LIMIT:.0f} s)")
    sys.exit(1)
t, settled, succeeded, waiting = result
print(f"{'all reached steady state (s, from first create)':44s} {t:10.2f} {'< 10':>10s}  "
      f"{'met' if t < 10 else 'MISSED'}")
print(f"{'  Succeeded (self-test job done)':44s} {succeeded:10d}")
print(f"{'  ResourceReady=False (waiting for machines)':44s} {waiting:10d}")
