// Row builders for causal GQA attention (see parity_cases.h): q, k, v (and dout) drawn at random
// and rounded to bf16 so both twins see the same values. The forward rows run either CUDA forward
// (SIMT attention_forward_cuda, tensor-core attention_forward_mma_cuda) against the same CPU twin.
// The backward rows (SIMT attention_backward_cuda, tensor-core attention_backward_mma_cuda) feed
// both twins the CPU forward's lse and its output rounded to bf16 (the CUDA twin reads bf16 `out`
// for D_i = dout . out; the CPU twin's D_i = sum p dp equals it up to that rounding).
#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {

namespace {

struct qkv {
  std::vector<float> q, k, v;
  std::vector<bf16> qb, kb, vb;
};

qkv random_qkv(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  qkv x;
  x.q = random_bf16_values(rng, B * T * NH * HS, 1.5f, x.qb);
  x.k = random_bf16_values(rng, B * T * NKV * HS, 1.5f, x.kb);
  x.v = random_bf16_values(rng, B * T * NKV * HS, 1.0f, x.vb);
  return x;
}

}  // namespace

namespace {

using attention_forward_fn = void (*)(cuda_context&, bf16*, float*, const bf16*, const bf16*,
                                      const bf16*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                      float, int64_t);

// attention_forward_cpu against `fwd` (attention_forward_cuda or attention_forward_mma_cuda).
prepared attention_fwd_with(attention_forward_fn fwd, std::mt19937& rng, int64_t B, int64_t T,
                            int64_t NH, int64_t NKV, int64_t HS, int64_t window) {
  prepared p;
  qkv x = random_qkv(rng, B, T, NH, NKV, HS);
  auto qd = upload(p, elem::bf16, x.qb), kd = upload(p, elem::bf16, x.kb),
       vd = upload(p, elem::bf16, x.vb);
  auto out = add_output(p, "out", elem::bf16, B * T * NH * HS);
  auto lse = add_output(p, "lse", elem::f32, B * NH * T);
  const float scale = 1.0f / std::sqrt(float(HS));
  p.cpu = [=] {
    attention_forward_cpu(out.ref->data(), lse.ref->data(), x.q.data(), x.k.data(), x.v.data(), B,
                          T, NH, NKV, HS, scale, window);
  };
  p.cuda = [=](cuda_context& cx) {
    fwd(cx, out.dev->as<bf16>(), lse.dev->as<float>(), qd->as<bf16>(), kd->as<bf16>(),
        vd->as<bf16>(), B, T, NH, NKV, HS, scale, window);
  };
  const double keys = window ? std::min<double>(window, T) : T / 2.0;
  p.flops = 4.0 * B * NH * T * keys * HS;
  p.bytes = 2.0 * (2 * B * T * NH * HS + 2 * B * T * NKV * HS) + 4.0 * B * NH * T;
  return p;
}

}  // namespace

prepared attention_fwd(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                       int64_t window) {
  return attention_fwd_with(attention_forward_cuda, rng, B, T, NH, NKV, HS, window);
}

prepared attention_fwd_mma(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                           int64_t HS, int64_t window) {
  return attention_fwd_with(attention_forward_mma_cuda, rng, B, T, NH, NKV, HS, window);
}

namespace {

using attention_backward_fn = void (*)(cuda_context&, bf16*, bf16*, bf16*, const bf16*, const bf16*,
                                       const float*, const bf16*, const bf16*, const bf16*, int64_t,
                                       int64_t, int64_t, int64_t, int64_t, float, int64_t);

// attention_backward_cpu against `bwd` (attention_backward_cuda or attention_backward_mma_cuda).
prepared attention_bwd_with(attention_backward_fn bwd, std::mt19937& rng, int64_t B, int64_t T,
                            int64_t NH, int64_t NKV, int64_t HS, int64_t window) {
  prepared p;
  qkv x = random_qkv(rng, B, T, NH, NKV, HS);
  const float scale = 1.0f / std::sqrt(float(HS));
  // The forward both twins' backward starts from: fp32 lse, output rounded to bf16.
  std::vector<float> o(size_t(B * T * NH * HS)), lse(size_t(B * NH * T));
  attention_forward_cpu(o.data(), lse.data(), x.q.data(), x.k.data(), x.v.data(), B, T, NH, NKV, HS,
                        scale, window);
  std::vector<bf16> ob(o.size());
  for (size_t i = 0; i < o.size(); ++i) {
    ob[i] = f32_to_bf16(o[i]);
    o[i] = bf16_to_f32(ob[i]);
  }
  std::vector<bf16> dob;
  auto dout = random_bf16_values(rng, B * T * NH * HS, 1.0f, dob);
  auto qd = upload(p, elem::bf16, x.qb), kd = upload(p, elem::bf16, x.kb),
       vd = upload(p, elem::bf16, x.vb), od = upload(p, elem::bf16, ob),
       dod = upload(p, elem::bf16, dob), ld = upload(p, elem::f32, lse);
  auto dq = add_output(p, "dq", elem::bf16, B * T * NH * HS);
  auto dk = add_output(p, "dk", elem::bf16, B * T * NKV * HS);
  auto dv = add_output(p, "dv", elem::bf16, B * T * NKV * HS);
  p.cpu = [=] {
    attention_backward_cpu(dq.ref->data(), dk.ref->data(), dv.ref->data(), dout.data(), o.data(),
                           lse.data(), x.q.data(), x.k.data(), x.v.data(), B, T, NH, NKV, HS, scale,
                           window);
  };
  p.cuda = [=](cuda_context& cx) {
    bwd(cx, dq.dev->as<bf16>(), dk.dev->as<bf16>(), dv.dev->as<bf16>(), dod->as<bf16>(),
        od->as<bf16>(), ld->as<float>(), qd->as<bf16>(), kd->as<bf16>(), vd->as<bf16>(), B, T, NH,
        NKV, HS, scale, window);
  };
  const double keys = window ? std::min<double>(window, T) : T / 2.0;
  p.flops = 10.0 * B * NH * T * keys * HS;  // dq pass (qk, dp, ds.k) + dk/dv pass (qk, dp, 2 axpy)
  p.bytes = 2.0 * (4 * B * T * NH * HS + 4 * B * T * NKV * HS) + 8.0 * B * NH * T;
  return p;
}

}  // namespace

prepared attention_bwd(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                       int64_t window) {
  return attention_bwd_with(attention_backward_cuda, rng, B, T, NH, NKV, HS, window);
}

prepared attention_bwd_mma(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                           int64_t HS, int64_t window) {
  return attention_bwd_with(attention_backward_mma_cuda, rng, B, T, NH, NKV, HS, window);
}

}  // namespace kaito::parity
