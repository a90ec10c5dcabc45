// wall_time: RFC 3339 timestamps for status fields from the injected clock.
//
// clock_source (k8s/client/clock.h) ticks on steady_clock; timestamps in objects are wall time.
// wall() maps a steady time point to wall time with one offset (system_clock - steady_clock)
// taken at first use, so a fake clock's advances show up one for one in the timestamps and two
// conversions of the same time point always agree within a process.
//
// Thread-safety: safe from any thread.
#pragma once

#include <chrono>
#include <string>

#include "k8s/client/clock.h"

namespace kaito::k8s::controllers {

using wall_clock_time = std::chrono::system_clock::time_point;

wall_clock_time wall(clock_time t);
// "2026-11-28T21:44:23Z" (seconds precision, as metav1.Time).
std::string rfc3339(wall_clock_time t);
inline std::string rfc3339(clock_time t) {
  return rfc3339(wall(t));
}

}  // namespace kaito::k8s::controllers
