// `kaito validate -f FILE... [--presets-dir DIR]`: Kaito's admission checks, offline.
//
// Every document of every file (multi-document YAML or JSON; `-` reads stdin; `kind: List` items
// are expanded) is decoded; each Workspace is defaulted as the API server would and run through
// validate_create with the real preset catalog. ConfigMaps found in the same files answer the
// Workspaces' `config` references; Kaito's default tuning templates come from the catalog; any
// other ConfigMap is unknown offline and its checks are skipped (with a warning).
//
// Output, as kubectl prints it: `workspace.kaito.sh/<name> valid` on stdout per valid Workspace;
// `The Workspace "x" is invalid: ...` (one line per cause) on stderr per invalid one; unknown
// fields and other warnings as `Warning: ...` on stderr. Exit code 1 when any file does not parse
// or any Workspace is invalid.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "presets/preset_catalog.h"
#include "protocol/api/workspace.h"
#include "protocol/api/workspace_validation.h"
#include "protocol/api/yaml.h"

namespace kaito::cli {

namespace {

struct validate_options {
  std::vector<std::string> files;
  std::string presets_dir;
};

struct document {
  std::string file;
  api::json doc;
};

bool read_input(const std::string& file, std::string* out) {
  if (file == "-") {
    out->assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void collect(const std::string& file, const api::json& d, std::vector<document>& docs) {
  std::string kind = d.is_object() ? d.value("kind", "") : "";
  if (kind == "List" && d.contains("items") && d["items"].is_array()) {
    for (const auto& item : d["items"]) collect(file, item, docs);
    return;
  }
  docs.push_back({file, d});
}

result<api::config_map> to_config_map(const api::json& d) {
  api::config_map cm;
  const api::json meta = d.value("metadata", api::json::object());
  if (!meta.is_object()) return invalid_argument("metadata must be an object");
  cm.name = meta.value("name", "");
  cm.namespace_ = meta.value("namespace", "default");
  if (d.contains("data") && d["data"].is_object()) {
    for (const auto& [k, v] : d["data"].items()) {
      if (!v.is_string()) return invalid_argument("data." + k + " must be a string");
      cm.data[k] = v.get<std::string>();
    }
  }
  return cm;
}

void run(const validate_options& o) {
  const std::string dir = o.presets_dir.empty() ? presets::default_presets_dir() : o.presets_dir;
  auto cat = presets::load_catalog(dir);
  if (!cat.ok()) {
    std::fprintf(stderr, "error: loading presets from %s: %s\n", dir.c_str(),
                 cat.error().to_string().c_str());
    set_exit_code(1);
    return;
  }
  std::shared_ptr<const presets::preset_catalog> catalog = cat.value();
  bool failed = false;
  std::vector<document> docs;
  for (const auto& file : o.files) {
    std::string text;
    if (!read_input(file, &text)) {
      std::fprintf(stderr, "error: the path \"%s\" does not exist\n", file.c_str());
      failed = true;
      continue;
    }
    auto parsed = api::decode_documents(text);
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: error parsing %s: %s\n", file.c_str(),
                   parsed.error().to_string().c_str());
      failed = true;
      continue;
    }
    for (const auto& d : *parsed) collect(file, d, docs);
  }

  std::vector<api::config_map> config_maps;
  for (const auto& d : docs) {
    if (!d.doc.is_object() || d.doc.value("kind", "") != "ConfigMap") continue;
    auto cm = to_config_map(d.doc);
    if (!cm.ok()) {
      std::fprintf(stderr, "error: %s: ConfigMap: %s\n", d.file.c_str(),
                   cm.error().to_string().c_str());
      failed = true;
      continue;
    }
    config_maps.push_back(*cm);
  }

  api::validation_options opt;
  opt.presets = catalog.get();
  std::set<std::string> skipped;
  opt.config_maps = [&](const std::string& ns, const std::string& name) -> result<api::config_map> {
    for (const auto& cm : config_maps)
      if (cm.name == name && cm.namespace_ == ns) return cm;
    if (ns == opt.release_namespace &&
        (name == "qlora-params-template" || name == "lora-params-template")) {
      std::string method = name == "lora-params-template" ? "lora" : "qlora";
      return api::config_map{
          name, ns, {{"training_config.yaml", catalog->tuning_training_config(method)}}};
    }
    if (ns == opt.release_namespace && name == "inference-params-template")
      return api::config_map{name, ns, {{"inference_config.yaml", catalog->inference_config()}}};
    skipped.insert(ns + "/" + name);
    return status(status_code::unavailable, "not known offline");
  };

  for (const auto& d : docs) {
    std::string kind = d.doc.is_object() ? d.doc.value("kind", "") : "";
    if (kind == "ConfigMap") continue;
    if (kind != "Workspace") {
      std::fprintf(stderr, "Warning: %s: skipping a document of kind \"%s\"\n", d.file.c_str(),
                   kind.c_str());
      continue;
    }
    auto decoded = api::decode_workspace(d.doc);
    if (!decoded.ok()) {
      std::fprintf(stderr, "error: %s: Workspace cannot be decoded: %s\n", d.file.c_str(),
                   decoded.error().to_string().c_str());
      failed = true;
      continue;
    }
    for (const auto& w : decoded->warnings) std::fprintf(stderr, "Warning: %s\n", w.c_str());
    api::workspace ws = decoded->ws;
    api::apply_defaults(ws);
    skipped.clear();
    auto res = api::validate_create(ws, opt);
    for (const auto& s : skipped)
      std::fprintf(stderr,
                   "Warning: ConfigMap %s is not in the given files; its checks were skipped\n",
                   s.c_str());
    for (const auto& w : res.warnings) std::fprintf(stderr, "Warning: %s\n", w.c_str());
    if (res.ok()) {
      std::printf("workspace.kaito.sh/%s valid\n", ws.name().c_str());
    } else {
      std::fprintf(stderr, "%s\n",
                   api::format_kubectl_invalid(api::invalid_status(ws.name(), res.errors)).c_str());
      failed = true;
    }
  }
  std::fflush(stdout);
  if (failed) set_exit_code(1);
}

}  // namespace

void add_validate_command(CLI::App& app) {
  auto o = std::make_shared<validate_options>();
  auto* cmd = app.add_subcommand(
      "validate", "Run Kaito's Workspace admission checks on files, offline (like kubectl apply)");
  cmd->add_option("-f,--filename", o->files, "Files with Workspaces (YAML or JSON; - for stdin)")
      ->required();
  cmd->add_option("--presets-dir", o->presets_dir, "Preset catalog directory");
  cmd->callback([o] { run(*o); });
}

}  // namespace kaito::cli
