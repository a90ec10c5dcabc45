#include "base/status.h"

namespace kaito {

const char* status_code_name(status_code c) {
  switch (c) {
    case status_code::ok: return "ok";
    case status_code::invalid_argument: return "invalid_argument";
    case status_code::not_found: return "not_found";
    case status_code::already_exists: return "already_exists";
    case status_code::conflict: return "conflict";
    case status_code::failed_precondition: return "failed_precondition";
    case status_code::unauthenticated: return "unauthenticated";
    case status_code::permission_denied: return "permission_denied";
    case status_code::unavailable: return "unavailable";
    case status_code::deadline_exceeded: return "deadline_exceeded";
    case status_code::resource_exhausted: return "resource_exhausted";
    case status_code::unimplemented: return "unimplemented";
    case status_code::internal: return "internal";
    case status_code::io_error: return "io_error";
    case status_code::data_loss: return "data_loss";
  }
  return "unknown";
}

std::string status::to_string() const {
  if (ok()) return "ok";
  if (where_.empty()) return message_;
  return where_ + ": " + message_;
}

status status::with_context(const std::string& context) const {
  if (ok()) return *this;
  return status(code_, context + ": " + message_, where_);
}

}  // namespace kaito
