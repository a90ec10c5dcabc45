// Objects the server installs at start: every YAML manifest (*.yaml, *.yml, multi-document allowed)
// in a directory is created, or replaced when it already exists, through the server's own request
// path (so CRDs register their resources). `kaito up` points it at deploy/crds.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::k8s::apiserver {

class api_server;

// Returns "<resource>/<name>" of each object applied; the first failure names the file.
result<std::vector<std::string>> install_manifests(api_server& srv, const std::string& dir);

// The same for one YAML text (`origin` names it in errors); objects without a namespace go to
// default_ns.
result<std::vector<std::string>> install_manifest_text(api_server& srv, const std::string& text,
                                                       const std::string& origin,
                                                       const std::string& default_ns);

// Creates the namespace when it does not exist.
status ensure_namespace(api_server& srv, const std::string& name);

// deploy/crds next to the executable's tree: walks up from `exe_path`'s directory looking for
// deploy/crds (source tree) or share/kaito/deploy/crds (install prefix). "" when not found.
std::string find_crds_dir(const std::string& exe_path);

}  // namespace kaito::k8s::apiserver
