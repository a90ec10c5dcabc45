// Row builders for the element ops of the training step (see parity_cases.h).
#include <cmath>
#include <limits>

#include "kernels/adamw.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/grad_clip.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {
namespace {

std::vector<int32_t> random_ids(std::mt19937& rng, int64_t n, int64_t V) {
  std::uniform_int_distribution<int32_t> u(0, int32_t(V - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = u(rng);
  return ids;
}

}  // namespace

prepared convert_bf16_to_f32(std::mt19937& rng, int64_t n) {
  prepared p;
  std::vector<bf16> xb;
  auto x = random_bf16_values(rng, n, 100.0f, xb);
  auto xd = upload(p, elem::bf16, xb);
  auto out = add_output(p, "out", elem::f32, n);
  p.cpu = [=] { bf16_to_f32_cpu(out.ref->data(), xb.data(), n); };
  p.cuda = [=](cuda_context& cx) { bf16_to_f32_cuda(cx, out.dev->as<float>(), xd->as<bf16>(), n); };
  p.bytes = 6.0 * n;
  return p;
}

prepared convert_f32_to_bf16(std::mt19937& rng, int64_t n) {
  prepared p;
  auto x = random_f32(rng, n, -100.0f, 100.0f);
  const float specials[] = {std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::nanf(""),
                            3.4e38f,
                            -0.0f,
                            1e-40f};
  for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i) x[i] = specials[i];
  auto xd = upload(p, elem::f32, x);
  auto out = add_output(p, "out", elem::bf16, n);
  p.cpu = [=] {
    std::vector<bf16> o(static_cast<size_t>(n));
    f32_to_bf16_cpu(o.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) (*out.ref)[size_t(i)] = kaito::bf16_to_f32(o[size_t(i)]);
  };
  p.cuda = [=](cuda_context& cx) { f32_to_bf16_cuda(cx, out.dev->as<bf16>(), xd->as<float>(), n); };
  p.bytes = 6.0 * n;
  return p;
}

prepared swiglu_fwd(std::mt19937& rng, int64_t N, int64_t I, bool fused) {
  prepared p;
  const int64_t ld = fused ? 2 * I : I;
  std::vector<bf16> gb, ub;
  auto g = random_bf16_values(rng, N * ld, 6.0f, gb);  // fused: the whole gate_up buffer
  auto u = random_bf16_values(rng, N * ld, 2.0f, ub);
  auto gd = upload(p, elem::bf16, gb), ud = upload(p, elem::bf16, ub);
  auto out = add_output(p, "out", elem::bf16, N * I);
  p.cpu = [=] {
    swiglu_forward_cpu(out.ref->data(), g.data(), fused ? g.data() + I : u.data(), N, I, ld);
  };
  p.cuda = [=](cuda_context& cx) {
    const bf16* gate = gd->as<bf16>();
    swiglu_forward_cuda(cx, out.dev->as<bf16>(), gate, fused ? gate + I : ud->as<bf16>(), N, I, ld);
  };
  p.bytes = 6.0 * N * I;
  return p;
}

prepared swiglu_bwd(std::mt19937& rng, int64_t N, int64_t I, bool fused) {
  prepared p;
  const int64_t ld = fused ? 2 * I : I;
  std::vector<bf16> gb, ub, db;
  auto g = random_bf16_values(rng, N * ld, 6.0f, gb);
  auto u = random_bf16_values(rng, N * ld, 2.0f, ub);
  auto d = random_bf16_values(rng, N * I, 1.0f, db);
  auto gd = upload(p, elem::bf16, gb), ud = upload(p, elem::bf16, ub),
       dd = upload(p, elem::bf16, db);
  // fused: one (N, 2I) dgate_up output holds both halves; else dgate and dup (N, I) each
  auto dg = add_output(p, fused ? "dgate_up" : "dgate", elem::bf16, N * ld);
  auto du = fused ? dg : add_output(p, "dup", elem::bf16, N * I);
  p.cpu = [=] {
    const float* up = fused ? g.data() + I : u.data();
    swiglu_backward_cpu(dg.ref->data(), fused ? dg.ref->data() + I : du.ref->data(), d.data(),
                        g.data(), up, N, I, ld);
  };
  p.cuda = [=](cuda_context& cx) {
    const bf16* gate = gd->as<bf16>();
    bf16* dgate = dg.dev->as<bf16>();
    swiglu_backward_cuda(cx, dgate, fused ? dgate + I : du.dev->as<bf16>(), dd->as<bf16>(), gate,
                         fused ? gate + I : ud->as<bf16>(), N, I, ld);
  };
  p.bytes = 10.0 * N * I;
  return p;
}

namespace {
// cos/sin tables (N, RD) for random positions, default RoPE (theta 1e4).
void rope_tables(std::mt19937& rng, int64_t N, int64_t RD, std::vector<float>& cos,
                 std::vector<float>& sin) {
  rope_params rp;
  rp.head_dim = RD;
  std::vector<float> inv = rope_inv_freq(rp, 4096);
  std::uniform_int_distribution<int32_t> u(0, 4095);
  std::vector<int32_t> pos(static_cast<size_t>(N));
  for (int32_t& v : pos) v = u(rng);
  cos.resize(size_t(N * RD));
  sin.resize(size_t(N * RD));
  rope_cos_sin_cpu(cos.data(), sin.data(), pos.data(), inv.data(), 1.0f, N, RD);
}

prepared rope_case(std::mt19937& rng, int64_t N, int64_t NH, int64_t HS, int64_t RD,
                   bool backward) {
  prepared p;
  std::vector<float> cos, sin;
  rope_tables(rng, N, RD, cos, sin);
  std::vector<bf16> xb;
  auto x = random_bf16_values(rng, N * NH * HS, 3.0f, xb);
  auto xd = upload(p, elem::bf16, xb), cd = upload(p, elem::f32, cos),
       sd = upload(p, elem::f32, sin);
  auto out = add_output(p, backward ? "dinp" : "out", elem::bf16, N * NH * HS);
  p.cpu = [=] {
    if (backward) {
      rope_backward_cpu(out.ref->data(), x.data(), cos.data(), sin.data(), N, NH, HS, RD);
    } else {
      rope_forward_cpu(out.ref->data(), x.data(), cos.data(), sin.data(), N, NH, HS, RD);
    }
  };
  p.cuda = [=](cuda_context& cx) {
    if (backward) {
      rope_backward_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), cd->as<float>(), sd->as<float>(),
                         N, NH, HS, RD);
    } else {
      rope_forward_cuda(cx, out.dev->as<bf16>(), xd->as<bf16>(), cd->as<float>(), sd->as<float>(),
                        N, NH, HS, RD);
    }
  };
  p.bytes = 4.0 * N * NH * HS + 8.0 * N * RD;
  return p;
}
}  // namespace

prepared rope_fwd(std::mt19937& rng, int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  return rope_case(rng, N, NH, HS, RD > 0 ? RD : HS, false);
}
prepared rope_bwd(std::mt19937& rng, int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  return rope_case(rng, N, NH, HS, RD > 0 ? RD : HS, true);
}

prepared embedding_fwd(std::mt19937& rng, int64_t N, int64_t V, int64_t C) {
  prepared p;
  std::vector<bf16> tb;
  random_bf16_values(rng, V * C, 1.0f, tb);
  auto ids = random_ids(rng, N, V);
  auto td = upload(p, elem::bf16, tb), id = upload(p, elem::i32, ids);
  auto out = add_output(p, "out", elem::bf16, N * C);
  p.cpu = [=] { embedding_forward_bf16_cpu(out.ref->data(), ids.data(), tb.data(), N, V, C); };
  p.cuda = [=](cuda_context& cx) {
    embedding_forward_cuda(cx, out.dev->as<bf16>(), id->as<int32_t>(), td->as<bf16>(), N, V, C);
  };
  p.bytes = 4.0 * N * C + 4.0 * N;
  return p;
}

prepared embedding_bwd(std::mt19937& rng, int64_t N, int64_t V, int64_t C) {
  prepared p;
  std::vector<bf16> db;
  auto d = random_bf16_values(rng, N * C, 1.0f, db);
  auto ids = random_ids(rng, N, V);  // V < N in the table: repeated ids sum
  auto dd = upload(p, elem::bf16, db), id = upload(p, elem::i32, ids);
  auto dt = add_output(p, "dtable", elem::f32, V * C, random_f32(rng, V * C, -1.0f, 1.0f));
  p.cpu = [=] { embedding_backward_cpu(dt.ref->data(), d.data(), ids.data(), N, V, C); };
  p.cuda = [=](cuda_context& cx) {
    embedding_backward_cuda(cx, dt.dev->as<float>(), dd->as<bf16>(), id->as<int32_t>(), N, V, C);
  };
  p.bytes = 2.0 * N * C + 8.0 * N * C;
  return p;
}

namespace {
// Targets in [0, V) with about one in five rows ignored (-100).
std::vector<int32_t> ce_targets(std::mt19937& rng, int64_t N, int64_t V) {
  auto t = random_ids(rng, N, V);
  for (size_t i = 0; i < t.size(); ++i)
    if (rng() % 5 == 0) t[i] = cross_entropy_ignore_index;
  return t;
}
}  // namespace

prepared cross_entropy_fwd(std::mt19937& rng, int64_t N, int64_t V) {
  prepared p;
  auto logits = random_f32(rng, N * V, -8.0f, 8.0f);
  auto t = ce_targets(rng, N, V);
  auto ld = upload(p, elem::f32, logits), td = upload(p, elem::i32, t);
  auto losses = add_output(p, "losses", elem::f32, N), lse = add_output(p, "lse", elem::f32, N);
  p.cpu = [=] {
    cross_entropy_forward_cpu(losses.ref->data(), lse.ref->data(), logits.data(), t.data(), N, V);
  };
  p.cuda = [=](cuda_context& cx) {
    cross_entropy_forward_cuda(cx, losses.dev->as<float>(), lse.dev->as<float>(), ld->as<float>(),
                               td->as<int32_t>(), N, V);
  };
  p.bytes = 4.0 * N * V;
  return p;
}

prepared cross_entropy_bwd(std::mt19937& rng, int64_t N, int64_t V) {
  prepared p;
  auto logits = random_f32(rng, N * V, -8.0f, 8.0f);
  auto t = ce_targets(rng, N, V);
  std::vector<float> losses(static_cast<size_t>(N)), lse(static_cast<size_t>(N));
  cross_entropy_forward_cpu(losses.data(), lse.data(), logits.data(), t.data(), N, V);
  const int64_t count = cross_entropy_count(t.data(), N);
  const float scale = count > 0 ? 1.0f / float(count) : 0.0f;
  auto ld = upload(p, elem::f32, logits), td = upload(p, elem::i32, t),
       sd = upload(p, elem::f32, lse);
  auto d = add_output(p, "dlogits", elem::f32, N * V);
  p.cpu = [=] {
    cross_entropy_backward_cpu(d.ref->data(), logits.data(), lse.data(), t.data(), scale, N, V);
  };
  p.cuda = [=](cuda_context& cx) {
    cross_entropy_backward_cuda(cx, d.dev->as<float>(), ld->as<float>(), sd->as<float>(),
                                td->as<int32_t>(), scale, N, V);
  };
  p.bytes = 8.0 * N * V;
  return p;
}

prepared adamw(std::mt19937& rng, int64_t n, int64_t step) {
  prepared p;
  auto g = random_f32(rng, n, -1.0f, 1.0f);
  auto gd = upload(p, elem::f32, g);
  // param, m, v are updated in place: their starting values are the outputs' `init`
  auto prm = add_output(p, "param", elem::f32, n, random_f32(rng, n, -1.0f, 1.0f));
  auto m = add_output(p, "m", elem::f32, n, random_f32(rng, n, -0.1f, 0.1f));
  auto v = add_output(p, "v", elem::f32, n, random_f32(rng, n, 0.0f, 0.01f));
  adamw_params hp;
  hp.lr = 2e-4;
  hp.weight_decay = 0.01;
  p.cpu = [=] {
    adamw_update_cpu(prm.ref->data(), m.ref->data(), v.ref->data(), g.data(), n, hp, step);
  };
  p.cuda = [=](cuda_context& cx) {
    adamw_update_cuda(cx, prm.dev->as<float>(), m.dev->as<float>(), v.dev->as<float>(),
                      gd->as<float>(), n, hp, step);
  };
  p.bytes = 28.0 * n;
  return p;
}

// Several tensors of odd sizes (one empty, one across many chunks) laid end to end in one
// buffer per role; the CPU twin updates each slice on its own.
prepared adamw_multi(std::mt19937& rng, std::vector<int64_t> sizes, int64_t step) {
  prepared p;
  int64_t n = 0;
  for (int64_t s : sizes) n += s;
  auto g = random_f32(rng, n, -1.0f, 1.0f);
  auto gd = upload(p, elem::f32, g);
  auto prm = add_output(p, "param", elem::f32, n, random_f32(rng, n, -1.0f, 1.0f));
  auto m = add_output(p, "m", elem::f32, n, random_f32(rng, n, -0.1f, 0.1f));
  auto v = add_output(p, "v", elem::f32, n, random_f32(rng, n, 0.0f, 0.01f));
  adamw_params hp;
  hp.lr = 2e-4;
  hp.weight_decay = 0.01;
  p.cpu = [=] {
    int64_t off = 0;
    for (int64_t s : sizes) {
      adamw_update_cpu(prm.ref->data() + off, m.ref->data() + off, v.ref->data() + off,
                       g.data() + off, s, hp, step);
      off += s;
    }
  };
  p.cuda = [=](cuda_context& cx) {
    std::vector<adamw_tensor> list;
    int64_t off = 0;
    for (int64_t s : sizes) {
      list.push_back({prm.dev->as<float>() + off, m.dev->as<float>() + off,
                      v.dev->as<float>() + off, gd->as<float>() + off, s});
      off += s;
    }
    adamw_update_multi_cuda(cx, list.data(), int64_t(list.size()), hp, step);
  };
  p.bytes = 28.0 * n;
  return p;
}

prepared grad_sum_squares(std::mt19937& rng, int64_t n) {
  prepared p;
  auto g = random_f32(rng, n, -1.0f, 1.0f);
  auto gd = upload(p, elem::f32, g);
  auto acc = add_output(p, "sum_sq", elem::f32, 1, {0.5f});  // accumulated (+=) across tensors
  p.cpu = [=] { (*acc.ref)[0] = float(double((*acc.ref)[0]) + grad_sum_squares_cpu(g.data(), n)); };
  p.cuda = [=](cuda_context& cx) {
    grad_sum_squares_cuda(cx, acc.dev->as<float>(), gd->as<float>(), n);
  };
  p.bytes = 4.0 * n;
  return p;
}

prepared grad_scale(std::mt19937& rng, int64_t n) {
  prepared p;
  const float coef = grad_clip_coef(3.7, 0.3);
  auto g = add_output(p, "grad", elem::f32, n, random_f32(rng, n, -1.0f, 1.0f));  // in place
  p.cpu = [=] { grad_scale_cpu(g.ref->data(), n, coef); };
  p.cuda = [=](cuda_context& cx) { grad_scale_cuda(cx, g.dev->as<float>(), n, coef); };
  p.bytes = 8.0 * n;
  return p;
}

}  // namespace kaito::parity
