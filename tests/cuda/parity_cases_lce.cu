// Row builders (see parity_cases.h) for the fused lm_head + cross-entropy
// (kernels/linear_cross_entropy.h) and the fused NF4 tensor-core GEMM (nf4_gemm_mma_forward_cuda,
// kernels/nf4.h). Inputs are bf16-exact so both twins see the same values.
#include <cmath>
#include <random>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/nf4_gemm_mma.h"
#include "kernels/gemm.h"
#include "kernels/linear_cross_entropy.h"
#include "kernels/nf4.h"
#include "kernels/nf4_gemm.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {
namespace {

// Random targets with ~1 in 5 ignored (-100) and row 0 = V-1 (the last, possibly short, chunk).
std::vector<int32_t> lce_targets(std::mt19937& rng, int64_t N, int64_t V) {
  std::uniform_int_distribution<int32_t> u(0, int32_t(V - 1));
  std::vector<int32_t> t(static_cast<size_t>(N));
  for (int32_t& v : t) v = rng() % 5 == 0 ? cross_entropy_ignore_index : u(rng);
  t[0] = int32_t(V - 1);
  return t;
}

struct lce_inputs {
  std::vector<float> h, w;
  std::vector<bf16> hb, wb;
  std::vector<int32_t> t;
};

// h in [-1, 1], W in [-6/sqrt(C), 6/sqrt(C)]: logits with a standard deviation of about 2.
lce_inputs lce_draw(std::mt19937& rng, int64_t N, int64_t C, int64_t V) {
  lce_inputs in;
  in.h = random_bf16_values(rng, N * C, 1.0f, in.hb);
  in.w = random_bf16_values(rng, V * C, 6.0f / std::sqrt(float(C)), in.wb);
  in.t = lce_targets(rng, N, V);
  return in;
}

}  // namespace

prepared lce_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t V, int64_t Vc) {
  prepared p;
  const lce_inputs in = lce_draw(rng, N, C, V);
  auto hd = upload(p, elem::bf16, in.hb), wd = upload(p, elem::bf16, in.wb),
       td = upload(p, elem::i32, in.t);
  auto losses = add_output(p, "losses", elem::f32, N), lse = add_output(p, "lse", elem::f32, N);
  p.cpu = [=] {
    linear_cross_entropy_forward_cpu(losses.ref->data(), lse.ref->data(), in.h.data(), in.w.data(),
                                     in.t.data(), N, C, V, Vc);
  };
  p.cuda = [=](cuda_context& cx) {
    linear_cross_entropy_forward_cuda(cx, losses.dev->as<float>(), lse.dev->as<float>(),
                                      hd->as<bf16>(), wd->as<bf16>(), td->as<int32_t>(), N, C, V,
                                      Vc);
  };
  p.bytes = 2.0 * (N * C + V * C) + 8.0 * N * V;  // + the fp32 chunk logits written and read
  p.flops = 2.0 * N * C * V;
  return p;
}

prepared lce_bwd(std::mt19937& rng, int64_t N, int64_t C, int64_t V, int64_t Vc) {
  prepared p;
  const lce_inputs in = lce_draw(rng, N, C, V);
  std::vector<float> losses(static_cast<size_t>(N)), lse(static_cast<size_t>(N));
  linear_cross_entropy_forward_cpu(losses.data(), lse.data(), in.h.data(), in.w.data(), in.t.data(),
                                   N, C, V, Vc);
  const int64_t count = cross_entropy_count(in.t.data(), N);
  const float scale = count > 0 ? 1.0f / float(count) : 0.0f;
  auto hd = upload(p, elem::bf16, in.hb), wd = upload(p, elem::bf16, in.wb),
       td = upload(p, elem::i32, in.t), ld = upload(p, elem::f32, lse);
  auto dh = add_output(p, "dh", elem::bf16, N * C);
  p.cpu = [=] {
    linear_cross_entropy_backward_cpu(dh.ref->data(), in.h.data(), in.w.data(), lse.data(),
                                      in.t.data(), scale, N, C, V, Vc);
  };
  p.cuda = [=](cuda_context& cx) {
    linear_cross_entropy_backward_cuda(cx, dh.dev->as<bf16>(), hd->as<bf16>(), wd->as<bf16>(),
                                       ld->as<float>(), td->as<int32_t>(), scale, N, C, V, Vc);
  };
  p.bytes = 2.0 * (N * C + 2.0 * V * C) + 14.0 * N * V + 2.0 * N * C;
  p.flops = 4.0 * N * C * V;
  return p;
}

prepared nf4_gemm_mma_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool m256) {
  prepared p;
  auto w = random_f32(rng, OC * C, -0.05f, 0.05f);
  const int64_t n = OC * C, nblocks = n / 64;
  std::vector<uint8_t> packed(size_t(n / 2));
  std::vector<float> absmax(static_cast<size_t>(nblocks)), wdq(static_cast<size_t>(n));
  nf4_quantize_cpu(packed.data(), absmax.data(), w.data(), n);
  nf4_dequantize_cpu(wdq.data(), packed.data(), absmax.data(), n);
  std::vector<bf16> xb;
  auto x = random_bf16_values(rng, N * C, 1.0f, xb);
  auto xd = upload(p, elem::bf16, xb), pd = upload(p, elem::u8, packed),
       ad = upload(p, elem::f32, absmax);
  auto out = add_output(p, "out", elem::bf16, N * OC);
  p.cpu = [=] { gemm_forward_cpu(out.ref->data(), x.data(), wdq.data(), nullptr, N, C, OC); };
  p.cuda = [=](cuda_context& cx) {
    if (m256) {
      detail::nf4_gemm_mma_forward_tiled(cx, detail::nf4_mma_tile::m256, out.dev->as<bf16>(),
                                         xd->as<bf16>(), pd->as<uint8_t>(), ad->as<float>(), N, C,
                                         OC);
    } else {  // the public launcher (m128 tiles)
      nf4_gemm_mma_forward_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), pd->as<uint8_t>(),
                                ad->as<float>(), N, C, OC);
    }
  };
  p.bytes = n * 0.5 + nblocks * 4.0 + 2.0 * (N * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

prepared nf4_gemm_mma_bwd_inp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool m256) {
  prepared p;
  auto w = random_f32(rng, OC * C, -0.05f, 0.05f);
  const int64_t n = OC * C, nblocks = n / 64;
  std::vector<uint8_t> packed(size_t(n / 2));
  std::vector<float> absmax(static_cast<size_t>(nblocks));
  nf4_quantize_cpu(packed.data(), absmax.data(), w.data(), n);
  std::vector<bf16> gb;
  auto dy = random_bf16_values(rng, N * OC, 1.0f, gb);
  auto gd = upload(p, elem::bf16, gb), pd = upload(p, elem::u8, packed),
       ad = upload(p, elem::f32, absmax);
  auto dinp = add_output(p, "dinp", elem::bf16, N * C);
  p.cpu = [=] {
    nf4_gemm_backward_inp_cpu(dinp.ref->data(), dy.data(), packed.data(), absmax.data(), N, C, OC);
  };
  p.cuda = [=](cuda_context& cx) {
    if (m256) {
      detail::nf4_gemm_mma_backward_inp_tiled(cx, detail::nf4_mma_tile::m256, dinp.dev->as<bf16>(),
                                              gd->as<bf16>(), pd->as<uint8_t>(), ad->as<float>(), N,
                                              C, OC);
    } else {  // the public launcher (m128 tiles)
      nf4_gemm_mma_backward_inp_cuda(cx, dinp.dev->as<bf16>(), gd->as<bf16>(), pd->as<uint8_t>(),
                                     ad->as<float>(), N, C, OC);
    }
  };
  p.bytes = n * 0.5 + nblocks * 4.0 + 2.0 * (N * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

}  // namespace kaito::parity
