// lora_combine; see lora_combine.h.
#include "engine/lora_combine.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

namespace kaito::engine {

result<lora_adapter> lora_combine(const model_config& c, const std::vector<lora_adapter>& adapters,
                                  const std::vector<float>& strengths) {
  if (!strengths.empty() && strengths.size() != adapters.size())
    return invalid_argument("one strength per adapter", "strengths");
  for (float w : strengths)
    if (!(w >= 0.0f && w <= 1.0f)) return invalid_argument("must be in [0, 1]", "strengths");
  const std::vector<linear_slot> slots = model_linear_slots(c);
  // the rank: the largest sum of ranks on one linear
  int64_t R = 1;
  for (const linear_slot& s : slots) {
    int64_t sum = 0;
    for (const lora_adapter& a : adapters)
      for (const lora_module& m : a.modules)
        if (m.path == s.path) sum += m.r;
    R = std::max(R, sum);
  }
  lora_adapter out;
  out.config.r = R;
  out.config.alpha = double(R);  // scale 1: each module's scale is folded into its B
  std::set<std::string> targets;
  for (const linear_slot& s : slots) targets.insert(s.target);
  out.config.target_modules.assign(targets.begin(), targets.end());
  for (const linear_slot& s : slots) {
    lora_module m = lora_module_for(out.config, s);
    m.A.assign(size_t(R * s.in), 0.0f);
    m.B.assign(size_t(s.out * R), 0.0f);
    int64_t k0 = 0;  // the next free rank row
    for (size_t i = 0; i < adapters.size(); ++i) {
      for (const lora_module& src : adapters[i].modules) {
        if (src.path != s.path) continue;
        if (src.in != s.in || src.out != s.out || int64_t(src.A.size()) != src.r * src.in ||
            int64_t(src.B.size()) != src.out * src.r)
          return invalid_argument("sizes do not fit the model's linear",
                                  "adapters[" + std::to_string(i) + "]." + src.path);
        const float f = src.scale * (strengths.empty() ? 1.0f : strengths[i]);
        for (int64_t k = 0; k < src.r; ++k)
          std::copy(src.A.begin() + k * s.in, src.A.begin() + (k + 1) * s.in,
                    m.A.begin() + (k0 + k) * s.in);
        for (int64_t o = 0; o < s.out; ++o)
          for (int64_t k = 0; k < src.r; ++k)
            m.B[size_t(o * R + k0 + k)] = f * src.B[size_t(o * src.r + k)];
        k0 += src.r;
      }
    }
    m.dA.assign(m.A.size(), 0.0f);
    m.dB.assign(m.B.size(), 0.0f);
    out.modules.push_back(std::move(m));
  }
  return out;
}

}  // namespace kaito::engine
