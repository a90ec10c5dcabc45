// add_kaito_message_types: one line per wire type; see register.h.
#include "protocol/messages/register.h"

#include "caf/actor_system_config.hpp"
#include "protocol/messages/collective.h"
#include "protocol/messages/interfaces.h"

namespace kaito::msg {

void add_kaito_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<wire_f32>("kaito.wire_f32.v1");
  cfg.add_message_type<tensor_bytes>("kaito.tensor_bytes.v1");
  cfg.add_message_type<label>("kaito.label.v1");
  // machine.h
  cfg.add_message_type<machine_resources>("kaito.machine_resources.v1");
  cfg.add_message_type<machine_hello>("kaito.machine_hello.v1");
  cfg.add_message_type<machine_welcome>("kaito.machine_welcome.v1");
  cfg.add_message_type<machine_heartbeat>("kaito.machine_heartbeat.v1");
  cfg.add_message_type<probe_spec>("kaito.probe_spec.v2");
  cfg.add_message_type<run_pod>("kaito.run_pod.v5");
  cfg.add_message_type<stop_pod>("kaito.stop_pod.v1");
  cfg.add_message_type<pod_event>("kaito.pod_event.v1");
  cfg.add_message_type<container_exit>("kaito.container_exit.v1");
  cfg.add_message_type<pod_report>("kaito.pod_report.v4");
  cfg.add_message_type<worker_info>("kaito.worker_info.v1");
  cfg.add_message_type<list_workers>("kaito.list_workers.v1");
  cfg.add_message_type<worker_list>("kaito.worker_list.v1");
  cfg.add_message_type<kill_worker>("kaito.kill_worker.v1");
  cfg.add_message_type<command_reply>("kaito.command_reply.v1");
  // worker.h
  cfg.add_message_type<worker_hello>("kaito.worker_hello.v1");
  cfg.add_message_type<worker_welcome>("kaito.worker_welcome.v1");
  cfg.add_message_type<work_unit>("kaito.work_unit.v2");
  cfg.add_message_type<work_progress>("kaito.work_progress.v1");
  cfg.add_message_type<work_done>("kaito.work_done.v1");
  cfg.add_message_type<cancel_work>("kaito.cancel_work.v2");
  // collective.h
  cfg.add_message_type<ring_join>("kaito.ring_join.v1");
  cfg.add_message_type<ring_roster>("kaito.ring_roster.v1");
  cfg.add_message_type<ring_chunk>("kaito.ring_chunk.v1");
  cfg.add_message_type<ring_reduce>("kaito.ring_reduce.v1");
  // shell.h
  cfg.add_message_type<shell_request>("kaito.shell_request.v1");
  cfg.add_message_type<shell_reply>("kaito.shell_reply.v1");
  cfg.add_message_type<shell_complete>("kaito.shell_complete.v1");
  cfg.add_message_type<shell_completions>("kaito.shell_completions.v1");
}

}  // namespace kaito::msg
