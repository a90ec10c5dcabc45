// NF4 round-trip error on weights and logits (see nf4_error.h for the bound and its derivation).
#include "engine/nf4_error.h"

#include <algorithm>
#include <cmath>

#include "kernels/nf4.h"

namespace kaito::engine {

namespace {

double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, std::fabs(double(x)));
  return m;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

// A copy of `m` whose linears are W + t * dW (dW listed per layer as qkv, o, gate_up, down).
model shifted(const model& m, const std::vector<std::vector<float>>& dw, float t) {
  model out = m;
  size_t k = 0;
  for (auto& l : out.weights.layers)
    for (linear_weight* lw : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      const std::vector<float>& d = dw[k++];
      for (size_t i = 0; i < lw->w.size(); ++i) lw->w[i] += t * d[i];
    }
  return out;
}

result<std::vector<float>> logits_of(const model& m, const lora_adapter* lora, const batch& b) {
  forward_state st;
  KAITO_TRY(model_forward(m, lora, b, {}, &st));
  return std::move(st.logits);
}

}  // namespace

result<nf4_error_report> nf4_logit_error(const model& m, const lora_adapter* lora, const batch& b,
                                         bool double_quant) {
  nf4_error_report r;
  model q = m;  // NF4 round trip of every decoder linear, kept in fp32 form
  std::vector<std::vector<float>> dw;
  double num = 0.0, den = 0.0;
  for (auto& l : q.weights.layers) {
    for (linear_weight* lw : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      if (lw->quantized())
        return status(status_code::failed_precondition, "model already holds NF4 weights");
      const int64_t n = lw->out * lw->in;
      std::vector<float> deq(static_cast<size_t>(n)), d(static_cast<size_t>(n));
      int64_t row = 0;
      for (int64_t rows : lw->part_rows) {  // one bitsandbytes state per HF module
        const float* w = lw->w.data() + row * lw->in;
        float* dq_out = deq.data() + row * lw->in;
        float* d_out = d.data() + row * lw->in;
        const int64_t pn = rows * lw->in;
        nf4_quant_state qs = nf4_quantize_weight(w, {rows, lw->in}, dtype::f32, double_quant);
        KAITO_TRY(nf4_dequantize_weight(qs, dq_out));
        const std::vector<float> stored = nf4_effective_absmax(qs);
        for (int64_t blk = 0; blk * nf4_block_size < pn; ++blk) {
          const int64_t lo = blk * nf4_block_size, hi = std::min(pn, lo + nf4_block_size);
          double absmax = 0.0;
          for (int64_t i = lo; i < hi; ++i) absmax = std::max(absmax, std::fabs(double(w[i])));
          const double bound = k_nf4_half_gap * absmax + std::fabs(absmax - double(stored[blk]));
          for (int64_t i = lo; i < hi; ++i) {
            d_out[i] = dq_out[i] - w[i];
            num += double(d_out[i]) * d_out[i];
            den += double(w[i]) * w[i];
            if (bound > 0)
              r.weight_ratio = std::max(r.weight_ratio, std::fabs(double(d_out[i])) / bound);
            else if (d_out[i] != 0.0f)
              r.weight_ratio = INFINITY;
          }
        }
        row += rows;
      }
      lw->w = std::move(deq);
      dw.push_back(std::move(d));
    }
  }
  r.weight_rel = den > 0 ? std::sqrt(num / den) : 0.0;

  KAITO_ASSIGN_OR_RETURN(std::vector<float> f0, logits_of(m, lora, b));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> fq, logits_of(q, lora, b));
  const float t = 0.125f;
  KAITO_ASSIGN_OR_RETURN(std::vector<float> fp, logits_of(shifted(m, dw, t), lora, b));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> fm, logits_of(shifted(m, dw, -t), lora, b));
  double pred = 0.0;
  for (size_t i = 0; i < f0.size(); ++i)
    pred = std::max(pred, std::fabs((double(fp[i]) - double(fm[i])) / (2.0 * t)));
  const double scale = max_abs(f0);
  const double actual = max_abs_diff(fq, f0);
  r.logit_err = scale > 0 ? actual / scale : actual;
  r.logit_predicted = scale > 0 ? pred / scale : pred;
  r.logit_ratio = pred > 0 ? actual / pred : (actual > 0 ? INFINITY : 0.0);
  return r;
}

}  // namespace kaito::engine
