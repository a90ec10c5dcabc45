// lora_merge: folds a LoRA adapter into the frozen base weights (PEFT merge_and_unload), so
// inference runs without the adapter:
//   W[row_offset + o, i] += scale * sum_k B[o, k] * A[k, i]   for every module,
// on the fused base projection the module sits in (model_weights.h layout: Phi-3's qkv_proj /
// gate_up_proj at offset 0, Llama-style q/k/v and gate/up at their row slices). Dropout is an
// identity at inference, so the merged model's logits equal the run-time adapter's up to fp32
// rounding. Biases are untouched (PEFT lora_bias is not supported).
//
// Thread-safety: mutates `m`; no concurrent readers while merging.
#pragma once

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"

namespace kaito::engine {

// failed_precondition when a target linear is NF4 (merging into 4-bit weights would need a
// requantization; dequantize first), invalid_argument naming the module when its placement or
// A/B sizes do not fit the model. On error `m` is unchanged.
status lora_merge(model* m, const lora_adapter& a);

}  // namespace kaito::engine
