// kaito: the one binary. One line per subcommand; each lives in cli/cmd_<name>.cpp and registers
// itself on the CLI11 app.
//
// defines:
//   version     cmd_version.cpp   print the build's version and features
//   presets     cmd_presets.cpp   list model presets; `presets get NAME` prints one
//   verify      cmd_verify.cpp    check the engine against an HF+PEFT fixture folder
//   up          cmd_up.cpp        run the embedded kubectl-compatible control plane
//   validate    cmd_validate.cpp  Kaito's Workspace admission checks on files, offline
//   join        cmd_join.cpp      run this host as a machine (Node) of a control plane
//   worker      cmd_worker.cpp    internal: a machine's worker process (hidden)
//   operator    cmd_operator.cpp  the Workspace operator (supervisor) against any API server
//   shell       cmd_shell.cpp     operator console (workspaces, machines, workers, top, logs)
//   (more subcommands are added below as their layers land)
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kaito: the Kaito Workspace operator, QLoRA engine and inference server"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  kaito::cli::add_version_command(app);
  kaito::cli::add_presets_command(app);
  kaito::cli::add_verify_command(app);
  kaito::cli::add_tune_command(app);
  kaito::cli::add_up_command(app);
  kaito::cli::add_validate_command(app);
#if KAITO_CLI_WITH_CAF
  kaito::cli::add_join_command(app);
  kaito::cli::add_worker_command(app);
  kaito::cli::add_operator_command(app);
  kaito::cli::add_shell_command(app);
  kaito::cli::add_serve_command(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return kaito::cli::exit_code();
}
