// Unique CAF node ids for processes that share a host and a PID.
//
// CAF 0.17.6 computes a node id as RIPEMD-160(MAC addresses + root UUID) plus the PID
// (node_id::default_data::local). Two containers with host networking, each running kaito as
// PID 1, get the same id, and remote_actor() then fails with a misleading
// no_actor_published_at_port (../shared/reference/caf.md §7.4). libcaf_core calls
// caf::detail::get_root_uuid() through its PLT, so a definition in the executable interposes it:
// ours returns the real root UUID (the library's own function, found with dlsym(RTLD_NEXT)) plus a
// 128-bit random nonce drawn once per process. The host hash then differs per process; nothing
// in CAF 0.17 relies on two processes of one host sharing it. CAF 0.18+ uses random node ids.
#include <dlfcn.h>

#include <cstdio>
#include <random>
#include <string>

#include "actors/runtime_config.h"

namespace kaito::actors {

const std::string& node_salt() {
  static const std::string salt = [] {
    std::random_device rd;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    return std::string(buf);
  }();
  return salt;
}

}  // namespace kaito::actors

namespace caf::detail {

std::string get_root_uuid() {
  using fn = std::string (*)();
  static fn original =
      reinterpret_cast<fn>(dlsym(RTLD_NEXT, "_ZN3caf6detail13get_root_uuidB5cxx11Ev"));
  std::string uuid = original ? original() : std::string();
  return uuid + "/kaito-node-" + kaito::actors::node_salt();
}

}  // namespace caf::detail
