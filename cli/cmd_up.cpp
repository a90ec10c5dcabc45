// `kaito up`: the embedded, kubectl-compatible control plane on this machine.
//
//   kaito up [--port 6443] [--home DIR] [--crds DIR] [--actor-port 6444] [--actor-address A]
//            [--node-timeout S] [--no-local-machine] [--instance-type X] [--slots N]
//            [--models DIR] [--model-image REF [--model-pull-secret FILE]]
//
// Starts the API server on 127.0.0.1:<port> with its state in DIR (default $KAITO_HOME or
// ~/.kaito), installs the Workspace CRD (deploy/crds from the source tree or the install prefix),
// validates Workspaces with Kaito's admission rules against the model presets, writes
// DIR/kubeconfig, and serves until SIGINT or SIGTERM, then shuts down cleanly (every acknowledged
// write is already durable). CAF builds also run the supervisor (reconcilers, machine admission,
// the shell's endpoint) on --actor-port and, unless --no-local-machine, this host as a machine;
// the join token is DIR/join-token and the `kaito join` line is printed.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <pthread.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "k8s/apiserver/bootstrap.h"
#include "k8s/apiserver/kubeconfig.h"
#include "k8s/apiserver/server.h"
#include "k8s/apiserver/workspace_admission.h"
#include "presets/preset_catalog.h"
#if KAITO_CLI_WITH_CAF
#include <unistd.h>

#include "actors/supervisor_process.h"
#include "actors/token.h"
#include "k8s/client/kubeconfig.h"
#endif

namespace kaito::cli {

namespace {

struct up_flags {
  int port = 6443;
  std::string home;
  std::string crds;
  std::string presets;
  int actor_port = 6444;
  std::string actor_address = "127.0.0.1";
  double node_timeout_s = 5;
  bool no_local_machine = false;
  bool no_supervisor = false;
  std::string instance_type;
  int slots = 0;
  std::string machine_name;
  std::string models, model_image, model_pull_secret;
};

#if KAITO_CLI_WITH_CAF
// The supervisor (+ local machine) until a signal; 0 after a clean stop.
int run_up_actors(const up_flags& f, const kaito::k8s::apiserver::api_server& srv,
                  const kaito::presets::preset_catalog* catalog, const sigset_t& sigs) {
  auto token = kaito::actors::load_or_create_token(srv.home() + "/join-token");
  if (!token.ok()) {
    std::fprintf(stderr, "kaito up: %s\n", token.error().to_string().c_str());
    return 1;
  }
  auto rest = kaito::k8s::load_kubeconfig(srv.kubeconfig_path());
  if (!rest.ok()) {
    std::fprintf(stderr, "kaito up: %s\n", rest.error().to_string().c_str());
    return 1;
  }
  kaito::actors::control_plane_options o;
  o.rest = *rest;
  o.presets = catalog;
  o.token = *token;
  o.actor_address = f.actor_address;
  o.actor_port = static_cast<uint16_t>(f.actor_port);
  o.node_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.node_timeout_s * 1000));
  o.identity = "kaito-up:" + srv.home();  // a restart with the same home leads at once
  o.home = srv.home();
  o.local_machine = !f.no_local_machine;
  o.machine_name = f.machine_name;
  o.instance_type = f.instance_type;
  o.slots = static_cast<uint32_t>(f.slots);
  o.models_dir = f.models.empty() ? "" : std::filesystem::absolute(f.models).string();
  o.model_image = f.model_image;
  o.model_docker_config =
      f.model_pull_secret.empty() ? "" : std::filesystem::absolute(f.model_pull_secret).string();
  o.kaito_version = KAITO_VERSION;
  return kaito::actors::run_control_plane_actors(o, sigs);
}
#endif

int run_up(const up_flags& f) {
  namespace as = kaito::k8s::apiserver;
  // Block the shutdown signals before any server thread starts, so only sigwait below sees them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  as::server_options opts;
  std::string presets_dir = f.presets.empty() ? kaito::presets::default_presets_dir() : f.presets;
  auto catalog = kaito::presets::load_catalog(presets_dir);
  if (!catalog.ok()) {
    std::fprintf(stderr, "kaito up: cannot load presets from %s: %s\n", presets_dir.c_str(),
                 catalog.error().to_string().c_str());
    return 1;
  }
  opts.admit = as::workspace_admission(*catalog);
  opts.port = static_cast<uint16_t>(f.port);
  opts.tls = true;
  opts.home = f.home.empty() ? as::default_home() : f.home;
  auto srv = as::api_server::start(opts);
  if (!srv.ok()) {
    std::fprintf(stderr, "kaito up: %s\n", srv.error().to_string().c_str());
    return 1;
  }
  std::string crds = f.crds.empty() ? as::find_crds_dir("/proc/self/exe") : f.crds;
  if (!crds.empty()) {
    auto installed = as::install_manifests(**srv, crds);
    if (!installed.ok()) {
      std::fprintf(stderr, "kaito up: installing %s: %s\n", crds.c_str(),
                   installed.error().to_string().c_str());
      return 1;
    }
    for (const auto& name : *installed) std::printf("installed %s\n", name.c_str());
  } else {
    std::fprintf(stderr,
                 "kaito up: no deploy/crds directory found; Workspaces are not served until a CRD "
                 "is applied\n");
  }
  // Kaito's Helm chart ships the default ConfigMaps into its release namespace; admission looks
  // them up there when inference.config / tuning.config is empty.
  const std::string release_ns = "kaito-workspace";
  if (auto st = as::ensure_namespace(**srv, release_ns); !st.ok()) {
    std::fprintf(stderr, "kaito up: %s\n", st.to_string().c_str());
    return 1;
  }
  // The default inference ConfigMap (vLLM settings) and the qlora/lora tuning templates.
  const std::vector<std::pair<std::string, const std::string*>> templates = {
      {"inference template", &(*catalog)->inference_template()},
      {"qlora tuning template", &(*catalog)->tuning_template("qlora")},
      {"lora tuning template", &(*catalog)->tuning_template("lora")}};
  for (const auto& [what, manifest] : templates) {
    if (manifest->empty()) continue;
    auto installed = as::install_manifest_text(**srv, *manifest, what, release_ns);
    if (!installed.ok()) {
      std::fprintf(stderr, "kaito up: %s\n", installed.error().to_string().c_str());
      return 1;
    }
    for (const auto& name : *installed)
      std::printf("installed %s/%s\n", release_ns.c_str(), name.c_str());
  }
  std::printf("kaito control plane listening on %s (state in %s)\n", (*srv)->url().c_str(),
              (*srv)->home().c_str());
  std::printf("  export KUBECONFIG=%s\n  kubectl get workspaces\n",
              (*srv)->kubeconfig_path().c_str());
  std::fflush(stdout);
#if KAITO_CLI_WITH_CAF
  if (!f.no_supervisor) {
    int code = run_up_actors(f, **srv, catalog->get(), sigs);
    (*srv)->stop();
    return code;
  }
#endif
  int sig = 0;
  sigwait(&sigs, &sig);
  std::printf("kaito up: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  (*srv)->stop();
  return 0;
}

}  // namespace

void add_up_command(CLI::App& app) {
  auto flags = std::make_shared<up_flags>();
  auto* cmd = app.add_subcommand("up", "Run the embedded, kubectl-compatible control plane");
  cmd->add_option("--port", flags->port, "TCP port on 127.0.0.1 (0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--home", flags->home, "State directory (default $KAITO_HOME or ~/.kaito)");
  cmd->add_option("--crds", flags->crds,
                  "Directory of manifests to install at start (default deploy/crds)");
  cmd->add_option("--presets", flags->presets,
                  "Model preset directory for Workspace validation (default: presets/)");
#if KAITO_CLI_WITH_CAF
  cmd->add_option("--actor-port", flags->actor_port,
                  "Port of the supervisor for machines and shells (0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--actor-address", flags->actor_address,
                  "Address the supervisor listens on (0.0.0.0: every interface)");
  cmd->add_option("--node-timeout", flags->node_timeout_s,
                  "Seconds without heartbeat before a machine's Node turns NotReady")
      ->check(CLI::Range(0.2, 3600.0));
  cmd->add_flag("--no-supervisor", flags->no_supervisor,
                "Only the API server: no reconcilers, no machines (kubectl-only tests)");
  cmd->add_flag("--no-local-machine", flags->no_local_machine,
                "Do not run this host as a machine (only joined machines run pods)");
  cmd->add_option("--instance-type", flags->instance_type,
                  "The local machine's instance type (default: stands for any)");
  cmd->add_option("--models", flags->models,
                  "The local machine's model folders, one per preset name (DIR/<preset>/: "
                  "config.json, *.safetensors, tokenizer files): what tuning Jobs train")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--model-image", flags->model_image,
                  "Pull a preset missing from --models from this image, {preset} standing for "
                  "its name (e.g. myacr.azurecr.io/kaito/kaito-{preset}:0.1.0; an oras artifact "
                  "of the Hugging Face files)");
  cmd->add_option("--model-pull-secret", flags->model_pull_secret,
                  "A .dockerconfigjson with the credentials for --model-image")
      ->check(CLI::ExistingFile);
  cmd->add_option("--slots", flags->slots, "The local machine's worker processes (0: auto)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--machine-name", flags->machine_name,
                  "The local machine's Node name (default: hostname)");
#endif
  cmd->callback([flags] { set_exit_code(run_up(*flags)); });
}

}  // namespace kaito::cli
