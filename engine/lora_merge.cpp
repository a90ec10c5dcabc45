// Merging LoRA deltas into fp32 base weights (see lora_merge.h).
#include "engine/lora_merge.h"

#include <algorithm>
#include <vector>

namespace kaito::engine {

namespace {

linear_weight* site_linear(model* m, const lora_module& mod) {
  if (mod.layer < 0 || mod.layer >= static_cast<int64_t>(m->weights.layers.size())) return nullptr;
  layer_weights& lw = m->weights.layers[static_cast<size_t>(mod.layer)];
  switch (mod.site) {
    case lora_site::qkv:
      return &lw.qkv;
    case lora_site::o:
      return &lw.o;
    case lora_site::gate_up:
      return &lw.gate_up;
    case lora_site::down:
      return &lw.down;
  }
  return nullptr;
}

}  // namespace

status lora_merge(model* m, const lora_adapter& a) {
  // Validate everything first so that an error leaves the model untouched.
  std::vector<linear_weight*> targets;
  for (const lora_module& mod : a.modules) {
    linear_weight* lw = site_linear(m, mod);
    if (!lw) return invalid_argument("layer out of range", mod.path);
    if (lw->quantized())
      return status(status_code::failed_precondition,
                    "the base linear is NF4; merge needs fp32 weights", mod.path);
    if (mod.in != lw->in || mod.row_offset < 0 || mod.out <= 0 || mod.r <= 0 ||
        mod.row_offset + mod.out > lw->out)
      return invalid_argument("module placement does not fit the base linear", mod.path);
    if (static_cast<int64_t>(mod.A.size()) != mod.r * mod.in ||
        static_cast<int64_t>(mod.B.size()) != mod.out * mod.r)
      return invalid_argument("lora_A / lora_B sizes do not match r, in and out", mod.path);
    targets.push_back(lw);
  }
  for (size_t j = 0; j < a.modules.size(); ++j) {
    const lora_module& mod = a.modules[j];
    linear_weight& lw = *targets[j];
    std::vector<float> row(static_cast<size_t>(mod.in));
    for (int64_t o = 0; o < mod.out; ++o) {
      // delta row o = sum_k (scale * B[o, k]) * A[k, :], accumulated in fp32 then added once (as
      // PEFT adds get_delta_weight to the base weight).
      std::fill(row.begin(), row.end(), 0.0f);
      for (int64_t k = 0; k < mod.r; ++k) {
        const float b = mod.B[static_cast<size_t>(o * mod.r + k)];
        const float* ak = mod.A.data() + k * mod.in;
        for (int64_t i = 0; i < mod.in; ++i) row[static_cast<size_t>(i)] += b * ak[i];
      }
      float* w = lw.w.data() + (mod.row_offset + o) * lw.in;
      for (int64_t i = 0; i < mod.in; ++i) w[i] += mod.scale * row[static_cast<size_t>(i)];
    }
  }
  return {};
}

}  // namespace kaito::engine
