// libFuzzer target: JSON -> Workspace decoder, encoder, conversion and admission validation
// (with a tiny catalog). No input may crash; encoding is a fixed point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/api/workspace.h"
#include "protocol/api/workspace_validation.h"
#include "protocol/api/yaml.h"

namespace {
class fuzz_catalog : public kaito::api::catalog {
 public:
  fuzz_catalog() {
    p_.name = "phi-3-mini-128k-instruct";
    p_.supports_tuning = true;
    p_.total_safetensor_file_size = 7645041787;
    p_.model_token_limit = 131072;
    s_ = {"Standard_NC6s_v3", "azure", 1, int64_t{16} << 30, "NVIDIA V100"};
  }
  const kaito::api::preset_facts* find_preset(std::string_view n) const override {
    return n == p_.name ? &p_ : nullptr;
  }
  const kaito::api::sku_facts* find_sku(std::string_view n) const override {
    return n == s_.name ? &s_ : nullptr;
  }
  std::vector<std::string> sku_names() const override { return {s_.name}; }

 private:
  kaito::api::preset_facts p_;
  kaito::api::sku_facts s_;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static const fuzz_catalog cat;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = kaito::api::decode_json(text);
  if (!j.ok()) return 0;
  auto d = kaito::api::decode_workspace(*j);
  if (!d.ok()) return 0;
  // Encoding is a fixed point: decode(encode(x)) re-encodes identically (exact losslessness for
  // real documents is checked by the unit tests; here nulls and empty metadata may be dropped).
  nlohmann::json once = kaito::api::encode_workspace(d->ws);
  auto d2 = kaito::api::decode_workspace(once);
  if (!d2.ok() || kaito::api::encode_workspace(d2->ws) != once) __builtin_trap();
  auto beta = kaito::api::convert_to_v1beta1(d->ws);
  if (beta.ok()) (void)kaito::api::convert_to_v1alpha1(*beta);
  kaito::api::workspace ws = d->ws;
  kaito::api::apply_defaults(ws);
  kaito::api::validation_options opt;
  opt.presets = &cat;
  opt.config_maps = [&](const std::string&,
                        const std::string&) -> kaito::result<kaito::api::config_map> {
    return kaito::api::config_map{"cm", "default", {{"training_config.yaml", std::string(text)}}};
  };
  auto res = kaito::api::validate_create(ws, opt);
  if (!res.ok()) (void)kaito::api::invalid_status(ws.name(), res.errors);
  (void)kaito::api::validate_update(ws, ws, opt);
  return 0;
}
