// nf4_error: how far NF4 base weights (bitsandbytes round trip) move a model's logits, against
// what the round trip predicts.
//
// Weight bound (per element, exact arithmetic): quantization picks the nearest NF4 code of
// x = w / absmax in [-1, 1], so |x - code| <= g/2 with g = the widest gap of the code table,
// code[1] - code[0] = 0.3038072, i.e. g/2 = 0.1519036. Dequantization multiplies by the absmax
// actually stored (â = absmax, or its double-quantized reconstruction), so
//     |w - deq(w)| <= 0.1519036 * absmax_b + |absmax_b - â_b|        (+ fp32 rounding)
// `weight_ratio` is the largest |w - deq(w)| over that bound; it must be <= 1 (+1e-5 for fp32).
//
// Logit prediction: with ΔW = deq(W) - W for every decoder linear, the first-order change of the
// logits is the directional derivative J·ΔW, measured by a central difference
//     pred = (f(W + tΔW) - f(W - tΔW)) / (2t),  t = 1/8   (O(t^2) truncation, fp32 noise ~1e-6/t)
// and the NF4 logits must satisfy   max|f(deq W) - f(W)| <= 1.5 * max|pred|   (stated bound: the
// 0.5 allows the second-order terms of a ~10%-relative weight perturbation). `logit_ratio` is
// max|f(deq W) - f(W)| / max|pred|. Both are reported relative to max|f(W)| too.
//
// Thread-safety: pure function of its arguments (copies the model).
#pragma once

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/transformer.h"

namespace kaito::engine {

inline constexpr double k_nf4_half_gap = 0.1519036;  // (nf4_code[1] - nf4_code[0]) / 2, rounded up
inline constexpr double k_nf4_logit_bound = 1.5;     // allowed max|actual| / max|first-order|

struct nf4_error_report {
  double weight_ratio = 0.0;     // max |w - deq(w)| / (0.1519036 absmax + |absmax - â|)
  double weight_rel = 0.0;       // ||ΔW||_F / ||W||_F over all quantized linears
  double logit_err = 0.0;        // max|f(deq W) - f(W)| / max|f(W)|
  double logit_predicted = 0.0;  // max|pred| / max|f(W)|
  double logit_ratio = 0.0;      // logit_err / logit_predicted
};

// `m` must hold fp32 linears. `lora` may be nullptr.
result<nf4_error_report> nf4_logit_error(const model& m, const lora_adapter* lora, const batch& b,
                                         bool double_quant);

}  // namespace kaito::engine
