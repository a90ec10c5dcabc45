// builtin_chat_templates: the chat templates of presets/chat_templates/*.jinja, compiled into the
// binary (as Kaito bakes them into its images at /workspace/chat_templates), so a worker on any
// machine can give a preset's template to a model folder that has none.
//
//   builtin_chat_template("falcon")  -> the text of presets/chat_templates/falcon.jinja
//   builtin_chat_template("none")    -> nullopt (and so does any unknown name)
//
// Thread-safety: pure function over static data.
#pragma once

#include <optional>
#include <string_view>

namespace kaito::presets {

std::optional<std::string_view> builtin_chat_template(std::string_view name);

}  // namespace kaito::presets
