// endpoint_slices: a Service's discovery.k8s.io/v1 EndpointSlices (kube-controller-manager's
// EndpointSlice controller), written by reconcile_endpoints beside the Endpoints: kubectl 1.32's
// `describe service` reads its "Endpoints:" line from them.
//
// desired_endpoint_slices(service, pods): one IPv4 slice per distinct set of resolved ports
// (pod_endpoint_ports: kaito-cpp's pods on one machine serve on different host ports), named
// `<service>-<8 hex of the ports>` so a re-run finds its own; each endpoint has the pod's
// address, nodeName, targetRef and conditions ready (pod Ready, or the Service publishes
// not-ready addresses), serving (pod Ready) and terminating (being deleted). Pods are included
// as by pod_in_endpoints with terminating ones kept. Labels: kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by (kKaitoSliceManager) over the Service's own; the
// Service owns each slice (ownerReferences, so they go with it).
//
// converge_endpoint_slices(env, reader, ns, service_name, desired): creates the missing slices,
// updates those whose endpoints, ports or labels differ, and deletes this controller's slices of
// that Service that are no longer desired (all of them for an absent Service: desired empty).
//
// Failure: the failed API call's status. Thread-safety: pure functions / as job_controller.h.
#pragma once

#include <string>
#include <vector>

#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

inline constexpr const char* kKaitoSliceManager = "endpointslice-controller.kaito.sh";

std::vector<json> desired_endpoint_slices(const json& service, const std::vector<json>& pods);

status converge_endpoint_slices(const controller_env& env, object_reader& reader,
                                const std::string& ns, const std::string& service_name,
                                const std::vector<json>& desired);

}  // namespace kaito::k8s::controllers
