// pod_failure: why a Workspace's inference pods are not ready, as Kaito's
// classifyInferencePodFailure tells it on the InferenceReady condition (kaito.md 1.6): a stable
// reason and a short message from the pods' live container and scheduling state, so that
// `kubectl get workspace -o yaml` names the cause instead of "not ready".
//
// Checks, most actionable first, each over all pods (containers in spec order):
//   ContainerOOMKilled   a container's state or lastState terminated with reason OOMKilled
//   ImagePullError       a container waiting with an image-pull reason (ErrImagePull, ...)
//   ContainerStartError  a container waiting with a create/start reason (CreateContainerError...)
//   ContainerCrashLoopBackOff  a container waiting in CrashLoopBackOff (last termination named)
//   NodeDiskPressure / NodeMemoryPressure / PodEvicted   a pod Failed with reason Evicted
//   Unschedulable        a Pending pod whose PodScheduled is False/Unschedulable
// Messages are cut at 256 bytes ("..." at the end, never inside a UTF-8 character). Kaito's
// SAS-token init-container checks have no counterpart: kaito-cpp's pods have no init containers.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::controllers {

struct pod_failure {
  std::string reason;
  std::string message;
};

std::optional<pod_failure> classify_pod_failure(const std::vector<nlohmann::json>& pods);

}  // namespace kaito::k8s::controllers
