// `kaito presets [--presets-dir DIR] [-o wide|yaml|json]`: the model presets as a kubectl-style
// table. `kaito presets get NAME [-o yaml|json]`: one preset, every field. Exit code 1 when the
// catalog does not load or the preset is unknown.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "presets/preset_catalog.h"
#include "presets/preset_format.h"

namespace kaito::cli {

namespace {

struct presets_options {
  std::string dir;
  std::string output;
  std::string name;
};

std::shared_ptr<const presets::preset_catalog> load(const presets_options& o) {
  const std::string dir = o.dir.empty() ? presets::default_presets_dir() : o.dir;
  auto cat = presets::load_catalog(dir);
  if (!cat.ok()) {
    std::fprintf(stderr, "error: loading presets from %s: %s\n", dir.c_str(),
                 cat.error().to_string().c_str());
    set_exit_code(1);
    return nullptr;
  }
  return cat.value();
}

void run_list(const presets_options& o) {
  auto cat = load(o);
  if (!cat) return;
  if (o.output.empty() || o.output == "wide") {
    std::fputs(presets::presets_table(cat->all(), o.output == "wide").c_str(), stdout);
    return;
  }
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const auto& p : cat->all()) items.push_back(presets::preset_to_json(p));
  nlohmann::ordered_json list = {{"items", items}};
  if (o.output == "json")
    std::printf("%s\n", list.dump(4).c_str());
  else
    std::fputs(presets::json_to_yaml(list).c_str(), stdout);
}

void run_get(const presets_options& o) {
  auto cat = load(o);
  if (!cat) return;
  const presets::preset* p = cat->find(o.name);
  if (!p) {
    std::fprintf(stderr, "error: preset \"%s\" not found (see `kaito presets`)\n", o.name.c_str());
    set_exit_code(1);
    return;
  }
  if (o.output == "json")
    std::printf("%s\n", presets::preset_to_json(*p).dump(4).c_str());
  else
    std::fputs(presets::preset_to_yaml(*p).c_str(), stdout);
}

}  // namespace

void add_presets_command(CLI::App& app) {
  auto opts = std::make_shared<presets_options>();
  auto* cmd =
      app.add_subcommand("presets", "List the model presets (name, family, params, GPU needs)");
  cmd->add_option("--presets-dir", opts->dir,
                  "Presets directory (default: $KAITO_PRESETS_DIR, the "
                  "source tree, or the install prefix)");
  cmd->add_option("-o,--output", opts->output, "Output format: wide, yaml or json")
      ->check(CLI::IsMember({"wide", "yaml", "json"}));
  auto* get = cmd->add_subcommand("get", "Print one preset with every field (YAML)");
  get->add_option("name", opts->name, "Preset name")->required();
  get->fallthrough();
  get->callback([opts] { run_get(*opts); });
  cmd->callback([opts, cmd, get] {
    if (cmd->got_subcommand(get)) return;
    run_list(*opts);
  });
}

}  // namespace kaito::cli
