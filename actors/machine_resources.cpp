// Machine resources; see machine_resources.h.
#include "actors/machine_resources.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace kaito::actors {

namespace {

// The few NVML entry points we use (nvml.h's signatures, with opaque handles).
using nvml_device = void*;
struct nvml_memory {
  unsigned long long total, free, used;
};
using nvml_init_fn = int (*)();
using nvml_count_fn = int (*)(unsigned int*);
using nvml_handle_fn = int (*)(unsigned int, nvml_device*);
using nvml_name_fn = int (*)(nvml_device, char*, unsigned int);
using nvml_memory_fn = int (*)(nvml_device, nvml_memory*);
using nvml_shutdown_fn = int (*)();

}  // namespace

gpu_inventory detect_gpus() {
  gpu_inventory inv;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return inv;  // no driver: a CPU machine
  auto sym = [&](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<nvml_init_fn>(sym("nvmlInit_v2"));
  auto count = reinterpret_cast<nvml_count_fn>(sym("nvmlDeviceGetCount_v2"));
  auto handle = reinterpret_cast<nvml_handle_fn>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto name = reinterpret_cast<nvml_name_fn>(sym("nvmlDeviceGetName"));
  auto memory = reinterpret_cast<nvml_memory_fn>(sym("nvmlDeviceGetMemoryInfo"));
  auto shutdown = reinterpret_cast<nvml_shutdown_fn>(sym("nvmlShutdown"));
  if (!init || !count || !handle || !name || !memory || !shutdown) {
    inv.error = "libnvidia-ml.so.1 lacks an NVML entry point";
    dlclose(lib);
    return inv;
  }
  if (int rc = init(); rc != 0) {
    inv.error = "nvmlInit failed with " + std::to_string(rc);
    dlclose(lib);
    return inv;
  }
  unsigned int n = 0;
  if (count(&n) == 0) {
    for (unsigned int i = 0; i < n && i < 64; ++i) {
      nvml_device d = nullptr;
      if (handle(i, &d) != 0) continue;
      char buf[96] = {0};
      if (name(d, buf, sizeof buf - 1) == 0) inv.names.emplace_back(buf);
      nvml_memory m{};
      if (i == 0 && memory(d, &m) == 0) inv.memory_bytes = m.total;
      ++inv.count;
    }
  }
  shutdown();
  dlclose(lib);
  return inv;
}

uint64_t parse_meminfo_field(std::string_view meminfo, std::string_view field) {
  size_t at = 0;
  while (at < meminfo.size()) {
    size_t eol = meminfo.find('\n', at);
    std::string_view line = meminfo.substr(at, eol == std::string_view::npos ? eol : eol - at);
    at = eol == std::string_view::npos ? meminfo.size() : eol + 1;
    if (line.size() <= field.size() || line.substr(0, field.size()) != field ||
        line[field.size()] != ':')
      continue;
    line.remove_prefix(field.size() + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    uint64_t kib = 0;
    size_t digits = 0;
    while (digits < line.size() && digits < 15 &&
           std::isdigit(static_cast<unsigned char>(line[digits])))
      kib = kib * 10 + static_cast<uint64_t>(line[digits++] - '0');
    if (digits == 0) return 0;
    std::string_view unit = line.substr(digits);
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    if (unit != "kB" && !unit.empty()) return 0;
    return kib * 1024;
  }
  return 0;
}

uint64_t parse_meminfo_total(std::string_view meminfo) {
  return parse_meminfo_field(meminfo, "MemTotal");
}

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_meminfo_field(ss.str(), "MemAvailable");
}

uint32_t detect_cpu_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<uint32_t>(n);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

msg::machine_resources detect_machine_resources(uint32_t slots) {
  msg::machine_resources r;
  r.cpu_cores = detect_cpu_cores();
  std::ifstream in("/proc/meminfo");
  std::stringstream ss;
  ss << in.rdbuf();
  r.memory_bytes = parse_meminfo_total(ss.str());
  gpu_inventory g = detect_gpus();
  r.gpus = g.count;
  r.gpu_names = g.names;
  r.gpu_memory_bytes = g.memory_bytes;
  r.slots = slots ? slots : (g.count ? g.count : 1);
  return r;
}

std::string sanitize_node_name(std::string_view host) {
  std::string out;
  for (char ch : host) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c))
      out.push_back(static_cast<char>(std::tolower(c)));
    else if (c == '.' || c == '-')
      out.push_back(static_cast<char>(c));
    else
      out.push_back('-');
    if (out.size() == 253) break;
  }
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  size_t b = 0;
  while (b < out.size() && !alnum(out[b])) ++b;
  size_t e = out.size();
  while (e > b && !alnum(out[e - 1])) --e;
  out = out.substr(b, e - b);
  return out.empty() ? "machine" : out;
}

std::string default_machine_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "machine";
  return sanitize_node_name(buf);
}

std::string route_address_to(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port ? port : 9);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || !res) return "127.0.0.1";
  std::string out = "127.0.0.1";
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0) {
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      sockaddr_in local{};
      socklen_t len = sizeof local;
      char buf[INET_ADDRSTRLEN] = {0};
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
          inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf))
        out = buf;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace kaito::actors
