// Structured logging at the edges: one named spdlog logger per component, a fixed message plus
// key=value fields. Kernels and the engine's inner loops never log; they return status.
//
//   auto log = kaito::logger("apiserver");
//   log->info("{} {}", "request", kaito::kv("path", p));   // or use log_kv below
//   kaito::log_info(log, "reconciled", {{"workspace", key}, {"state", st}});
//
// The level comes from $KAITO_LOG (trace, debug, info, warn, error, off; default info). Loggers
// write to stderr. Thread-safe (spdlog's _mt sinks).
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace kaito {

std::shared_ptr<spdlog::logger> logger(const std::string& component);

using kv_list = std::initializer_list<std::pair<std::string_view, std::string>>;

// "msg key=value key2=value2"; values with spaces or quotes are quoted.
std::string format_kv(std::string_view msg, kv_list fields);

inline void log_info(const std::shared_ptr<spdlog::logger>& l, std::string_view msg, kv_list f = {}) {
  l->info("{}", format_kv(msg, f));
}
inline void log_warn(const std::shared_ptr<spdlog::logger>& l, std::string_view msg, kv_list f = {}) {
  l->warn("{}", format_kv(msg, f));
}
inline void log_error(const std::shared_ptr<spdlog::logger>& l, std::string_view msg,
                      kv_list f = {}) {
  l->error("{}", format_kv(msg, f));
}
inline void log_debug(const std::shared_ptr<spdlog::logger>& l, std::string_view msg,
                      kv_list f = {}) {
  l->debug("{}", format_kv(msg, f));
}

}  // namespace kaito
