// `kaito version`: the build's version and compiled-in features.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace kaito::cli {

namespace {
int g_exit_code = 0;
}

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version and compiled-in features");
  cmd->callback([] {
    std::printf("kaito %s\n", KAITO_VERSION);
    std::printf("features: caf=%s cuda=%s blas=%s\n", KAITO_FEATURE_CAF, KAITO_FEATURE_CUDA,
                KAITO_FEATURE_BLAS);
  });
}

}  // namespace kaito::cli
