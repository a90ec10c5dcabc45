// Registers every message type of protocol/messages/ with an actor_system_config. Runs on every
// node (the names must match across nodes), before the actor_system is constructed.
#pragma once

namespace caf {
class actor_system_config;
}

namespace kaito::msg {

void add_kaito_message_types(caf::actor_system_config& cfg);

}  // namespace kaito::msg
