// served_lora: a LoRA adapter a server answers with unmerged (multi-LoRA serving, vLLM's
// --lora-modules and /v1/load_lora_adapter): the name requests ask for, the folder it was read
// from, an id unique to this load (a decoder's cached prefixes are per id: the same name loaded
// again may be other weights), and the weights. A request holds its served_lora_ptr until it ends,
// so unloading a name never pulls the weights from under an answer in progress.
// Thread-safety: immutable once made.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/lora_adapter.h"

namespace kaito::engine {

struct served_lora {
  std::string name, dir;
  std::string root;  // what /v1/models shows ("": dir)
  uint64_t id = 0;
  lora_adapter lora;
};
using served_lora_ptr = std::shared_ptr<const served_lora>;

// The id of a request's adapter: 0 for none (the base weights).
inline uint64_t lora_id(const served_lora_ptr& l) {
  return l ? l->id : 0;
}

}  // namespace kaito::engine
