// Float-safe wire types across two processes, and a published actor that survives garbage on its
// port and a peer speaking another protocol version.
//
// The child process (forked before either side creates an actor system) publishes an echo actor
// on 127.0.0.1; the parent sends NaN (quiet, signalling, with payload), -0, denormals, +/-Inf and
// FLT_MAX through tensor_bytes and wire_f32 and checks every bit pattern comes back unchanged —
// the values CAF 0.17's float serializer corrupts or hangs on (reference/caf.md §7.1).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actors/runtime_config.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "protocol/messages/wire.h"

namespace {

using namespace std::chrono_literals;
using kaito::msg::tensor_bytes;
using kaito::msg::wire_f32;

caf::behavior echo(caf::event_based_actor*) {
  return {[](tensor_bytes& t) { return t; }, [](wire_f32 x) { return x; }};
}

[[noreturn]] void run_child(int port_fd) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn(echo);
  auto port = sys.middleman().publish(a, 0, "127.0.0.1", true);
  uint16_t p = port ? *port : 0;
  if (write(port_fd, &p, sizeof p) != sizeof p) _exit(3);
  close(port_fd);
  for (;;) pause();  // until the parent's SIGKILL
}

struct child_process {
  pid_t pid = -1;
  uint16_t port = 0;
  child_process() {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid = fork();
    if (pid == 0) {
      close(fds[0]);
      run_child(fds[1]);
    }
    close(fds[1]);
    if (read(fds[0], &port, sizeof port) != sizeof port) port = 0;
    close(fds[0]);
  }
  ~child_process() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  bool alive() const { return pid > 0 && kill(pid, 0) == 0; }
};

std::vector<uint32_t> special_bits() {
  return {
      0x7fc00000u,  // quiet NaN
      0x7fa00001u,  // signalling NaN with payload
      0xffc12345u,  // negative NaN with payload
      0x80000000u,  // -0
      0x00000000u,  // +0
      0x00000001u,  // smallest denormal
      0x807fffffu,  // largest negative denormal
      0x7f800000u,  // +Inf: loops forever in CAF 0.17's float serializer
      0xff800000u,  // -Inf
      0x7f7fffffu,  // FLT_MAX
      0x3f800000u,  // 1.0
  };
}

class wire_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { child_ = new child_process(); }
  static void TearDownTestSuite() {
    delete child_;
    child_ = nullptr;
  }
  static child_process* child_;
};
child_process* wire_test::child_ = nullptr;

TEST_F(wire_test, special_floats_cross_processes_bit_exact) {
  ASSERT_GT(child_->port, 0);
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto remote = sys.middleman().remote_actor("127.0.0.1", child_->port);
  ASSERT_TRUE(remote) << sys.render(remote.error());
  caf::scoped_actor self{sys};

  auto bits = special_bits();
  std::vector<float> values(bits.size());
  std::memcpy(values.data(), bits.data(), bits.size() * sizeof(float));
  tensor_bytes t =
      kaito::msg::make_f32_tensor(values.data(), {static_cast<int64_t>(values.size())});
  bool got = false;
  self->request(*remote, 5s, t)
      .receive(
          [&](const tensor_bytes& back) {
            ASSERT_EQ(kaito::msg::tensor_bytes_error(back), "");
            ASSERT_EQ(back.data.size(), bits.size() * 4);
            std::vector<uint32_t> out(bits.size());
            std::memcpy(out.data(), back.data.data(), back.data.size());
            for (size_t i = 0; i < bits.size(); ++i) EXPECT_EQ(out[i], bits[i]) << "element " << i;
            got = true;
          },
          [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_TRUE(got);

  for (uint32_t b : bits) {
    wire_f32 x{b};
    self->request(*remote, 5s, x)
        .receive([&](wire_f32 back) { EXPECT_EQ(back.bits, b); },
                 [&](caf::error& e) { FAIL() << std::hex << b << ": " << sys.render(e); });
  }
  // A second round after +Inf: the sender's middleman is not stuck.
  self->request(*remote, 5s, wire_f32::from(2.5f))
      .receive([&](wire_f32 back) { EXPECT_EQ(back.value(), 2.5f); },
               [&](caf::error& e) { FAIL() << sys.render(e); });
}

TEST_F(wire_test, garbage_on_the_actor_port_is_refused_and_the_server_keeps_serving) {
  ASSERT_GT(child_->port, 0);
  for (int round = 0; round < 3; ++round) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(child_->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk = round == 0   ? "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                       : round == 1 ? std::string(4096, '\xff')
                                    : std::string("\x00\x00\x00\x01\xde\xad\xbe\xef", 8);
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  }
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(child_->alive());
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto remote = sys.middleman().remote_actor("127.0.0.1", child_->port);
  ASSERT_TRUE(remote) << sys.render(remote.error());
  caf::scoped_actor self{sys};
  self->request(*remote, 5s, wire_f32::from(1.0f))
      .receive([&](wire_f32 back) { EXPECT_EQ(back.bits, 0x3f800000u); },
               [&](caf::error& e) { FAIL() << sys.render(e); });
}

TEST_F(wire_test, a_peer_with_another_wire_version_is_refused) {
  ASSERT_GT(child_->port, 0);
  kaito::actors::runtime_config cfg;
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"kaito-wire-v0"});
  caf::actor_system sys{cfg};
  auto remote = sys.middleman().remote_actor("127.0.0.1", child_->port);
  EXPECT_FALSE(remote);
  EXPECT_TRUE(child_->alive());
}

// Without node_identity.cpp both processes would hash the same MACs and root UUID into the same
// host id (only the PID would tell them apart, and PID namespaces make even that equal).
TEST_F(wire_test, node_host_ids_differ_between_processes_of_one_host) {
  ASSERT_GT(child_->port, 0);
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto remote = sys.middleman().remote_actor("127.0.0.1", child_->port);
  ASSERT_TRUE(remote) << sys.render(remote.error());
  auto mine = sys.node();
  auto theirs = remote->node();
  ASSERT_EQ(mine->implementation_id(), caf::node_id::default_data::class_id);
  ASSERT_EQ(theirs->implementation_id(), caf::node_id::default_data::class_id);
  auto& a = static_cast<const caf::node_id::default_data&>(*mine);
  auto& b = static_cast<const caf::node_id::default_data&>(*theirs);
  EXPECT_NE(a.host_id(), b.host_id());
}

TEST(tensor_bytes, validation_names_the_problem) {
  tensor_bytes t{"f32", {2, 3}, std::vector<uint8_t>(20)};
  EXPECT_NE(kaito::msg::tensor_bytes_error(t).find("24"), std::string::npos);
  t.dtype = "f64";
  EXPECT_NE(kaito::msg::tensor_bytes_error(t).find("dtype"), std::string::npos);
  t = {"u8", {-1}, {}};
  EXPECT_NE(kaito::msg::tensor_bytes_error(t).find("shape[0]"), std::string::npos);
  t = {"i64", {std::numeric_limits<int64_t>::max(), 4}, {}};
  EXPECT_NE(kaito::msg::tensor_bytes_error(t).find("overflow"), std::string::npos);
}

}  // namespace
