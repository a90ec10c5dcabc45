// nf4_gemv_versions: the kernel lab for the fused NF4 decode GEMV (llm.c dev/cuda style; never run
// by ctest). Every variant is first checked against the CPU twin (nf4_dequantize_cpu +
// gemm_forward_cpu) on fresh random data, then timed at the Phi-3-mini shapes, batch 1 and 8.
//   v1  8 warps share 16 rows and split C chunk by chunk, two chunks of loads in flight per warp.
//       The winner: it is kernels/cuda/nf4_gemv.cu ("prod" below).
//   v2<G>  each warp issues the loads of G chunks before any math and x is staged in shared memory
//       (G = 2, 4, 8). Prediction was "the whole matrix in flight -> near the copy bandwidth"; the
//       H200 said otherwise (run of 2026-11-28, graph replays, OC x K, B=1/B=8, us):
//         3072x3072   v1 6.8/7.6    v2<4> 7.0/10.2     16384x3072 v1 19.7/22.0  v2<4> 22.6/32.5
//         9216x3072   v1 13.2/15.2  v2<4> 15.9/23.0     3072x8192  v1 14.9/17.1  v2<4> 16.1/22.9
//       so loads in flight are not what limits v1; the likely limit (inferred, not profiled) is
//       instruction issue in the dequantization (kernels/cuda/nf4_gemv.cu), and staging x costs
//       extra at B=8. (v2<2> and v2<8> were no better than v1; only v2<4> stays below.)
//   v3  v1's loop with the dequantization cut to one shared-memory load per byte (see v3 below).
//       Prediction: about half of v1's instructions per element, so up to ~2x v1 if issue-bound.
//       The H200 said 3.3x SLOWER (22.5 us at 3072x3072 B=1; 79 us at 16384x3072). Likely cause
//       (inferred): every block first fills a 32 KB replicated table (8192 stores and conversions)
//       for ~3 chunks of real work per warp, and 32 KB of shared memory per block caps residency.
//   reg  the product's register_lut kernel (kernels/cuda/nf4_gemv_register.cuh): v3's per-block
//       scaling with the lookup in registers (byte permutes, ~3 PTX instructions per element
//       against v1's ~6), no table to fill, and a ring of D chunks of weight loads in flight per
//       warp issued ahead of the math (v1's next loads wait behind its volatile mma asm, and its
//       conditional loads split the loop into branches). "prod" is the product's scaled_lut (= v1).
//   reg<D>  register_lut at other depths (the product: 3 at batch <= 8, 2 above; ptxas: 80, 98,
//       102, 132 registers for D = 1..4 with DQ at batch <= 8, so D = 4 leaves one block per SM).
//   regpdl  reg launched with programmatic dependent launch: consecutive launches overlap (each
//       loads its first weights while the one ahead finishes), as in a decode step's graph.
// Weights rotate over >= 256 MB (4x the L2) so every variant streams from HBM; each rotation is
// captured as a CUDA graph and timed by replays (kernel time, no host launch overhead).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/nf4_gemv_register.cuh"
#include "kernels/gemm.h"
#include "kernels/nf4.h"

namespace kaito {
namespace {

struct lut16 {
  float v[16];
};

__device__ __forceinline__ uint32_t deq2(const float* code, uint32_t byte, float s) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(code[byte >> 4] * s, code[byte & 15u] * s);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 8 mma over one 128-chunk: lane owns 16 bytes of rows g and g+8 and 32 x values (permuted k).
__device__ __forceinline__ void chunk_mma(float (&acc)[4], const float* code, uint4 qa, uint4 qb,
                                          float sa, float sb, const uint4 (&xv)[4]) {
  const uint32_t wa[4] = {qa.x, qa.y, qa.z, qa.w}, wb[4] = {qb.x, qb.y, qb.z, qb.w};
  const uint32_t* x32 = reinterpret_cast<const uint32_t*>(xv);
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int sh = 16 * (j & 1);
    mma16816(acc, deq2(code, (wa[j >> 1] >> sh) & 0xffu, sa),
             deq2(code, (wb[j >> 1] >> sh) & 0xffu, sb),
             deq2(code, (wa[j >> 1] >> (sh + 8)) & 0xffu, sa),
             deq2(code, (wb[j >> 1] >> (sh + 8)) & 0xffu, sb), x32[2 * j], x32[2 * j + 1]);
  }
}

// Block-level reduction of the warps' accumulators and the bf16 store (shared by all variants).
__device__ __forceinline__ void reduce_store(float* red, const float (&acc)[4], int nwarps,
                                             __nv_bfloat16* out, int B, int OC) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < 4; ++i) red[(warp * 32 + lane) * 4 + i] = acc[i];
  __syncthreads();
  if (warp != 0) return;
  float s[4] = {0, 0, 0, 0};
  for (int w = 0; w < nwarps; ++w)
    for (int i = 0; i < 4; ++i) s[i] += red[(w * 32 + lane) * 4 + i];
  const int ra = blockIdx.x * 16 + g, rb = ra + 8;
  for (int i = 0; i < 4; ++i) {
    const int row = i < 2 ? ra : rb, n = 2 * t + (i & 1);
    if (row < OC && n < B) out[int64_t(n) * OC + row] = __float2bfloat16_rn(s[i]);
  }
}

__global__ void __launch_bounds__(256)
    gemv_v1(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed, const float* absmax,
            int B, int C, int OC, lut16 lut) {
  __shared__ float code[16];
  __shared__ float red[8 * 32 * 4];
  if (threadIdx.x < 16) code[threadIdx.x] = lut.v[threadIdx.x];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int ra = blockIdx.x * 16 + g, rb = ra + 8;
  const bool oka = ra < OC, okb = rb < OC, okx = g < B;
  const uint8_t* wa = packed + int64_t(oka ? ra : 0) * (C / 2) + 16 * t;
  const uint8_t* wb = packed + int64_t(okb ? rb : 0) * (C / 2) + 16 * t;
  const int64_t blka = (int64_t(oka ? ra : 0) * C + 32 * t) >> 6,
                blkb = (int64_t(okb ? rb : 0) * C + 32 * t) >> 6;
  float acc[4] = {0, 0, 0, 0};
#pragma unroll 2
  for (int ch = warp; ch < C / 128; ch += 8) {
    const uint4 z = make_uint4(0, 0, 0, 0);
    const uint4 qa = oka ? __ldcs(reinterpret_cast<const uint4*>(wa + ch * 64)) : z;
    const uint4 qb = okb ? __ldcs(reinterpret_cast<const uint4*>(wb + ch * 64)) : z;
    uint4 xv[4];
    for (int i = 0; i < 4; ++i)
      xv[i] = okx ? __ldg(reinterpret_cast<const uint4*>(x + int64_t(g) * C + ch * 128 + 32 * t +
                                                         8 * i))
                  : z;
    chunk_mma(acc, code, qa, qb, oka ? absmax[blka + 2 * ch] : 0.f,
              okb ? absmax[blkb + 2 * ch] : 0.f, xv);
  }
  reduce_store(red, acc, 8, out, B, OC);
}

// v2<G>: G chunks of loads per warp issued before any math; x staged in shared memory.
template <int G>
__global__ void __launch_bounds__(512)
    gemv_v2(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed, const float* absmax,
            int B, int C, int OC, lut16 lut) {
  extern __shared__ __align__(16) float smem[];
  const int nwarps = blockDim.x >> 5;
  float* code = smem;
  float* red = smem + 16;
  __nv_bfloat16* xs = reinterpret_cast<__nv_bfloat16*>(smem + 16 + nwarps * 128);
  const int ld = C + 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int ra = blockIdx.x * 16 + g, rb = ra + 8, nch = C / 128;
  const bool oka = ra < OC, okb = rb < OC, okx = g < B;
  const uint8_t* wa = packed + int64_t(oka ? ra : 0) * (C / 2) + 16 * t;
  const uint8_t* wb = packed + int64_t(okb ? rb : 0) * (C / 2) + 16 * t;
  const int64_t blka = (int64_t(oka ? ra : 0) * C + 32 * t) >> 6,
                blkb = (int64_t(okb ? rb : 0) * C + 32 * t) >> 6;
  uint4 qa[G], qb[G];
  float sa[G], sb[G];
  auto issue = [&](int base) {
#pragma unroll
    for (int u = 0; u < G; ++u) {
      const int c = base + u;
      const bool va = oka && c < nch, vb = okb && c < nch;
      const uint4 z = make_uint4(0, 0, 0, 0);
      qa[u] = va ? __ldcs(reinterpret_cast<const uint4*>(wa + c * 64)) : z;
      qb[u] = vb ? __ldcs(reinterpret_cast<const uint4*>(wb + c * 64)) : z;
      sa[u] = va ? absmax[blka + 2 * c] : 0.f;
      sb[u] = vb ? absmax[blkb + 2 * c] : 0.f;
    }
  };
  int base = warp * G;
  issue(base);
  if (threadIdx.x < 16) code[threadIdx.x] = lut.v[threadIdx.x];
  for (int i = threadIdx.x; i < B * (C / 8); i += blockDim.x) {
    const int b = i / (C / 8), v = i % (C / 8);
    *reinterpret_cast<uint4*>(xs + b * ld + 8 * v) =
        __ldg(reinterpret_cast<const uint4*>(x + int64_t(b) * C + 8 * v));
  }
  __syncthreads();
  float acc[4] = {0, 0, 0, 0};
  while (true) {
#pragma unroll
    for (int u = 0; u < G; ++u) {
      const int c = base + u;
      if (c >= nch) break;
      uint4 xv[4];
      for (int i = 0; i < 4; ++i)
        xv[i] = okx ? *reinterpret_cast<const uint4*>(xs + g * ld + c * 128 + 32 * t + 8 * i)
                    : make_uint4(0, 0, 0, 0);
      chunk_mma(acc, code, qa[u], qb[u], sa[u], sb[u], xv);
    }
    base += nwarps * G;
    if (base >= nch) break;
    issue(base);
  }
  reduce_store(red, acc, nwarps, out, B, OC);
}

// v3: no per-element scaling. The k permutation puts all 16 k-slots of an mma inside one 64-block
// (lane t owns bytes [8t, 8t+8) of each 32-byte block row), so each mma multiplies *unscaled* code
// values and its 4 partial sums are scaled by the block's absmax once (fp32 FMA). Dequantization
// is one shared-memory load per byte: a 256-entry table of bf16 code pairs, replicated per lane
// (entry e of lane l at [e*32 + l]: no bank conflicts). Codes are rounded to bf16 (<= 2^-9 rel).
__global__ void __launch_bounds__(256)
    gemv_v3(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed, const float* absmax,
            int B, int C, int OC, lut16 lut) {
  __shared__ uint32_t tab[256 * 32];
  __shared__ float red[8 * 32 * 4];
  for (int i = threadIdx.x; i < 256 * 32; i += blockDim.x) {
    const int e = i >> 5;  // byte value: high nibble = even (lower-k) element -> low half
    const __nv_bfloat162 h = __floats2bfloat162_rn(lut.v[e >> 4], lut.v[e & 15]);
    tab[i] = *reinterpret_cast<const uint32_t*>(&h);
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint32_t* my = tab + lane;
  const int ra = blockIdx.x * 16 + g, rb = ra + 8;
  const bool oka = ra < OC, okb = rb < OC, okx = g < B;
  const uint8_t* wa = packed + int64_t(oka ? ra : 0) * (C / 2) + 8 * t;
  const uint8_t* wb = packed + int64_t(okb ? rb : 0) * (C / 2) + 8 * t;
  const float* aa = absmax + int64_t(oka ? ra : 0) * (C / 64);
  const float* ab = absmax + int64_t(okb ? rb : 0) * (C / 64);
  float acc[4] = {0, 0, 0, 0};
#pragma unroll 2
  for (int ch = warp; ch < C / 128; ch += 8) {
    const uint2 z2 = make_uint2(0, 0);
    uint2 qa[2], qb[2];
    uint4 xv[2][2];
    float sa[2], sb[2];
#pragma unroll
    for (int b = 0; b < 2; ++b) {  // the chunk's two 64-blocks
      qa[b] = oka ? __ldcs(reinterpret_cast<const uint2*>(wa + ch * 64 + 32 * b)) : z2;
      qb[b] = okb ? __ldcs(reinterpret_cast<const uint2*>(wb + ch * 64 + 32 * b)) : z2;
      sa[b] = oka ? aa[2 * ch + b] : 0.f;
      sb[b] = okb ? ab[2 * ch + b] : 0.f;
      for (int i = 0; i < 2; ++i)  // x elements 64b + 16t + [8i, 8i+8) of the chunk
        xv[b][i] = okx ? __ldg(reinterpret_cast<const uint4*>(x + int64_t(g) * C + ch * 128 +
                                                              64 * b + 16 * t + 8 * i))
                       : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int b = 0; b < 2; ++b) {
      const uint32_t wa32[2] = {qa[b].x, qa[b].y}, wb32[2] = {qb[b].x, qb[b].y};
      const uint32_t* x32 = reinterpret_cast<const uint32_t*>(xv[b]);
      float part[4] = {0, 0, 0, 0};
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {  // bytes 2jj, 2jj+1: elements 16t + 4jj + {0,1}, {2,3}
        const int sh = 16 * (jj & 1);
        const uint32_t a0 = (wa32[jj >> 1] >> sh) & 0xffu, a1 = (wa32[jj >> 1] >> (sh + 8)) & 0xffu;
        const uint32_t b0 = (wb32[jj >> 1] >> sh) & 0xffu, b1 = (wb32[jj >> 1] >> (sh + 8)) & 0xffu;
        mma16816(part, my[a0 * 32], my[b0 * 32], my[a1 * 32], my[b1 * 32], x32[2 * jj],
                 x32[2 * jj + 1]);
      }
      acc[0] += part[0] * sa[b];  // rows: c0,c1 -> g, c2,c3 -> g+8
      acc[1] += part[1] * sa[b];
      acc[2] += part[2] * sb[b];
      acc[3] += part[3] * sb[b];
    }
  }
  reduce_store(red, acc, 8, out, B, OC);
}

using launch_fn = std::function<void(cuda_context&, bf16*, const bf16*, const uint8_t*,
                                     const float*, int, int, int)>;

lut16 make_lut() {
  lut16 l{};
  for (int i = 0; i < 16; ++i) l.v[i] = nf4_code[i];
  return l;
}

void run_v1(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
            int C, int OC) {
  gemv_v1<<<unsigned(ceil_div(OC, 16)), 256, 0, cx.stream()>>>(as_nv(y), as_nv(x), p, a, B, C, OC,
                                                               make_lut());
}

template <int G>
void run_v2(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
            int C, int OC) {
  const int nwarps = std::min(16, ceil_div(C / 128, G));
  const size_t smem = (16 + nwarps * 128) * 4 + size_t(B) * (C + 8) * 2;
  cudaFuncSetAttribute(gemv_v2<G>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  gemv_v2<G><<<unsigned(ceil_div(OC, 16)), nwarps * 32, smem, cx.stream()>>>(
      as_nv(y), as_nv(x), p, a, B, C, OC, make_lut());
}

void run_v3(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
            int C, int OC) {
  gemv_v3<<<unsigned(ceil_div(OC, 16)), 256, 0, cx.stream()>>>(as_nv(y), as_nv(x), p, a, B, C, OC,
                                                               make_lut());
}

void run_prod(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
              int C, int OC) {
  nf4_gemv_cuda(cx, y, x, p, a, B, C, OC, nf4_gemv_kernel::scaled_lut);
}

void run_reg(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
             int C, int OC) {
  nf4_gemv_cuda(cx, y, x, p, a, B, C, OC, nf4_gemv_kernel::register_lut);
}

// register_lut with D chunks of weight loads in flight per warp (the product: kGemvDepth1 at
// batch <= 8, kGemvDepth2 above).
template <int D>
void run_reg_d(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
               int C, int OC) {
  const absmax_src am{a, nullptr, nullptr, nullptr, 0.0f};
  const unsigned grid = unsigned(ceil_div(OC, kGemvRows));
  if (B <= 8) {
    nf4_gemv_register_kernel<false, 1, D><<<grid, kGemvWarps * 32, 0, cx.stream()>>>(
        as_nv(y), as_nv(x), p, am, B, C, OC, make_nf4_byte_lut());
  } else {
    nf4_gemv_register_kernel<false, 2, D><<<grid, kGemvWarps * 32, 0, cx.stream()>>>(
        as_nv(y), as_nv(x), p, am, B, C, OC, make_nf4_byte_lut());
  }
}

// The product's register_lut launched with programmatic dependent launch (kernels/cuda/pdl.cuh):
// each launch's blocks start and load their first weights while the launch ahead finishes.
void run_reg_pdl(cuda_context& cx, bf16* y, const bf16* x, const uint8_t* p, const float* a, int B,
                 int C, int OC) {
  cx.set_programmatic_launch(true);
  nf4_gemv_cuda(cx, y, x, p, a, B, C, OC, nf4_gemv_kernel::register_lut);
  cx.set_programmatic_launch(false);
}

template <class T>
T* to_dev(const std::vector<T>& h) {
  T* d = nullptr;
  cudaMalloc(&d, h.size() * sizeof(T));
  cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  cudaDeviceSynchronize();  // the legacy stream's copy may still run when the kernel starts
  return d;
}

// max |got - ref| / max |ref| against the CPU twin on fresh random data.
double check(cuda_context& cx, const launch_fn& f, std::mt19937& rng, int B, int C, int OC) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(size_t(OC) * C), xf(size_t(B) * C), wd(w.size()), ref(size_t(B) * OC);
  for (float& v : w) v = 0.05f * u(rng);
  std::vector<bf16> xb(xf.size()), yb(ref.size());
  for (size_t i = 0; i < xf.size(); ++i) xf[i] = bf16_to_f32(xb[i] = f32_to_bf16(u(rng)));
  std::vector<uint8_t> packed(w.size() / 2);
  std::vector<float> absmax(w.size() / 64);
  nf4_quantize_cpu(packed.data(), absmax.data(), w.data(), int64_t(w.size()));
  nf4_dequantize_cpu(wd.data(), packed.data(), absmax.data(), int64_t(w.size()));
  gemm_forward_cpu(ref.data(), xf.data(), wd.data(), nullptr, B, C, OC);
  bf16 *xd = to_dev(xb), *yd = to_dev(std::vector<bf16>(yb.size(), bf16{0xffff}));  // NaN poison
  uint8_t* pd = to_dev(packed);
  float* ad = to_dev(absmax);
  f(cx, yd, xd, pd, ad, B, C, OC);
  if (!cx.synchronize().ok()) return INFINITY;
  cudaMemcpy(yb.data(), yd, yb.size() * 2, cudaMemcpyDeviceToHost);
  double mx = 0, err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    mx = std::max(mx, std::fabs(double(ref[i])));
    const double d = std::fabs(double(bf16_to_f32(yb[i])) - ref[i]);
    err = std::isnan(d) ? INFINITY : std::max(err, d);
  }
  cudaFree(xd), cudaFree(yd), cudaFree(pd), cudaFree(ad);
  return err / mx;
}

}  // namespace
}  // namespace kaito

int main(int argc, char** argv) {
  using namespace kaito;
  // --no-reg: leave out the register_lut rows (bench/device/run.sh reruns with it when the lab
  // fails: a kernel fault poisons the context, and the rows after it are lost)
  const bool no_reg = argc == 2 && std::string(argv[1]) == "--no-reg";
  if (argc > 2 || (argc == 2 && !no_reg)) {
    std::fprintf(stderr, "usage: nf4_gemv_versions [--no-reg]\n");
    return 2;
  }
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  auto cx = cuda_context::create();
  if (!cx.ok()) return 1;
  std::vector<std::pair<const char*, launch_fn>> versions = {
      {"v1", run_v1},           {"v2<4>", run_v2<4>},     {"v3", run_v3},
      {"prod", run_prod},       {"reg", run_reg},         {"reg<1>", run_reg_d<1>},
      {"reg<2>", run_reg_d<2>}, {"reg<4>", run_reg_d<4>}, {"regpdl", run_reg_pdl}};
  if (no_reg)
    versions.erase(
        std::remove_if(versions.begin(), versions.end(),
                       [](const auto& v) { return std::string(v.first).rfind("reg", 0) == 0; }),
        versions.end());
  std::mt19937 rng(std::random_device{}());
  int bad = 0;
  for (const auto& [name, f] : versions) {
    const double e1 = check(**cx, f, rng, 3, 1152, 72), e2 = check(**cx, f, rng, 8, 8192, 40);
    const double e3 = name[0] == 'v' ? 0.0 : check(**cx, f, rng, 16, 3072, 48);
    std::printf("check %-6s max_rel %.2e %.2e %.2e %s\n", name, e1, e2, e3,
                e1 < 1e-2 && e2 < 1e-2 && e3 < 1e-2 ? "ok" : "FAIL");
    bad += !(e1 < 1e-2 && e2 < 1e-2 && e3 < 1e-2);
  }
  std::printf("%-6s %-22s %9s %8s %7s\n", "ver", "shape", "us", "GB/s", "roof");
  const int shapes[4][2] = {{3072, 3072}, {3072, 9216}, {3072, 16384}, {8192, 3072}};
  for (const auto& s : shapes) {
    const int C = s[0], OC = s[1];
    const size_t n = size_t(C) * OC;
    const int copies = int(std::ceil(256e6 / (n * 0.5625)));
    std::vector<uint8_t*> p(copies);
    std::vector<float*> a(copies);
    std::vector<uint8_t> ph(n / 2);
    for (auto& v : ph) v = uint8_t(rng() >> 24);
    std::vector<float> ah(n / 64, 0.05f);
    for (int c = 0; c < copies; ++c) p[c] = to_dev(ph), a[c] = to_dev(ah);
    bf16* x = to_dev(std::vector<bf16>(size_t(16) * C, f32_to_bf16(0.5f)));
    bf16* y = to_dev(std::vector<bf16>(size_t(16) * OC, bf16{0}));
    for (int B : {1, 8, 16}) {
      for (const auto& [name, f] : versions) {
        if (B > 8 && name[0] == 'v') continue;  // the lab copies stop at batch 8
        // one round of `copies` launches captured as a CUDA graph, timed by replays (no host
        // launch overhead); plain launches when capture fails
        cudaStream_t st = (*cx)->stream();
        for (int c = 0; c < copies; ++c) f(**cx, y, x, p[c], a[c], B, C, OC);
        cudaGraph_t g = nullptr;
        cudaGraphExec_t ge = nullptr;
        if (cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed) == cudaSuccess) {
          for (int c = 0; c < copies; ++c) f(**cx, y, x, p[c], a[c], B, C, OC);
          if (cudaStreamEndCapture(st, &g) != cudaSuccess ||
              cudaGraphInstantiate(&ge, g, 0) != cudaSuccess)
            ge = nullptr;
        }
        (void)cudaGetLastError();
        (void)(*cx)->take_error();
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        std::vector<float> ms;
        for (int r = 0; r < 8; ++r) {
          cudaEventRecord(e0, st);
          if (ge != nullptr) {
            cudaGraphLaunch(ge, st);
          } else {
            for (int c = 0; c < copies; ++c) f(**cx, y, x, p[c], a[c], B, C, OC);
          }
          cudaEventRecord(e1, st);
          cudaEventSynchronize(e1);
          float t = 0;
          cudaEventElapsedTime(&t, e0, e1);
          if (r > 0) ms.push_back(t);  // the first replay is a warm-up
        }
        std::sort(ms.begin(), ms.end());
        const double us = 1000.0 * ms[3] / copies, bytes = n * 0.5625 + 2.0 * B * (C + OC);
        std::printf("%-6s B=%d K=%-5d OC=%-6d %9.2f %8.0f %6.1f%%%s\n", name, B, C, OC, us,
                    bytes / (us * 1e3), 100.0 * bytes / (us * 1e-6) / 4.8e12, ge ? "" : " (plain)");
        if (ge != nullptr) cudaGraphExecDestroy(ge);
        if (g != nullptr) cudaGraphDestroy(g);
        cudaEventDestroy(e0), cudaEventDestroy(e1);
      }
    }
    for (int c = 0; c < copies; ++c) cudaFree(p[c]), cudaFree(a[c]);
    cudaFree(x), cudaFree(y);
  }
  const status st = (*cx)->synchronize();
  if (!st.ok()) std::printf("CUDA error: %s\n", st.to_string().c_str());
  return bad == 0 && st.ok() ? 0 : 1;
}
