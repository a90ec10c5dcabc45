// The CPU ring all-reduce across real processes (one rank each, forked before any actor system
// exists): exact sums, bit-identical results on every rank, uneven and tiny buffers, pieces larger
// than a message, many ops in a row, a lost rank failing the others instead of hanging, and
// data-parallel LoRA training equal to one process with the same global batch.
#include "actors/ring_all_reduce.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actors/runtime_config.h"
#include "caf/all.hpp"
#include "tests/engine/trainer_fixture.h"

namespace {

using namespace std::chrono_literals;
using kaito::actors::ring_all_reducer;
using kaito::actors::ring_options;

// A child process: runs `body` and streams what it returns back through a pipe.
struct child {
  pid_t pid = -1;
  int out = -1;
};

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(r));
  close(fd);
  return s;
}

child fork_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string r = body();
    write_all(fds[1], r.data(), r.size());
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

int wait_child(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

// Rank 0 publishes first and tells the parent its port through a second pipe.
struct ring_run {
  std::vector<std::string> outputs;  // per rank
};

using rank_body = std::function<std::string(ring_all_reducer&)>;

ring_run run_ring(uint32_t world, const rank_body& body, size_t chunk_bytes = 4u << 20,
                  std::chrono::milliseconds timeout = 20s, std::vector<uint8_t> blob = {}) {
  int port_pipe[2];
  EXPECT_EQ(pipe(port_pipe), 0);
  std::vector<child> kids(world);
  ring_options base;
  base.group = "test";
  base.world = world;
  base.chunk_bytes = chunk_bytes;
  base.timeout = timeout;
  base.bootstrap_blob = blob;  // only rank 0's counts
  kids[0] = fork_child([&]() -> std::string {
    close(port_pipe[0]);
    kaito::actors::runtime_config cfg;
    caf::actor_system sys{cfg};
    ring_options o = base;
    o.rank = 0;
    auto r = ring_all_reducer::listen(sys, o);
    uint16_t port = r.ok() ? (*r)->coordinator_port() : 0;
    write_all(port_pipe[1], &port, sizeof port);
    close(port_pipe[1]);
    if (!r.ok()) return "ERR " + r.error().to_string();
    if (auto st = (*r)->wait_formed(); !st.ok()) return "ERR " + st.to_string();
    return body(**r);
  });
  close(port_pipe[1]);
  uint16_t port = 0;
  EXPECT_EQ(read(port_pipe[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  close(port_pipe[0]);
  for (uint32_t rank = 1; rank < world; ++rank) {
    kids[rank] = fork_child([&, rank]() -> std::string {
      kaito::actors::runtime_config cfg;
      caf::actor_system sys{cfg};
      ring_options o = base;
      o.rank = rank;
      o.coordinator_port = port;
      auto r = ring_all_reducer::join(sys, o);
      if (!r.ok()) return "ERR " + r.error().to_string();
      return body(**r);
    });
  }
  ring_run run;
  for (auto& k : kids) run.outputs.push_back(read_all(k.out));
  for (auto& k : kids) wait_child(k.pid);
  return run;
}

std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::vector<float> floats_of(const std::string& s) {
  std::vector<float> v(s.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
  return v;
}

// Rank r's input: integer-valued, so every sum is exact whatever the order.
float value(uint32_t rank, size_t i) {
  return static_cast<float>((i * 7 + rank * 13) % 101) - 50;
}

TEST(ring_all_reduce, sums_exactly_on_every_rank_for_every_size) {
  const std::vector<size_t> sizes = {0, 1, 2, 3, 1001, 300000};
  const uint32_t world = 3;
  auto run = run_ring(
      world,
      [&](ring_all_reducer& r) {
        std::string out;
        for (size_t n : sizes) {
          std::vector<float> v(n);
          for (size_t i = 0; i < n; ++i) v[i] = value(r.rank(), i);
          if (auto st = r.all_reduce_sum(v.data(), v.size()); !st.ok())
            return "ERR " + st.to_string();
          out += bytes_of(v);
        }
        return out;
      },
      /*chunk_bytes=*/64 << 10);  // 300000 floats / 3 ranks -> 5 pieces per chunk
  for (uint32_t rank = 0; rank < world; ++rank) {
    const std::string& o = run.outputs[rank];
    ASSERT_NE(o.rfind("ERR", 0), 0u) << "rank " << rank << ": " << o;
    auto got = floats_of(o);
    size_t off = 0;
    for (size_t n : sizes) {
      for (size_t i = 0; i < n; ++i) {
        float want = value(0, i) + value(1, i) + value(2, i);
        ASSERT_EQ(got[off + i], want) << "rank " << rank << " size " << n << " element " << i;
      }
      off += n;
    }
    EXPECT_EQ(off, got.size());
  }
}

TEST(ring_all_reduce, results_are_bit_identical_across_ranks_for_inexact_sums) {
  const uint32_t world = 4;
  auto run = run_ring(world, [&](ring_all_reducer& r) {
    std::vector<float> v(5003);
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(r.rank())) * 1e-3f +
             (i % 3 == 0 ? 1e4f : 0.0f);
    std::string out;
    for (int op = 0; op < 5; ++op) {  // ops in a row; a fast left neighbour runs ahead
      if (auto st = r.all_reduce_sum(v.data(), v.size()); !st.ok()) return "ERR " + st.to_string();
      out += bytes_of(v);
    }
    return out;
  });
  for (uint32_t rank = 0; rank < world; ++rank)
    ASSERT_NE(run.outputs[rank].rfind("ERR", 0), 0u) << run.outputs[rank];
  for (uint32_t rank = 1; rank < world; ++rank)
    EXPECT_EQ(run.outputs[rank], run.outputs[0]) << "rank " << rank << " differs from rank 0";
}

TEST(ring_all_reduce, rank_0s_bootstrap_blob_reaches_every_rank) {
  std::vector<uint8_t> id(128);  // the size of an NCCL unique id
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i * 37 + 1);
  auto run = run_ring(
      3,
      [](ring_all_reducer& r) {
        const auto& b = r.bootstrap_blob();
        return std::string(b.begin(), b.end());
      },
      4u << 20, 20s, id);
  for (uint32_t rank = 0; rank < 3; ++rank)
    EXPECT_EQ(run.outputs[rank], std::string(id.begin(), id.end())) << "rank " << rank;
}

TEST(ring_all_reduce, a_lost_rank_fails_the_others_instead_of_hanging) {
  const uint32_t world = 3;
  auto t0 = std::chrono::steady_clock::now();
  auto run = run_ring(
      world,
      [&](ring_all_reducer& r) -> std::string {
        if (r.rank() == 2) _exit(9);  // dies right after the ring formed
        std::this_thread::sleep_for(300ms);
        std::vector<float> v(1000, 1.0f);
        auto st = r.all_reduce_sum(v.data(), v.size());
        if (st.ok()) return "OK";
        auto again = r.all_reduce_sum(v.data(), v.size());  // fails fast once broken
        return "ERR " + st.to_string() + (again.ok() ? " | second call succeeded" : "");
      },
      4u << 20, /*timeout=*/3s);
  auto took = std::chrono::steady_clock::now() - t0;
  for (uint32_t rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(run.outputs[rank].rfind("ERR", 0), 0u)
        << "rank " << rank << ": " << run.outputs[rank];
    EXPECT_EQ(run.outputs[rank].find("second call succeeded"), std::string::npos);
  }
  EXPECT_LT(took, 15s);
}

TEST(ring_all_reduce, data_parallel_training_matches_one_process) {
  using namespace kaito::engine;
  const int steps = 3;
  auto adapter_bytes = [](const lora_adapter& a) {
    std::string s;
    for (const auto& m : a.modules) s += bytes_of(m.A) + bytes_of(m.B);
    return s;
  };
  // One process: micro-batch 1, accumulation 2.
  std::string single;
  {
    auto m = kaito::engine::testing::base_model(false);
    auto t = trainer::create(m, kaito::engine::testing::fresh_adapter(*m, 0.1),
                             kaito::engine::testing::chat_dataset(6),
                             kaito::engine::testing::config(steps, 1, 2));
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    for (int i = 0; i < steps; ++i) ASSERT_TRUE(t.value().step().ok());
    single = adapter_bytes(t.value().adapter());
  }
  // Two ranks: micro-batch 1, accumulation 1 each.
  auto run = run_ring(2, [&](ring_all_reducer& r) -> std::string {
    auto m = kaito::engine::testing::base_model(false);
    auto t = trainer::create(m, kaito::engine::testing::fresh_adapter(*m, 0.1),
                             kaito::engine::testing::chat_dataset(6),
                             kaito::engine::testing::config(steps, 1, 1));
    if (!t.ok()) return "ERR " + t.error().to_string();
    std::shared_ptr<all_reducer> shared(&r, [](all_reducer*) {});
    t.value().set_all_reducer(shared);
    for (int i = 0; i < steps; ++i)
      if (auto s = t.value().step(); !s.ok()) return "ERR " + s.error().to_string();
    return adapter_bytes(t.value().adapter());
  });
  for (int rank = 0; rank < 2; ++rank)
    ASSERT_NE(run.outputs[rank].rfind("ERR", 0), 0u) << run.outputs[rank];
  EXPECT_EQ(run.outputs[0], run.outputs[1]) << "ranks disagree";
  auto a = floats_of(single), b = floats_of(run.outputs[0]);
  ASSERT_EQ(a.size(), b.size());
  double max_abs = 0, max_ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_abs = std::max(max_abs, double(std::fabs(a[i] - b[i])));
    max_ref = std::max(max_ref, double(std::fabs(a[i])));
  }
  // Only the summation order of two micro-batches' gradients differs (fp32 rounding, then three
  // AdamW steps with lr 2e-2 whose update size does not depend on the gradient scale).
  EXPECT_LT(max_abs / max_ref, 1e-4) << "max abs diff " << max_abs;
}

}  // namespace
