// tuning.* admission rules (Kaito: TuningSpec.validateCreate / validateUpdate,
// DataSource.validateCreate / validateUpdate, DataDestination.validateCreate / validateUpdate).
#include "protocol/api/data_url.h"
#include "protocol/api/image_reference.h"
#include "protocol/api/validation_internal.h"
#include "protocol/api/workspace.h"

namespace kaito::api::detail {

namespace {

void check_input_image(const std::string& image, const std::string& path, field_errors& errs) {
  auto ref = parse_docker_ref(image);
  if (!ref.ok())
    errs.invalid(path, image, "Unable to parse input image reference: " + ref.error().message());
}

// Output image references that do not parse are warnings (see workspace_validation.h).
void check_output_image(const std::string& image, const std::string& path,
                        std::vector<std::string>& warnings) {
  auto ref = parse_docker_ref(image);
  if (!ref.ok())
    warnings.push_back(path + ": Invalid value: " + render_value(image) +
                       ": Unable to parse output image reference: " + ref.error().message());
}

void data_destination_create(const data_destination& d, const std::string& path, field_errors& errs,
                             std::vector<std::string>& warnings) {
  int specified = 0;
  std::string image = d.image.value_or("");
  if (!image.empty()) {
    check_output_image(image, path + ".image", warnings);
    if (d.image_push_secret.value_or("").empty())
      errs.required(path + ".imagePushSecret",
                    "Must specify imagePushSecret with destination image");
    ++specified;
  }
  if (d.volume_source) ++specified;
  if (specified != 1) errs.required(path, "Exactly one of Volume or Image must be specified");
}

}  // namespace

void data_source_create(const data_source& s, const std::string& path, field_errors& errs) {
  int specified = 0;
  if (s.urls && !s.urls->empty()) {
    for (size_t i = 0; i < s.urls->size(); ++i) {
      const std::string& url = (*s.urls)[i];
      status st = validate_data_source_url(url);
      if (!st.ok()) errs.invalid(path + ".urls[" + std::to_string(i) + "]", url, st.message());
    }
    ++specified;
  }
  std::string image = s.image.value_or("");
  if (!image.empty()) {
    check_input_image(image, path + ".image", errs);
    ++specified;
  }
  if (s.volume_source) ++specified;
  if (specified != 1) errs.generic(path, "Exactly one of URLs, Volume, or Image must be specified");
}

void tuning_create(const workspace& ws, const validation_options& opt, field_errors& errs,
                   std::vector<std::string>& warnings) {
  const tuning_spec& t = *ws.tuning;
  std::string method = t.method.value_or("");
  std::string lower = to_lower(method);
  bool method_ok = lower == "lora" || lower == "qlora";
  if (!method_ok) errs.not_supported("tuning.method", method, {"lora", "qlora"});
  if (opt.config_maps && method_ok) {
    std::string name = t.config.value_or("");
    std::string ns = ws_namespace(ws, opt);
    if (name.empty()) {
      name = lower == "lora" ? "lora-params-template" : "qlora-params-template";
      ns = opt.release_namespace;
    }
    auto cm = opt.config_maps(ns, name);
    if (!cm.ok()) {
      config_map_error(cm.error(), "tuning.config", name, ns, errs);
    } else {
      auto it = cm->data.find("training_config.yaml");
      if (it == cm->data.end())
        errs.required("tuning.config", "training_config.yaml in ConfigMap");
      else
        errs.append(validate_tuning_config(it->second, lower, name, ns));
    }
  }
  if (!t.input)
    errs.required("tuning.input");
  else
    data_source_create(*t.input, "tuning.input", errs);
  if (!t.output)
    errs.required("tuning.output");
  else
    data_destination_create(*t.output, "tuning.output", errs, warnings);
  if (!t.preset) {
    errs.required("tuning.preset");
  } else {
    std::string name = t.preset->name.value_or("");
    const preset_facts* p = opt.presets ? opt.presets->find_preset(to_lower(name)) : nullptr;
    if (!p || !p->supports_tuning)
      errs.invalid("tuning.preset.name", name, "Unsupported tuning preset name " + name);
  }
}

void tuning_update(const tuning_spec& old_t, const tuning_spec& t, field_errors& errs,
                   std::vector<std::string>& warnings) {
  if (!t.input) {
    errs.required("tuning.input");
  } else {
    std::string old_name = old_t.input ? old_t.input->name.value_or("") : "";
    std::string name = t.input->name.value_or("");
    if (name != old_name)
      errs.invalid("tuning.input.name", name,
                   "During tuning Name field cannot be changed once set");
    if (!t.input->image.value_or("").empty())
      check_input_image(*t.input->image, "tuning.input.image", errs);
  }
  if (!t.output)
    errs.required("tuning.output");
  else if (!t.output->image.value_or("").empty())
    check_output_image(*t.output->image, "tuning.output.image", warnings);
  json op = old_t.preset ? encode_preset_spec(*old_t.preset) : json(nullptr);
  json np = t.preset ? encode_preset_spec(*t.preset) : json(nullptr);
  if (op != np) errs.generic("tuning.preset", "Preset cannot be changed");
  if (to_lower(old_t.method.value_or("")) != to_lower(t.method.value_or("")))
    errs.generic("tuning.method", "Method cannot be changed");
}

}  // namespace kaito::api::detail
