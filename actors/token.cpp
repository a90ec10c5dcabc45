// Join tokens; see token.h.
#include "actors/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace kaito::actors {

std::string generate_token() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 8; ++j) t.push_back(hex[(v >> (4 * j)) & 15]);
  }
  return t;
}

bool token_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0 && !a.empty();
}

result<std::string> load_or_create_token(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = ss.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() < 16 || t.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      return invalid_argument("not a join token (want 32 hex characters)", path);
    return t;
  }
  std::string t = generate_token();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return io_error(std::strerror(errno), path);
  std::string line = t + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return io_error("short write", path);
  return t;
}

}  // namespace kaito::actors
