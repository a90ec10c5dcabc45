// train_checkpoint (contract: engine/train_checkpoint.h).
#include "engine/train_checkpoint.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "engine/peft_adapter.h"
#include "engine/safetensors.h"

namespace kaito::engine {

namespace {

std::string moment_name(const lora_module& m, bool is_b, const char* kind) {
  return std::string(kind) + "." + peft_tensor_name(m, is_b);
}

}  // namespace

status save_train_checkpoint(const std::string& dir, const train_state& s) {
  const size_t n = s.adapter.modules.size();
  if (s.exp_avg.size() != 2 * n || s.exp_avg_sq.size() != 2 * n)
    return invalid_argument("two moments per module expected", "exp_avg");
  KAITO_TRY(save_peft_adapter(dir, s.adapter));
  std::vector<st_write_entry> entries;
  for (size_t i = 0; i < n; ++i) {
    const lora_module& mod = s.adapter.modules[i];
    for (bool is_b : {false, true}) {
      const std::vector<int64_t> shape =
          is_b ? std::vector<int64_t>{mod.out, mod.r} : std::vector<int64_t>{mod.r, mod.in};
      const size_t k = 2 * i + (is_b ? 1 : 0);
      const size_t want = (is_b ? mod.B : mod.A).size();
      if (s.exp_avg[k].size() != want || s.exp_avg_sq[k].size() != want)
        return invalid_argument("moment size differs from the weight's",
                                moment_name(mod, is_b, "exp_avg"));
      entries.push_back(st_f32_entry(moment_name(mod, is_b, "exp_avg"), shape, s.exp_avg[k]));
      entries.push_back(st_f32_entry(moment_name(mod, is_b, "exp_avg_sq"), shape, s.exp_avg_sq[k]));
    }
  }
  return write_safetensors(dir + "/trainer_state.safetensors", entries,
                           {{"step", std::to_string(s.step)},
                            {"micro_index", std::to_string(s.micro_index)},
                            {"seed", std::to_string(s.seed)}});
}

result<train_state> load_train_checkpoint(const std::string& dir, const model_config& c,
                                          const lora_adapter& like, uint64_t seed) {
  train_state s;
  KAITO_ASSIGN_OR_RETURN(s.adapter, load_peft_adapter(dir, c));
  if (s.adapter.modules.size() != like.modules.size())
    return status(status_code::failed_precondition, "checkpoint adapter has other modules", dir);
  for (size_t i = 0; i < like.modules.size(); ++i)
    if (s.adapter.modules[i].path != like.modules[i].path ||
        s.adapter.modules[i].r != like.modules[i].r)
      return status(status_code::failed_precondition, "checkpoint adapter has other modules",
                    s.adapter.modules[i].path);
  const std::string path = dir + "/trainer_state.safetensors";
  KAITO_ASSIGN_OR_RETURN(safetensors_file f, safetensors_file::open(path));
  for (const auto& mod : s.adapter.modules) {
    for (bool is_b : {false, true}) {
      for (const char* kind : {"exp_avg", "exp_avg_sq"}) {
        const std::string name = moment_name(mod, is_b, kind);
        const st_tensor_info* t = f.find(name);
        if (!t) return not_found("missing optimizer state", path + ": " + name);
        KAITO_ASSIGN_OR_RETURN(std::vector<float> x, st_to_f32(*t, f.data(*t)));
        if (x.size() != (is_b ? mod.B.size() : mod.A.size()))
          return invalid_argument("optimizer state has the wrong size", path + ": " + name);
        (std::string(kind) == "exp_avg" ? s.exp_avg : s.exp_avg_sq).push_back(std::move(x));
      }
    }
  }
  auto number = [&](const char* key, uint64_t* out) -> status {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) return not_found("missing metadata", path + ": " + key);
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0' || errno != 0 || it->second[0] == '-')
      return invalid_argument("not a non-negative integer", path + ": " + key);
    *out = x;
    return {};
  };
  uint64_t step = 0, micro_index = 0, saved_seed = 0;
  KAITO_TRY(number("step", &step));
  KAITO_TRY(number("micro_index", &micro_index));
  KAITO_TRY(number("seed", &saved_seed));
  if (saved_seed != seed)
    return status(status_code::failed_precondition, "checkpoint was made with another seed",
                  path + ": seed");
  s.adapter.config = like.config;
  s.step = static_cast<int64_t>(step);
  s.micro_index = static_cast<int64_t>(micro_index);
  s.seed = saved_seed;
  return s;
}

}  // namespace kaito::engine
