// kaito: the one binary. One line per subcommand; each lives in cli/cmd_<name>.cpp and registers
// itself on the CLI11 app.
//
// defines:
//   version     cmd_version.cpp   print the build's version and features
//   (more subcommands are added below as their layers land)
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kaito: the Kaito Workspace operator, QLoRA engine and inference server"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  kaito::cli::add_version_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return kaito::cli::exit_code();
}
