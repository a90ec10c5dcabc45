// pods_dir: the folder a machine keeps its pods' directories in (<pods_dir>/<uid>: projected
// volumes, /mnt/data, /mnt/results, pulled adapters), claimed for the machine's life.
//
//   KAITO_ASSIGN_OR_RETURN(pods_dir_claim claim, claim_pods_dir("/var/lib/kaito/pods"));
//
// claim_pods_dir creates the folder (mode 0700: secrets land there), takes an exclusive flock on
// <dir>/.lock, and removes every other entry: what an earlier run of a machine on this folder
// left when it was killed (kill -9, a crash, a power cut) before it could remove its pods'
// directories. No pod of this machine runs yet, and the lock says no other machine uses the
// folder, so nothing live is removed. A second machine on the same folder gets
// failed_precondition naming pods_dir; io_error names a folder that cannot be made or cleaned.
// The lock is released when the claim is destroyed (or the process exits).
// Thread-safety: call before the machine starts; the claim is move-only.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::actors {

class pods_dir_claim {
 public:
  pods_dir_claim() = default;
  explicit pods_dir_claim(int fd) : fd_(fd) {}
  pods_dir_claim(pods_dir_claim&& o) noexcept : fd_(o.fd_), removed(std::move(o.removed)) {
    o.fd_ = -1;
  }
  pods_dir_claim& operator=(pods_dir_claim&& o) noexcept;
  pods_dir_claim(const pods_dir_claim&) = delete;
  pods_dir_claim& operator=(const pods_dir_claim&) = delete;
  ~pods_dir_claim();

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;

 public:
  std::vector<std::string> removed;  // the stale entries removed, by name
};

result<pods_dir_claim> claim_pods_dir(const std::string& dir);

}  // namespace kaito::actors
