// `kaito up`: the embedded, kubectl-compatible control plane on this machine.
//
//   kaito up [--port 6443] [--home DIR] [--crds DIR]
//
// Starts the API server on 127.0.0.1:<port> with its state in DIR (default $KAITO_HOME or
// ~/.kaito), installs the Workspace CRD (deploy/crds from the source tree or the install prefix),
// validates Workspaces with Kaito's admission rules against the model presets, writes
// DIR/kubeconfig, and serves until SIGINT or SIGTERM, then shuts down cleanly (every acknowledged
// write is already durable).
#include <csignal>
#include <cstdio>
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

namespace kaito::cli {

namespace {

struct up_flags {
  int port = 6443;
  std::string home;
  std::string crds;
  std::string presets;
};

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
  cmd->callback([flags] { set_exit_code(run_up(*flags)); });
}

}  // namespace kaito::cli
