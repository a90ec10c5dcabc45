// Applying an image layer onto a folder; see layer_extract.h.
#include "k8s/artifacts/layer_extract.h"

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;

struct reader_deleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using reader_ptr = std::unique_ptr<archive, reader_deleter>;

// "./data/x" and "/data/x" -> "data/x".
std::string clean_path(std::string_view p) {
  while (true) {
    if (p.substr(0, 2) == "./")
      p.remove_prefix(2);
    else if (!p.empty() && p.front() == '/')
      p.remove_prefix(1);
    else
      break;
  }
  return std::string(p);
}

// The entry's path below prefix ("" when it is not under prefix or is prefix itself); an error
// for a "." / ".." / empty component.
result<std::string> below_prefix(const std::string& path, std::string_view prefix) {
  if (path.compare(0, prefix.size(), prefix) != 0) return std::string();
  std::string rel = path.substr(prefix.size());
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (rel.empty()) return rel;
  if (!safe_relative_path(rel))
    return invalid_argument("layer entry path has an empty, \".\" or \"..\" component",
                            "entry \"" + path + "\"");
  return rel;
}

class layer_reader {
 public:
  explicit layer_reader(const std::string& path) : a_(archive_read_new()) {
    archive_read_support_filter_gzip(a_.get());
    archive_read_support_format_tar(a_.get());
    ok_ = archive_read_open_filename(a_.get(), path.c_str(), 64 * 1024) == ARCHIVE_OK;
  }
  status corrupt() const {
    const char* msg = archive_error_string(a_.get());
    std::string where = "tar byte " + std::to_string(archive_filter_bytes(a_.get(), 0));
    if (!last_.empty()) where += " (entry \"" + last_ + "\")";
    return data_loss(std::string("corrupt layer: ") + (msg ? msg : "unreadable archive"), where);
  }
  // The next entry under prefix, with its path below it in *rel; false at the end; an error for
  // a corrupt archive or a bad path.
  result<bool> next_under(std::string_view prefix, archive_entry** e, std::string* rel) {
    if (!ok_) return corrupt();
    while (true) {
      int rc = archive_read_next_header(a_.get(), e);
      if (rc == ARCHIVE_EOF) return false;
      if (rc < ARCHIVE_WARN) return corrupt();
      last_ = archive_entry_pathname(*e) ? archive_entry_pathname(*e) : "";
      KAITO_ASSIGN_OR_RETURN(*rel, below_prefix(clean_path(last_), prefix));
      if (!rel->empty()) return true;
    }
  }
  const std::string& last() const { return last_; }
  archive* get() const { return a_.get(); }

 private:
  reader_ptr a_;
  bool ok_ = false;
  std::string last_;
};

// Removes whatever is at p (file, link or tree); missing is fine.
status remove_path(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) return io_error("cannot remove: " + ec.message(), p.string());
  return {};
}

// Creates dir and its parents, removing files that stand where a directory must be.
status make_dirs(const fs::path& root, const std::string& rel_dir) {
  fs::path at = root;
  std::error_code ec;
  for (const auto& part : fs::path(rel_dir)) {
    at /= part;
    auto st = fs::symlink_status(at, ec);
    if (fs::is_directory(st)) continue;
    if (fs::exists(st)) KAITO_TRY(remove_path(at));
    fs::create_directory(at, ec);
    if (ec) return io_error("cannot create the folder: " + ec.message(), at.string());
  }
  return {};
}

}  // namespace

bool safe_relative_path(std::string_view p) {
  if (p.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    std::string_view part =
        p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool looks_like_tar(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[263] = {};
  in.read(head, sizeof head);
  return in.gcount() >= 262 && std::string_view(head + 257, 5) == "ustar";
}

result<std::vector<std::string>> extract_layer(const std::string& tar_path, std::string_view prefix,
                                               const std::string& dest_dir, uint64_t& budget) {
  const fs::path root(dest_dir);
  archive_entry* e = nullptr;
  std::string rel;
  // Pass 1: whiteouts, onto the lower layers.
  {
    layer_reader r(tar_path);
    while (true) {
      KAITO_ASSIGN_OR_RETURN(bool more, r.next_under(prefix, &e, &rel));
      if (!more) break;
      fs::path p(rel);
      std::string base = p.filename().string();
      if (base == ".wh..wh..opq") {
        std::error_code ec;
        fs::path dir = root / p.parent_path();
        std::vector<fs::path> children;
        if (fs::is_directory(fs::symlink_status(dir, ec)))
          for (const auto& child : fs::directory_iterator(dir, ec)) children.push_back(child);
        for (const auto& child : children) KAITO_TRY(remove_path(child));
      } else if (base.rfind(".wh.", 0) == 0) {
        KAITO_TRY(remove_path(root / p.parent_path() / base.substr(4)));
      }
    }
  }
  // Pass 2: this layer's files.
  std::vector<std::string> written;
  layer_reader r(tar_path);
  while (true) {
    KAITO_ASSIGN_OR_RETURN(bool more, r.next_under(prefix, &e, &rel));
    if (!more) break;
    fs::path p(rel);
    if (p.filename().string().rfind(".wh.", 0) == 0) continue;
    auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      KAITO_TRY(make_dirs(root, rel));
      continue;
    }
    if (type != AE_IFREG) continue;  // links, devices, fifos: skipped
    KAITO_TRY(make_dirs(root, p.parent_path().string()));
    fs::path out = root / p;
    std::error_code ec;
    if (fs::exists(fs::symlink_status(out, ec))) KAITO_TRY(remove_path(out));
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot create the file", out.string());
    char buf[64 * 1024];
    while (true) {
      la_ssize_t n = archive_read_data(r.get(), buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) return r.corrupt();
      if (static_cast<uint64_t>(n) > budget)
        return status(status_code::resource_exhausted, "the image's files pass the size limit",
                      "entry \"" + r.last() + "\"");
      budget -= static_cast<uint64_t>(n);
      f.write(buf, n);
    }
    f.close();
    if (!f) return io_error("cannot write the file", out.string());
    written.push_back(rel);
  }
  return written;
}

}  // namespace kaito::k8s::artifacts
