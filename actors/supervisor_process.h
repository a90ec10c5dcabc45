// supervisor_process: the actor half of `kaito up` and `kaito operator`: one actor system with
// the supervisor (informers, leader election, reconcilers) published on the actor port, plus
// (for `kaito up`) the local machine, until a shutdown signal arrives.
//
//   sigset_t sigs = ...;  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);   // before any thread
//   control_plane_options o{...};
//   int code = run_control_plane_actors(o, sigs);   // prints the `kaito join` line, then sigwait
//
// Shutdown: the local machine (stopping its workers), then the supervisor (elector, informers,
// reconcilers, running k8s calls), then the actor system. Returns the process exit code: 0 after
// a signal, 1 when the client, the informers' sync, the publish or the local machine failed
// (the error is printed to stderr).
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "k8s/client/kubeconfig.h"

namespace kaito::presets {
class preset_catalog;
}

namespace kaito::actors {

struct control_plane_options {
  std::string program = "kaito up";  // prefix of printed lines
  k8s::rest_config rest;             // the API server
  const presets::preset_catalog* presets = nullptr;
  std::string token;
  std::string actor_address = "127.0.0.1";
  uint16_t actor_port = 6444;  // 0: any free port (the printed join line names it)
  std::chrono::milliseconds node_timeout{5000};
  std::string identity;  // leader-election identity
  std::string home;      // pod log files (kubectl logs); "" = none
  bool local_machine = false;
  std::string machine_name;  // "" = hostname
  std::string instance_type;
  uint32_t slots = 0;
  std::string models_dir;  // the local machine's KAITO_MODELS_DIR (machine_options)
  std::string model_image, model_docker_config;  // its KAITO_MODEL_IMAGE, ..._DOCKER_CONFIG
  std::string kaito_version;                     // sent in the local machine's hello
  // Leader election and Kaito's release namespace; unset: supervisor_options' defaults
  // (Lease kaito-workspace/kaito-operator, 15 s / 10 s / 2 s as client-go's defaults).
  std::optional<std::string> release_namespace, lease_namespace, lease_name;
  std::optional<std::chrono::milliseconds> lease_duration, renew_deadline, retry_period;
};

int run_control_plane_actors(const control_plane_options& o, const sigset_t& sigs);

}  // namespace kaito::actors
