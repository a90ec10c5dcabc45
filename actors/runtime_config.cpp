// runtime_config: the one CAF configuration of every kaito process; see runtime_config.h.
#include "actors/runtime_config.h"

#include <string>
#include <vector>

#include "caf/io/middleman.hpp"
#include "protocol/messages/register.h"
#include "protocol/messages/wire.h"

namespace kaito::actors {

runtime_config::runtime_config(const runtime_options& o) {
  (void)node_salt();  // links node_identity.cpp (the node-id override) into every binary
  msg::add_kaito_message_types(*this);
  load<caf::io::middleman>();
  set("scheduler.max-threads", static_cast<int>(o.scheduler_threads));
  // 'sharing' (one queue, threads block on a condition variable) instead of work stealing,
  // whose idle workers poll with 50 us nanosleeps: on a 2-core control plane that polling took
  // CPU from the API server in the same process (perf: ~8% of samples in the sleep loop alone).
  // caf.md §4: sharing also halves the request round trip on 2 cores.
  set("scheduler.policy", caf::atom("sharing"));
  set("middleman.workers", 0);  // deserialize on the I/O thread: half the round trip (caf.md §4)
  set("middleman.heartbeat-interval", caf::timespan{o.heartbeat});
  set("middleman.connection-timeout", caf::timespan{o.connection_timeout});
  set("middleman.app-identifiers", std::vector<std::string>{msg::wire_app_id});
  set("logger.verbosity", caf::atom("quiet"));
  set("logger.console", caf::atom("none"));
  set("logger.file-name", std::string());
}

}  // namespace kaito::actors
