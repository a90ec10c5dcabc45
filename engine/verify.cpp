// `kaito verify`: the engine against an HF transformers + PEFT fixture (see verify.h).
#include "engine/verify.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "engine/model_weights.h"
#include "engine/nf4_error.h"
#include "engine/peft_adapter.h"
#include "engine/transformer.h"
#include "kernels/adamw.h"

namespace kaito::engine {

namespace {

// Tolerances from issue 4 ("Must be true when done"): fp32 base weights.
constexpr double k_tol_logits = 1e-4;
constexpr double k_tol_loss = 1e-5;
constexpr double k_tol_grad = 1e-4;
constexpr double k_tol_adamw = 1e-6;

}  // namespace

void verify_report::add(std::string quantity, double err, double tol) {
  rows.push_back({std::move(quantity), err, tol, err <= tol});
}

bool verify_report::pass() const {
  for (const auto& r : rows)
    if (!r.pass) return false;
  return !rows.empty();
}

double max_rel_err(const float* ours, const float* ref, size_t n_ours, size_t n_ref) {
  if (n_ours != n_ref) return std::numeric_limits<double>::infinity();
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < n_ref; ++i) {
    double d = std::fabs(double(ours[i]) - double(ref[i]));
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    max_diff = std::max(max_diff, d);
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
  }
  return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

result<verify_report> verify_fixture(const std::string& dir, const verify_options& opt) {
  KAITO_ASSIGN_OR_RETURN(std::shared_ptr<model> m, load_model(dir + "/base"));
  KAITO_ASSIGN_OR_RETURN(lora_adapter lora, load_peft_adapter(dir + "/adapter", m->config));
  KAITO_ASSIGN_OR_RETURN(golden_fixture exp, golden_fixture::open(dir));
  const adamw_params& ap = exp.adamw();
  const batch& b = exp.inputs();

  verify_report r;
  char buf[256];
  std::snprintf(buf, sizeof buf, "arch=%s layers=%lld B=%lld T=%lld lora_modules=%zu rope=%s",
                model_arch_name(m->config.arch), static_cast<long long>(m->config.num_layers),
                static_cast<long long>(b.B), static_cast<long long>(b.T), lora.modules.size(),
                m->config.rope.kind == rope_type::longrope ? "longrope" : "default");
  r.summary = buf;

  forward_state st;
  KAITO_TRY(model_forward(*m, nullptr, b, {}, &st));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_base, exp.f32("base_logits"));
  r.add("base_logits",
        max_rel_err(st.logits.data(), ref_base.data(), st.logits.size(), ref_base.size()),
        k_tol_logits);

  KAITO_TRY(model_forward(*m, &lora, b, {}, &st));
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_lora, exp.f32("lora_logits"));
  r.add("lora_logits",
        max_rel_err(st.logits.data(), ref_lora.data(), st.logits.size(), ref_lora.size()),
        k_tol_logits);
  KAITO_ASSIGN_OR_RETURN(std::vector<float> ref_loss, exp.f32("loss"));
  const float loss = static_cast<float>(st.loss);
  r.add("loss", max_rel_err(&loss, ref_loss.data(), 1, ref_loss.size()), k_tol_loss);

  lora.zero_grad();
  KAITO_TRY(model_backward(*m, &lora, b, st));
  // Reference gradients, keyed like the modules (A then B), for the isolated AdamW check.
  std::vector<std::vector<float>> ref_grads;
  for (const auto& mod : lora.modules) {
    for (bool is_b : {false, true}) {
      const std::string name = golden_param_name(mod, is_b);
      KAITO_ASSIGN_OR_RETURN(std::vector<float> ref, exp.f32("grad." + name));
      const std::vector<float>& g = is_b ? mod.dB : mod.dA;
      r.add("grad." + name, max_rel_err(g.data(), ref.data(), g.size(), ref.size()), k_tol_grad);
      ref_grads.push_back(std::move(ref));
    }
  }
  // The AdamW step is checked on the fixture's own gradients. Fed our gradients instead, a first
  // step is ill-conditioned wherever |g| is near eps: p moves by lr * g / (|g| + eps), whose
  // derivative lr * eps / (|g| + eps)^2 is ~460 for |g| = 4.7e-7 (tiny-llama-gqa layer 0
  // gate_proj.lora_B), so a 3e-9 gradient difference -- fp32 reduction-order noise, well inside
  // the 1e-4 gradient tolerance -- moves that parameter by 1.5e-6. Isolating the optimizer keeps
  // the 1e-6 check meaningful; the gradients have their own rows above.
  size_t gi = 0;
  for (auto& mod : lora.modules) {
    for (bool is_b : {false, true}) {
      std::vector<float> p = is_b ? mod.B : mod.A;
      const std::vector<float>& g = ref_grads[gi++];
      if (g.size() != p.size())
        return invalid_argument("gradient shape does not match the parameter",
                                golden_param_name(mod, is_b));
      std::vector<float> mom(p.size(), 0.0f), var(p.size(), 0.0f);
      adamw_update_cpu(p.data(), mom.data(), var.data(), g.data(), static_cast<int64_t>(p.size()),
                       ap, 1);
      const std::string name = golden_param_name(mod, is_b);
      KAITO_ASSIGN_OR_RETURN(std::vector<float> ref, exp.f32("after_adamw." + name));
      r.add("after_adamw." + name, max_rel_err(p.data(), ref.data(), p.size(), ref.size()),
            k_tol_adamw);
    }
  }
  if (opt.nf4) {
    const char* dq = opt.double_quant ? "+dq" : "";
    KAITO_ASSIGN_OR_RETURN(nf4_error_report base,
                           nf4_logit_error(*m, nullptr, b, opt.double_quant));
    KAITO_ASSIGN_OR_RETURN(nf4_error_report with, nf4_logit_error(*m, &lora, b, opt.double_quant));
    // 1e-5 of slack for the fp32 roundings of w * (1/absmax) and code * absmax.
    r.add(std::string("nf4") + dq + ".weight_roundtrip (|dW| / per-element bound)",
          base.weight_ratio, 1.0 + 1e-5);
    r.add(std::string("nf4") + dq + ".base_logits (|f(deq W)-f(W)| / |J dW|)", base.logit_ratio,
          k_nf4_logit_bound);
    r.add(std::string("nf4") + dq + ".lora_logits (|f(deq W)-f(W)| / |J dW|)", with.logit_ratio,
          k_nf4_logit_bound);
    char line[256];
    std::snprintf(line, sizeof line,
                  "\nnf4%s: ||dW||/||W|| = %.4f; base logits moved %.3e of max|logit| (predicted "
                  "%.3e); lora logits moved %.3e (predicted %.3e)",
                  dq, base.weight_rel, base.logit_err, base.logit_predicted, with.logit_err,
                  with.logit_predicted);
    r.summary += line;
  }
  return r;
}

std::string format_verify_report(const verify_report& r) {
  std::string out = r.summary + "\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-80s %12s %10s  %s\n", "quantity", "max_rel_err", "tolerance",
                "result");
  out += buf;
  for (const auto& row : r.rows) {
    std::snprintf(buf, sizeof buf, "%-80s %12.3e %10.3g  %s\n", row.quantity.c_str(),
                  row.max_rel_err, row.tolerance, row.pass ? "PASS" : "FAIL");
    out += buf;
  }
  out += r.pass() ? "verify: PASS\n" : "verify: FAIL\n";
  return out;
}

}  // namespace kaito::engine
