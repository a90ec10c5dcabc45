// golden_fixture: a golden fixture folder's expected values (see golden_fixture.h).
#include "engine/golden_fixture.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

namespace kaito::engine {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

adamw_params parse_readme_adamw(const std::string& readme) {
  adamw_params h;
  h.lr = 1e-2;  // the fixtures' defaults (adamw_params' own are torch's: lr 1e-3)
  h.beta1 = 0.9;
  h.beta2 = 0.999;
  h.eps = 1e-8;
  h.weight_decay = 0.01;
  const std::string num = "([-+0-9.eE]+)";
  std::smatch mm;
  auto grab = [&](const std::string& re, double* out) {
    if (std::regex_search(readme, mm, std::regex(re)))
      *out = std::strtod(mm[1].str().c_str(), nullptr);
  };
  grab("\\blr=" + num, &h.lr);
  grab("\\beps=" + num, &h.eps);
  grab("\\bwd=" + num, &h.weight_decay);
  if (std::regex_search(readme, mm,
                        std::regex("betas=\\(\\s*" + num + "\\s*,\\s*" + num + "\\s*\\)"))) {
    h.beta1 = std::strtod(mm[1].str().c_str(), nullptr);
    h.beta2 = std::strtod(mm[2].str().c_str(), nullptr);
  }
  return h;
}

std::string golden_param_name(const lora_module& m, bool is_b) {
  return "base_model.model." + m.path +
         (is_b ? ".lora_B.default.weight" : ".lora_A.default.weight");
}

result<golden_fixture> golden_fixture::open(const std::string& dir) {
  KAITO_ASSIGN_OR_RETURN(safetensors_file f, safetensors_file::open(dir + "/expected.safetensors"));
  golden_fixture g(std::move(f));
  const st_tensor_info* ids = g.file_.find("input_ids");
  const st_tensor_info* labels = g.file_.find("labels");
  if (ids == nullptr) return not_found("missing from expected.safetensors", "input_ids");
  if (labels == nullptr) return not_found("missing from expected.safetensors", "labels");
  if (ids->shape.size() != 2 || labels->shape != ids->shape)
    return invalid_argument("input_ids and labels must both be [B, S]", "expected.safetensors");
  KAITO_ASSIGN_OR_RETURN(std::vector<int64_t> id64, st_to_i64(*ids, g.file_.data(*ids)));
  KAITO_ASSIGN_OR_RETURN(std::vector<int64_t> lab64, st_to_i64(*labels, g.file_.data(*labels)));
  g.batch_.B = ids->shape[0];
  g.batch_.T = ids->shape[1];
  for (int64_t v : id64) g.batch_.ids.push_back(static_cast<int32_t>(v));
  for (int64_t v : lab64) g.batch_.labels.push_back(static_cast<int32_t>(v));
  g.adamw_ = parse_readme_adamw(read_text(dir + "/README.txt"));
  return g;
}

std::vector<int32_t> golden_fixture::shifted_targets() const {
  const int64_t B = batch_.B, T = batch_.T;
  std::vector<int32_t> t(size_t(B * T), -100);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i + 1 < T; ++i) t[size_t(b * T + i)] = batch_.labels[size_t(b * T + i + 1)];
  return t;
}

result<std::vector<float>> golden_fixture::f32(const std::string& name) const {
  const st_tensor_info* t = file_.find(name);
  if (t == nullptr) return not_found("missing from expected.safetensors", name);
  return st_to_f32(*t, file_.data(*t));
}

}  // namespace kaito::engine
