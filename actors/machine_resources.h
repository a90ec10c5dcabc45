// What a machine offers: CPU cores, memory, GPUs (from NVML when the driver is present) and how
// many worker slots it runs; plus the Node name and the address it reports.
//
// NVML is reached through dlopen("libnvidia-ml.so.1") at run time, so the binary has no link
// dependency on the driver and a host without one simply reports gpus = 0.
// Thread-compatible: plain functions; detect_machine_resources reads /proc and may call NVML.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages/machine.h"

namespace kaito::actors {

struct gpu_inventory {
  uint32_t count = 0;
  std::vector<std::string> names;
  uint64_t memory_bytes = 0;  // per GPU (of GPU 0)
  std::string error;          // why NVML gave nothing ("" when it worked or is absent)
};

// NVML through dlopen; count 0 when the library or a driver is missing.
gpu_inventory detect_gpus();

// A field of /proc/meminfo's text ("MemTotal", "MemAvailable"), in bytes; 0 when absent or
// malformed.
uint64_t parse_meminfo_field(std::string_view meminfo, std::string_view field);
uint64_t parse_meminfo_total(std::string_view meminfo);
// MemAvailable now (0 when /proc/meminfo cannot be read).
uint64_t available_memory_bytes();

// CPU cores this process may run on (sched_getaffinity, else sysconf).
uint32_t detect_cpu_cores();

// slots: 0 = one per GPU, or 1 without GPUs.
msg::machine_resources detect_machine_resources(uint32_t slots);

// A Node name (DNS-1123 subdomain) from a host name: lower case, [a-z0-9.-], at most 253
// characters, alphanumeric at both ends; "machine" when nothing is left.
std::string sanitize_node_name(std::string_view host);
std::string default_machine_name();  // sanitized gethostname()

// The local address the kernel would use to reach host:port (a connected UDP socket's name), for
// the InternalIP a machine reports; "127.0.0.1" when it cannot tell.
std::string route_address_to(const std::string& host, uint16_t port);

}  // namespace kaito::actors
