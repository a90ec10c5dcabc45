// Requests to one registry repository; see registry_session.h.
#include "k8s/artifacts/registry_session.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "k8s/artifacts/registry_auth.h"

namespace kaito::k8s::artifacts {
namespace {

bool transient(const status& s) {
  return s.code() == status_code::unavailable || s.code() == status_code::deadline_exceeded;
}

// The host the Distribution API of `registry` answers on.
std::string api_host(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

}  // namespace

registry_session::registry_session(const image_reference& ref, const registry_options& o,
                                   std::string actions)
    : ref_(ref), o_(o), actions_(std::move(actions)) {
  bool http = o.plain_http || registry_is_loopback(ref.registry);
  base_ = (http ? "http://" : "https://") + api_host(ref.registry);
  repo_url_ = base_ + "/v2/" + ref.repository;
}

http_request registry_session::request(std::string method, std::string url) const {
  http_request rq;
  rq.method = std::move(method);
  rq.url = std::move(url);
  rq.ca_file = o_.ca_file;
  rq.timeout = o_.timeout;
  rq.cancel = o_.cancel;
  return rq;
}

result<http_response> registry_session::send(http_request rq) {
  std::vector<std::string> base_headers = rq.headers;
  if (!authorization_.empty()) rq.headers.push_back("Authorization: " + authorization_);
  KAITO_ASSIGN_OR_RETURN(http_response rs, http_perform(rq));
  if (rs.status != 401) return rs;
  auto header = rs.headers.find("www-authenticate");
  if (header == rs.headers.end()) return rs;
  KAITO_ASSIGN_OR_RETURN(auth_challenge challenge, parse_www_authenticate(header->second));
  token_request_options to{o_.ca_file, o_.timeout, o_.cancel};
  auto auth = authorization_for(challenge, o_.credentials, ref_.registry,
                                "repository:" + ref_.repository + ":" + actions_, to);
  if (!auth.ok()) {
    // No way to answer: report the registry's 401, with why.
    status s = http_status_error(rq, rs);
    return status(s.code(), s.message() + " (" + auth.error().message() + ")");
  }
  authorization_ = *auth;
  rq.headers = base_headers;
  rq.headers.push_back("Authorization: " + authorization_);
  return http_perform(rq);
}

status registry_session::with_retries(const std::string& step, const std::function<status()>& fn) {
  status last;
  for (int attempt = 1; attempt <= std::max(1, o_.attempts); ++attempt) {
    if (is_cancelled(o_.cancel)) return status(status_code::unavailable, step + ": cancelled");
    last = fn();
    if (last.ok() || !transient(last) || is_cancelled(o_.cancel)) break;
    if (attempt < o_.attempts && !sleep_unless_cancelled(o_.retry_delay, o_.cancel))
      return status(status_code::unavailable, step + ": cancelled");
  }
  if (last.ok()) return last;
  return last.with_context(step);
}

}  // namespace kaito::k8s::artifacts
