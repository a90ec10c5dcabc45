#include "base/log.h"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace kaito {

namespace {
spdlog::level::level_enum level_from_env() {
  const char* v = std::getenv("KAITO_LOG");
  if (!v || !*v) return spdlog::level::info;
  return spdlog::level::from_str(v);  // unknown names map to "off" in spdlog; accept that
}
}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto l = spdlog::stderr_color_mt(component);
  l->set_level(level_from_env());
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  return l;
}

std::string format_kv(std::string_view msg, kv_list fields) {
  std::string out(msg);
  for (const auto& [k, v] : fields) {
    out += ' ';
    out += k;
    out += '=';
    bool quote = v.empty() || v.find_first_of(" \"=\t\n") != std::string::npos;
    if (!quote) {
      out += v;
      continue;
    }
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out;
}

}  // namespace kaito
