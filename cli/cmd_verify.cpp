// `kaito verify <fixture-dir>`: runs the engine against an HF transformers + PEFT golden fixture
// (base/, adapter/, expected.safetensors, README.txt) and prints the max relative error of every
// checked quantity with its tolerance. Exit code 0 when all pass, 1 on a tolerance failure, 2 when
// the fixture cannot be read.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "engine/verify.h"

namespace kaito::cli {

void add_verify_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Check the engine against a golden fixture folder");
  auto dir = std::make_shared<std::string>();
  auto opt = std::make_shared<engine::verify_options>();
  cmd->add_option("fixture-dir", *dir, "Folder with base/, adapter/, expected.safetensors")
      ->required();
  cmd->add_flag("--nf4", opt->nf4, "Also check NF4 base weights against the round-trip bound");
  cmd->add_flag("--double-quant", opt->double_quant, "With --nf4: double-quantize the absmax");
  cmd->callback([dir, opt] {
    auto r = engine::verify_fixture(*dir, *opt);
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
