// `kaito operator`: the supervisor alone (leader election, informers, reconcilers, machine
// admission, the shell's endpoint) against any Kubernetes API server.
//
//   kaito operator --kubeconfig K [--actor-port 6444] [--actor-address 127.0.0.1]
//                  [--token-file F] [--node-timeout 5] [--identity ID] [--presets DIR]
//                  [--lease-namespace NS] [--lease-name NAME] [--lease-duration 15]
//                  [--renew-deadline 10] [--retry-period 2] [--release-namespace NS]
//
// The join token comes from --token-file (created with a fresh token when absent; default
// $KAITO_HOME/join-token or ~/.kaito/join-token). Several operators may run against one API
// server: only the holder of the Lease (default kaito-workspace/kaito-operator; timings as
// client-go's leader election: the holder renews within --renew-deadline or steps down, others
// take an unrenewed Lease after --lease-duration, everyone retries every --retry-period)
// reconciles and admits machines.
// Serves until SIGINT or SIGTERM (also as PID 1), then shuts down cleanly.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <pthread.h>
#include <CLI/CLI.hpp>

#include "actors/supervisor_process.h"
#include "actors/token.h"
#include "cli/commands.h"
#include "presets/preset_catalog.h"

namespace kaito::cli {

namespace {

struct operator_flags {
  std::string kubeconfig;
  std::string context;
  int actor_port = 6444;
  std::string actor_address = "127.0.0.1";
  std::string token_file;
  double node_timeout_s = 5;
  std::string identity;
  std::string presets;
  std::string lease_namespace = "kaito-workspace", lease_name = "kaito-operator";
  std::string release_namespace = "kaito-workspace";
  double lease_duration_s = 15, renew_deadline_s = 10, retry_period_s = 2;
};

// client-go's rules (leaderelection.NewLeaderElector): lease > renew > 1.2 x retry > 0.
std::string check_lease_timings(const operator_flags& f) {
  if (!(f.retry_period_s > 0)) return "--retry-period must be positive";
  if (!(f.renew_deadline_s > 1.2 * f.retry_period_s))
    return "--renew-deadline must be greater than 1.2 x --retry-period";
  if (!(f.lease_duration_s > f.renew_deadline_s))
    return "--lease-duration must be greater than --renew-deadline";
  return "";
}

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

std::string default_token_file() {
  const char* home = std::getenv("KAITO_HOME");
  if (home != nullptr && *home != '\0') return std::string(home) + "/join-token";
  const char* h = std::getenv("HOME");
  return std::string(h != nullptr ? h : ".") + "/.kaito/join-token";
}

int run_operator(const operator_flags& f) {
  if (const std::string bad = check_lease_timings(f); !bad.empty()) {
    std::fprintf(stderr, "kaito operator: %s (got lease %gs, renew %gs, retry %gs)\n", bad.c_str(),
                 f.lease_duration_s, f.renew_deadline_s, f.retry_period_s);
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto rest =
      f.kubeconfig.empty() ? k8s::default_config() : k8s::load_kubeconfig(f.kubeconfig, f.context);
  if (!rest.ok()) {
    std::fprintf(stderr, "kaito operator: kubeconfig: %s\n", rest.error().to_string().c_str());
    return 1;
  }
  std::string presets_dir = f.presets.empty() ? presets::default_presets_dir() : f.presets;
  auto catalog = presets::load_catalog(presets_dir);
  if (!catalog.ok()) {
    std::fprintf(stderr, "kaito operator: cannot load presets from %s: %s\n", presets_dir.c_str(),
                 catalog.error().to_string().c_str());
    return 1;
  }
  std::string token_file = f.token_file.empty() ? default_token_file() : f.token_file;
  auto token = actors::load_or_create_token(token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "kaito operator: %s\n", token.error().to_string().c_str());
    return 1;
  }
  actors::control_plane_options o;
  o.program = "kaito operator";
  o.rest = *rest;
  o.presets = catalog->get();
  o.token = *token;
  o.actor_address = f.actor_address;
  o.actor_port = static_cast<uint16_t>(f.actor_port);
  o.node_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.node_timeout_s * 1000));
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  o.identity =
      f.identity.empty() ? std::string(host) + ":" + std::to_string(f.actor_port) : f.identity;
  o.local_machine = false;
  o.kaito_version = KAITO_VERSION;
  o.lease_namespace = f.lease_namespace;
  o.lease_name = f.lease_name;
  o.release_namespace = f.release_namespace;
  o.lease_duration = ms(f.lease_duration_s);
  o.renew_deadline = ms(f.renew_deadline_s);
  o.retry_period = ms(f.retry_period_s);
  return actors::run_control_plane_actors(o, sigs);
}

}  // namespace

void add_operator_command(CLI::App& app) {
  auto f = std::make_shared<operator_flags>();
  auto* cmd = app.add_subcommand(
      "operator", "Run the Workspace operator (supervisor) against a Kubernetes API server");
  cmd->add_option("--kubeconfig", f->kubeconfig,
                  "Kubeconfig file (default $KUBECONFIG, ~/.kube/config or in-cluster)");
  cmd->add_option("--context", f->context, "Kubeconfig context (default: current-context)");
  cmd->add_option("--actor-port", f->actor_port, "Port for machines and shells (0: any)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--actor-address", f->actor_address,
                  "Address to listen on for machines and shells (0.0.0.0: every interface)");
  cmd->add_option("--token-file", f->token_file,
                  "Join token file, created when absent (default $KAITO_HOME/join-token)");
  cmd->add_option("--node-timeout", f->node_timeout_s,
                  "Seconds without heartbeat before a machine's Node turns NotReady")
      ->check(CLI::Range(0.2, 3600.0));
  cmd->add_option("--identity", f->identity,
                  "Leader-election identity (default <hostname>:<actor-port>)");
  cmd->add_option("--presets", f->presets, "Model preset directory (default: presets/)");
  cmd->add_option("--lease-namespace", f->lease_namespace,
                  "Namespace of the leader-election Lease (default kaito-workspace)");
  cmd->add_option("--lease-name", f->lease_name,
                  "Name of the leader-election Lease (default kaito-operator)");
  cmd->add_option("--lease-duration", f->lease_duration_s,
                  "Seconds a Lease stays valid without renewal before another operator takes it "
                  "(default 15)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--renew-deadline", f->renew_deadline_s,
                  "Seconds the leader keeps trying to renew before it steps down (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--retry-period", f->retry_period_s,
                  "Seconds between acquire and renew attempts (default 2)")
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--release-namespace", f->release_namespace,
                  "Namespace of Kaito's default ConfigMaps (tuning templates; default "
                  "kaito-workspace)");
  cmd->callback([f] { set_exit_code(run_operator(*f)); });
}

}  // namespace kaito::cli
