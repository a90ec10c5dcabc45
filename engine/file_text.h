// file_text: the file helpers of the engine's folder readers (tune_job, model_chat, chat_service)
// and the worker units: a whole file as bytes (or nothing when it is absent), and an error
// re-placed under the file it came from.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"

namespace kaito::engine {

// The file's bytes; not_found when it does not exist, io_error when it cannot be read (naming
// the path).
result<std::string> read_text(const std::string& path);

// read_text, but an absent file is nullopt; other errors name `field: path`.
result<std::optional<std::string>> read_text_if_present(const std::string& path,
                                                        const std::string& field);

// `file: ` before an error's place, so it names the file and the field or line in it (unless
// the place already starts with the file).
status in_file(const status& st, const std::string& file);

}  // namespace kaito::engine
