// KAITO_CHECK: invariants and "cannot happen after init" failures only (Envoy's table). Input and
// environment failures always return a status naming the field or byte offset, never a CHECK.
// KAITO_CHECK is always on (also in Release); KAITO_DCHECK only when NDEBUG is not defined.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace kaito::detail {
template <class... Args>
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  std::fprintf(stderr, "%s:%d: KAITO_CHECK(%s) failed: %s\n", file, line, cond, os.str().c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace kaito::detail

#define KAITO_CHECK(cond, ...)                                                         \
  do {                                                                                 \
    if (!(cond)) ::kaito::detail::check_failed(__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
  } while (0)

#ifdef NDEBUG
#define KAITO_DCHECK(cond, ...) \
  do {                          \
  } while (0)
#else
#define KAITO_DCHECK(cond, ...) KAITO_CHECK(cond, ##__VA_ARGS__)
#endif
