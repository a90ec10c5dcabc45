// status and result<T>: the error currency between every layer of kaito-cpp.
//
// A status is ok, or a code plus a human message plus the place the error is about: a field path
// (`tuning.input.urls[0]`), a byte offset in a file, or a line:column in a document. Codes are few,
// as in LevelDB: add one only when some caller branches on it. Mapping to HTTP and Kubernetes
// `Status` objects happens in exactly one function, in protocol/api/.
//
// Thread-safety: values; no shared state. Exceptions never cross a layer boundary: functions that
// can fail on input or environment return status or result<T>.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "base/check.h"

namespace kaito {

enum class status_code {
  ok = 0,
  invalid_argument,   // bad input: a field, a byte, a flag (HTTP 400/422)
  not_found,          // a named thing does not exist (404)
  already_exists,     // create of an existing object (409)
  conflict,           // stale resourceVersion, optimistic concurrency (409)
  failed_precondition,
  unauthenticated,    // 401
  permission_denied,  // 403
  unavailable,        // transient: retry with backoff (503)
  deadline_exceeded,
  resource_exhausted,  // out of memory, too large (413)
  unimplemented,
  internal,           // a bug or an environment failure we cannot classify
  io_error,           // file system / network errors
  data_loss,          // corrupt data (checksum, truncated file)
};

const char* status_code_name(status_code c);

class [[nodiscard]] status {
 public:
  status() = default;  // ok
  status(status_code code, std::string message, std::string where = {})
      : code_(code), message_(std::move(message)), where_(std::move(where)) {}

  static status ok_status() { return status(); }

  bool ok() const { return code_ == status_code::ok; }
  status_code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Field path, byte offset or line:column the error is about; empty when not applicable.
  const std::string& where() const { return where_; }

  // "<where>: <message>" (or just the message), for logs and CLI output.
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context: `.
  status with_context(const std::string& context) const;

 private:
  status_code code_ = status_code::ok;
  std::string message_;
  std::string where_;
};

inline status invalid_argument(std::string msg, std::string where = {}) {
  return status(status_code::invalid_argument, std::move(msg), std::move(where));
}
inline status not_found(std::string msg, std::string where = {}) {
  return status(status_code::not_found, std::move(msg), std::move(where));
}
inline status internal_error(std::string msg, std::string where = {}) {
  return status(status_code::internal, std::move(msg), std::move(where));
}
inline status io_error(std::string msg, std::string where = {}) {
  return status(status_code::io_error, std::move(msg), std::move(where));
}
inline status data_loss(std::string msg, std::string where = {}) {
  return status(status_code::data_loss, std::move(msg), std::move(where));
}

// result<T>: a T or a non-ok status (C++20 has no std::expected).
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  result(status s) : v_(std::move(s)) {      // NOLINT: implicit by design
    KAITO_CHECK(!std::get<status>(v_).ok(), "result<T> built from an ok status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const status& error() const {
    KAITO_CHECK(!ok(), "result::error() on a value");
    return std::get<status>(v_);
  }
  status take_status() const { return ok() ? status() : std::get<status>(v_); }

  T& value() & {
    KAITO_CHECK(ok(), "result::value() on an error: ", std::get<status>(v_).to_string());
    return std::get<T>(v_);
  }
  const T& value() const& {
    KAITO_CHECK(ok(), "result::value() on an error: ", std::get<status>(v_).to_string());
    return std::get<T>(v_);
  }
  T&& value() && {
    KAITO_CHECK(ok(), "result::value() on an error: ", std::get<status>(v_).to_string());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, status> v_;
};

namespace detail {
inline status to_status(const status& s) { return s; }
template <class T>
status to_status(const result<T>& r) {
  return r.take_status();
}
}  // namespace detail

}  // namespace kaito

// KAITO_TRY(expr): evaluate a status or result expression; return its status from the enclosing
// function when it failed.
#define KAITO_TRY(expr)                                      \
  do {                                                       \
    auto&& kaito_try_tmp_ = (expr);                          \
    if (!kaito_try_tmp_.ok())                                \
      return ::kaito::detail::to_status(kaito_try_tmp_);     \
  } while (0)

#define KAITO_CONCAT_INNER_(a, b) a##b
#define KAITO_CONCAT_(a, b) KAITO_CONCAT_INNER_(a, b)

// KAITO_ASSIGN_OR_RETURN(decl, expr): `decl = std::move(expr).value()` or return the error.
#define KAITO_ASSIGN_OR_RETURN(decl, expr)                                \
  auto KAITO_CONCAT_(kaito_aor_, __LINE__) = (expr);                      \
  if (!KAITO_CONCAT_(kaito_aor_, __LINE__).ok())                          \
    return KAITO_CONCAT_(kaito_aor_, __LINE__).error();                   \
  decl = std::move(KAITO_CONCAT_(kaito_aor_, __LINE__)).value()
