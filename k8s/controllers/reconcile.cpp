// Error classification and work-queue keys; see reconcile.h.
#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

bool is_terminal(const status& s) {
  switch (s.code()) {
    case status_code::invalid_argument:
    case status_code::permission_denied:
    case status_code::unauthenticated:
    case status_code::unimplemented:
      return true;
    default:
      return false;
  }
}

std::string make_key(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> split_key(const std::string& key) {
  auto p = key.find('/');
  if (p == std::string::npos) return {"", key};
  return {key.substr(0, p), key.substr(p + 1)};
}

}  // namespace kaito::k8s::controllers
