// The ring all-reduce conversation (actors/ring_all_reduce), CPU data-parallel training.
//
//   rank r>0                 rank 0 (coordinator, published on a known port)
//     | -- ring_join -------> |   rank 0 answers every join with the roster once all W joined
//     | <-- ring_roster ----- |
//   then each rank connects to rank (r+1) % W and streams ring_chunk messages to it:
//   W-1 reduce-scatter steps (phase 0: add) and W-1 all-gather steps (phase 1: copy).
//
// Gradient values travel only as tensor_bytes (raw f32 bytes), never as floats.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "protocol/messages/wire.h"

namespace kaito::msg {

struct ring_join {
  uint32_t version = wire_version;
  std::string group;  // must match the coordinator's
  uint32_t rank = 0;
  uint32_t world = 0;
  std::string host;  // where this rank's ring actor is published
  uint16_t port = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_join& x) {
  return f(caf::meta::type_name("kaito.ring_join.v1"), x.version, x.group, x.rank, x.world, x.host,
           x.port);
}

struct ring_roster {
  std::vector<std::string> hosts;  // by rank
  std::vector<uint16_t> ports;
  std::vector<uint8_t> blob;  // rank 0's bootstrap bytes for every rank (e.g. the NCCL unique id)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_roster& x) {
  return f(caf::meta::type_name("kaito.ring_roster.v1"), x.hosts, x.ports, x.blob);
}

struct ring_chunk {
  uint64_t op = 0;     // the n-th all_reduce of this group
  uint32_t phase = 0;  // 0 reduce-scatter, 1 all-gather
  uint32_t step = 0;
  uint32_t from_rank = 0;
  uint64_t offset = 0;  // first element of this piece in the buffer
  tensor_bytes data;    // f32
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_chunk& x) {
  return f(caf::meta::type_name("kaito.ring_chunk.v1"), x.op, x.phase, x.step, x.from_rank,
           x.offset, x.data);
}

// Local only (the calling thread -> its rank's actor): start all-reduce number `op`.
struct ring_reduce {
  uint64_t op = 0;
  tensor_bytes data;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ring_reduce& x) {
  return f(caf::meta::type_name("kaito.ring_reduce.v1"), x.op, x.data);
}

}  // namespace kaito::msg
