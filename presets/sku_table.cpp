#include "presets/sku_table.h"

#include "presets/yaml_reader.h"

namespace kaito::presets {

namespace {

bool valid_compute_capability(const std::string& s) {
  // "<major>.<minor>", one or two digit major, one digit minor.
  size_t dot = s.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 2 || dot + 2 != s.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != dot && (s[i] < '0' || s[i] > '9')) return false;
  return true;
}

sku read_sku(read_context& cx, const YAML::Node& node, const std::string& path,
             const std::string& cloud) {
  sku s;
  s.facts.cloud = cloud;
  map_reader m(cx, node, path);
  m.text("instance_type", s.facts.name, presence::required);
  int64_t gpus = 0;
  m.integer("gpu_count", gpus, presence::required, 1);
  if (gpus > 1024) m.fail("gpu_count", "must be at most 1024");
  s.facts.gpu_count = static_cast<int>(gpus);
  m.quantity("total_gpu_memory", s.facts.total_gpu_memory, presence::required);
  if (m.ok() && s.facts.total_gpu_memory <= 0) m.fail("total_gpu_memory", "must be positive");
  m.text("gpu_model", s.facts.gpu_model, presence::required);
  m.text("compute_capability", s.compute_capability, presence::optional);
  if (m.ok() && !s.compute_capability.empty() && !valid_compute_capability(s.compute_capability))
    m.fail("compute_capability", "expected <major>.<minor>, e.g. \"8.0\"");
  m.boolean("nvme", s.nvme, presence::optional);
  m.text("source", s.source, presence::optional);
  if (m.ok() && s.source != "head" && s.source != "v0.4.6")
    m.fail("source", "must be head or v0.4.6");
  if (m.ok() && s.facts.name.empty()) m.fail("instance_type", "must not be empty");
  m.finish();
  return s;
}

}  // namespace

result<std::vector<sku>> parse_sku_file(std::string_view yaml_text, const std::string& file) {
  read_context cx{file, status()};
  YAML::Node doc = parse_yaml_document(yaml_text, cx);
  std::vector<sku> out;
  if (cx.ok()) {
    map_reader m(cx, doc, "");
    std::string cloud;
    m.text("cloud", cloud, presence::required);
    if (m.ok() && cloud != "azure" && cloud != "aws" && cloud != "arc")
      m.fail("cloud", "must be azure, aws or arc");
    YAML::Node list = m.child("skus", presence::required);
    m.finish();
    if (cx.ok() && !list.IsSequence()) cx.fail(list.Mark(), "skus", "expected a list");
    for (size_t i = 0; cx.ok() && i < list.size(); ++i)
      out.push_back(read_sku(cx, list[i], "skus[" + std::to_string(i) + "]", cloud));
  }
  if (!cx.ok()) return cx.error;
  return out;
}

}  // namespace kaito::presets
