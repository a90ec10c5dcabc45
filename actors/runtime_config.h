// The actor_system_config every kaito process (up, operator, join, worker, shell) starts CAF
// with: all message types registered, the io middleman loaded, BASP heartbeats and a connection
// timeout on (a frozen peer is only detected with them, on BOTH sides), our wire version as the
// middleman's application identifier (a peer with another one is refused at the handshake), a
// small non-polling scheduler ('sharing'), and CAF's own logger quiet (we log at the edges with
// kaito_log).
//
//   kaito::actors::runtime_options o{.heartbeat = 200ms, .connection_timeout = 2s};
//   kaito::actors::runtime_config cfg(o);
//   caf::actor_system sys{cfg};
//
// Node identity: CAF 0.17 derives a node id from MAC addresses + the root file system's UUID +
// the PID, so two processes with the same PID on the same host (containers with host networking,
// both PID 1) collide. node_identity.cpp salts the host part with a per-process random nonce;
// runtime_config's constructor makes sure that override is linked in.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "caf/actor_system_config.hpp"

namespace kaito::actors {

struct runtime_options {
  std::chrono::milliseconds heartbeat{500};            // BASP heartbeat interval
  std::chrono::milliseconds connection_timeout{3000};  // no traffic for this long: peer is down
  size_t scheduler_threads = 2;                        // CAF worker threads
};

class runtime_config : public caf::actor_system_config {
 public:
  explicit runtime_config(const runtime_options& o = {});
};

// The per-process salt mixed into CAF's node id (stable for the life of the process).
const std::string& node_salt();

}  // namespace kaito::actors
