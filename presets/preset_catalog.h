// preset_catalog: every model preset, GPU SKU and default tuning ConfigMap, loaded once from a
// presets directory:
//   <dir>/models/*.yaml   one preset each (preset.h), file name = <preset name>.yaml
//   <dir>/skus/*.yaml     one cloud each (sku_table.h)
//   <dir>/tuning/qlora-params-template.yaml, lora-params-template.yaml   ConfigMap manifests
// It implements kaito::api::catalog, the view admission validation uses.
//
// load_catalog returns the first error: an unreadable file (io_error naming the path), a malformed
// file (invalid_argument, where() = "<file>:<line>:<column>", message naming the field), a
// duplicate preset or SKU name. Tiny presets' weights.local_dir is resolved against shared_dir().
//
// default_presets_dir(): $KAITO_PRESETS_DIR if set; else the source tree's presets/ if it exists;
// else <install prefix>/share/kaito/presets.
//
// Thread-safety: immutable after load; share it through the shared_ptr.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "presets/preset.h"
#include "presets/sku_table.h"
#include "protocol/api/catalog.h"

namespace kaito::presets {

class preset_catalog : public api::catalog {
 public:
  // nullptr when unknown.
  const preset* find(std::string_view name) const;
  // Sorted by name.
  const std::vector<preset>& all() const { return presets_; }
  // nullptr when unknown. Instance types are matched exactly (Kaito's tables are case-sensitive).
  const sku* find_sku_entry(std::string_view instance_type) const;
  // Every cloud's SKUs, in file order (arc, aws, azure).
  const std::vector<sku>& skus() const { return skus_; }
  // The default tuning ConfigMap manifest for method "qlora" or "lora" (the whole YAML file); an
  // empty string for any other method.
  const std::string& tuning_template(std::string_view method) const;
  // That ConfigMap's data["training_config.yaml"]; empty for an unknown method.
  const std::string& tuning_training_config(std::string_view method) const;
  // The default inference ConfigMap manifest (inference-params-template, the whole YAML file) and
  // its data["inference_config.yaml"] (vLLM settings), as Kaito's Helm chart ships them.
  const std::string& inference_template() const { return inference_.manifest; }
  const std::string& inference_config() const { return inference_.config; }
  // <dir>/chat_templates/<name>.jinja for the preset's chat template; empty for "none".
  // load_catalog refuses a preset whose template file is missing.
  std::string chat_template_file(const preset& p) const;
  // The directory it was loaded from.
  const std::string& dir() const { return dir_; }

  // kaito::api::catalog
  const api::preset_facts* find_preset(std::string_view name) const override;
  const api::sku_facts* find_sku(std::string_view instance_type) const override;
  std::vector<std::string> sku_names() const override;

 private:
  friend result<std::shared_ptr<const preset_catalog>> load_catalog(const std::string& dir);
  preset_catalog() = default;

  struct template_entry {
    std::string manifest;
    std::string config;  // the ConfigMap's one data value
  };

  std::string dir_;
  std::vector<preset> presets_;
  std::vector<sku> skus_;
  std::map<std::string, template_entry, std::less<>> tuning_;
  template_entry inference_;
};

result<std::shared_ptr<const preset_catalog>> load_catalog(const std::string& dir);

std::string default_presets_dir();

// Reads a ConfigMap manifest shipped as a template: checks kind ConfigMap, metadata.name ==
// `expected_name`, and returns data[data_key], which must itself be a YAML mapping.
result<std::string> parse_config_map_template(std::string_view yaml_text, const std::string& file,
                                              const std::string& expected_name,
                                              const std::string& data_key);

// Reads the ConfigMap manifest of a tuning template: checks kind ConfigMap, metadata.name ==
// `expected_name`, and returns data["training_config.yaml"], which must itself be YAML with a
// top-level `training_config` mapping.
result<std::string> parse_tuning_template(std::string_view yaml_text, const std::string& file,
                                          const std::string& expected_name);

}  // namespace kaito::presets
