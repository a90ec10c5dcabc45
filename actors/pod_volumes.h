// pod_volumes: the kubelet's projection of a Pod's secret and configMap volumes into files, as
// plain functions over the Pod JSON and a lookup of the objects (the supervisor's informer
// caches). The machine writes the files under the pod's own directory (work_unit.root), so a
// container path such as /root/.docker/config.json reads as <root>/root/.docker/config.json.
//
// For each volumeMount of spec.containers[0] whose volume is `secret` or `configMap`:
//   - the object's keys (Secret .data, base64; ConfigMap .data and .binaryData) become
//     <mountPath>/<key>, or with `items` only the listed keys at <mountPath>/<item.path>
//     (item.mode, else defaultMode, else 0644);
//   - with a subPath, the mount is the one file <mountPath> holding the key or item at subPath;
//   - a missing object or listed key is an error (failed_precondition naming
//     spec.volumes[i].secret.secretName / .items[j].key, as the kubelet's FailedMount) unless the
//     volume is `optional: true`.
// Other volume kinds (emptyDir, hostPath, PVCs) are not projected: emptyDirs are directories
// under the pod's root that the work unit creates. Paths with ".." components or a relative
// mountPath are refused (invalid_argument naming the field).
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "protocol/messages/machine.h"

namespace kaito::actors {

// Looks an object up: kind "secret" or "configmap"; nullopt when it does not exist.
using object_lookup = std::function<std::optional<nlohmann::json>(
    const std::string& kind, const std::string& ns, const std::string& name)>;

result<std::vector<msg::pod_file>> project_pod_volumes(const nlohmann::json& pod,
                                                       const object_lookup& lookup);

// Writes `files` under root (directories 0755, each file with its mode; files are written to a
// temporary name and renamed). invalid_argument for a path that would leave root.
status write_pod_files(const std::string& root, const std::vector<msg::pod_file>& files);

}  // namespace kaito::actors
