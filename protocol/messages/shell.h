// The shell <-> supervisor conversation: `kaito shell` (REPL or -c) sends one command line as
// argv and prints the reply's text (aligned tables, like kubectl). The token is the join token
// (operators hold it; machines hold it); a wrong one is refused and logged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "protocol/messages/wire.h"

namespace kaito::msg {

struct shell_request {
  uint32_t version = wire_version;
  std::string token;
  std::vector<std::string> argv;  // {"describe", "workspace-tuning-phi-3"}
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shell_request& x) {
  return f(caf::meta::type_name("kaito.shell_request.v1"), x.version, x.token, x.argv);
}

struct shell_reply {
  int32_t exit_code = 0;  // 0 ok, 1 failed, 2 usage
  std::string text;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shell_reply& x) {
  return f(caf::meta::type_name("kaito.shell_reply.v1"), x.exit_code, x.text);
}

// Tab completion: the words that can follow `line` (the text before the cursor).
struct shell_complete {
  std::string token;
  std::string line;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shell_complete& x) {
  return f(caf::meta::type_name("kaito.shell_complete.v1"), x.token, x.line);
}

struct shell_completions {
  std::vector<std::string> words;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shell_completions& x) {
  return f(caf::meta::type_name("kaito.shell_completions.v1"), x.words);
}

}  // namespace kaito::msg
