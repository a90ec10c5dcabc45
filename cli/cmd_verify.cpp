// `kaito verify <fixture-dir>`: runs the engine against an HF transformers + PEFT golden fixture
// (base/, adapter/, expected.safetensors, README.txt) and prints the max relative error of every
// checked quantity with its tolerance. Exit code 0 when all pass, 1 on a tolerance failure, 2 when
// the fixture cannot be read or the device is not there.
//   --device cpu   the CPU engine (engine/verify.h), fp32 tolerances
//   --device cuda  the GPU engine (engine/cuda_hf/gpu_verify.h), bf16 tolerances; needs a kaito
//                  built with nvcc (KAITO_CLI_WITH_CUDA) and a CUDA device. With --nf4: QLoRA, the
//                  GPU's NF4 base (always double-quantized) against the CPU engine's
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "engine/verify.h"
#if KAITO_CLI_WITH_CUDA
#include "engine/cuda_hf/gpu_verify.h"
#include "kernels/cuda/cuda_context.h"
#endif

namespace kaito::cli {

namespace {

result<engine::verify_report> verify_on_cuda(const std::string& dir, bool nf4) {
#if KAITO_CLI_WITH_CUDA
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<cuda_context> cx, cuda_context::create());
  gpu::gpu_verify_options o;
  o.nf4 = nf4;
  return gpu::gpu_verify_fixture(*cx, dir, o);
#else
  (void)dir;
  (void)nf4;
  return status(status_code::failed_precondition,
                "this kaito was built without CUDA (no nvcc at configure time)", "--device");
#endif
}

}  // namespace

void add_verify_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Check the engine against a golden fixture folder");
  auto dir = std::make_shared<std::string>();
  auto opt = std::make_shared<engine::verify_options>();
  cmd->add_option("fixture-dir", *dir, "Folder with base/, adapter/, expected.safetensors")
      ->required();
  cmd->add_flag("--nf4", opt->nf4,
                "Also check NF4 base weights against the round-trip bound (--device cuda: the "
                "GPU's QLoRA against the CPU engine's NF4)");
  cmd->add_flag("--double-quant", opt->double_quant, "With --nf4: double-quantize the absmax");
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_option("--device", *device, "The engine to check: cpu (fp32) or cuda (bf16, on a GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->callback([dir, opt, device] {
    auto r =
        *device == "cuda" ? verify_on_cuda(*dir, opt->nf4) : engine::verify_fixture(*dir, *opt);
    if (!r.ok()) {
      std::fprintf(stderr, "kaito verify: %s\n", r.error().to_string().c_str());
      set_exit_code(2);
      return;
    }
    std::fputs(engine::format_verify_report(r.value()).c_str(), stdout);
    set_exit_code(r->pass() ? 0 : 1);
  });
}

}  // namespace kaito::cli
