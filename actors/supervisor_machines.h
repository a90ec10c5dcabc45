// The supervisor's machines and pods (supervisor_machines.cpp), called by its behaviour
// (supervisor_actor.cpp). Private to the supervisor; every call runs on the supervisor actor.
#pragma once

#include <string>

#include "actors/supervisor_state.h"
#include "caf/all.hpp"
#include "protocol/messages/machine.h"

namespace kaito::actors::detail {

// Every bound, non-terminal pod not yet running on its machine gets run_pod (the tick's sweep).
void dispatch_all(self_ptr self);
// An informer event for pod `key` (namespace/name): dispatched, or stopped when deleted.
void on_pod_event(self_ptr self, const std::string& key, bool deleted);
// Machine `name` is lost: its Node turns NotReady and its pods are evicted. handle_down: its
// actor is gone (the link is dropped; it must say hello again); else it only went silent, and a
// later heartbeat on the same link revives it.
void lose_machine(self_ptr self, const std::string& name, const std::string& reason,
                  bool handle_down);
msg::machine_welcome on_hello(self_ptr self, const msg::machine_hello& h);
void on_heartbeat(self_ptr self, const msg::machine_heartbeat& hb);
void on_pod_report(self_ptr self, const msg::pod_report& r);
// The pool finished applying pod `uid`'s report: the next one waiting for that pod goes.
void on_report_done(self_ptr self, const std::string& uid);

}  // namespace kaito::actors::detail
