// Machine resources: /proc/meminfo parsing, Node names from host names, the slot rule, and the
// route address; against hand-written inputs.
#include "actors/machine_resources.h"

#include <gtest/gtest.h>

namespace {

using kaito::actors::parse_meminfo_total;
using kaito::actors::sanitize_node_name;

TEST(machine_resources, meminfo_total_in_bytes) {
  EXPECT_EQ(parse_meminfo_total("MemTotal:       16318928 kB\nMemFree:  1 kB\n"),
            16318928ull * 1024);
  EXPECT_EQ(parse_meminfo_total("MemFree: 5 kB\nMemTotal: 7 kB"), 7ull * 1024);
  EXPECT_EQ(parse_meminfo_total(""), 0u);
  EXPECT_EQ(parse_meminfo_total("MemTotal: kB\n"), 0u);
  EXPECT_EQ(parse_meminfo_total("MemTotal: 12 MB\n"), 0u);
  EXPECT_EQ(
      kaito::actors::parse_meminfo_field("MemTotal: 9 kB\nMemAvailable:   3 kB\n", "MemAvailable"),
      3ull * 1024);
  EXPECT_EQ(kaito::actors::parse_meminfo_field("MemAvailableX: 3 kB\n", "MemAvailable"), 0u);
  EXPECT_GT(kaito::actors::available_memory_bytes(), 0u);  // this machine's /proc/meminfo
  EXPECT_EQ(parse_meminfo_total("SwapTotal: 12 kB\n"), 0u);
}

TEST(machine_resources, node_names_are_dns_subdomains) {
  EXPECT_EQ(sanitize_node_name("GPU-Box_01.Example.com"), "gpu-box-01.example.com");
  EXPECT_EQ(sanitize_node_name("-._weird_-"), "weird");
  EXPECT_EQ(sanitize_node_name("___"), "machine");
  EXPECT_EQ(sanitize_node_name(""), "machine");
  EXPECT_EQ(sanitize_node_name(std::string(300, 'a')).size(), 253u);
  std::string n = kaito::actors::default_machine_name();
  EXPECT_FALSE(n.empty());
  EXPECT_EQ(n, sanitize_node_name(n));
}

TEST(machine_resources, this_host) {
  auto r = kaito::actors::detect_machine_resources(0);
  EXPECT_GE(r.cpu_cores, 1u);
  EXPECT_GT(r.memory_bytes, 64ull << 20);
  EXPECT_EQ(r.slots, r.gpus ? r.gpus : 1u);  // one per GPU, else one
  EXPECT_EQ(r.gpu_names.size(), r.gpus);
  EXPECT_EQ(kaito::actors::detect_machine_resources(3).slots, 3u);
  EXPECT_EQ(kaito::actors::route_address_to("127.0.0.1", 6444), "127.0.0.1");
  EXPECT_EQ(kaito::actors::route_address_to("no-such-host.invalid", 6444), "127.0.0.1");
}

}  // namespace
