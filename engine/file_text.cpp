// file_text; see file_text.h.
#include "engine/file_text.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kaito::engine {

result<std::string> read_text(const std::string& path) {
  errno = 0;
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return status(errno == ENOENT ? status_code::not_found : status_code::io_error,
                  std::string("cannot open: ") + std::strerror(errno != 0 ? errno : EIO), path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return status(status_code::io_error, "cannot read", path);
  return ss.str();
}

status in_file(const status& st, const std::string& file) {
  const std::string& w = st.where();
  const std::string where = w.empty() ? file : w.rfind(file, 0) == 0 ? w : file + ": " + w;
  return status(st.code(), st.message(), where);
}

result<std::optional<std::string>> read_text_if_present(const std::string& path,
                                                        const std::string& field) {
  auto text = read_text(path);
  if (text.ok()) return std::optional<std::string>(std::move(*text));
  if (text.error().code() == status_code::not_found) return std::optional<std::string>();
  return status(text.error().code(), text.error().message(), field + ": " + path);
}

}  // namespace kaito::engine
