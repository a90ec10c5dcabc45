// Registration functions for the `kaito` subcommands, one per cli/cmd_<name>.cpp.
//
// Each add_<name>_command adds a CLI11 subcommand whose callback runs the command and records the
// process exit code through set_exit_code (CLI11 callbacks return void).
#pragma once

namespace CLI {
class App;
}

namespace kaito::cli {

void set_exit_code(int code);
int exit_code();

void add_version_command(CLI::App& app);
void add_presets_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_tune_command(CLI::App& app);
void add_up_command(CLI::App& app);
void add_validate_command(CLI::App& app);
void add_join_command(CLI::App& app);      // CAF builds only
void add_worker_command(CLI::App& app);    // CAF builds only
void add_operator_command(CLI::App& app);  // CAF builds only
void add_shell_command(CLI::App& app);     // CAF builds only
void add_serve_command(CLI::App& app);     // CAF builds only

}  // namespace kaito::cli
