// Row builders for tests/cuda/parity_test.cu (see parity_cases.h).
#include "tests/cuda/parity_cases.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm.h"
#include "kernels/nf4.h"
#include "kernels/nf4_gemm.h"
#include "kernels/rmsnorm.h"

namespace kaito::parity {

prepared rmsnorm_fwd(std::mt19937& rng, int64_t N, int64_t C) {
  prepared p;
  std::vector<bf16> xb, wb;
  auto x = random_bf16_values(rng, N * C, 2.0f, xb);
  auto w = random_bf16_values(rng, C, 1.0f, wb);
  for (size_t i = 0; i < w.size(); ++i) {  // weights around 1, as trained norms are
    wb[i] = f32_to_bf16(1.0f + w[i] * 0.5f);
    w[i] = bf16_to_f32(wb[i]);
  }
  auto xd = upload(p, elem::bf16, xb), wd = upload(p, elem::bf16, wb);
  auto out = add_output(p, "out", elem::bf16, N * C), rstd = add_output(p, "rstd", elem::f32, N);
  const float eps = 1e-5f;
  p.cpu = [=] {
    rmsnorm_forward_cpu(out.ref->data(), rstd.ref->data(), x.data(), w.data(), N, C, eps);
  };
  p.cuda = [=](cuda_context& cx) {
    rmsnorm_forward_cuda(cx, out.dev->as<bf16>(), rstd.dev->as<float>(), xd->as<bf16>(),
                         wd->as<bf16>(), N, C, eps);
  };
  p.bytes = double(N) * C * 4 + C * 2 + N * 4;
  return p;
}

prepared add_rmsnorm_fwd(std::mt19937& rng, int64_t N, int64_t C) {
  prepared p;
  std::vector<bf16> ab, bb, wb;
  auto a = random_bf16_values(rng, N * C, 2.0f, ab);
  auto b = random_bf16_values(rng, N * C, 1.0f, bb);
  auto w = random_bf16_values(rng, C, 1.0f, wb);
  for (size_t i = 0; i < w.size(); ++i) {
    wb[i] = f32_to_bf16(1.0f + w[i] * 0.5f);
    w[i] = bf16_to_f32(wb[i]);
  }
  auto ad = upload(p, elem::bf16, ab), bd = upload(p, elem::bf16, bb),
       wd = upload(p, elem::bf16, wb);
  auto sum = add_output(p, "sum", elem::bf16, N * C);
  auto out = add_output(p, "out", elem::bf16, N * C), rstd = add_output(p, "rstd", elem::f32, N);
  const float eps = 1e-5f;
  p.cpu = [=] {
    // the contract's sum is the bf16-rounded a + b; the norm reads that
    for (size_t i = 0; i < a.size(); ++i) (*sum.ref)[i] = bf16_to_f32(f32_to_bf16(a[i] + b[i]));
    rmsnorm_forward_cpu(out.ref->data(), rstd.ref->data(), sum.ref->data(), w.data(), N, C, eps);
  };
  p.cuda = [=](cuda_context& cx) {
    add_rmsnorm_forward_cuda(cx, sum.dev->as<bf16>(), out.dev->as<bf16>(), rstd.dev->as<float>(),
                             ad->as<bf16>(), bd->as<bf16>(), wd->as<bf16>(), N, C, eps);
  };
  p.bytes = double(N) * C * 8 + C * 2 + N * 4;
  return p;
}

prepared rmsnorm_bwd(std::mt19937& rng, int64_t N, int64_t C) {
  prepared p;
  std::vector<bf16> xb, wb, gb;
  auto x = random_bf16_values(rng, N * C, 2.0f, xb);
  auto w = random_bf16_values(rng, C, 1.5f, wb);
  auto dy = random_bf16_values(rng, N * C, 1.0f, gb);
  std::vector<float> rstd(static_cast<size_t>(N)), scratch(size_t(N * C));
  rmsnorm_forward_cpu(scratch.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
  auto xd = upload(p, elem::bf16, xb), wd = upload(p, elem::bf16, wb),
       gd = upload(p, elem::bf16, gb);
  auto rd = upload(p, elem::f32, rstd);
  auto dinp = add_output(p, "dinp", elem::bf16, N * C);
  auto dw = add_output(p, "dweight", elem::f32, C, random_f32(rng, C, -1.0f, 1.0f));
  p.cpu = [=] {
    rmsnorm_backward_cpu(dinp.ref->data(), dw.ref->data(), dy.data(), x.data(), w.data(),
                         rstd.data(), N, C);
  };
  p.cuda = [=](cuda_context& cx) {
    rmsnorm_backward_cuda(cx, dinp.dev->as<bf16>(), dw.dev->as<float>(), gd->as<bf16>(),
                          xd->as<bf16>(), wd->as<bf16>(), rd->as<float>(), N, C);
  };
  p.bytes = double(N) * C * 2 * 2 * 2 + double(N) * C * 2 + C * 6 + N * 4;
  return p;
}

prepared gemm_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool bias) {
  prepared p;
  std::vector<bf16> xb, wb, bb;
  auto x = random_bf16_values(rng, N * C, 1.0f, xb);
  auto w = random_bf16_values(rng, OC * C, 0.1f, wb);
  auto b = random_bf16_values(rng, OC, 1.0f, bb);
  auto xd = upload(p, elem::bf16, xb), wd = upload(p, elem::bf16, wb),
       bd = upload(p, elem::bf16, bb);
  auto out = add_output(p, "out", elem::bf16, N * OC);
  p.cpu = [=] {
    gemm_forward_cpu(out.ref->data(), x.data(), w.data(), bias ? b.data() : nullptr, N, C, OC);
  };
  p.cuda = [=](cuda_context& cx) {
    gemm_forward_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), wd->as<bf16>(),
                      bias ? bd->as<bf16>() : nullptr, N, C, OC);
  };
  p.bytes = 2.0 * (N * C + OC * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

prepared gemm_add_bias(std::mt19937& rng, int64_t N, int64_t OC) {
  prepared p;
  std::vector<bf16> bb;
  auto b = random_bf16_values(rng, OC, 1.0f, bb);
  auto bd = upload(p, elem::bf16, bb);
  auto out = add_output(p, "out", elem::bf16, N * OC, random_f32(rng, N * OC, -1.0f, 1.0f));  // +=
  p.cpu = [=] { gemm_add_bias_cpu(out.ref->data(), b.data(), N, OC); };
  p.cuda = [=](cuda_context& cx) {
    gemm_add_bias_cuda(cx, out.dev->as<bf16>(), bd->as<bf16>(), N, OC);
  };
  p.bytes = 2.0 * (2 * N * OC + OC);
  return p;
}

prepared gemm_dinp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC) {
  prepared p;
  std::vector<bf16> gb, wb;
  auto dy = random_bf16_values(rng, N * OC, 1.0f, gb);
  auto w = random_bf16_values(rng, OC * C, 0.1f, wb);
  auto gd = upload(p, elem::bf16, gb), wd = upload(p, elem::bf16, wb);
  auto dinp = add_output(p, "dinp", elem::bf16, N * C);
  p.cpu = [=] { gemm_backward_inp_cpu(dinp.ref->data(), dy.data(), w.data(), N, C, OC); };
  p.cuda = [=](cuda_context& cx) {
    gemm_backward_inp_cuda(cx, dinp.dev->as<bf16>(), gd->as<bf16>(), wd->as<bf16>(), N, C, OC);
  };
  p.bytes = 2.0 * (N * C + OC * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

prepared gemm_dweight(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool dbias) {
  prepared p;
  std::vector<bf16> gb, xb;
  auto dy = random_bf16_values(rng, N * OC, 1.0f, gb);
  auto x = random_bf16_values(rng, N * C, 1.0f, xb);
  auto gd = upload(p, elem::bf16, gb), xd = upload(p, elem::bf16, xb);
  auto dw = add_output(p, "dweight", elem::f32, OC * C, random_f32(rng, OC * C, -1.0f, 1.0f));
  auto db = add_output(p, "dbias", elem::f32, OC, random_f32(rng, OC, -1.0f, 1.0f));
  p.cpu = [=] {
    gemm_backward_weight_cpu(dw.ref->data(), dbias ? db.ref->data() : nullptr, dy.data(), x.data(),
                             N, C, OC);
  };
  p.cuda = [=](cuda_context& cx) {
    gemm_backward_weight_cuda(cx, dw.dev->as<float>(), dbias ? db.dev->as<float>() : nullptr,
                              gd->as<bf16>(), xd->as<bf16>(), N, C, OC);
  };
  p.bytes = 2.0 * (N * C + N * OC) + 8.0 * OC * C;
  p.flops = 2.0 * N * C * OC;
  return p;
}

prepared nf4_dequant(std::mt19937& rng, int64_t n) {
  prepared p;
  auto w = random_f32(rng, n, -0.2f, 0.2f);
  if (n > 64) std::fill(w.begin(), w.begin() + 64, 0.0f);  // an all-zero block: dequantizes to -0.0
  const int64_t nblocks = (n + 63) / 64;
  std::vector<uint8_t> packed(size_t((n + 1) / 2));
  std::vector<float> absmax(static_cast<size_t>(nblocks));
  nf4_quantize_cpu(packed.data(), absmax.data(), w.data(), n);
  auto pd = upload(p, elem::u8, packed), ad = upload(p, elem::f32, absmax);
  auto out = add_output(p, "out", elem::bf16, n);
  p.cpu = [=] {
    std::vector<bf16> o(static_cast<size_t>(n));
    nf4_dequantize_bf16_cpu(o.data(), packed.data(), absmax.data(), n);
    for (int64_t i = 0; i < n; ++i) (*out.ref)[size_t(i)] = bf16_to_f32(o[size_t(i)]);
  };
  p.cuda = [=](cuda_context& cx) {
    nf4_dequantize_cuda(cx, out.dev->as<bf16>(), pd->as<uint8_t>(), ad->as<float>(), n);
  };
  p.bytes = n * 0.5 + nblocks * 4.0 + n * 2.0;
  return p;
}

prepared nf4_absmax_dq(std::mt19937& rng, int64_t nblocks) {
  prepared p;
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  std::vector<uint8_t> q(static_cast<size_t>(nblocks));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& v : q) v = uint8_t(byte(rng));
  auto nested = random_f32(rng, (nblocks + 255) / 256, 0.01f, 0.1f);
  const float offset = random_f32(rng, 1, 0.01f, 0.05f)[0];
  auto qd = upload(p, elem::u8, q), cd = upload(p, elem::f32, code8),
       nd = upload(p, elem::f32, nested);
  auto out = add_output(p, "absmax", elem::f32, nblocks);
  p.cpu = [=] {
    nf4_absmax_dequantize_cpu(out.ref->data(), q.data(), code8.data(), nested.data(), offset,
                              nblocks);
  };
  p.cuda = [=](cuda_context& cx) {
    nf4_absmax_dequantize_cuda(cx, out.dev->as<float>(), qd->as<uint8_t>(), cd->as<float>(),
                               nd->as<float>(), offset, nblocks);
  };
  p.bytes = nblocks * 5.0;
  return p;
}

prepared nf4_gemv(std::mt19937& rng, int64_t B, int64_t C, int64_t OC, bool double_quant,
                  nf4_gemv_kernel kernel) {
  prepared p;
  auto w = random_f32(rng, OC * C, -0.05f, 0.05f);
  nf4_quant_state st = nf4_quantize_weight(w.data(), {OC, C}, dtype::bf16, double_quant);
  std::vector<float> absmax = nf4_effective_absmax(st), wdq(size_t(OC * C));
  nf4_dequantize_cpu(wdq.data(), st.packed.data(), absmax.data(), OC * C);
  std::vector<bf16> xb;
  auto x = random_bf16_values(rng, B * C, 1.0f, xb);
  auto xd = upload(p, elem::bf16, xb), pd = upload(p, elem::u8, st.packed);
  auto ad = upload(p, elem::f32, absmax);
  auto qd = upload(p, elem::u8, double_quant ? st.qabsmax : std::vector<uint8_t>(1));
  auto cd = upload(p, elem::f32, double_quant ? st.nested_quant_map : std::vector<float>(1));
  auto nd = upload(p, elem::f32, double_quant ? st.nested_absmax : std::vector<float>(1));
  const float offset = st.nested_offset;
  auto out = add_output(p, "out", elem::bf16, B * OC);
  p.cpu = [=] { gemm_forward_cpu(out.ref->data(), x.data(), wdq.data(), nullptr, B, C, OC); };
  p.cuda = [=](cuda_context& cx) {
    if (double_quant) {
      nf4_dq_gemv_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), pd->as<uint8_t>(),
                       qd->as<uint8_t>(), cd->as<float>(), nd->as<float>(), offset, B, C, OC,
                       kernel);
    } else {
      nf4_gemv_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), pd->as<uint8_t>(), ad->as<float>(), B,
                    C, OC, kernel);
    }
  };
  p.bytes = OC * C * 0.5 + OC * C / 64.0 * (double_quant ? 1.0 : 4.0) + 2.0 * B * (C + OC);
  p.flops = 2.0 * B * C * OC;
  return p;
}

prepared nf4_gemm_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC) {
  prepared p;
  auto w = random_f32(rng, OC * C, -0.05f, 0.05f);
  const int64_t n = OC * C, nblocks = (n + 63) / 64;
  std::vector<uint8_t> packed(size_t((n + 1) / 2));
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
    nf4_gemm_forward_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), pd->as<uint8_t>(),
                          ad->as<float>(), N, C, OC);
  };
  p.bytes = n * 0.5 + nblocks * 4.0 + n * 4.0 + 2.0 * (N * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

prepared nf4_gemm_bwd_inp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC) {
  prepared p;
  auto w = random_f32(rng, OC * C, -0.05f, 0.05f);
  const int64_t n = OC * C, nblocks = (n + 63) / 64;
  std::vector<uint8_t> packed(size_t((n + 1) / 2));
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
    nf4_gemm_backward_inp_cuda(cx, dinp.dev->as<bf16>(), gd->as<bf16>(), pd->as<uint8_t>(),
                               ad->as<float>(), N, C, OC);
  };
  p.bytes = n * 0.5 + nblocks * 4.0 + n * 4.0 + 2.0 * (N * C + N * OC);
  p.flops = 2.0 * N * C * OC;
  return p;
}

}  // namespace kaito::parity
