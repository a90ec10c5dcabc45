// `kaito shell`: the operator's console, talking to the supervisor over CAF.
//
//   kaito shell [--address 127.0.0.1:6444] [--token T | --token-file F] [-c 'command']
//
// With -c: runs one command, prints the reply and exits with its code (0 ok, 1 failed, 2 usage;
// 1 also when the supervisor cannot be reached or refuses the token). Without: a REPL (GNU
// readline when built with it: history in ~/.kaito/shell_history, tab completion asked from the
// supervisor). `top` in the REPL refreshes every second until Enter, q or Ctrl-C. The token
// defaults to $KAITO_HOME/join-token (or ~/.kaito/join-token).
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "actors/runtime_config.h"
#include "actors/shell_commands.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "cli/commands.h"
#include "protocol/messages/interfaces.h"

#if KAITO_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

namespace kaito::cli {

namespace {

using namespace std::chrono_literals;

struct shell_flags {
  std::string address = "127.0.0.1:6444";
  std::string token;
  std::string token_file;
  std::string command;
};

std::string kaito_home() {
  const char* home = std::getenv("KAITO_HOME");
  if (home != nullptr && *home != '\0') return home;
  const char* h = std::getenv("HOME");
  return std::string(h != nullptr ? h : ".") + "/.kaito";
}

struct session {
  caf::actor_system* sys = nullptr;
  msg::supervisor_actor sup;
  std::string token;
};

session* g_session = nullptr;
std::atomic<bool> g_interrupted{false};

msg::shell_reply ask(session& s, const std::vector<std::string>& argv) {
  msg::shell_reply out;
  msg::shell_request req;
  req.token = s.token;
  req.argv = argv;
  caf::scoped_actor self{*s.sys};
  self->request(s.sup, 30s, req)
      .receive([&](msg::shell_reply& r) { out = std::move(r); },
               [&](caf::error& e) {
                 out.exit_code = 1;
                 out.text = "supervisor: " + s.sys->render(e) + "\n";
               });
  return out;
}

#if KAITO_HAVE_READLINE
std::vector<std::string> g_completions;

char* completion_generator(const char*, int state) {
  if (state == 0) {
    g_completions.clear();
    if (g_session != nullptr) {
      msg::shell_complete c;
      c.token = g_session->token;
      c.line = std::string(rl_line_buffer, rl_point);
      caf::scoped_actor self{*g_session->sys};
      self->request(g_session->sup, 2s, c)
          .receive([&](msg::shell_completions& r) { g_completions = std::move(r.words); },
                   [&](caf::error&) {});
    }
  }
  if (static_cast<size_t>(state) >= g_completions.size()) return nullptr;
  return strdup(g_completions[state].c_str());
}

char** complete(const char* text, int, int) {
  rl_attempted_completion_over = 1;
  return rl_completion_matches(text, completion_generator);
}
#endif

std::optional<std::string> read_line(const char* prompt) {
#if KAITO_HAVE_READLINE
  char* l = readline(prompt);
  if (l == nullptr) return std::nullopt;
  std::string s(l);
  if (!s.empty()) add_history(l);
  std::free(l);
  return s;
#else
  std::fputs(prompt, stdout);
  std::fflush(stdout);
  std::string s;
  if (!std::getline(std::cin, s)) return std::nullopt;
  return s;
#endif
}

// `top` in the REPL: one frame a second until Enter/q on stdin or Ctrl-C.
void live_top(session& s) {
  g_interrupted = false;
  struct sigaction sa {
  }, old{};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &sa, &old);
  while (!g_interrupted) {
    auto r = ask(s, {"top"});
    std::printf("\033[H\033[2J%s\n(refreshing every second; Enter or q to stop)\n", r.text.c_str());
    std::fflush(stdout);
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) {
      std::string ignored;
      std::getline(std::cin, ignored);
      break;
    }
  }
  sigaction(SIGINT, &old, nullptr);
}

int repl(session& s) {
  std::string history = kaito_home() + "/shell_history";
#if KAITO_HAVE_READLINE
  rl_attempted_completion_function = complete;
  read_history(history.c_str());
#endif
  std::printf("kaito shell: connected; type help, Ctrl-D to leave\n");
  while (auto line = read_line("kaito> ")) {
    auto argv = actors::split_command_line(*line);
    if (argv.empty()) continue;
    if (argv[0] == "exit" || argv[0] == "quit") break;
    if (argv[0] == "top" && isatty(STDIN_FILENO)) {
      live_top(s);
      continue;
    }
    auto r = ask(s, argv);
    std::fputs(r.text.c_str(), stdout);
    std::fflush(stdout);
  }
#if KAITO_HAVE_READLINE
  write_history(history.c_str());
#endif
  return 0;
}

int run_shell(const shell_flags& f) {
  std::string token = f.token;
  if (token.empty()) {
    std::string path = f.token_file.empty() ? kaito_home() + "/join-token" : f.token_file;
    std::ifstream in(path);
    if (!in || !std::getline(in, token) || token.empty()) {
      std::fprintf(stderr, "kaito shell: cannot read the token from %s (use --token)\n",
                   path.c_str());
      return 1;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  auto colon = f.address.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "kaito shell: --address must be host:port\n");
    return 2;
  }
  std::string host = f.address.substr(0, colon);
  int port = std::atoi(f.address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "kaito shell: bad port in --address %s\n", f.address.c_str());
    return 2;
  }
  actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto sup = sys.middleman().remote_actor<msg::supervisor_actor>(host, static_cast<uint16_t>(port));
  if (!sup) {
    std::fprintf(stderr, "kaito shell: cannot reach the supervisor at %s: %s\n", f.address.c_str(),
                 sys.render(sup.error()).c_str());
    return 1;
  }
  session s{&sys, *sup, token};
  g_session = &s;
  int code = 0;
  if (!f.command.empty()) {
    auto r = ask(s, actors::split_command_line(f.command));
    std::fputs(r.text.c_str(), r.exit_code == 0 ? stdout : stderr);
    code = r.exit_code;
  } else {
    code = repl(s);
  }
  g_session = nullptr;
  return code;
}

}  // namespace

void add_shell_command(CLI::App& app) {
  auto f = std::make_shared<shell_flags>();
  auto* cmd = app.add_subcommand("shell", "Operator console: workspaces, machines, workers, top");
  cmd->add_option("--address", f->address, "Supervisor host:port (default 127.0.0.1:6444)");
  cmd->add_option("--token", f->token, "Join token");
  cmd->add_option("--token-file", f->token_file,
                  "File holding the join token (default $KAITO_HOME/join-token)");
  cmd->add_option("-c,--command", f->command, "Run one command and exit");
  cmd->callback([f] { set_exit_code(run_shell(*f)); });
}

}  // namespace kaito::cli
