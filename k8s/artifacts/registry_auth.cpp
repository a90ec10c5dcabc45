// Registry authentication: challenges and Docker's token protocol; see registry_auth.h.
#include "k8s/artifacts/registry_auth.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <string>

#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/encoding.h"

namespace kaito::k8s::artifacts {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~/:=").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

}  // namespace

result<auth_challenge> parse_www_authenticate(std::string_view header) {
  auto bad = [&](const std::string& what) {
    return invalid_argument("malformed WWW-Authenticate \"" + std::string(header.substr(0, 200)) +
                            "\": " + what);
  };
  auth_challenge ch;
  size_t i = 0;
  skip_spaces(header, i);
  size_t start = i;
  while (i < header.size() && header[i] != ' ' && header[i] != '\t' && header[i] != ',') ++i;
  if (i == start) return bad("no scheme");
  ch.scheme = lower(header.substr(start, i - start));
  while (true) {
    skip_spaces(header, i);
    while (i < header.size() && header[i] == ',') {
      ++i;
      skip_spaces(header, i);
    }
    if (i >= header.size()) break;
    size_t name_start = i;
    while (i < header.size() && is_token_char(header[i]) && header[i] != '=') ++i;
    std::string name = lower(header.substr(name_start, i - name_start));
    skip_spaces(header, i);
    if (name.empty()) return bad("expected name=value");
    // A bare token: a token68 credential ("Basic abc") or the next challenge's scheme. Only the
    // first challenge is read.
    if (i >= header.size() || header[i] != '=') break;
    ++i;
    skip_spaces(header, i);
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      bool closed = false;
      while (i < header.size()) {
        char c = header[i++];
        if (c == '\\' && i < header.size()) {
          value += header[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return bad("unterminated quoted value");
    } else {
      while (i < header.size() && header[i] != ',' && header[i] != ' ') value += header[i++];
    }
    ch.params[name] = value;
  }
  return ch;
}

result<std::string> authorization_for(const auth_challenge& challenge,
                                      const registry_credentials& credentials,
                                      std::string_view registry, std::string_view scope,
                                      const token_request_options& o) {
  bool has_basic = !credentials.username.empty() || !credentials.password.empty();
  if (challenge.scheme == "basic") {
    if (!has_basic)
      return status(
          status_code::unauthenticated,
          "registry " + std::string(registry) + " asks for Basic credentials and none were given");
    return "Basic " + base64_encode(credentials.username + ":" + credentials.password);
  }
  if (challenge.scheme != "bearer")
    return status(status_code::unimplemented, "registry " + std::string(registry) +
                                                  " asks for unsupported auth scheme \"" +
                                                  challenge.scheme + "\"");
  auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() || realm->second.empty())
    return invalid_argument("registry " + std::string(registry) +
                            ": Bearer challenge without realm");
  auto service_it = challenge.params.find("service");
  std::string service = service_it == challenge.params.end() ? "" : service_it->second;

  http_request rq;
  rq.url = realm->second;
  rq.timeout = o.timeout;
  rq.cancel = o.cancel;
  rq.ca_file = o.ca_file;
  rq.follow_redirects = true;
  std::string form;
  if (!credentials.identity_token.empty()) {
    rq.method = "POST";
    form = "grant_type=refresh_token&client_id=kaito-cpp&service=" + url_escape(service) +
           "&scope=" + url_escape(scope) +
           "&refresh_token=" + url_escape(credentials.identity_token);
    rq.body = form;
    rq.headers.push_back("Content-Type: application/x-www-form-urlencoded");
  } else {
    rq.url += rq.url.find('?') == std::string::npos ? "?" : "&";
    if (!service.empty()) rq.url += "service=" + url_escape(service) + "&";
    rq.url += "scope=" + url_escape(scope);
    if (has_basic)
      rq.headers.push_back("Authorization: Basic " +
                           base64_encode(credentials.username + ":" + credentials.password));
  }
  KAITO_ASSIGN_OR_RETURN(http_response rs, http_perform(rq));
  if (rs.status != 200) return http_status_error(rq, rs).with_context("token");
  auto doc = nlohmann::json::parse(rs.body, nullptr, /*allow_exceptions=*/false);
  for (const char* key : {"token", "access_token"}) {
    if (doc.is_object() && doc.contains(key) && doc[key].is_string() &&
        !doc[key].get<std::string>().empty())
      return "Bearer " + doc[key].get<std::string>();
  }
  return status(status_code::unauthenticated,
                rq.method + " " + rq.url + ": token answer has no token or access_token");
}

}  // namespace kaito::k8s::artifacts
