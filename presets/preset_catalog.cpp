#include "presets/preset_catalog.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "presets/yaml_reader.h"

namespace kaito::presets {

namespace fs = std::filesystem;

namespace {

result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return io_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("error reading " + p.string());
  return ss.str();
}

// The *.yaml files directly in `dir`, sorted by name.
result<std::vector<fs::path>> yaml_files(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return io_error("cannot list " + dir.string() + ": " + ec.message());
  std::vector<fs::path> out;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return io_error("cannot list " + dir.string() + ": " + ec.message());
    if (it->path().extension() == ".yaml" && it->is_regular_file(ec)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const preset* preset_catalog::find(std::string_view name) const {
  auto it = std::lower_bound(presets_.begin(), presets_.end(), name,
                             [](const preset& p, std::string_view n) { return p.name < n; });
  return it != presets_.end() && it->name == name ? &*it : nullptr;
}

const sku* preset_catalog::find_sku_entry(std::string_view instance_type) const {
  for (const sku& s : skus_)
    if (s.facts.name == instance_type) return &s;
  return nullptr;
}

const std::string& preset_catalog::tuning_template(std::string_view method) const {
  static const std::string empty;
  auto it = tuning_.find(method);
  return it == tuning_.end() ? empty : it->second.manifest;
}

const std::string& preset_catalog::tuning_training_config(std::string_view method) const {
  static const std::string empty;
  auto it = tuning_.find(method);
  return it == tuning_.end() ? empty : it->second.config;
}

std::string preset_catalog::chat_template_file(const preset& p) const {
  if (p.chat_template.empty() || p.chat_template == "none") return {};
  return (fs::path(dir_) / "chat_templates" / (p.chat_template + ".jinja")).string();
}

const api::preset_facts* preset_catalog::find_preset(std::string_view name) const {
  const preset* p = find(name);
  return p ? &p->facts : nullptr;
}

const api::sku_facts* preset_catalog::find_sku(std::string_view instance_type) const {
  const sku* s = find_sku_entry(instance_type);
  return s ? &s->facts : nullptr;
}

std::vector<std::string> preset_catalog::sku_names() const {
  std::vector<std::string> names;
  for (const sku& s : skus_) names.push_back(s.facts.name);
  std::sort(names.begin(), names.end());
  return names;
}

result<std::string> parse_config_map_template(std::string_view yaml_text, const std::string& file,
                                              const std::string& expected_name,
                                              const std::string& data_key) {
  read_context cx{file, status()};
  YAML::Node doc = parse_yaml_document(yaml_text, cx);
  std::string config;
  if (cx.ok()) {
    map_reader m(cx, doc, "");
    std::string api_version, kind, name, ns;
    m.text("apiVersion", api_version, presence::required);
    m.text("kind", kind, presence::required);
    if (m.ok() && (api_version != "v1" || kind != "ConfigMap"))
      m.fail("kind", "expected apiVersion v1, kind ConfigMap");
    map_reader meta(cx, m.child("metadata", presence::required), "metadata");
    meta.text("name", name, presence::required);
    meta.text("namespace", ns, presence::optional);
    meta.finish();
    if (cx.ok() && name != expected_name)
      meta.fail("name", "expected \"" + expected_name + "\", got \"" + name + "\"");
    map_reader data(cx, m.child("data", presence::required), "data");
    data.text(data_key, config, presence::required);
    data.finish();
    m.finish();
  }
  if (!cx.ok()) return cx.error;
  read_context inner{file + " data[" + data_key + "]", status()};
  YAML::Node body = parse_yaml_document(config, inner);
  if (inner.ok() && !body.IsMap()) inner.fail(body.Mark(), "", "expected a mapping");
  if (!inner.ok()) return inner.error;
  return config;
}

result<std::string> parse_tuning_template(std::string_view yaml_text, const std::string& file,
                                          const std::string& expected_name) {
  KAITO_ASSIGN_OR_RETURN(
      std::string config,
      parse_config_map_template(yaml_text, file, expected_name, "training_config.yaml"));
  read_context inner{file + " data[training_config.yaml]", status()};
  YAML::Node tc = parse_yaml_document(config, inner);
  if (inner.ok()) {
    map_reader top(inner, tc, "");
    YAML::Node body = top.child("training_config", presence::required);
    if (inner.ok() && !body.IsMap()) top.fail("training_config", "expected a mapping");
  }
  if (!inner.ok()) return inner.error;
  return config;
}

result<std::shared_ptr<const preset_catalog>> load_catalog(const std::string& dir) {
  std::shared_ptr<preset_catalog> cat(new preset_catalog());
  cat->dir_ = dir;
  const fs::path root(dir);

  KAITO_ASSIGN_OR_RETURN(std::vector<fs::path> model_files, yaml_files(root / "models"));
  if (model_files.empty()) return not_found("no presets in " + (root / "models").string());
  const std::string shared = shared_dir();
  for (const fs::path& f : model_files) {
    KAITO_ASSIGN_OR_RETURN(std::string text, read_file(f));
    KAITO_ASSIGN_OR_RETURN(preset p, parse_preset(text, f.string()));
    if (f.stem().string() != p.name)
      return invalid_argument("name: \"" + p.name + "\" does not match the file name", f.string());
    if (!p.weights.local_dir.empty())
      p.weights.local_path = (fs::path(shared) / p.weights.local_dir).lexically_normal().string();
    if (std::string t = cat->chat_template_file(p); !t.empty() && !fs::is_regular_file(t))
      return not_found("chat_template: \"" + p.chat_template + "\" has no file " + t, f.string());
    cat->presets_.push_back(std::move(p));
  }
  std::sort(cat->presets_.begin(), cat->presets_.end(),
            [](const preset& a, const preset& b) { return a.name < b.name; });

  KAITO_ASSIGN_OR_RETURN(std::vector<fs::path> sku_files, yaml_files(root / "skus"));
  std::set<std::string, std::less<>> seen;
  for (const fs::path& f : sku_files) {
    KAITO_ASSIGN_OR_RETURN(std::string text, read_file(f));
    KAITO_ASSIGN_OR_RETURN(std::vector<sku> list, parse_sku_file(text, f.string()));
    for (sku& s : list) {
      if (!seen.insert(s.facts.name).second)
        return invalid_argument("duplicate instance type " + s.facts.name, f.string());
      cat->skus_.push_back(std::move(s));
    }
  }

  for (const char* method : {"qlora", "lora"}) {
    const std::string name = std::string(method) + "-params-template";
    const fs::path f = root / "tuning" / (name + ".yaml");
    KAITO_ASSIGN_OR_RETURN(std::string text, read_file(f));
    KAITO_ASSIGN_OR_RETURN(std::string config, parse_tuning_template(text, f.string(), name));
    cat->tuning_[method] = {std::move(text), std::move(config)};
  }

  {
    const std::string name = "inference-params-template";
    const fs::path f = root / "inference" / (name + ".yaml");
    KAITO_ASSIGN_OR_RETURN(std::string text, read_file(f));
    KAITO_ASSIGN_OR_RETURN(std::string config, parse_config_map_template(text, f.string(), name,
                                                                         "inference_config.yaml"));
    cat->inference_ = {std::move(text), std::move(config)};
  }
  return std::shared_ptr<const preset_catalog>(std::move(cat));
}

std::string default_presets_dir() {
  if (const char* env = std::getenv("KAITO_PRESETS_DIR"); env && *env) return env;
  std::error_code ec;
  if (fs::is_directory(fs::path(KAITO_PRESETS_SOURCE_DIR) / "models", ec))
    return KAITO_PRESETS_SOURCE_DIR;
  return KAITO_PRESETS_INSTALL_DIR;
}

}  // namespace kaito::presets
