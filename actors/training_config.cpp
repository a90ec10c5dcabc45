// training_config; see training_config.h.
#include "actors/training_config.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>

#include "kernels/lr_schedule.h"
#include "protocol/api/yaml.h"

namespace kaito::actors {

namespace {

using json = nlohmann::json;

// A value as the error shows it; invalid UTF-8 from the YAML is replaced, never thrown about.
std::string shown(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct section_reader {
  const json& sec;
  std::string name;  // "TrainingArguments"
  training_config_effect* eff;

  std::string field(const std::string& key) const { return "training_config." + name + "." + key; }
  status bad(const std::string& key, const std::string& why) const {
    return invalid_argument(why, field(key));
  }
  status unsupported(const std::string& key, const std::string& why) const {
    return status(status_code::unimplemented, why, field(key));
  }
  result<int64_t> integer(const std::string& key, int64_t lo, int64_t hi) const {
    const json& v = sec[key];
    double d = v.is_number() ? v.get<double>() : NAN;
    if (!v.is_number() || !(d == std::floor(d)) || d < double(lo) || d > double(hi))
      return bad(key, "want an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got " + shown(v));
    return static_cast<int64_t>(d);
  }
  result<double> number(const std::string& key, double lo, double hi) const {
    const json& v = sec[key];
    double d = v.is_number() ? v.get<double>() : NAN;
    if (v.is_string()) {  // TrainingArguments takes "2e-4" as well
      const std::string& s = v.get_ref<const std::string&>();
      size_t used = 0;
      try {
        d = std::stod(s, &used);
      } catch (...) {
        used = 0;
      }
      if (used != s.size()) d = NAN;
    }
    if (!(d >= lo && d <= hi))
      return bad(key, "want a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got " + shown(v));
    return d;
  }
  result<bool> boolean(const std::string& key) const {
    if (!sec[key].is_boolean()) return bad(key, "want true or false, got " + shown(sec[key]));
    return sec[key].get<bool>();
  }
  void ignore(const std::string& key) const { eff->ignored.push_back(name + "." + key); }
};

// A column name: a non-empty string.
result<std::string> column_name(const section_reader& r, const std::string& k) {
  const json& v = r.sec[k];
  if (!v.is_string() || v.get<std::string>().empty())
    return r.bad(k, "want a column name, got " + shown(v));
  return v.get<std::string>();
}

status lora_key(const section_reader& r, const std::string& k, engine::tune_job* j) {
  if (k == "r") {
    KAITO_ASSIGN_OR_RETURN(j->lora.r, r.integer(k, 1, 4096));
  } else if (k == "lora_alpha") {
    KAITO_ASSIGN_OR_RETURN(j->lora.alpha, r.number(k, 1e-6, 1e6));
  } else if (k == "lora_dropout") {
    KAITO_ASSIGN_OR_RETURN(j->lora.dropout, r.number(k, 0.0, 0.999));
  } else if (k == "target_modules") {
    const json& v = r.sec[k];
    std::vector<std::string> mods;
    if (v.is_string()) mods.push_back(v.get<std::string>());
    if (v.is_array())
      for (const auto& m : v)
        if (m.is_string() && !m.get<std::string>().empty()) mods.push_back(m.get<std::string>());
    if (mods.empty() || (v.is_array() && mods.size() != v.size()))
      return r.bad(k, "want \"all-linear\" or a list of module names");
    j->lora.target_modules = mods;
    j->lora.target_regex.clear();
  } else if (k == "use_rslora") {
    KAITO_ASSIGN_OR_RETURN(j->lora.use_rslora, r.boolean(k));
  } else if (k == "bias") {
    if (r.sec[k] != "none") return r.unsupported(k, "only bias: none (PEFT's default) is trained");
  } else if (k == "task_type") {
    if (r.sec[k] != "CAUSAL_LM") return r.unsupported(k, "only CAUSAL_LM");
  } else {
    r.ignore(k);
  }
  return {};
}

status quantization_key(const section_reader& r, const std::string& k, engine::tune_job* j) {
  if (k == "load_in_4bit") {
    KAITO_ASSIGN_OR_RETURN(bool on, r.boolean(k));
    if (on != j->qlora)
      return r.bad(k, on ? "4-bit quantization is qlora: set tuning.method: qlora"
                         : "method qlora needs load_in_4bit: true");
  } else if (k == "load_in_8bit") {
    KAITO_ASSIGN_OR_RETURN(bool on, r.boolean(k));
    if (on) return r.unsupported(k, "8-bit (LLM.int8) bases are not implemented; use 4-bit NF4");
  } else if (k == "bnb_4bit_quant_type") {
    if (r.sec[k] != "nf4") return r.unsupported(k, "only nf4");
  } else if (k == "bnb_4bit_use_double_quant") {
    KAITO_ASSIGN_OR_RETURN(bool on, r.boolean(k));
    if (!on) r.ignore(k);  // the NF4 base always double-quantizes its absmax
  } else {
    r.ignore(k);  // bnb_4bit_compute_dtype: ours computes in fp32 on the CPU, bf16 on GPUs
  }
  return {};
}

status training_key(const section_reader& r, const std::string& k, engine::tune_job* j,
                    training_config_effect* eff) {
  if (k == "num_train_epochs") {
    KAITO_ASSIGN_OR_RETURN(j->epochs, r.integer(k, 1, 100000));
  } else if (k == "max_steps") {
    KAITO_ASSIGN_OR_RETURN(int64_t s, r.integer(k, -1, int64_t(1) << 40));
    j->max_steps = s < 0 ? 0 : s;
  } else if (k == "per_device_train_batch_size") {
    KAITO_ASSIGN_OR_RETURN(j->micro_batch_size, r.integer(k, 1, 65536));
  } else if (k == "gradient_accumulation_steps") {
    KAITO_ASSIGN_OR_RETURN(j->grad_accum, r.integer(k, 1, 65536));
  } else if (k == "learning_rate") {
    KAITO_ASSIGN_OR_RETURN(j->lr, r.number(k, 1e-12, 10.0));
  } else if (k == "lr_scheduler_type") {
    const json& v = r.sec[k];
    if (!v.is_string() || !lr_schedule_kind_from_name(v.get<std::string>(), &j->schedule))
      return r.unsupported(
          k, "want linear, cosine, constant or constant_with_warmup, got " + shown(v));
  } else if (k == "warmup_steps") {
    KAITO_ASSIGN_OR_RETURN(j->warmup_steps, r.integer(k, 0, int64_t(1) << 40));
  } else if (k == "max_grad_norm") {
    KAITO_ASSIGN_OR_RETURN(j->max_grad_norm, r.number(k, 0.0, 1e12));
  } else if (k == "weight_decay") {
    KAITO_ASSIGN_OR_RETURN(j->weight_decay, r.number(k, 0.0, 1e6));
  } else if (k == "seed") {
    KAITO_ASSIGN_OR_RETURN(int64_t s, r.integer(k, 0, int64_t(1) << 53));
    j->seed = static_cast<uint64_t>(s);
  } else if (k == "gradient_checkpointing") {
    KAITO_ASSIGN_OR_RETURN(j->activation_checkpointing, r.boolean(k));
  } else if (k == "max_seq_length" || k == "max_length") {
    KAITO_ASSIGN_OR_RETURN(j->max_length, r.integer(k, 2, int64_t(1) << 24));
  } else if (k == "dataset_text_field") {  // SFTConfig's: the language-modeling text column
    KAITO_ASSIGN_OR_RETURN(j->columns.text, column_name(r, k));
  } else if (k == "output_dir") {
    const json& v = r.sec[k];
    if (!v.is_string() || v.get<std::string>().rfind("/mnt/", 0) != 0)
      return r.bad(k, "must be a directory under /mnt, got " + shown(v));
    eff->output_dir = v.get<std::string>();
  } else {
    r.ignore(k);  // save_strategy, logging_steps, ddp_find_unused_parameters, ...
  }
  return {};
}

// DatasetConfig's context_column / response_column, resolved once every key is read.
struct prompt_columns {
  std::string context, response;
};

status dataset_key(const section_reader& r, const std::string& k, engine::tune_job* j,
                   prompt_columns* pc) {
  const bool column = k == "instruction_column" || k == "messages_column" ||
                      k == "dataset_text_field" || k == "context_column" || k == "response_column";
  if (column && r.sec[k].is_null()) return {};  // HfArgumentParser's None: the default
  if (k == "instruction_column") {
    return r.unsupported(k, "TRL's formats have no instruction field: put it in the prompt");
  } else if (k == "messages_column") {
    KAITO_ASSIGN_OR_RETURN(j->columns.messages, column_name(r, k));
  } else if (k == "dataset_text_field") {
    KAITO_ASSIGN_OR_RETURN(j->columns.text, column_name(r, k));
  } else if (k == "context_column") {
    KAITO_ASSIGN_OR_RETURN(pc->context, column_name(r, k));
  } else if (k == "response_column") {
    KAITO_ASSIGN_OR_RETURN(pc->response, column_name(r, k));
  } else {
    r.ignore(k);  // shuffle_dataset, shuffle_seed, train_test_split
  }
  return {};
}

// context_column + response_column name the prompt and completion columns; response_column: text
// alone is Kaito's default (DatasetConfig's dataclass) and changes nothing.
status apply_prompt_columns(const section_reader& r, const prompt_columns& pc,
                            engine::tune_job* j) {
  if (!pc.context.empty() && !pc.response.empty()) {
    j->columns.prompt = pc.context;
    j->columns.completion = pc.response;
  } else if (!pc.context.empty()) {
    return r.unsupported("context_column",
                         "names the prompt column together with response_column (the "
                         "completion column)");
  } else if (!pc.response.empty() && pc.response != "text") {
    return r.unsupported("response_column",
                         "names the completion column together with context_column (the prompt "
                         "column); a text column is TrainingArguments.dataset_text_field");
  }
  return {};
}

}  // namespace

result<training_config_effect> apply_training_config(std::string_view yaml_text,
                                                     engine::tune_job* job) {
  training_config_effect eff;
  KAITO_ASSIGN_OR_RETURN(json root, api::decode_yaml(yaml_text));
  if (!root.is_object() || !root.contains("training_config") ||
      !root["training_config"].is_object())
    return invalid_argument("want a map under training_config", "training_config");
  for (const auto& [name, sec] : root["training_config"].items()) {
    if (sec.is_null()) continue;
    if (!sec.is_object()) return invalid_argument("want a map", "training_config." + name);
    section_reader r{sec, name, &eff};
    prompt_columns pc;
    for (const auto& [k, v] : sec.items()) {
      status st;
      if (name == "LoraConfig")
        st = lora_key(r, k, job);
      else if (name == "QuantizationConfig")
        st = quantization_key(r, k, job);
      else if (name == "TrainingArguments")
        st = training_key(r, k, job, &eff);
      else if (name == "DatasetConfig")
        st = dataset_key(r, k, job, &pc);
      else if (name == "ModelConfig" || name == "DataCollator")
        r.ignore(k);
      else
        return invalid_argument("unknown section", "training_config." + name);
      KAITO_TRY(st);
    }
    if (name == "DatasetConfig") KAITO_TRY(apply_prompt_columns(r, pc, job));
  }
  return eff;
}

}  // namespace kaito::actors
