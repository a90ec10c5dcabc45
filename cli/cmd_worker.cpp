// `kaito worker`: INTERNAL. One gpu_worker process, started by a machine (`kaito join` or
// `kaito up`) for one of its slots; not meant to be run by hand, hidden from --help.
//
//   kaito worker --machine 127.0.0.1:PORT --token SECRET --slot N [--device cpu|"cuda:0 NAME"]
//
// Connects to the machine actor on PORT, presents the per-child SECRET, runs the work units the
// machine sends, and exits when the machine goes away (or is killed with it: PR_SET_PDEATHSIG).
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "actors/gpu_worker.h"
#include "cli/commands.h"
#include "cli/cuda_tuner.h"

namespace kaito::cli {

namespace {

struct worker_flags {
  std::string machine;
  std::string token;
  uint32_t slot = 0;
  std::string device = "cpu";
};

int run_worker(const worker_flags& f) {
  auto colon = f.machine.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon + 1 >= f.machine.size() || colon + 6 < f.machine.size() ||
      f.machine.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
      (port = std::stoi(f.machine.substr(colon + 1))) <= 0 || port > 65535) {
    std::fprintf(stderr, "kaito worker: --machine: want host:port, got \"%s\"\n",
                 f.machine.c_str());
    return 2;
  }
  actors::worker_process_options o;
  o.machine_host = f.machine.substr(0, colon);
  o.machine_port = static_cast<uint16_t>(port);
  o.token = f.token;
  o.slot = f.slot;
  o.device = f.device;
  // A CUDA slot trains and serves on the GPU engine when this kaito has it; otherwise the CPU
  // engine.
  if (f.device.rfind("cuda", 0) == 0 && cuda_tuner_built()) {
    o.engines.tuner = [](const engine::tune_job& j, const engine::tune_progress& p) {
      return tune_on_cuda(j, p, "--device");
    };
    o.engines.decoder = cuda_decoder_factory(/*nf4=*/false);
  }
  return actors::run_worker_process(o);
}

}  // namespace

void add_worker_command(CLI::App& app) {
  auto f = std::make_shared<worker_flags>();
  auto* cmd = app.add_subcommand("worker", "Internal: a machine's worker process");
  cmd->group("");  // hidden: machines start it
  cmd->add_option("--machine", f->machine, "The machine's worker port, host:port")->required();
  cmd->add_option("--token", f->token, "This worker's secret (from the machine)")->required();
  cmd->add_option("--slot", f->slot, "Worker slot index")->required();
  cmd->add_option("--device", f->device, "Device description (cpu or cuda:N NAME)");
  cmd->callback([f] { set_exit_code(run_worker(*f)); });
}

}  // namespace kaito::cli
