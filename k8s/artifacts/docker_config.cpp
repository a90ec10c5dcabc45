// Docker config credentials (docker/cli config/configfile, credentials.ConvertToHostname); see
// docker_config.h.
#include "k8s/artifacts/docker_config.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "k8s/artifacts/encoding.h"

namespace kaito::k8s::artifacts {
namespace {

using json = nlohmann::json;

// "https://host/v1/" -> "host"; "host" stays.
std::string key_host(std::string_view key) {
  for (std::string_view scheme : {"https://", "http://"})
    if (key.substr(0, scheme.size()) == scheme) key.remove_prefix(scheme.size());
  return std::string(key.substr(0, key.find('/')));
}

bool is_docker_hub(std::string_view host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
}

bool key_matches(std::string_view key, std::string_view registry) {
  std::string host = key_host(key);
  if (host == registry) return true;
  return is_docker_hub(host) && is_docker_hub(registry);
}

std::string entry_path(const std::string& key) {
  std::string escaped;
  for (char c : key) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "auths[\"" + escaped + "\"]";
}

// One string member of an entry; absent or null is "".
result<std::string> string_member(const json& entry, const char* name, const std::string& path,
                                  const std::string& source) {
  auto it = entry.find(name);
  if (it == entry.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return invalid_argument(path + "." + name + ": not a string (" + it->type_name() + ")", source);
  return it->get<std::string>();
}

result<registry_credentials> parse_entry(const json& entry, const std::string& path,
                                         const std::string& source) {
  if (!entry.is_object())
    return invalid_argument(path + ": not an object (" + entry.type_name() + ")", source);
  registry_credentials c;
  KAITO_ASSIGN_OR_RETURN(std::string auth, string_member(entry, "auth", path, source));
  KAITO_ASSIGN_OR_RETURN(c.username, string_member(entry, "username", path, source));
  KAITO_ASSIGN_OR_RETURN(c.password, string_member(entry, "password", path, source));
  KAITO_ASSIGN_OR_RETURN(c.identity_token, string_member(entry, "identitytoken", path, source));
  if (!auth.empty()) {
    auto decoded = base64_decode(auth, path + ".auth");
    if (!decoded.ok()) return invalid_argument(path + ".auth: not base64", source);
    size_t colon = decoded->find(':');
    if (colon == std::string::npos)
      return invalid_argument(path + ".auth: not base64 of \"user:password\" (no ':')", source);
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  return c;
}

}  // namespace

result<registry_credentials> credentials_for(std::string_view config_json,
                                             std::string_view registry, std::string_view source) {
  const std::string src(source);
  json doc;
  try {  // nlohmann reports the byte offset only through its exception; it stays in this function
    doc = json::parse(config_json);
  } catch (const json::parse_error& e) {
    return invalid_argument(": not JSON (byte " + std::to_string(e.byte) + ")", src);
  }
  if (!doc.is_object())
    return invalid_argument(": not an object (" + std::string(doc.type_name()) + ")", src);
  auto auths = doc.find("auths");
  if (auths == doc.end() || auths->is_null()) return registry_credentials{};
  if (!auths->is_object())
    return invalid_argument("auths: not an object (" + std::string(auths->type_name()) + ")", src);

  // An exact key first, then any key that names the same host.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto it = auths->begin(); it != auths->end(); ++it) {
      bool match = pass == 0 ? it.key() == registry : key_matches(it.key(), registry);
      if (match) return parse_entry(it.value(), entry_path(it.key()), src);
    }
  }
  return registry_credentials{};
}

}  // namespace kaito::k8s::artifacts
