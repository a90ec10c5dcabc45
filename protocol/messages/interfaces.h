// The typed interfaces of the published actors. remote_actor<T>() checks them at connect time,
// so a peer built from another wire version is refused (unexpected_actor_messaging_interface)
// before any message is exchanged.
#pragma once

#include "caf/typed_actor.hpp"
#include "protocol/messages/machine.h"
#include "protocol/messages/shell.h"
#include "protocol/messages/worker.h"

namespace kaito::msg {

// One per control plane, published on the actor port (`kaito up --actor-port`).
using supervisor_actor =
    caf::typed_actor<caf::replies_to<machine_hello>::with<machine_welcome>,
                     caf::reacts_to<machine_heartbeat>, caf::reacts_to<pod_report>,
                     caf::replies_to<shell_request>::with<shell_reply>,
                     caf::replies_to<shell_complete>::with<shell_completions>>;

// One per node. The supervisor reaches it through the machine's hello; its worker processes
// through the machine's own published port on 127.0.0.1.
using machine_actor = caf::typed_actor<caf::reacts_to<run_pod>, caf::reacts_to<stop_pod>,
                                       caf::replies_to<list_workers>::with<worker_list>,
                                       caf::replies_to<kill_worker>::with<command_reply>,
                                       caf::replies_to<worker_hello>::with<worker_welcome>,
                                       caf::reacts_to<work_progress>, caf::reacts_to<work_done>>;

// One per `kaito worker` process (one per GPU or CPU slot).
using worker_actor = caf::typed_actor<caf::reacts_to<work_unit>, caf::reacts_to<cancel_work>>;

}  // namespace kaito::msg
