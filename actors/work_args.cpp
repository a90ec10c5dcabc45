// work_args; see work_args.h.
#include "actors/work_args.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "presets/builtin_chat_templates.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

namespace {

// Parses a non-negative integer flag value within [lo, hi].
result<int64_t> parse_int_flag(const std::string& flag, const std::string& v, int64_t lo,
                               int64_t hi) {
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos)
    return invalid_argument("want an integer, got \"" + v + "\"", flag);
  int64_t x = std::stoll(v);
  if (x < lo || x > hi)
    return invalid_argument(
        "out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]: " + v, flag);
  return x;
}

// A preset name: a folder name under $KAITO_MODELS_DIR.
status check_preset(const std::string& flag, const std::string& v) {
  if (v.empty() || v.find('/') != std::string::npos || v == "." || v == "..")
    return invalid_argument("want a preset name, got \"" + v + "\"", flag);
  return {};
}

status check_absolute(const std::string& flag, const std::string& v) {
  if (v.empty() || v[0] != '/')
    return invalid_argument("want an absolute path, got \"" + v + "\"", flag);
  return {};
}

// An adapter's source.name: its folder under /mnt/adapter (DNS-1123 characters).
status check_adapter_name(const std::string& flag, const std::string& v) {
  if (v.empty() || v.size() > 253 || v == "." || v == ".." ||
      v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos)
    return invalid_argument("want a DNS-1123 adapter name, got \"" + v + "\"", flag);
  return {};
}

// An adapter strength: a number in [0, 1] (Kaito's strength string).
result<float> parse_strength(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  double x = v.empty() ? -1 : std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !(x >= 0.0 && x <= 1.0))
    return invalid_argument("want a number in [0, 1], got \"" + v + "\"", flag);
  return static_cast<float>(x);
}

bool self_test_task(const std::string& t) {
  return t == "self-test" || t == "serve-self-test";
}

// A self-test flag; false when `flag` is not one.
result<bool> self_test_flag(self_test_options& st, const std::string& flag,
                            const std::string& value) {
  if (flag == "--duration-seconds") {
    KAITO_ASSIGN_OR_RETURN(int64_t d, parse_int_flag(flag, value, 0, 86400));
    st.duration_seconds = static_cast<uint32_t>(d);
  } else if (flag == "--memory-mib") {
    KAITO_ASSIGN_OR_RETURN(int64_t d, parse_int_flag(flag, value, 0, 65536));
    st.memory_mib = static_cast<uint32_t>(d);
  } else if (flag == "--gemm-size") {
    KAITO_ASSIGN_OR_RETURN(int64_t d, parse_int_flag(flag, value, 1, 8192));
    st.m = st.n = st.k = d;
  } else if (flag == "--gemm-m") {
    KAITO_ASSIGN_OR_RETURN(st.m, parse_int_flag(flag, value, 1, 8192));
  } else if (flag == "--gemm-n") {
    KAITO_ASSIGN_OR_RETURN(st.n, parse_int_flag(flag, value, 1, 8192));
  } else if (flag == "--gemm-k") {
    KAITO_ASSIGN_OR_RETURN(st.k, parse_int_flag(flag, value, 1, 8192));
  } else {
    return false;
  }
  return true;
}

// A tune flag; false when `flag` is not one.
result<bool> tune_flag(tune_args& t, const std::string& flag, const std::string& value) {
  auto path = [&](std::string& into) -> status {
    KAITO_TRY(check_absolute(flag, value));
    into = value;
    return {};
  };
  if (flag == "--preset") {
    KAITO_TRY(check_preset(flag, value));
    t.preset = value;
  } else if (flag == "--method") {
    if (value != "qlora" && value != "lora")
      return invalid_argument("want qlora or lora, got \"" + value + "\"", flag);
    t.method = value;
  } else if (flag == "--input-url") {
    if (value.empty()) return invalid_argument("empty URL", flag);
    t.input_urls.push_back(value);
  } else if (flag == "--input-image") {
    if (value.empty()) return invalid_argument("empty image reference", flag);
    t.input_image = value;
  } else if (flag == "--pull-secret") {
    KAITO_TRY(check_absolute(flag, value));
    t.pull_secrets.push_back(value);
  } else if (flag == "--input-volume" || flag == "--output-volume") {
    return status(
        status_code::unimplemented,
        "kaito-cpp does not mount volumes into tuning pods yet: give tuning.input.urls "
        "or tuning.input.image, and tuning.output.image",
        flag == "--input-volume" ? "tuning.input.volumeSource" : "tuning.output.volumeSource");
  } else if (flag == "--output-image") {
    if (value.empty()) return invalid_argument("empty image reference", flag);
    t.output_image = value;
  } else if (flag == "--docker-config") {
    KAITO_TRY(path(t.docker_config));
  } else if (flag == "--config-file") {
    KAITO_TRY(path(t.config_file));
  } else if (flag == "--data-dir") {
    KAITO_TRY(path(t.data_dir));
  } else if (flag == "--results-dir") {
    KAITO_TRY(path(t.results_dir));
  } else if (flag == "--model-dir") {
    KAITO_TRY(path(t.model_dir));
  } else {
    return false;
  }
  return true;
}

// A serve flag; false when `flag` is not one.
result<bool> serve_flag(serve_args& v, const std::string& flag, const std::string& value) {
  if (flag == "--preset") {
    KAITO_TRY(check_preset(flag, value));
    v.preset = value;
  } else if (flag == "--port") {
    KAITO_ASSIGN_OR_RETURN(v.port, parse_int_flag(flag, value, 1, 65535));
  } else if (flag == "--model-dir") {
    KAITO_TRY(check_absolute(flag, value));
    v.model_dir = value;
  } else if (flag == "--adapter-image") {
    auto eq = value.find('=');
    if (eq == std::string::npos || eq + 1 == value.size())
      return invalid_argument("want NAME=IMAGE, got \"" + value + "\"", flag);
    std::string name = value.substr(0, eq);
    KAITO_TRY(check_adapter_name(flag, name));
    for (const adapter_source& a : v.adapters)
      if (a.name == name) return invalid_argument("adapter \"" + name + "\" given twice", flag);
    v.adapters.push_back({name, value.substr(eq + 1), 1.0f});
  } else if (flag == "--adapter-strength") {
    auto eq = value.find('=');
    if (eq == std::string::npos)
      return invalid_argument("want NAME=STRENGTH, got \"" + value + "\"", flag);
    KAITO_ASSIGN_OR_RETURN(float w, parse_strength(flag, value.substr(eq + 1)));
    v.strengths.emplace_back(value.substr(0, eq), w);
  } else if (flag == "--adapter-volume") {
    return status(status_code::unimplemented,
                  "kaito-cpp does not mount adapter volumes yet (adapter \"" + value +
                      "\"): give source.image",
                  "inference.adapters");
  } else if (flag == "--pull-secret") {
    KAITO_TRY(check_absolute(flag, value));
    v.pull_secrets.push_back(value);
  } else if (flag == "--config-file") {
    KAITO_TRY(check_absolute(flag, value));
    v.config_file = value;
  } else if (flag == "--chat-template") {
    if (!presets::builtin_chat_template(value))
      return invalid_argument("unknown chat template \"" + value + "\"", flag);
    v.chat_template = value;
  } else if (flag == "--tool-call-parser") {
    KAITO_TRY(api::tool_call_format_named(value, flag));
    v.tool_call_parser = value;
  } else if (flag == "--runtime") {
    if (value != "vllm" && value != "transformers")
      return invalid_argument("want vllm or transformers, got \"" + value + "\"", flag);
    v.runtime = value;
  } else if (flag == "--disable-rate-limit") {
    if (value != "true" && value != "false")
      return invalid_argument("want true or false, got \"" + value + "\"", flag);
    v.rate_limit = value == "false";
  } else {
    return false;
  }
  return true;
}

}  // namespace

result<work_args> parse_work_args(const std::vector<std::string>& args) {
  work_args w;
  // The task first: it decides which flags are known.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--task=", 0) == 0)
      w.task = a.substr(7);
    else if (a == "--task" && i + 1 < args.size())
      w.task = args[i + 1];
    else
      continue;
    if (!self_test_task(w.task) && w.task != "tune" && w.task != "serve")
      return invalid_argument(
          "unknown task \"" + w.task + "\" (want self-test, serve-self-test, tune or serve)",
          "--task");
  }
  if (w.task.empty())
    return invalid_argument("required (self-test, serve-self-test, tune or serve)", "--task");
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2)
      return invalid_argument("unexpected argument \"" + a + "\"",
                              "args[" + std::to_string(i) + "]");
    std::string flag = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      value = args[++i];
      has_value = true;
    }
    if (!has_value) return invalid_argument("missing value", flag);
    if (flag == "--task") continue;
    KAITO_ASSIGN_OR_RETURN(bool known, self_test_task(w.task)
                                           ? self_test_flag(w.self_test, flag, value)
                                       : w.task == "tune" ? tune_flag(w.tune, flag, value)
                                                          : serve_flag(w.serve, flag, value));
    if (!known) return invalid_argument("unknown flag for --task=" + w.task, flag);
  }
  if (w.task == "serve") {
    if (w.serve.preset.empty()) return invalid_argument("required with --task=serve", "--preset");
    for (const auto& [name, strength] : w.serve.strengths) {
      auto it = std::find_if(w.serve.adapters.begin(), w.serve.adapters.end(),
                             [&](const adapter_source& a) { return a.name == name; });
      if (it == w.serve.adapters.end())
        return invalid_argument("no --adapter-image named \"" + name + "\"", "--adapter-strength");
      it->strength = strength;
    }
    // vLLM's LoRA modules have no strength (Kaito's admission refuses one with the vllm runtime).
    if (w.serve.runtime == "vllm" && !w.serve.strengths.empty())
      return invalid_argument(
          "a strength is the transformers runtime's; --runtime=vllm serves "
          "each adapter whole as its own model",
          "--adapter-strength");
  }
  if (w.task == "tune") {
    if (w.tune.preset.empty()) return invalid_argument("required with --task=tune", "--preset");
    if (w.tune.input_urls.empty() == w.tune.input_image.empty())
      return invalid_argument("exactly one of --input-url (one or more) and --input-image",
                              "--input-url");
    if (w.tune.output_image.empty())
      return invalid_argument("required with --task=tune", "--output-image");
  }
  return w;
}

}  // namespace kaito::actors
