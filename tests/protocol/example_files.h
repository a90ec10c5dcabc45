// example_files: the files under examples/, read and split into Workspaces and ConfigMaps, for the
// protocol tests (round trips, conversion, validation with the ConfigMaps the files carry).
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/api/workspace.h"
#include "protocol/api/workspace_validation.h"
#include "protocol/api/yaml.h"

namespace kaito::api::testing {

inline std::vector<std::string> example_paths() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(std::string(KAITO_SOURCE_DIR) + "/examples")) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct example_file {
  std::string path;
  std::vector<json> workspaces;  // raw JSON of each Workspace document
  std::vector<config_map> config_maps;
};

inline example_file load_example(const std::string& path) {
  example_file f;
  f.path = path;
  auto docs = decode_documents(read_text(path));
  if (!docs.ok()) return f;
  for (const auto& d : *docs) {
    if (d.value("kind", "") == "Workspace") {
      f.workspaces.push_back(d);
    } else if (d.value("kind", "") == "ConfigMap") {
      config_map cm;
      cm.name = d["metadata"].value("name", "");
      cm.namespace_ = d["metadata"].value("namespace", "default");
      for (const auto& [k, v] : d["data"].items()) cm.data[k] = v.get<std::string>();
      f.config_maps.push_back(cm);
    }
  }
  return f;
}

// A lookup over the file's ConfigMaps; anything else is not_found.
inline config_map_lookup lookup_over(const std::vector<config_map>& cms) {
  return [cms](const std::string& ns, const std::string& name) -> result<config_map> {
    for (const auto& cm : cms)
      if (cm.name == name && cm.namespace_ == ns) return cm;
    return not_found("configmaps \"" + name + "\" not found");
  };
}

}  // namespace kaito::api::testing
