// pods_dir; see pods_dir.h.
#include "actors/pods_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kaito::actors {

namespace fs = std::filesystem;

pods_dir_claim& pods_dir_claim::operator=(pods_dir_claim&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    removed = std::move(o.removed);
    o.fd_ = -1;
  }
  return *this;
}

pods_dir_claim::~pods_dir_claim() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

result<pods_dir_claim> claim_pods_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) return io_error("cannot create " + dir + ": " + ec.message(), "pods_dir");
  const std::string lock = dir + "/.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot open " + lock + ": " + std::strerror(errno), "pods_dir");
  pods_dir_claim claim(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    return status(status_code::failed_precondition,
                  dir +
                      " is in use by another machine (its .lock is held); give each machine "
                      "its own --pods-dir",
                  "pods_dir");
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != ".lock") stale.push_back(e.path());
  if (ec) return io_error("cannot list " + dir + ": " + ec.message(), "pods_dir");
  for (const auto& p : stale) {
    fs::remove_all(p, ec);
    if (ec) return io_error("cannot remove " + p.string() + ": " + ec.message(), "pods_dir");
    claim.removed.push_back(p.filename().string());
  }
  return claim;
}

}  // namespace kaito::actors
