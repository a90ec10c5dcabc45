// endpoints_controller: kaito-cpp's core/v1 Endpoints controller (kube-controller-manager's
// endpoint controller), so that a Service's pods can be found: `kubectl get endpoints`,
// `kubectl describe svc` and the API server's services/NAME/proxy read what it writes.
//
// reconcile_endpoints(env, ns, name) for the Service ns/name:
//   1 read the Service; absent -> delete the Endpoints of that name and this controller's
//     EndpointSlices of it (left over); no
//     spec.selector -> nothing (its Endpoints belong to whoever wrote them)
//   2 observe the pods in ns matching the selector
//   3 desired_endpoints(service, pods): a pod is included when it has status.podIP, is not being
//     deleted (unless the Service sets publishNotReadyAddresses) and has not ended (restartPolicy
//     Never: Succeeded or Failed; OnFailure: Succeeded). Each service port's targetPort (a number,
//     or the name of a container port; absent: the service port) is resolved in the pod and
//     shifted by the pod's kaito.sh/host-port-offset (pod_status.h): kaito-cpp's pods are worker
//     processes on the machine's network, serving on containerPort + their slot. Ready pods (or
//     every pod, with publishNotReadyAddresses) go to addresses, the others to notReadyAddresses,
//     each with nodeName and a targetRef to the pod; pods with the same resolved ports share a
//     subset (as RepackSubsets), sorted for a stable answer. A headless Service without ports
//     gets addresses alone.
//   4 converge: create the Endpoints (labels: the Service's, plus service.kubernetes.io/headless
//     for clusterIP None), or update it when its subsets or labels differ; nothing otherwise;
//     then the Service's EndpointSlices the same way (endpoint_slices.h)
//
// Failure: the failed API call's status. Thread-safety: as job_controller.h.
#pragma once

#include <string>
#include <vector>

#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

result<reconcile_result> reconcile_endpoints(const controller_env& env, const std::string& ns,
                                             const std::string& name);

// The subsets the Service's pods give (pure; pods: those matching its selector).
json desired_endpoint_subsets(const json& service, const std::vector<json>& pods);

// kube's ShouldPodBeInEndpoints: it has a podIP, is not being deleted (unless
// include_terminating) and has not ended for good under its restartPolicy.
bool pod_in_endpoints(const json& pod, bool include_terminating);
// The pod's ports for the Service ([{name, port, protocol}], each targetPort resolved in the pod
// and shifted by its host port offset, sorted by name); null when the pod serves none of them
// (an empty array for a headless Service without ports).
json pod_endpoint_ports(const json& service, const json& pod);
// The fields an endpoint has for its pod: targetRef {kind Pod, namespace, name, uid} and, when
// the pod is bound, nodeName (Endpoints addresses and EndpointSlice endpoints both carry them).
json pod_endpoint_refs(const json& pod);

// The Services (keys "ns/name") whose selector matches the pod's labels in `old_pod` or `pod`
// (either may be null: add or delete), among `services`.
std::vector<std::string> endpoints_keys_for(const json& old_pod, const json& pod,
                                            const std::vector<json>& services);

}  // namespace kaito::k8s::controllers
