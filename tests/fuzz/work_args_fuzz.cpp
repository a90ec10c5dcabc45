// libFuzzer target: the machine side's parsers of untrusted text. The first byte picks one:
// even, a work unit's args (parse_work_args; the rest split at '\n', as a Pod's container args
// arrive over the wire); odd, /proc/meminfo text and a host name (parse_meminfo_total,
// sanitize_node_name). Any input gives a value or an error status, never a crash or a hang,
// and accepted values respect the documented ranges.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/machine_resources.h"
#include "actors/self_test.h"
#include "actors/work_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 16 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    std::vector<std::string> args;
    size_t at = 0;
    while (at <= text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      args.push_back(text.substr(at, nl - at));
      at = nl + 1;
    }
    auto w = kaito::actors::parse_work_args(args);
    if (w.ok()) {
      const auto& st = w->self_test;
      if (w->task.empty() || st.m < 1 || st.m > 8192 || st.n < 1 || st.n > 8192 || st.k < 1 ||
          st.k > 8192 || st.memory_mib > 65536 || st.duration_seconds > 86400)
        __builtin_trap();
    } else if (w.error().where().empty()) {
      __builtin_trap();  // errors name the flag
    }
  } else {
    (void)kaito::actors::parse_meminfo_total(text);
    std::string n = kaito::actors::sanitize_node_name(text);
    if (n.empty() || n.size() > 253) __builtin_trap();
    for (char c : n)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
        __builtin_trap();
  }
  return 0;
}
