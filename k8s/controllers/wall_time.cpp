// Wall-clock mapping and RFC 3339 formatting; see wall_time.h.
#include "k8s/controllers/wall_time.h"

#include <ctime>

namespace kaito::k8s::controllers {

wall_clock_time wall(clock_time t) {
  static const auto offset = std::chrono::system_clock::now().time_since_epoch() -
                             std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                 std::chrono::steady_clock::now().time_since_epoch());
  return wall_clock_time(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch()) +
      offset);
}

std::string rfc3339(wall_clock_time t) {
  std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kaito::k8s::controllers
