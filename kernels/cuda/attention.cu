// Causal GQA attention with a sliding window on the GPU, flash style (never materialises the
// T x T score matrix); contract and CPU twin: kernels/attention.{h,cpp}. bf16 q/k/v/out/grads,
// fp32 scores, softmax, lse and accumulators. HS must be 16, 32, 64, 96 or 128 (head_size.cuh).
//
// Forward (grid: query tiles of 16 rows x NH x B, 4 warps, 4 rows each): K/V tiles of 32 keys go
// through shared memory (fp32, K rows padded to HS+1 so lane j's dot product hits its own bank);
// lane j scores key j of the tile, the warp keeps the running max m, sum l and the output
// accumulator (lane owns dims lane + 32k < HS) with the online-softmax rescale; lse = m + log l.
// Backward (FA2 split, no atomics, deterministic): D_i = dout_i . out_i (one warp per row); dq
// recomputes p and dp per query tile like the forward; dk/dv: one warp per 32-key tile of one KV
// head walks every query row (of every query head in the group) that can see the tile,
// accumulating dK/dV rows in shared memory (lane j owns key j's rows).
// Speed: SIMT fp32 FMAs, not tensor-core MMA: the baseline for the parity table and for head sizes
// the tensor-core versions (attention_mma.cu, attention_mma_bwd.cu; HS 64/96/128) do not take.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "kernels/cuda/attention_delta.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/head_size.cuh"
#include "kernels/cuda/launch.cuh"

namespace kaito {
namespace {

constexpr int k_tile = 32;      // keys per tile (one per lane)
constexpr int k_rows_warp = 4;  // query rows per warp
constexpr int k_warps = 4;      // warps per forward / dq block
constexpr int k_rows_block = k_rows_warp * k_warps;

struct attn_shape {
  int T, NH, NKV, HS;
  float scale;
  int window;
};

__device__ __forceinline__ bool allowed(int i, int j, int T, int window) {
  return j < T && j <= i && (window == 0 || i - j < window);
}

// First key a query row `i` can see.
__device__ __forceinline__ int first_key(int i, int window) {
  return window == 0 ? 0 : max(0, i - window + 1);
}

template <int HS>
__device__ void load_tile(float* dst, int ld, const __nv_bfloat16* src, int b, int j0, int g,
                          const attn_shape& s) {
  for (int idx = threadIdx.x; idx < k_tile * HS; idx += blockDim.x) {
    const int r = idx / HS, d = idx % HS, j = j0 + r;
    dst[r * ld + d] =
        j < s.T ? __bfloat162float(src[((int64_t(b) * s.T + j) * s.NKV + g) * HS + d]) : 0.0f;
  }
}

template <int HS>
__global__ void attn_forward_kernel(__nv_bfloat16* out, float* lse, const __nv_bfloat16* q,
                                    const __nv_bfloat16* k, const __nv_bfloat16* v, attn_shape s) {
  constexpr int KD = head_slots<HS>;
  __shared__ float Ks[k_tile][HS + 1];
  __shared__ float Vs[k_tile][HS];
  __shared__ float Qs[k_rows_block][HS];
  const int b = blockIdx.z, h = blockIdx.y, r0 = blockIdx.x * k_rows_block;
  const int g = h / (s.NH / s.NKV);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int idx = threadIdx.x; idx < k_rows_block * HS; idx += blockDim.x) {
    const int r = idx / HS, d = idx % HS, i = r0 + r;
    Qs[r][d] = i < s.T ? __bfloat162float(q[((int64_t(b) * s.T + i) * s.NH + h) * HS + d]) : 0.0f;
  }
  float m[k_rows_warp], l[k_rows_warp], acc[k_rows_warp][KD];
#pragma unroll
  for (int rr = 0; rr < k_rows_warp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int kd = 0; kd < KD; ++kd) acc[rr][kd] = 0.0f;
  }
  const int last = min(s.T, r0 + k_rows_block) - 1;
  for (int j0 = first_key(r0, s.window) / k_tile * k_tile; j0 <= last; j0 += k_tile) {
    __syncthreads();
    load_tile<HS>(&Ks[0][0], HS + 1, k, b, j0, g, s);
    load_tile<HS>(&Vs[0][0], HS, v, b, j0, g, s);
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < k_rows_warp; ++rr) {
      const int row = warp * k_rows_warp + rr, i = r0 + row, j = j0 + lane;
      if (i >= s.T) continue;  // warp-uniform
      const bool ok = allowed(i, j, s.T, s.window);
      float sc = -INFINITY;
      if (ok) {
        float dot = 0.0f;
#pragma unroll 8
        for (int d = 0; d < HS; ++d) dot += Qs[row][d] * Ks[lane][d];
        sc = dot * s.scale;
      }
      const float m_new = fmaxf(m[rr], warp_reduce_max(sc));
      if (m_new == -INFINITY) continue;  // nothing visible yet (warp-uniform)
      const float p = ok ? expf(sc - m_new) : 0.0f;
      const float corr = expf(m[rr] - m_new);  // exp(-inf) = 0 on the first visible tile
      l[rr] = l[rr] * corr + warp_reduce_sum(p);
#pragma unroll
      for (int kd = 0; kd < KD; ++kd) acc[rr][kd] *= corr;
      for (int jj = 0; jj < k_tile; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
        if (pj == 0.0f) continue;  // warp-uniform
#pragma unroll
        for (int kd = 0; kd < KD; ++kd)
          if (lane_owns<HS>(lane, kd)) acc[rr][kd] += pj * Vs[jj][lane + 32 * kd];
      }
      m[rr] = m_new;
    }
  }
#pragma unroll
  for (int rr = 0; rr < k_rows_warp; ++rr) {
    const int i = r0 + warp * k_rows_warp + rr;
    if (i >= s.T) continue;
    const float inv = 1.0f / l[rr];
    __nv_bfloat16* o = out + ((int64_t(b) * s.T + i) * s.NH + h) * HS;
#pragma unroll
    for (int kd = 0; kd < KD; ++kd)
      if (lane_owns<HS>(lane, kd)) o[lane + 32 * kd] = __float2bfloat16_rn(acc[rr][kd] * inv);
    if (lane == 0) lse[(int64_t(b) * s.NH + h) * s.T + i] = m[rr] + logf(l[rr]);
  }
}

template <int HS>
__global__ void attn_backward_dq_kernel(__nv_bfloat16* dq, const __nv_bfloat16* dout,
                                        const float* lse, const float* D, const __nv_bfloat16* q,
                                        const __nv_bfloat16* k, const __nv_bfloat16* v,
                                        attn_shape s) {
  constexpr int KD = head_slots<HS>;
  // Dynamic shared memory (49 KB at HS = 128, past the 48 KB static limit).
  KAITO_DYNAMIC_SMEM(float, dq_smem);
  auto Ks = reinterpret_cast<float(*)[HS + 1]>(dq_smem);
  auto Vs = reinterpret_cast<float(*)[HS + 1]>(dq_smem + k_tile * (HS + 1));
  auto Qs = reinterpret_cast<float(*)[HS]>(dq_smem + 2 * k_tile * (HS + 1));
  auto dOs = reinterpret_cast<float(*)[HS]>(dq_smem + 2 * k_tile * (HS + 1) + k_rows_block * HS);
  const int b = blockIdx.z, h = blockIdx.y, r0 = blockIdx.x * k_rows_block;
  const int g = h / (s.NH / s.NKV);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int idx = threadIdx.x; idx < k_rows_block * HS; idx += blockDim.x) {
    const int r = idx / HS, d = idx % HS, i = r0 + r;
    const int64_t at = ((int64_t(b) * s.T + i) * s.NH + h) * HS + d;
    Qs[r][d] = i < s.T ? __bfloat162float(q[at]) : 0.0f;
    dOs[r][d] = i < s.T ? __bfloat162float(dout[at]) : 0.0f;
  }
  float acc[k_rows_warp][KD], L[k_rows_warp], Dr[k_rows_warp];
#pragma unroll
  for (int rr = 0; rr < k_rows_warp; ++rr) {
    const int i = r0 + warp * k_rows_warp + rr;
    L[rr] = i < s.T ? lse[(int64_t(b) * s.NH + h) * s.T + i] : 0.0f;
    Dr[rr] = i < s.T ? D[(int64_t(b) * s.NH + h) * s.T + i] : 0.0f;
#pragma unroll
    for (int kd = 0; kd < KD; ++kd) acc[rr][kd] = 0.0f;
  }
  const int last = min(s.T, r0 + k_rows_block) - 1;
  for (int j0 = first_key(r0, s.window) / k_tile * k_tile; j0 <= last; j0 += k_tile) {
    __syncthreads();
    load_tile<HS>(&Ks[0][0], HS + 1, k, b, j0, g, s);
    load_tile<HS>(&Vs[0][0], HS + 1, v, b, j0, g, s);
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < k_rows_warp; ++rr) {
      const int row = warp * k_rows_warp + rr, i = r0 + row, j = j0 + lane;
      if (i >= s.T) continue;
      float ds = 0.0f;
      if (allowed(i, j, s.T, s.window)) {
        float qk = 0.0f, dp = 0.0f;
#pragma unroll 8
        for (int d = 0; d < HS; ++d) {
          qk += Qs[row][d] * Ks[lane][d];
          dp += dOs[row][d] * Vs[lane][d];
        }
        const float p = expf(qk * s.scale - L[rr]);
        ds = p * (dp - Dr[rr]);
      }
      for (int jj = 0; jj < k_tile; ++jj) {
        const float dsj = __shfl_sync(0xffffffffu, ds, jj);
        if (dsj == 0.0f) continue;
#pragma unroll
        for (int kd = 0; kd < KD; ++kd)
          if (lane_owns<HS>(lane, kd)) acc[rr][kd] += dsj * Ks[jj][lane + 32 * kd];
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < k_rows_warp; ++rr) {
    const int i = r0 + warp * k_rows_warp + rr;
    if (i >= s.T) continue;
    __nv_bfloat16* o = dq + ((int64_t(b) * s.T + i) * s.NH + h) * HS;
#pragma unroll
    for (int kd = 0; kd < KD; ++kd)
      if (lane_owns<HS>(lane, kd)) o[lane + 32 * kd] = __float2bfloat16_rn(acc[rr][kd] * s.scale);
  }
}

// One warp per (32-key tile, kv head, batch). Dynamic shared memory: K, V, dK, dV tiles
// (32 x (HS+1) fp32 each) + one q row + one dout row.
template <int HS>
__global__ void attn_backward_dkdv_kernel(__nv_bfloat16* dk, __nv_bfloat16* dv,
                                          const __nv_bfloat16* dout, const float* lse,
                                          const float* D, const __nv_bfloat16* q,
                                          const __nv_bfloat16* k, const __nv_bfloat16* v,
                                          attn_shape s) {
  KAITO_DYNAMIC_SMEM(float, smem);
  constexpr int LD = HS + 1;
  float* Ks = smem;
  float* Vs = Ks + k_tile * LD;
  float* dKs = Vs + k_tile * LD;
  float* dVs = dKs + k_tile * LD;
  float* qrow = dVs + k_tile * LD;
  float* drow = qrow + HS;
  const int b = blockIdx.z, g = blockIdx.y, j0 = blockIdx.x * k_tile;
  const int lane = threadIdx.x, j = j0 + lane;
  const int ratio = s.NH / s.NKV;
  load_tile<HS>(Ks, LD, k, b, j0, g, s);
  load_tile<HS>(Vs, LD, v, b, j0, g, s);
  for (int d = 0; d < HS; ++d) {
    dKs[lane * LD + d] = 0.0f;
    dVs[lane * LD + d] = 0.0f;
  }
  __syncwarp();
  const int i_end = s.window == 0 ? s.T : min(s.T, j0 + k_tile - 1 + s.window);
  for (int i = j0; i < i_end; ++i) {
    for (int hh = 0; hh < ratio; ++hh) {
      const int h = g * ratio + hh;
      const int64_t at = ((int64_t(b) * s.T + i) * s.NH + h) * HS;
      __syncwarp();
      for (int d = lane; d < HS; d += 32) {
        qrow[d] = __bfloat162float(q[at + d]);
        drow[d] = __bfloat162float(dout[at + d]);
      }
      __syncwarp();
      if (!allowed(i, j, s.T, s.window)) continue;
      const int64_t li = (int64_t(b) * s.NH + h) * s.T + i;
      float qk = 0.0f, dp = 0.0f;
#pragma unroll 8
      for (int d = 0; d < HS; ++d) {
        qk += qrow[d] * Ks[lane * LD + d];
        dp += drow[d] * Vs[lane * LD + d];
      }
      const float p = expf(qk * s.scale - lse[li]);
      const float ds = p * (dp - D[li]);
#pragma unroll 8
      for (int d = 0; d < HS; ++d) {
        dVs[lane * LD + d] += p * drow[d];
        dKs[lane * LD + d] += ds * qrow[d];
      }
    }
  }
  __syncwarp();
  if (j < s.T) {
    const int64_t at = ((int64_t(b) * s.T + j) * s.NKV + g) * HS;
    for (int d = 0; d < HS; ++d) {
      dk[at + d] = __float2bfloat16_rn(dKs[lane * LD + d] * s.scale);
      dv[at + d] = __float2bfloat16_rn(dVs[lane * LD + d]);
    }
  }
}

// Launch geometry (grid, threads, dynamic shared memory bytes) and the kernels' shape, shared by
// the launchers below and tests/cuda/attention_emulation_test.cpp, which runs the kernels on the
// CPU with KAITO_CUDA_EMULATE defined (tests/cuda/cuda_emulation.h) and leaves the launchers out.
struct attn_launch {
  dim3 grid;
  int threads;
  size_t smem;
};

attn_shape make_attn_shape(int64_t T, int64_t NH, int64_t NKV, int64_t HS, float scale,
                           int64_t window) {
  return {int(T), int(NH), int(NKV), int(HS), scale, int(std::min<int64_t>(window, T + 1))};
}

attn_launch forward_launch(int64_t B, const attn_shape& s) {
  return {dim3(unsigned(ceil_div(s.T, k_rows_block)), unsigned(s.NH), unsigned(B)), 32 * k_warps,
          0};
}

// attn_delta::kernel (attention_delta.cuh) over rows = B * T * NH rows of dout/out.
attn_launch delta_launch(int64_t rows) {
  return {attn_delta::grid(rows), attn_delta::kThreads, 0};
}

attn_launch dq_launch(int64_t B, const attn_shape& s) {
  return {dim3(unsigned(ceil_div(s.T, k_rows_block)), unsigned(s.NH), unsigned(B)), 32 * k_warps,
          (2 * k_tile * (s.HS + 1) + 2 * k_rows_block * s.HS) * sizeof(float)};
}

attn_launch dkdv_launch(int64_t B, const attn_shape& s) {
  return {dim3(unsigned(ceil_div(s.T, k_tile)), unsigned(s.NKV), unsigned(B)), 32,
          (4 * k_tile * (s.HS + 1) + 2 * s.HS) * sizeof(float)};
}

#ifndef KAITO_CUDA_NO_LAUNCHERS
bool check_shape(cuda_context& cx, const char* who, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                 int64_t HS, int64_t window) {
  if (B < 0 || T < 0 || NH <= 0 || NKV <= 0 || NH % NKV != 0 || window < 0 || T > INT32_MAX / 2 ||
      B > 65535 || NH > 65535 || !attention_head_size(HS)) {
    cx.record_error(invalid_argument(
        std::string(who) + ": unsupported shape B=" + std::to_string(B) + " T=" +
            std::to_string(T) + " NH=" + std::to_string(NH) + " NKV=" + std::to_string(NKV) +
            " HS=" + std::to_string(HS) + " (HS must be 16, 32, 64, 96 or 128; NH % NKV == 0)",
        "HS"));
    return false;
  }
  return true;
}

template <int HS>
void forward_hs(cuda_context& cx, bf16* out, float* lse, const bf16* q, const bf16* k,
                const bf16* v, int64_t B, attn_shape s) {
  const attn_launch L = forward_launch(B, s);
  KAITO_LAUNCH(L.grid, L.threads, L.smem, cx.stream(), attn_forward_kernel<HS>)
  (as_nv(out), lse, as_nv(q), as_nv(k), as_nv(v), s);
}

template <int HS>
void backward_hs(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const float* lse,
                 const float* D, const bf16* q, const bf16* k, const bf16* v, int64_t B,
                 attn_shape s) {
  const attn_launch lq = dq_launch(B, s);
  CUDA_CHECK(cudaFuncSetAttribute(attn_backward_dq_kernel<HS>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, int(lq.smem)));
  KAITO_LAUNCH(lq.grid, lq.threads, lq.smem, cx.stream(), attn_backward_dq_kernel<HS>)
  (as_nv(dq), as_nv(dout), lse, D, as_nv(q), as_nv(k), as_nv(v), s);
  CUDA_CHECK(cudaGetLastError());
  const attn_launch lkv = dkdv_launch(B, s);
  CUDA_CHECK(cudaFuncSetAttribute(attn_backward_dkdv_kernel<HS>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, int(lkv.smem)));
  KAITO_LAUNCH(lkv.grid, lkv.threads, lkv.smem, cx.stream(), attn_backward_dkdv_kernel<HS>)
  (as_nv(dk), as_nv(dv), as_nv(dout), lse, D, as_nv(q), as_nv(k), as_nv(v), s);
}

}  // namespace

void attention_forward_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q, const bf16* k,
                            const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                            int64_t HS, float scale, int64_t window) {
  if (!check_shape(cx, "attention_forward_cuda", B, T, NH, NKV, HS, window)) return;
  if (B == 0 || T == 0) return;
  const attn_shape s = make_attn_shape(T, NH, NKV, HS, scale, window);
  with_head_size(HS,
                 [&](auto hs) { forward_hs<decltype(hs)::value>(cx, out, lse, q, k, v, B, s); });
  CUDA_CHECK(cudaGetLastError());
}

void attention_backward_cuda(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout,
                             const bf16* out, const float* lse, const bf16* q, const bf16* k,
                             const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                             int64_t HS, float scale, int64_t window) {
  if (!check_shape(cx, "attention_backward_cuda", B, T, NH, NKV, HS, window)) return;
  if (B == 0 || T == 0) return;
  const attn_shape s = make_attn_shape(T, NH, NKV, HS, scale, window);
  const size_t mark = cx.arena().mark();
  auto D = cx.arena().alloc_array<float>(size_t(B) * NH * T);
  if (!D.ok()) {
    cx.record_error(D.error());
    return;
  }
  const int64_t rows = B * T * NH;
  const attn_launch ld = delta_launch(rows);
  KAITO_LAUNCH(ld.grid, ld.threads, ld.smem, cx.stream(), attn_delta::kernel)
  (*D, as_nv(dout), as_nv(out), rows, int(T), int(NH), int(HS));
  CUDA_CHECK(cudaGetLastError());
  with_head_size(HS, [&](auto hs) {
    backward_hs<decltype(hs)::value>(cx, dq, dk, dv, dout, lse, *D, q, k, v, B, s);
  });
  CUDA_CHECK(cudaGetLastError());
  // The arena slice is reused by the next launch; stream order keeps it valid until then.
  cx.arena().rewind(mark);
}

#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
