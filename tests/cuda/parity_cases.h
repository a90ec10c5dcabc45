// Row builders for tests/cuda/parity_test.cu. Each builder draws fresh inputs for one op at one
// shape, uploads them, and returns a `prepared` case: the CPU twin call, the CUDA twin call, and
// the outputs to compare (device buffer + CPU reference). Accumulated (+=) outputs carry their
// random starting values in `init` (uploaded to the device and copied into the reference before
// each run); all other outputs are poisoned before each run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "kernels/nf4.h"
#include "tests/cuda/parity_harness.h"

namespace kaito::parity {

struct output {
  std::string name;
  std::shared_ptr<std::vector<float>> ref;  // filled by the CPU twin
  std::shared_ptr<dev_buf> dev;             // written by the CUDA twin
  std::vector<float> init;                  // += outputs: starting values (bf16 ones are rounded)
};

struct prepared {
  std::function<void()> cpu;
  std::function<void(cuda_context&)> cuda;
  std::vector<output> outs;
  std::vector<std::shared_ptr<dev_buf>> inputs;  // kept alive for the runs
  double bytes = 0.0;                            // minimum bytes the CUDA side moves (for --perf)
  double flops = 0.0;
};

struct parity_case {
  const char* op;
  const char* shape;
  double tol_bf16;  // for bf16 outputs
  double tol_f32;   // for fp32 outputs
  std::function<prepared(std::mt19937&)> make;
};

template <class T>
std::shared_ptr<dev_buf> upload(prepared& p, elem t, const std::vector<T>& host) {
  auto b = std::make_shared<dev_buf>(t, int64_t(host.size()));
  b->upload(host.data());
  p.inputs.push_back(b);
  return b;
}

// Adds an output of n elements (a copy is returned: its pointers are shared with p.outs);
// `init` non-empty for accumulated (+=) or in-place outputs.
inline output add_output(prepared& p, const char* name, elem t, int64_t n,
                         std::vector<float> init = {}) {
  p.outs.push_back({name, std::make_shared<std::vector<float>>(), std::make_shared<dev_buf>(t, n),
                    std::move(init)});
  return p.outs.back();
}

prepared rmsnorm_fwd(std::mt19937& rng, int64_t N, int64_t C);
prepared rmsnorm_bwd(std::mt19937& rng, int64_t N, int64_t C);
// add_rmsnorm_forward_cuda: sum = bf16(a + b), out = rmsnorm(sum).
prepared add_rmsnorm_fwd(std::mt19937& rng, int64_t N, int64_t C);
prepared gemm_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool bias);
// gemm_add_bias_cuda vs gemm_add_bias_cpu: out (N, OC) += bias.
prepared gemm_add_bias(std::mt19937& rng, int64_t N, int64_t OC);
prepared gemm_dinp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC);
prepared gemm_dweight(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool dbias);
prepared nf4_dequant(std::mt19937& rng, int64_t n);
prepared nf4_absmax_dq(std::mt19937& rng, int64_t nblocks);
// double_quant: exercise nf4_dq_gemv_cuda (qabsmax + code8 + nested absmax) instead of fp32 absmax.
prepared nf4_gemv(std::mt19937& rng, int64_t B, int64_t C, int64_t OC, bool double_quant,
                  nf4_gemv_kernel kernel = nf4_gemv_kernel::scaled_lut);
prepared nf4_gemm_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC);
// parity_cases_ops.cu: the element ops of the training step.
prepared convert_bf16_to_f32(std::mt19937& rng, int64_t n);
prepared convert_f32_to_bf16(std::mt19937& rng, int64_t n);  // includes +-Inf and NaN inputs
// fused: gate and up are the two halves of one (N, 2I) gate_up buffer (Phi-3); else two (N, I).
prepared swiglu_fwd(std::mt19937& rng, int64_t N, int64_t I, bool fused);
prepared swiglu_bwd(std::mt19937& rng, int64_t N, int64_t I, bool fused);
// RD: the rotary dims (partial rotary); 0 = HS.
prepared rope_fwd(std::mt19937& rng, int64_t N, int64_t NH, int64_t HS, int64_t RD = 0);
prepared rope_bwd(std::mt19937& rng, int64_t N, int64_t NH, int64_t HS, int64_t RD = 0);
prepared embedding_fwd(std::mt19937& rng, int64_t N, int64_t V, int64_t C);
prepared embedding_bwd(std::mt19937& rng, int64_t N, int64_t V, int64_t C);
// parity_cases_attention.cu: causal GQA attention (window 0 = full causal).
prepared attention_fwd(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                       int64_t window);
prepared attention_bwd(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                       int64_t window);
// the same rows for attention_forward_mma_cuda (tensor cores; HS 64, 96 or 128)
prepared attention_fwd_mma(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                           int64_t HS, int64_t window);
// the same rows for attention_backward_mma_cuda (tensor cores; HS 64, 96 or 128)
prepared attention_bwd_mma(std::mt19937& rng, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                           int64_t HS, int64_t window);
// parity_cases_decode.cu: attention over a KV cache (Tq queries = the last Tq of Tk tokens).
prepared attention_fwd_cached(std::mt19937& rng, int64_t B, int64_t Tq, int64_t Tk, int64_t Tcap,
                              int64_t NH, int64_t NKV, int64_t HS, int64_t window);
// attention_decode_cuda: Tq = 1 with Tk (<= Tk_max = Tcap) read from device memory; with
// merge_counters, the split blocks merge the partials themselves (no merge kernel).
prepared attention_decode_device_len(std::mt19937& rng, int64_t B, int64_t Tk, int64_t Tk_max,
                                     int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                                     bool merge_counters = false);
// attention_decode_rows_cuda: row b is the last of Tks[b] keys of cache slot slots[b] of S
// (continuous batching: each sequence at its own length in its own slot). block_size > 0: the
// cache is paged (kv_pages: the slots' blocks shuffled in a pool with spare NaN blocks).
prepared attention_decode_rows(std::mt19937& rng, std::vector<int64_t> Tks,
                               std::vector<int64_t> slots, int64_t S, int64_t Tk_max, int64_t NH,
                               int64_t NKV, int64_t HS, int64_t window, bool merge_counters,
                               int64_t block_size = 0);
// attention_forward_paged_cuda (mma: attention_forward_paged_mma_cuda): Tq queries, the last of
// Tk tokens of slot `slot` of S in a paged pool (blocks of block_size shuffled, spare NaN blocks;
// every slot's rows past Tk NaN).
prepared attention_fwd_paged(std::mt19937& rng, int64_t Tq, int64_t Tk, int64_t slot, int64_t S,
                             int64_t Tcap, int64_t block_size, int64_t NH, int64_t NKV, int64_t HS,
                             int64_t window, bool mma = false);
// parity_cases_nf4q.cu: the device quantizers (codes widened to f32 on the device, exact).
prepared nf4_quantize(std::mt19937& rng, int64_t n);
prepared quantize_8bit(std::mt19937& rng, int64_t n, int64_t blocksize);
// parity_cases_lce.cu: fused lm_head + cross-entropy over vocabulary chunks of Vc; fused NF4 GEMM.
prepared lce_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t V, int64_t Vc);
prepared lce_bwd(std::mt19937& rng, int64_t N, int64_t C, int64_t V, int64_t Vc);
// m256: the 256-row tile variant (kernels/cuda/nf4_gemm_mma.h) instead of the public launcher.
prepared nf4_gemm_mma_fwd(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool m256);
prepared nf4_gemm_mma_bwd_inp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC, bool m256);
prepared cross_entropy_fwd(std::mt19937& rng, int64_t N, int64_t V);
prepared cross_entropy_bwd(std::mt19937& rng, int64_t N, int64_t V);
prepared adamw(std::mt19937& rng, int64_t n, int64_t step);
prepared adamw_multi(std::mt19937& rng, std::vector<int64_t> sizes, int64_t step);
prepared grad_sum_squares(std::mt19937& rng, int64_t n);
prepared grad_scale(std::mt19937& rng, int64_t n);
prepared nf4_gemm_bwd_inp(std::mt19937& rng, int64_t N, int64_t C, int64_t OC);
// parity_cases_lora.cu
prepared lora_fwd(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT, float p);
prepared lora_bwd(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT, float p);
// lora_block_mask_cuda vs lora_block_mask_cpu on a random dB (OUT, R): exact. seg_end: the
// blocks' row ends (the last is OUT), R = seg_end.size() * r.
prepared lora_block_mask(std::mt19937& rng, std::vector<int64_t> seg_end, int64_t r);
// lora_decode_cuda (one kernel, N <= 16) vs lora_forward_cpu with dropout 0.
prepared lora_decode(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t OUT);
// lora_decode_swiglu_cuda (OUT = 2I) vs lora_forward_cpu then swiglu_forward_cpu: y and act.
prepared lora_decode_swiglu(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t I);
// lora_decode_add_rmsnorm_cuda vs lora_forward_cpu, the add, rmsnorm_forward_cpu.
prepared lora_decode_add_rmsnorm(std::mt19937& rng, int64_t N, int64_t IN, int64_t R, int64_t C);

}  // namespace kaito::parity
