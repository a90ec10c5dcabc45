// Row builders for the LoRA branch (see parity_cases.h). The CUDA twin keeps z and dz in bf16
// between its products (the CPU twin keeps fp32), so every LoRA output is compared at the bf16
// tolerance, fp32 dA/dB included.
#include "kernels/lora.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {
namespace {

struct lora_inputs {
  std::vector<float> x, A, B;
  std::vector<bf16> xb, Ab, Bb;
};

lora_inputs draw(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT) {
  lora_inputs in;
  in.x = random_bf16_values(rng, N * IN, 1.0f, in.xb);
  in.A = random_bf16_values(rng, R * IN, 0.1f, in.Ab);
  in.B = random_bf16_values(rng, OUT * R, 0.1f, in.Bb);  // trained B: not PEFT's zero init
  return in;
}

// The decode kernels' CPU reference at their contract's rounding points (kernels/lora.h): z =
// x · Aᵀ in fp32, rounded to bf16 (as lora_forward_cuda stores it), then y += s * z · Bᵀ. Without
// the z rounding, y differs from the kernel by up to a few bf16 ulps in ~40% of the elements, and
// a norm that reads y (lora_dec_norm's rstd, an fp32 output) by up to ~4e-4: above kF32.
void lora_decode_ref(float* y, const lora_inputs& in, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                     float scale) {
  std::vector<float> z(size_t(N * R));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t i = 0; i < IN; ++i) acc += in.x[size_t(n * IN + i)] * in.A[size_t(r * IN + i)];
      z[size_t(n * R + r)] = bf16_to_f32(f32_to_bf16(acc));
    }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      float acc = 0.0f;
      for (int64_t r = 0; r < R; ++r) acc += in.B[size_t(o * R + r)] * z[size_t(n * R + r)];
      y[n * OUT + o] += scale * acc;
    }
}

}  // namespace

prepared lora_fwd(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT, float dp) {
  prepared p;
  const lora_inputs in = draw(rng, N, IN, R, OUT);
  const float scale = 2.0f;  // alpha 16 / r 8
  const uint64_t seed = rng();
  auto xd_in = upload(p, elem::bf16, in.xb), A = upload(p, elem::bf16, in.Ab),
       B = upload(p, elem::bf16, in.Bb);
  auto y = add_output(p, "y", elem::bf16, N * OUT, random_f32(rng, N * OUT, -1.0f, 1.0f));  // +=
  // xd is an output only with dropout: without it the CUDA twin saves nothing (kernels/lora.h)
  const bool saves_xd = dp > 0.0f;
  auto xd = saves_xd ? add_output(p, "xd", elem::bf16, N * IN) : decltype(y){};
  auto z = add_output(p, "z", elem::bf16, N * R);
  p.cpu = [=] {
    std::vector<float> xd_unused(saves_xd ? 0 : size_t(N * IN));
    lora_forward_cpu(y.ref->data(), saves_xd ? xd.ref->data() : xd_unused.data(), z.ref->data(),
                     in.x.data(), in.A.data(), in.B.data(), N, IN, R, OUT, scale, dp, seed);
  };
  p.cuda = [=](cuda_context& cx) {
    lora_forward_cuda(cx, y.dev->as<bf16>(), saves_xd ? xd.dev->as<bf16>() : nullptr,
                      z.dev->as<bf16>(), xd_in->as<bf16>(), A->as<bf16>(), B->as<bf16>(), N, IN, R,
                      OUT, scale, dp, seed);
  };
  p.bytes = 2.0 * (2 * N * IN + 2 * N * OUT + R * (IN + OUT));
  p.flops = 2.0 * N * R * (IN + OUT);
  return p;
}

prepared lora_bwd(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT, float dp) {
  prepared p;
  const lora_inputs in = draw(rng, N, IN, R, OUT);
  const float scale = 2.0f;
  const uint64_t seed = rng();
  // the forward's saved tensors, from the CPU twin (bf16-rounded for both sides)
  std::vector<float> y(static_cast<size_t>(N * OUT), 0.0f), xdf(static_cast<size_t>(N * IN)),
      zf(static_cast<size_t>(N * R));
  lora_forward_cpu(y.data(), xdf.data(), zf.data(), in.x.data(), in.A.data(), in.B.data(), N, IN, R,
                   OUT, scale, dp, seed);
  std::vector<bf16> xdb(xdf.size()), zb(zf.size()), dyb;
  for (size_t i = 0; i < xdb.size(); ++i) xdf[i] = bf16_to_f32(xdb[i] = f32_to_bf16(xdf[i]));
  for (size_t i = 0; i < zb.size(); ++i) zf[i] = bf16_to_f32(zb[i] = f32_to_bf16(zf[i]));
  auto dy = random_bf16_values(rng, N * OUT, 1.0f, dyb);
  auto dyd = upload(p, elem::bf16, dyb), xdd = upload(p, elem::bf16, xdb),
       zd = upload(p, elem::bf16, zb), A = upload(p, elem::bf16, in.Ab),
       B = upload(p, elem::bf16, in.Bb);
  auto dx = add_output(p, "dx", elem::bf16, N * IN, random_f32(rng, N * IN, -1.0f, 1.0f));   // +=
  auto dA = add_output(p, "dA", elem::f32, R * IN, random_f32(rng, R * IN, -1.0f, 1.0f));    // +=
  auto dB = add_output(p, "dB", elem::f32, OUT * R, random_f32(rng, OUT * R, -1.0f, 1.0f));  // +=
  auto dz = add_output(p, "dz", elem::bf16, N * R);
  p.cpu = [=] {
    lora_backward_cpu(dx.ref->data(), dA.ref->data(), dB.ref->data(), dz.ref->data(), dy.data(),
                      xdf.data(), zf.data(), in.A.data(), in.B.data(), N, IN, R, OUT, scale, dp,
                      seed);
  };
  p.cuda = [=](cuda_context& cx) {
    lora_backward_cuda(cx, dx.dev->as<bf16>(), dA.dev->as<float>(), dB.dev->as<float>(),
                       dz.dev->as<bf16>(), dyd->as<bf16>(), xdd->as<bf16>(), zd->as<bf16>(),
                       A->as<bf16>(), B->as<bf16>(), N, IN, R, OUT, scale, dp, seed);
  };
  p.bytes = 2.0 * (3 * N * IN + N * OUT + N * R) + 8.0 * R * (IN + OUT);
  p.flops = 2.0 * N * R * (2 * IN + 2 * OUT);
  return p;
}

prepared lora_block_mask(std::mt19937& rng, std::vector<int64_t> seg_end, int64_t r) {
  prepared p;
  lora_blocks b;
  b.nseg = int(seg_end.size());
  for (int s = 0; s < b.nseg; ++s) b.seg_end[s] = seg_end[size_t(s)];
  const int64_t OUT = seg_end.back(), R = b.nseg * r;
  auto dB = add_output(p, "dB", elem::f32, OUT * R, random_f32(rng, OUT * R, -1.0f, 1.0f));  // =
  p.cpu = [=] { lora_block_mask_cpu(dB.ref->data(), OUT, R, b); };
  p.cuda = [=](cuda_context& cx) { lora_block_mask_cuda(cx, dB.dev->as<float>(), OUT, R, b); };
  p.bytes = 8.0 * OUT * R;
  return p;
}

prepared lora_decode(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT) {
  prepared p;
  const lora_inputs in = draw(rng, N, IN, R, OUT);
  const float scale = 2.0f;
  auto x = upload(p, elem::bf16, in.xb), A = upload(p, elem::bf16, in.Ab),
       B = upload(p, elem::bf16, in.Bb);
  auto y = add_output(p, "y", elem::bf16, N * OUT, random_f32(rng, N * OUT, -1.0f, 1.0f));  // +=
  p.cpu = [=] { lora_decode_ref(y.ref->data(), in, N, IN, R, OUT, scale); };
  p.cuda = [=](cuda_context& cx) {
    lora_decode_cuda(cx, y.dev->as<bf16>(), x->as<bf16>(), A->as<bf16>(), B->as<bf16>(), N, IN, R,
                     OUT, scale);
  };
  p.bytes = 2.0 * (N * IN + R * IN + R * OUT + 2 * N * OUT);
  p.flops = 2.0 * N * R * (IN + OUT);
  return p;
}

prepared lora_decode_swiglu(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t I) {
  prepared p;
  const int64_t OUT = 2 * I;
  const lora_inputs in = draw(rng, N, IN, R, OUT);
  const float scale = 2.0f;
  auto x = upload(p, elem::bf16, in.xb), A = upload(p, elem::bf16, in.Ab),
       B = upload(p, elem::bf16, in.Bb);
  auto y = add_output(p, "y", elem::bf16, N * OUT, random_f32(rng, N * OUT, -2.0f, 2.0f));  // +=
  auto act = add_output(p, "act", elem::bf16, N * I);
  p.cpu = [=] {
    lora_decode_ref(y.ref->data(), in, N, IN, R, OUT, scale);
    swiglu_forward_cpu(act.ref->data(), y.ref->data(), y.ref->data() + I, N, I, OUT);
  };
  p.cuda = [=](cuda_context& cx) {
    lora_decode_swiglu_cuda(cx, act.dev->as<bf16>(), y.dev->as<bf16>(), x->as<bf16>(),
                            A->as<bf16>(), B->as<bf16>(), N, IN, R, OUT, scale);
  };
  p.bytes = 2.0 * (N * IN + R * IN + R * OUT + 2 * N * OUT + N * I);
  p.flops = 2.0 * N * R * (IN + OUT);
  return p;
}

prepared lora_decode_add_rmsnorm(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t C) {
  prepared p;
  const lora_inputs in = draw(rng, N, IN, R, C);
  const float scale = 2.0f, eps = 1e-5f;
  std::vector<bf16> ab, wb;
  const std::vector<float> a = random_bf16_values(rng, N * C, 2.0f, ab);
  std::vector<float> w = random_bf16_values(rng, C, 0.5f, wb);
  for (size_t i = 0; i < w.size(); ++i) {  // norm weights around 1, bf16-exact on both sides
    wb[i] = f32_to_bf16(w[i] + 1.0f);
    w[i] = bf16_to_f32(wb[i]);
  }
  auto x = upload(p, elem::bf16, in.xb), A = upload(p, elem::bf16, in.Ab),
       B = upload(p, elem::bf16, in.Bb), ad = upload(p, elem::bf16, ab),
       wd = upload(p, elem::bf16, wb);
  auto y = add_output(p, "b", elem::bf16, N * C, random_f32(rng, N * C, -1.0f, 1.0f));  // +=
  auto sum = add_output(p, "sum", elem::bf16, N * C);
  auto out = add_output(p, "out", elem::bf16, N * C);
  auto rstd = add_output(p, "rstd", elem::f32, N);
  p.cpu = [=] {
    lora_decode_ref(y.ref->data(), in, N, IN, R, C, scale);
    // the contract's rounding points: b is stored in bf16, and the norm reads the bf16 sum
    for (size_t i = 0; i < a.size(); ++i) {
      (*y.ref)[i] = bf16_to_f32(f32_to_bf16((*y.ref)[i]));
      (*sum.ref)[i] = bf16_to_f32(f32_to_bf16(a[i] + (*y.ref)[i]));
    }
    rmsnorm_forward_cpu(out.ref->data(), rstd.ref->data(), sum.ref->data(), w.data(), N, C, eps);
  };
  p.cuda = [=](cuda_context& cx) {
    lora_decode_add_rmsnorm_cuda(cx, sum.dev->as<bf16>(), out.dev->as<bf16>(),
                                 rstd.dev->as<float>(), ad->as<bf16>(), y.dev->as<bf16>(),
                                 wd->as<bf16>(), N, C, eps, x->as<bf16>(), A->as<bf16>(),
                                 B->as<bf16>(), IN, R, scale);
  };
  p.bytes = 2.0 * (N * IN + R * IN + R * C + 5 * N * C + C) + 4.0 * N;
  p.flops = 2.0 * N * R * (IN + C);
  return p;
}

}  // namespace kaito::parity
