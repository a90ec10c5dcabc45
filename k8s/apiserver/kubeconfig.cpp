// State directory, token and kubeconfig; see kubeconfig.h.
#include "k8s/apiserver/kubeconfig.h"

#include "k8s/apiserver/pki.h"
#include "k8s/client/base64.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace kaito::k8s::apiserver {

std::string default_home() {
  if (const char* h = std::getenv("KAITO_HOME"); h && *h) return h;
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.kaito";
  return ".kaito";
}

std::string render_kubeconfig(const std::string& server_url, const std::string& token,
                              const std::string& ca_pem) {
  std::ostringstream o;
  o << "apiVersion: v1\n"
    << "kind: Config\n"
    << "clusters:\n"
    << "- cluster:\n";
  if (!ca_pem.empty()) o << "    certificate-authority-data: " << base64_encode(ca_pem) << "\n";
  o << "    server: " << server_url << "\n"
    << "  name: kaito\n"
    << "contexts:\n"
    << "- context:\n"
    << "    cluster: kaito\n"
    << "    namespace: default\n"
    << "    user: kaito\n"
    << "  name: kaito\n"
    << "current-context: kaito\n"
    << "users:\n"
    << "- name: kaito\n"
    << "  user:\n"
    << "    token: " << token << "\n"
    << "preferences: {}\n";
  return o.str();
}

status write_private_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create file", tmp);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n <= 0) {
      ::close(fd);
      return io_error("cannot write file", tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot rename file", path);
  return {};
}

result<std::string> load_or_create_token(const std::string& home) {
  std::string path = home + "/token";
  std::ifstream in(path);
  std::string token;
  if (in && std::getline(in, token) && token.size() >= 16) return token;
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  token.clear();
  for (int i = 0; i < 32; ++i) {
    unsigned v = rd();
    token += hex[v & 15];
    token += hex[(v >> 4) & 15];
  }
  KAITO_TRY(write_private_file(path, token + "\n"));
  return token;
}

}  // namespace kaito::k8s::apiserver
