// Reproducible layer archives with libarchive: write_tar and gzip_bytes (layer_archive.h).
#include "k8s/artifacts/layer_archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace kaito::k8s::artifacts {
namespace {

struct archive_writer_deleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct entry_deleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using writer_ptr = std::unique_ptr<archive, archive_writer_deleter>;
using entry_ptr = std::unique_ptr<archive_entry, entry_deleter>;

la_ssize_t append_output(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

status archive_failure(archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return internal_error(what + ": " + (msg ? msg : "libarchive error"));
}

// Opens a writer onto `out` with no block padding.
status open_writer(archive* a, std::string* out) {
  if (archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
      archive_write_open(a, out, nullptr, append_output, nullptr) != ARCHIVE_OK)
    return archive_failure(a, "open archive writer");
  return {};
}

status write_entry(archive* a, const tar_entry& e) {
  entry_ptr entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), e.path.c_str());
  archive_entry_set_filetype(entry.get(), e.directory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), static_cast<mode_t>(e.mode));
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.directory ? 0 : e.bytes.size()));
  archive_entry_set_mtime(entry.get(), 0, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK)
    return archive_failure(a, "tar header " + e.path);
  if (!e.directory && !e.bytes.empty() &&
      archive_write_data(a, e.bytes.data(), e.bytes.size()) !=
          static_cast<la_ssize_t>(e.bytes.size()))
    return archive_failure(a, "tar data " + e.path);
  return {};
}

}  // namespace

result<std::string> write_tar(const std::vector<tar_entry>& entries) {
  std::string out;
  writer_ptr a(archive_write_new());
  if (!a) return internal_error("archive_write_new failed");
  if (archive_write_set_format_ustar(a.get()) != ARCHIVE_OK)
    return archive_failure(a.get(), "tar format");
  KAITO_TRY(open_writer(a.get(), &out));
  for (const tar_entry& e : entries) KAITO_TRY(write_entry(a.get(), e));
  if (archive_write_close(a.get()) != ARCHIVE_OK) return archive_failure(a.get(), "close tar");
  return out;
}

result<std::string> gzip_bytes(std::string_view bytes) {
  std::string out;
  writer_ptr a(archive_write_new());
  if (!a) return internal_error("archive_write_new failed");
  if (archive_write_set_format_raw(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) != ARCHIVE_OK)
    return archive_failure(a.get(), "gzip filter");
  KAITO_TRY(open_writer(a.get(), &out));
  entry_ptr entry(archive_entry_new());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_pathname(entry.get(), "layer.tar");
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
  if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK)
    return archive_failure(a.get(), "gzip header");
  if (!bytes.empty() && archive_write_data(a.get(), bytes.data(), bytes.size()) !=
                            static_cast<la_ssize_t>(bytes.size()))
    return archive_failure(a.get(), "gzip data");
  if (archive_write_close(a.get()) != ARCHIVE_OK) return archive_failure(a.get(), "close gzip");
  return out;
}

}  // namespace kaito::k8s::artifacts
