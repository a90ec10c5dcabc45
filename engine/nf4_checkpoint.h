// nf4_checkpoint: one linear's bitsandbytes 4-bit checkpoint tensors <-> nf4_quant_state
// (transformers/bitsandbytes Linear4bit._save_to_state_dict + QuantState.as_dict(packed=True);
// the layout table is in kernels/nf4.h and reference/qlora.md §1.6). For module path <p>:
//   <p>.weight U8 [ceil(n/2), 1]; <p>.weight.absmax F32 [nblocks] or U8 (double quant);
//   <p>.weight.quant_map F32 [16]; <p>.weight.nested_absmax F32, <p>.weight.nested_quant_map F32
//   [256] (double quant); <p>.weight.quant_state.bitsandbytes__nf4 U8 = the JSON blob.
// Read errors are invalid_argument / not_found naming the tensor; only quant_type "nf4" with
// blocksize 64 is accepted (unimplemented otherwise).
//
// Thread-safety: free functions.
#pragma once

#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/safetensors.h"
#include "kernels/nf4.h"

namespace kaito::engine {

// A tensor of the checkpoint by name: its header entry and bytes, or not_found.
struct st_view {
  const st_tensor_info* info = nullptr;
  std::span<const uint8_t> bytes;
};
using st_lookup = std::function<result<st_view>(const std::string& name)>;

// Whether <module>.weight.quant_state.bitsandbytes__nf4 exists (the module is stored in 4 bit).
bool has_bnb_nf4(const st_lookup& get, const std::string& module);

// Reads the state and checks it against the expected (rows, in) shape.
result<nf4_quant_state> read_bnb_nf4(const st_lookup& get, const std::string& module, int64_t rows,
                                     int64_t in);

// Appends the module's tensors; their bytes are kept in `storage`, which must stay live until the
// entries are written.
void append_bnb_nf4(const nf4_quant_state& qs, const std::string& module,
                    std::vector<st_write_entry>* entries,
                    std::deque<std::vector<uint8_t>>* storage);

}  // namespace kaito::engine
