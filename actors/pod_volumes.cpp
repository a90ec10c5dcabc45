// pod_volumes; see pod_volumes.h.
#include "actors/pod_volumes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>

#include "k8s/client/api_error.h"
#include "k8s/client/base64.h"
#include "k8s/controllers/json_access.h"

namespace kaito::actors {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

using k8s::string_field;
using k8s::controllers::member;

// A relative path without "", "." or ".." components.
bool safe_relative(const std::string& p) {
  if (p.empty() || p[0] == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool safe_absolute(const std::string& p) {
  return p.size() > 1 && p[0] == '/' && safe_relative(p.substr(1));
}

// The object's key -> bytes, decoding a Secret's base64.
result<std::map<std::string, std::string>> object_keys(const json& obj, bool secret,
                                                       const std::string& where) {
  std::map<std::string, std::string> out;
  auto add = [&](const char* section, bool base64) -> status {
    const json& d = member(obj, section);
    if (!d.is_object()) return {};
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (!it->is_string())
        return invalid_argument("not a string", where + "." + section + "." + it.key());
      if (!base64) {
        out[it.key()] = it->get<std::string>();
        continue;
      }
      KAITO_ASSIGN_OR_RETURN(
          out[it.key()],
          k8s::base64_decode(it->get<std::string>(), where + "." + section + "." + it.key()));
    }
    return {};
  };
  if (secret) {
    KAITO_TRY(add("data", true));
  } else {
    KAITO_TRY(add("data", false));
    KAITO_TRY(add("binaryData", true));
  }
  return out;
}

uint32_t mode_of(const json& v, uint32_t fallback) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= 0777
             ? static_cast<uint32_t>(v.get<int64_t>())
             : fallback;
}

msg::pod_file make_file(std::string path, uint32_t mode, const std::string& bytes) {
  msg::pod_file f;
  f.path = std::move(path);
  f.mode = mode;
  f.data.assign(bytes.begin(), bytes.end());
  return f;
}

}  // namespace

result<std::vector<msg::pod_file>> project_pod_volumes(const json& pod,
                                                       const object_lookup& lookup) {
  std::vector<msg::pod_file> files;
  const json& spec = member(pod, "spec");
  const std::string ns = string_field(member(pod, "metadata"), "namespace");
  const json& containers = member(spec, "containers");
  if (!containers.is_array() || containers.empty()) return files;
  const json& mounts = member(containers[0], "volumeMounts");
  const json& volumes = member(spec, "volumes");
  if (!mounts.is_array() || !volumes.is_array()) return files;
  for (size_t m = 0; m < mounts.size(); ++m) {
    const std::string mwhere = "spec.containers[0].volumeMounts[" + std::to_string(m) + "]";
    const std::string vname = string_field(mounts[m], "name");
    size_t vi = 0;
    while (vi < volumes.size() && string_field(volumes[vi], "name") != vname) ++vi;
    if (vi == volumes.size())
      return invalid_argument("no volume named \"" + vname + "\"", mwhere + ".name");
    const json& vol = volumes[vi];
    const bool secret = member(vol, "secret").is_object();
    if (!secret && !member(vol, "configMap").is_object()) continue;
    const json& src = member(vol, secret ? "secret" : "configMap");
    const std::string vwhere =
        "spec.volumes[" + std::to_string(vi) + "]." + (secret ? "secret" : "configMap");
    const std::string mount_path = string_field(mounts[m], "mountPath");
    if (!safe_absolute(mount_path))
      return invalid_argument("must be an absolute path without . or .. components",
                              mwhere + ".mountPath");
    const std::string obj_name = string_field(src, secret ? "secretName" : "name");
    const std::string name_field = vwhere + (secret ? ".secretName" : ".name");
    const bool optional =
        member(src, "optional").is_boolean() && member(src, "optional").get<bool>();
    auto obj = lookup(secret ? "secret" : "configmap", ns, obj_name);
    if (!obj) {
      if (optional) continue;
      return status(
          status_code::failed_precondition,
          std::string(secret ? "secret" : "configmap") + " \"" + obj_name + "\" not found",
          name_field);
    }
    KAITO_ASSIGN_OR_RETURN(auto keys, object_keys(*obj, secret, name_field));
    const uint32_t default_mode = mode_of(member(src, "defaultMode"), 0644);
    // relative path -> (mode, key)
    std::map<std::string, std::pair<uint32_t, std::string>> wanted;
    const json& items = member(src, "items");
    if (items.is_array() && !items.empty()) {
      for (size_t i = 0; i < items.size(); ++i) {
        const std::string iwhere = vwhere + ".items[" + std::to_string(i) + "]";
        std::string key = string_field(items[i], "key"), path = string_field(items[i], "path");
        if (!safe_relative(path))
          return invalid_argument("must be a relative path without . or .. components",
                                  iwhere + ".path");
        if (!keys.count(key)) {
          if (optional) continue;
          return status(status_code::failed_precondition,
                        "key \"" + key + "\" not in " + (secret ? "secret" : "configmap") + " \"" +
                            obj_name + "\"",
                        iwhere + ".key");
        }
        wanted[path] = {mode_of(member(items[i], "mode"), default_mode), key};
      }
    } else {
      for (const auto& [key, bytes] : keys) {
        if (!safe_relative(key) || key.find('/') != std::string::npos)
          return invalid_argument("not a valid file name", name_field + " key \"" + key + "\"");
        wanted[key] = {default_mode, key};
      }
    }
    const std::string sub = string_field(mounts[m], "subPath");
    if (!sub.empty()) {
      auto it = wanted.find(sub);
      if (it == wanted.end()) {
        if (optional) continue;
        return status(
            status_code::failed_precondition,
            "\"" + sub + "\" not in " + (secret ? "secret" : "configmap") + " \"" + obj_name + "\"",
            mwhere + ".subPath");
      }
      files.push_back(make_file(mount_path, it->second.first, keys[it->second.second]));
      continue;
    }
    for (const auto& [path, mk] : wanted)
      files.push_back(make_file(mount_path + "/" + path, mk.first, keys[mk.second]));
  }
  return files;
}

status write_pod_files(const std::string& root, const std::vector<msg::pod_file>& files) {
  for (const auto& f : files) {
    if (!safe_absolute(f.path))
      return invalid_argument("would leave the pod's directory", "files[" + f.path + "]");
    fs::path target = fs::path(root) / f.path.substr(1);
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      return io_error("cannot create " + target.parent_path().string() + ": " + ec.message(),
                      f.path);
    std::string tmp = target.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f.mode & 0777);
    if (fd < 0) return io_error("cannot write " + tmp + ": " + std::strerror(errno), f.path);
    size_t done = 0;
    while (done < f.data.size()) {
      ssize_t n = ::write(fd, f.data.data() + done, f.data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return io_error("cannot write " + tmp + ": " + std::strerror(e), f.path);
      }
      done += static_cast<size_t>(n);
    }
    ::fchmod(fd, f.mode & 0777);  // not narrowed by the umask
    ::close(fd);
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      return io_error("cannot rename to " + target.string() + ": " + std::strerror(errno), f.path);
  }
  return {};
}

}  // namespace kaito::actors
