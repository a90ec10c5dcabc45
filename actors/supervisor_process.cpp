// supervisor_process; see supervisor_process.h.
#include "actors/supervisor_process.h"

#include <cstdio>
#include <thread>

#include "actors/machine.h"
#include "actors/runtime_config.h"
#include "actors/supervisor.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace kaito::actors {

int run_control_plane_actors(const control_plane_options& o, const sigset_t& sigs) {
  const char* prog = o.program.c_str();
  auto client = k8s::client::connect(o.rest);
  if (!client.ok()) {
    std::fprintf(stderr, "%s: %s\n", prog, client.error().to_string().c_str());
    return 1;
  }
  runtime_config cfg;
  caf::actor_system sys{cfg};
  supervisor_options so;
  so.client = std::shared_ptr<k8s::client>(std::move(*client));
  so.presets = o.presets;
  so.token = o.token;
  so.node_timeout = o.node_timeout;
  so.identity = o.identity;
  so.home = o.home;
  if (o.release_namespace) so.release_namespace = *o.release_namespace;
  if (o.lease_namespace) so.lease_namespace = *o.lease_namespace;
  if (o.lease_name) so.lease_name = *o.lease_name;
  if (o.lease_duration) so.lease_duration = *o.lease_duration;
  if (o.renew_deadline) so.renew_deadline = *o.renew_deadline;
  if (o.retry_period) so.retry_period = *o.retry_period;
  auto sup = start_supervisor(sys, so);
  if (!sup.ok()) {
    std::fprintf(stderr, "%s: supervisor: %s\n", prog, sup.error().to_string().c_str());
    return 1;
  }
  const char* in =
      o.actor_address.empty() || o.actor_address == "0.0.0.0" ? nullptr : o.actor_address.c_str();
  auto port = sys.middleman().publish((*sup)->actor(), o.actor_port, in, true);
  if (!port) {
    std::fprintf(stderr, "%s: cannot publish the supervisor on %s:%u: %s\n", prog,
                 o.actor_address.c_str(), o.actor_port, sys.render(port.error()).c_str());
    (*sup)->stop();
    return 1;
  }
  std::string host = in == nullptr ? "127.0.0.1" : o.actor_address;
  std::printf("%s: supervisor listening on %s:%u\n", prog, host.c_str(), *port);
  std::printf("  join a machine: kaito join %s:%u --token %s\n", host.c_str(), *port,
              o.token.c_str());
  std::fflush(stdout);
  msg::machine_actor machine;
  if (o.local_machine) {
    // A hello before the lease is held is refused ("not the leader") and retried only after the
    // machine's backoff: wait for the lease first (a restart with the same identity leads at once).
    for (int i = 0; i < 400 && !(*sup)->leading(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    machine_options mo;
    mo.name = o.machine_name;
    mo.instance_type = o.instance_type;
    mo.slots = o.slots;
    mo.models_dir = o.models_dir;
    mo.model_image = o.model_image;
    mo.model_docker_config = o.model_docker_config;
    if (!o.home.empty()) mo.pods_dir = o.home + "/pods";
    mo.token = o.token;
    mo.supervisor = (*sup)->actor();
    mo.kaito_version = o.kaito_version;
    auto m = spawn_machine(sys, mo);
    if (!m.ok()) {
      std::fprintf(stderr, "%s: local machine: %s\n", prog, m.error().to_string().c_str());
      (*sup)->stop();
      return 1;
    }
    machine = *m;
    std::printf("%s: local machine started\n", prog);
    std::fflush(stdout);
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  std::printf("%s: %s received, shutting down\n", prog, sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  if (machine) {
    caf::scoped_actor s{sys};
    s->send_exit(machine, caf::exit_reason::user_shutdown);
    s->wait_for(machine);
    machine = nullptr;
  }
  (*sup)->stop();
  sys.middleman().close(*port);
  return 0;
}

}  // namespace kaito::actors
