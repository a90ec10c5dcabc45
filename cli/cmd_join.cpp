// `kaito join`: run this host as a machine (a Node) of a kaito control plane.
//
//   kaito join HOST:PORT (--token T | --token-file F) [--name N] [--instance-type X]
//              [--slots N] [--label k=v]... [--address A] [--models DIR] [--pods-dir DIR]
//              [--model-image REF [--model-pull-secret FILE]]
//
// HOST:PORT is the supervisor's actor port (`kaito up --actor-port`, default 6444). The machine
// starts its worker processes (`kaito worker`, one per GPU or --slots), says hello with the join
// token, heartbeats, and runs the pods the control plane binds to it. When the supervisor goes
// away the workers keep running and the machine retries until it is back. SIGINT/SIGTERM (also
// as PID 1) stop the workers and exit 0; a refused hello (wrong token, name taken) exits 1 with
// the supervisor's reason.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/machine.h"
#include "actors/runtime_config.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "cli/commands.h"

namespace kaito::cli {

namespace {

struct join_flags {
  std::string address;  // HOST:PORT of the supervisor
  std::string token;
  std::string token_file;
  std::string name;
  std::string instance_type;
  uint32_t slots = 0;
  std::vector<std::string> labels;
  std::string report_address;
  std::string models, pods_dir, model_image, model_pull_secret;
};

// Why the supervisor refused us (set on an actor thread, read by main after SIGUSR1).
std::mutex g_refusal_mutex;
std::string g_refusal;

bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size() || colon + 6 < s.size() ||
      s.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return false;
  int p = std::stoi(s.substr(colon + 1));
  if (p <= 0 || p > 65535) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(p);
  return true;
}

int run_join(const join_flags& f) {
  actors::machine_options o;
  if (!split_host_port(f.address, o.supervisor_host, o.supervisor_port)) {
    std::fprintf(stderr, "kaito join: want HOST:PORT of the supervisor, got \"%s\"\n",
                 f.address.c_str());
    return 2;
  }
  o.token = f.token;
  if (!f.token_file.empty()) {
    std::ifstream in(f.token_file);
    if (!in) {
      std::fprintf(stderr, "kaito join: cannot read --token-file %s\n", f.token_file.c_str());
      return 2;
    }
    std::getline(in, o.token);
    while (!o.token.empty() && (o.token.back() == '\r' || o.token.back() == ' '))
      o.token.pop_back();
  }
  if (o.token.empty()) {
    std::fprintf(stderr, "kaito join: --token or --token-file is required\n");
    return 2;
  }
  for (const auto& l : f.labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "kaito join: --label: want key=value, got \"%s\"\n", l.c_str());
      return 2;
    }
    o.labels.push_back({l.substr(0, eq), l.substr(eq + 1)});
  }
  o.name = f.name;
  o.instance_type = f.instance_type;
  o.slots = f.slots;
  o.address = f.report_address;
  o.models_dir = f.models.empty() ? "" : std::filesystem::absolute(f.models).string();
  o.model_image = f.model_image;
  o.model_docker_config =
      f.model_pull_secret.empty() ? "" : std::filesystem::absolute(f.model_pull_secret).string();
  o.pods_dir = f.pods_dir.empty() ? "" : std::filesystem::absolute(f.pods_dir).string();
  o.kaito_version = KAITO_VERSION;
  o.on_refused = [](const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(g_refusal_mutex);
      g_refusal = reason;
    }
    kill(getpid(), SIGUSR1);
  };

  // Block the shutdown signals before any thread starts, so only sigwait below sees them (this
  // also works as PID 1, which has no default signal actions).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  int code = 0;
  actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto machine = actors::spawn_machine(sys, o);
  if (!machine.ok()) {
    std::fprintf(stderr, "kaito join: %s\n", machine.error().to_string().c_str());
    return 1;
  }
  std::printf("kaito machine joining %s\n", f.address.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  if (sig == SIGUSR1) {
    std::lock_guard<std::mutex> lock(g_refusal_mutex);
    std::fprintf(stderr, "kaito join: refused by the supervisor: %s\n", g_refusal.c_str());
    code = 1;
  } else {
    std::printf("kaito join: %s received, stopping workers\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
  }
  caf::anon_send_exit(*machine, caf::exit_reason::user_shutdown);
  return code;  // the actor system waits for the machine, which stops its workers
}

}  // namespace

void add_join_command(CLI::App& app) {
  auto f = std::make_shared<join_flags>();
  auto* cmd = app.add_subcommand("join", "Run this host as a machine (Node) of a control plane");
  cmd->add_option("address", f->address, "The supervisor's actor port, HOST:PORT")->required();
  cmd->add_option("--token", f->token, "Join token (from the control plane's join-token file)");
  cmd->add_option("--token-file", f->token_file, "File holding the join token");
  cmd->add_option("--name", f->name, "Node name (default: this host's name)");
  cmd->add_option("--instance-type", f->instance_type,
                  "The instanceType this machine stands for (default: any)");
  cmd->add_option("--slots", f->slots, "Worker processes (default: one per GPU, else 1)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--label", f->labels, "Extra Node label key=value (repeatable)");
  cmd->add_option("--models", f->models,
                  "Model folders, one per preset name (DIR/<preset>/: a Hugging Face folder): "
                  "what tuning Jobs train")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--model-image", f->model_image,
                  "Pull a preset missing from --models from this image, {preset} standing for "
                  "its name (e.g. myacr.azurecr.io/kaito/kaito-{preset}:0.1.0)");
  cmd->add_option("--model-pull-secret", f->model_pull_secret,
                  "A .dockerconfigjson with the credentials for --model-image")
      ->check(CLI::ExistingFile);
  cmd->add_option("--pods-dir", f->pods_dir,
                  "Where each pod's files live while it runs (default: a temporary directory)");
  cmd->add_option("--address", f->report_address,
                  "Address reported as the Node's InternalIP (default: the route to HOST)");
  cmd->callback([f] { set_exit_code(run_join(*f)); });
}

}  // namespace kaito::cli
