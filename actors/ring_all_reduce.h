// ring_all_reducer: engine::all_reducer over the actor runtime — a CPU ring all-reduce between
// processes (one rank each), so data-parallel training works on machines without GPUs (and is the
// fallback where NCCL is unavailable).
//
//   ring_options o{.group = "ws-a", .rank = r, .world = 3, .coordinator_host = "10.0.0.5",
//                  .coordinator_port = 7070};
//   auto ring = ring_all_reducer::join(sys, o);     // blocks until all 3 ranks joined
//   (*ring)->all_reduce_sum(grads.data(), grads.size());
//
// Rank 0 publishes its ring actor on coordinator_port and answers every rank's ring_join with the
// roster once all `world` ranks joined; each rank then connects to rank (r+1) % world, and a
// one-float all-reduce (a barrier) closes join() once every link exists. The classic ring runs:
// world-1 reduce-scatter steps (each rank adds the chunk its left neighbour sent) and world-1
// all-gather steps (copy). Each element is summed on exactly one rank, in rank order starting after
// its owner, and copied to the others: the result is bit-identical on every rank. Traffic per rank:
// 2 (world-1)/world of the buffer, as raw bytes (protocol/messages/ collective.h). Chunks of more
// than chunk_bytes are split so no message floods the connection.
//
// Failure: a lost right neighbour fails the pending all_reduce at once (monitor); a lost left
// neighbour is seen as the timeout (deadline_exceeded naming the rank and the step). The reducer
// is then unusable (every later call fails fast).
//
// Thread-safety: one thread calls all_reduce_sum; join() from any thread not owned by CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "engine/all_reduce.h"

namespace kaito::actors {

struct ring_options {
  std::string group;  // ranks of one job share it; a join for another group is refused
  uint32_t rank = 0;
  uint32_t world = 1;
  std::string coordinator_host = "127.0.0.1";
  uint16_t coordinator_port = 0;             // rank 0 listens here (0: any; see coordinator_port())
  std::string bind_host = "127.0.0.1";       // where this rank publishes its ring actor
  std::string advertise_host;                // what other ranks connect to ("" = bind_host)
  std::chrono::milliseconds timeout{30000};  // join and each all_reduce
  size_t chunk_bytes = 4u << 20;
  // Rank 0 only: bytes handed to every rank with the roster (the NCCL unique id of
  // kernels/cuda/nccl_comm.h, so GPU ranks bootstrap NCCL through the same rendezvous).
  std::vector<uint8_t> bootstrap_blob;
};

class ring_all_reducer final : public engine::all_reducer {
 public:
  // Blocks until the ring is formed (or fails with deadline_exceeded / unavailable naming the
  // peer). Rank 0's actual port is coordinator_port() (useful with coordinator_port = 0).
  static result<std::unique_ptr<ring_all_reducer>> join(caf::actor_system& sys,
                                                        const ring_options& o);
  // Rank 0 only: publish first and learn the port before the other ranks are started.
  static result<std::unique_ptr<ring_all_reducer>> listen(caf::actor_system& sys,
                                                          const ring_options& o);
  status wait_formed();  // after listen(): blocks until every rank joined and the ring is closed

  ~ring_all_reducer() override;
  ring_all_reducer(const ring_all_reducer&) = delete;
  ring_all_reducer& operator=(const ring_all_reducer&) = delete;

  uint32_t rank() const override { return o_.rank; }
  uint32_t world_size() const override { return o_.world; }
  uint16_t coordinator_port() const { return port_; }
  // Rank 0's bootstrap_blob, as every rank received it (after the ring formed).
  const std::vector<uint8_t>& bootstrap_blob() const { return blob_; }
  status all_reduce_sum(float* data, size_t count) override;

 private:
  ring_all_reducer(caf::actor_system& sys, ring_options o) : sys_(sys), o_(std::move(o)) {}
  status start();  // spawn + publish
  status form();   // join the roster, connect to the right neighbour

  caf::actor_system& sys_;
  ring_options o_;
  caf::actor actor_;
  uint16_t port_ = 0;
  uint64_t next_op_ = 0;
  bool formed_ = false;
  status broken_;
  std::vector<uint8_t> blob_;
};

}  // namespace kaito::actors
