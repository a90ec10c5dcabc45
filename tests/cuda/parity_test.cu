// parity_test: every CUDA twin against its CPU twin on fresh random inputs (test-backend-ops in
// miniature). ONE table of cases below (`cases()`); adding a kernel means adding rows there (the
// row builders, which draw inputs and bind both twins, are in parity_cases.cu).
// Per row: inputs drawn fresh, outputs poisoned (0xFF = NaN) inside guard bands, both twins run,
// each output compared (parity_harness.h). Exit 0 when all pass, 1 on any failure, 77 (CTest
// SKIP_RETURN_CODE) when there is no CUDA device. `--perf` also times each row's CUDA side
// (CUDA events, median of 20 after 3 warm-ups) and prints achieved GB/s and TFLOP/s. `--first`
// runs only the first row of each op (bench/device/run.sh: memcheck, where every row costs
// 10-100x). `--skip OP[,OP...]` leaves those ops out (run.sh reruns without an op whose kernel
// faulted: a fault poisons the CUDA context, so every later row would be lost). `--only OP[,...]`
// runs just those ops; `--seed N` repeats a run's inputs (its first line prints the seed).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "tests/cuda/parity_cases.h"
#include "tests/cuda/parity_harness.h"

namespace kaito::parity {
namespace {

// Tolerances (max |got - ref| / max |ref|), why:
// kBf16: bf16 outputs or bf16 operands with fp32 accumulation. One bf16 rounding is 2^-9 = 2e-3
//   relative; a few roundings (HF's double rounding in RMSNorm, bf16 dequantized weights in the
//   GEMV, bf16 intermediates) stay well under 1e-2 (the engine issue's bound for bf16 paths).
constexpr double kBf16 = 1e-2;
// kF32: fp32 outputs computed in fp32 from identical (bf16-exact) inputs; only summation order and
//   rsqrtf/expf ulps differ from the CPU twin's fp64/fp32 math: 1e-4 (the issue's fp32 bound).
constexpr double kF32 = 1e-4;
// kExact: the same fp32 operations and the same round-to-nearest-even as the CPU twin, no sums.
constexpr double kExact = 0.0;

// The table. Shapes include 1-row, odd sizes and sizes that are not multiples of the block.
std::vector<parity_case> cases() {
  return {
      // op, shape, tol for bf16 outputs, tol for fp32 outputs, builder
      {"rmsnorm_fwd", "N=1 C=3072", kBf16, kF32, [](auto& r) { return rmsnorm_fwd(r, 1, 3072); }},
      {"rmsnorm_fwd", "N=37 C=3072", kBf16, kF32, [](auto& r) { return rmsnorm_fwd(r, 37, 3072); }},
      {"add_rmsnorm", "N=37 C=3072", kBf16, kF32,
       [](auto& r) { return add_rmsnorm_fwd(r, 37, 3072); }},
      {"add_rmsnorm", "N=5 C=100 (scalar)", kBf16, kF32,
       [](auto& r) { return add_rmsnorm_fwd(r, 5, 100); }},
      {"rmsnorm_fwd", "N=5 C=100 (scalar)", kBf16, kF32,
       [](auto& r) { return rmsnorm_fwd(r, 5, 100); }},
      {"rmsnorm_bwd", "N=1 C=3072", kBf16, kF32, [](auto& r) { return rmsnorm_bwd(r, 1, 3072); }},
      {"rmsnorm_bwd", "N=300 C=520", kBf16, kF32, [](auto& r) { return rmsnorm_bwd(r, 300, 520); }},
      {"rmsnorm_bwd", "N=33 C=77 (scalar)", kBf16, kF32,
       [](auto& r) { return rmsnorm_bwd(r, 33, 77); }},
      {"gemm_fwd", "N=1 C=64 OC=64", kBf16, kF32,
       [](auto& r) { return gemm_fwd(r, 1, 64, 64, false); }},
      {"gemm_fwd", "N=37 C=200 OC=72 +bias", kBf16, kF32,
       [](auto& r) { return gemm_fwd(r, 37, 200, 72, true); }},
      {"gemm_fwd", "N=128 C=3072 OC=256", kBf16, kF32,
       [](auto& r) { return gemm_fwd(r, 128, 3072, 256, false); }},
      // Qwen2's q/k/v bias after an NF4 product: one fp32 add per element, rounded to bf16 once.
      {"gemm_add_bias", "N=37 OC=1536", kBf16, kBf16,
       [](auto& r) { return gemm_add_bias(r, 37, 1536); }},
      {"gemm_dinp", "N=1 C=64 OC=64", kBf16, kF32, [](auto& r) { return gemm_dinp(r, 1, 64, 64); }},
      {"gemm_dinp", "N=37 C=200 OC=72", kBf16, kF32,
       [](auto& r) { return gemm_dinp(r, 37, 200, 72); }},
      {"gemm_dweight", "N=1 C=64 OC=64", kBf16, kF32,
       [](auto& r) { return gemm_dweight(r, 1, 64, 64, true); }},
      {"gemm_dweight", "N=129 C=200 OC=72 +dbias", kBf16, kF32,
       [](auto& r) { return gemm_dweight(r, 129, 200, 72, true); }},
      {"nf4_dequant", "n=64", kExact, kExact, [](auto& r) { return nf4_dequant(r, 64); }},
      {"nf4_dequant", "n=3*64+11 (partial)", kExact, kExact,
       [](auto& r) { return nf4_dequant(r, 3 * 64 + 11); }},
      {"nf4_dequant", "n=3072*96", kExact, kExact,
       [](auto& r) { return nf4_dequant(r, 3072 * 96); }},
      {"nf4_quantize", "n=4*64+13 (NaN, zero block)", kExact, kExact,
       [](auto& r) { return nf4_quantize(r, 4 * 64 + 13); }},
      {"nf4_quantize", "n=3072*96", kExact, kExact,
       [](auto& r) { return nf4_quantize(r, 3072 * 96); }},
      {"quantize_8bit", "n=1000 blocksize=256", kExact, kExact,
       [](auto& r) { return quantize_8bit(r, 1000, 256); }},
      {"nf4_absmax_dq", "nblocks=1000", kExact, kExact,
       [](auto& r) { return nf4_absmax_dq(r, 1000); }},
      {"nf4_gemv", "B=1 C=3072 OC=1024", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 1, 3072, 1024, false); }},
      {"nf4_gemv", "B=3 C=128 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 3, 128, 40, false); }},
      {"nf4_gemv", "B=8 C=1152 OC=200", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 8, 1152, 200, false); }},
      // long C: 65 chunks of 128 (not a multiple of the 8 warps' stride) and 128 chunks
      {"nf4_gemv", "B=2 C=8320 OC=24", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 2, 8320, 24, false); }},
      {"nf4_gemv", "B=8 C=16384 OC=16", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 8, 16384, 16, false); }},
      {"nf4_dq_gemv", "B=5 C=8320 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 5, 8320, 40, true); }},
      {"nf4_dq_gemv", "B=1 C=3072 OC=512", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 1, 3072, 512, true); }},
      {"nf4_dq_gemv", "B=8 C=256 OC=24", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 8, 256, 24, true); }},
      // the register-LUT kernel (kernels/nf4.h nf4_gemv_kernel) on the same shapes' kinds
      {"nf4_gemv_reg", "B=1 C=3072 OC=1024", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 1, 3072, 1024, false, nf4_gemv_kernel::register_lut); }},
      {"nf4_gemv_reg", "B=3 C=128 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 3, 128, 40, false, nf4_gemv_kernel::register_lut); }},
      {"nf4_gemv_reg", "B=2 C=8320 OC=24", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 2, 8320, 24, false, nf4_gemv_kernel::register_lut); }},
      {"nf4_gemv_reg", "B=8 C=16384 OC=16", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 8, 16384, 16, false, nf4_gemv_kernel::register_lut); }},
      {"nf4_dq_gemv_reg", "B=5 C=8320 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 5, 8320, 40, true, nf4_gemv_kernel::register_lut); }},
      {"nf4_dq_gemv_reg", "B=8 C=1152 OC=200", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 8, 1152, 200, true, nf4_gemv_kernel::register_lut); }},
      // batch 9..16: register_lut's two n8 tiles in one launch, scaled_lut's launches of 8 + rest
      {"nf4_dq_gemv_reg", "B=16 C=3072 OC=96", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 16, 3072, 96, true, nf4_gemv_kernel::register_lut); }},
      {"nf4_gemv_reg", "B=11 C=384 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 11, 384, 40, false, nf4_gemv_kernel::register_lut); }},
      {"nf4_dq_gemv", "B=13 C=1152 OC=40", kBf16, kF32,
       [](auto& r) { return nf4_gemv(r, 13, 1152, 40, true); }},
      {"nf4_gemm_fwd", "N=64 C=256 OC=320", kBf16, kF32,
       [](auto& r) { return nf4_gemm_fwd(r, 64, 256, 320); }},
      {"nf4_gemm_fwd", "N=1 C=200 OC=33", kBf16, kF32,
       [](auto& r) { return nf4_gemm_fwd(r, 1, 200, 33); }},
      {"nf4_gemm_bwd", "N=64 C=256 OC=320", kBf16, kF32,
       [](auto& r) { return nf4_gemm_bwd_inp(r, 64, 256, 320); }},
      {"nf4_gemm_bwd", "N=1 C=200 OC=33", kBf16, kF32,
       [](auto& r) { return nf4_gemm_bwd_inp(r, 1, 200, 33); }},
      {"bf16_to_f32", "n=1000", kExact, kExact,
       [](auto& r) { return convert_bf16_to_f32(r, 1000); }},
      {"f32_to_bf16", "n=1001 (+-Inf, NaN, subn.)", kExact, kExact,
       [](auto& r) { return convert_f32_to_bf16(r, 1001); }},
      {"swiglu_fwd", "N=5 I=8192 fused gate_up", kBf16, kF32,
       [](auto& r) { return swiglu_fwd(r, 5, 8192, true); }},
      {"swiglu_fwd", "N=3 I=100", kBf16, kF32,
       [](auto& r) { return swiglu_fwd(r, 3, 100, false); }},
      {"swiglu_bwd", "N=5 I=8192 fused gate_up", kBf16, kF32,
       [](auto& r) { return swiglu_bwd(r, 5, 8192, true); }},
      {"swiglu_bwd", "N=3 I=100", kBf16, kF32,
       [](auto& r) { return swiglu_bwd(r, 3, 100, false); }},
      {"rope_fwd", "N=7 NH=32 HS=96", kBf16, kF32, [](auto& r) { return rope_fwd(r, 7, 32, 96); }},
      {"rope_fwd", "N=1 NH=3 HS=6", kBf16, kF32, [](auto& r) { return rope_fwd(r, 1, 3, 6); }},
      // partial rotary: Phi-4-mini's 96 of 128 dims, and a small odd split
      {"rope_fwd", "N=7 NH=24 HS=128 RD=96", kBf16, kF32,
       [](auto& r) { return rope_fwd(r, 7, 24, 128, 96); }},
      {"rope_fwd", "N=3 NH=3 HS=10 RD=6", kBf16, kF32,
       [](auto& r) { return rope_fwd(r, 3, 3, 10, 6); }},
      {"rope_bwd", "N=7 NH=32 HS=96", kBf16, kF32, [](auto& r) { return rope_bwd(r, 7, 32, 96); }},
      {"rope_bwd", "N=1 NH=3 HS=6", kBf16, kF32, [](auto& r) { return rope_bwd(r, 1, 3, 6); }},
      {"rope_bwd", "N=7 NH=24 HS=128 RD=96", kBf16, kF32,
       [](auto& r) { return rope_bwd(r, 7, 24, 128, 96); }},
      // embedding forward is a copy: exact. backward sums repeated ids with fp32 atomics: kF32.
      {"embedding_fwd", "N=17 V=1000 C=3072", kExact, kExact,
       [](auto& r) { return embedding_fwd(r, 17, 1000, 3072); }},
      {"embedding_fwd", "N=1 V=37 C=100", kExact, kExact,
       [](auto& r) { return embedding_fwd(r, 1, 37, 100); }},
      {"embedding_bwd", "N=300 V=50 C=128", kBf16, kF32,
       [](auto& r) { return embedding_bwd(r, 300, 50, 128); }},
      {"embedding_bwd", "N=1 V=10 C=3072", kBf16, kF32,
       [](auto& r) { return embedding_bwd(r, 1, 10, 3072); }},
      // attention: Phi-3 head size (96, MHA), Llama GQA (128, 4:1), a sliding window, ragged T,
      // the golden fixtures' head size 16 (half of each warp idle in the accumulators)
      {"attention_fwd", "B=2 T=200 NH=4 NKV=4 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 2, 200, 4, 4, 96, 0); }},
      {"attention_fwd", "B=1 T=77 NH=8 NKV=2 HS=128", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 1, 77, 8, 2, 128, 0); }},
      {"attention_fwd", "B=1 T=150 NH=4 NKV=1 HS=64 window=40", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 1, 150, 4, 1, 64, 40); }},
      {"attention_fwd", "B=3 T=1 NH=2 NKV=1 HS=32", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 3, 1, 2, 1, 32, 0); }},
      {"attention_fwd", "B=2 T=40 NH=4 NKV=2 HS=16 window=10", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 2, 40, 4, 2, 16, 10); }},
      // the tensor-core forward (first row small: --first runs it under memcheck): ragged T,
      // Phi-3's training shape (the SIMT forward at the same shape above, for --perf), GQA at HS
      // 128, windows (one spanning many key tiles), T = 1
      {"attention_fwd", "B=4 T=1024 NH=32 NKV=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd(r, 4, 1024, 32, 32, 96, 0); }},
      {"attn_fwd_mma", "B=2 T=200 NH=4 NKV=4 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 2, 200, 4, 4, 96, 0); }},
      {"attn_fwd_mma", "B=4 T=1024 NH=32 NKV=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 4, 1024, 32, 32, 96, 0); }},
      {"attn_fwd_mma", "B=1 T=77 NH=8 NKV=2 HS=128", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 1, 77, 8, 2, 128, 0); }},
      {"attn_fwd_mma", "B=1 T=150 NH=4 NKV=1 HS=64 window=40", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 1, 150, 4, 1, 64, 40); }},
      {"attn_fwd_mma", "B=1 T=1000 NH=4 NKV=2 HS=96 window=300", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 1, 1000, 4, 2, 96, 300); }},
      {"attn_fwd_mma", "B=3 T=1 NH=2 NKV=1 HS=64", kBf16, kF32,
       [](auto& r) { return attention_fwd_mma(r, 3, 1, 2, 1, 64, 0); }},
      {"attention_bwd", "B=2 T=200 NH=4 NKV=4 HS=96", kBf16, kF32,
       [](auto& r) { return attention_bwd(r, 2, 200, 4, 4, 96, 0); }},
      {"attention_bwd", "B=1 T=77 NH=8 NKV=2 HS=128", kBf16, kF32,
       [](auto& r) { return attention_bwd(r, 1, 77, 8, 2, 128, 0); }},
      {"attention_bwd", "B=1 T=150 NH=4 NKV=1 HS=64 window=40", kBf16, kF32,
       [](auto& r) { return attention_bwd(r, 1, 150, 4, 1, 64, 40); }},
      {"attention_bwd", "B=2 T=40 NH=4 NKV=2 HS=16 window=10", kBf16, kF32,
       [](auto& r) { return attention_bwd(r, 2, 40, 4, 2, 16, 10); }},
      // the tensor-core backward (first row small, for --first): ragged T, Phi-3's training shape
      // (the SIMT backward at the same shape first, for --perf), GQA at HS 128, windows (one
      // spanning many key and query tiles), MQA with 3 query heads per kv head
      {"attention_bwd", "B=4 T=1024 NH=32 NKV=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_bwd(r, 4, 1024, 32, 32, 96, 0); }},
      {"attn_bwd_mma", "B=2 T=200 NH=4 NKV=4 HS=96", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 2, 200, 4, 4, 96, 0); }},
      {"attn_bwd_mma", "B=4 T=1024 NH=32 NKV=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 4, 1024, 32, 32, 96, 0); }},
      {"attn_bwd_mma", "B=1 T=77 NH=8 NKV=2 HS=128", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 1, 77, 8, 2, 128, 0); }},
      {"attn_bwd_mma", "B=1 T=150 NH=4 NKV=1 HS=64 window=40", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 1, 150, 4, 1, 64, 40); }},
      {"attn_bwd_mma", "B=1 T=1000 NH=4 NKV=2 HS=96 window=300", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 1, 1000, 4, 2, 96, 300); }},
      {"attn_bwd_mma", "B=2 T=131 NH=6 NKV=2 HS=64", kBf16, kF32,
       [](auto& r) { return attention_bwd_mma(r, 2, 131, 6, 2, 64, 0); }},
      // attention over a KV cache: Phi-3 decode at b1 (8 splits + merge) and b16 (2 splits), GQA
      // 4:1 with a window (4 splits), a Tq = 5 continuation (1 split), Tq = 3 (6 splits), 1 key
      {"attn_cached", "B=1 Tq=1 Tk=1000 Tcap=1100 NH=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 1, 1, 1000, 1100, 32, 32, 96, 0); }},
      {"attn_cached", "B=16 Tq=1 Tk=129 Tcap=256 NH=4 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 16, 1, 129, 256, 4, 4, 96, 0); }},
      {"attn_cached", "B=1 Tq=2 Tk=1000 NH=8 NKV=2 HS=128 w=500", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 1, 2, 1000, 1000, 8, 2, 128, 500); }},
      {"attn_cached", "B=2 Tq=5 Tk=77 Tcap=80 NH=4 NKV=1 HS=64", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 2, 5, 77, 80, 4, 1, 64, 0); }},
      {"attn_cached", "B=1 Tq=3 Tk=700 NH=2 NKV=1 HS=32", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 1, 3, 700, 701, 2, 1, 32, 0); }},
      {"attn_cached", "B=3 Tq=1 Tk=1 Tcap=4 NH=2 HS=32", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 3, 1, 1, 4, 2, 2, 32, 0); }},
      {"attn_cached", "B=2 Tq=3 Tk=260 Tcap=270 NH=4 NKV=2 HS=16", kBf16, kF32,
       [](auto& r) { return attention_fwd_cached(r, 2, 3, 260, 270, 4, 2, 16, 0); }},
      // Tk on the device, splits planned for Tk_max: empty trailing splits (8 planned, 2 used;
      // 3 planned, 1 used), and a window with 2 splits both used
      {"attn_decode_dev", "B=1 Tk=200 Tk_max=1024 NH=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 1, 200, 1024, 32, 32, 96, 0); }},
      {"attn_decode_dev", "B=4 Tk=77 Tk_max=300 NH=8 NKV=2 HS=64", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 4, 77, 300, 8, 2, 64, 0); }},
      {"attn_decode_dev", "B=4 Tk=290 Tk_max=300 NH=8 NKV=2 HS=64 w=150", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 4, 290, 300, 8, 2, 64, 150); }},
      {"attn_decode_dev", "B=2 Tk=50 Tk_max=300 NH=4 NKV=2 HS=16", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 2, 50, 300, 4, 2, 16, 0); }},
      {"attn_dec_merge", "B=1 Tk=200 Tk_max=1024 NH=32 HS=96 counters", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 1, 200, 1024, 32, 32, 96, 0, true); }},
      {"attn_dec_merge", "B=1 Tk=900 Tk_max=1024 NH=32 HS=96 counters", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 1, 900, 1024, 32, 32, 96, 0, true); }},
      {"attn_dec_merge", "B=4 Tk=290 Tk_max=300 NH=8 NKV=2 HS=64 w=150 cnt", kBf16, kF32,
       [](auto& r) { return attention_decode_device_len(r, 4, 290, 300, 8, 2, 64, 150, true); }},
      // a key count and cache slot per row (continuous batching): ragged lengths in shuffled
      // slots, one slot unread; a window; Phi-3's heads with the split blocks merging
      {"attn_decode_rows", "Tk={5,130,1} slots={2,0,3} of 4 Tk_max=300 NH=8 NKV=2 HS=64", kBf16,
       kF32,
       [](auto& r) {
         return attention_decode_rows(r, {5, 130, 1}, {2, 0, 3}, 4, 300, 8, 2, 64, 0, false);
       }},
      {"attn_decode_rows", "Tk={290,40} slots={1,0} w=150 NH=4 NKV=2 HS=16", kBf16, kF32,
       [](auto& r) {
         return attention_decode_rows(r, {290, 40}, {1, 0}, 2, 300, 4, 2, 16, 150, false);
       }},
      {"attn_decode_rows", "Tk={900,3} slots={0,1} Tk_max=1024 NH=32 HS=96 counters", kBf16, kF32,
       [](auto& r) {
         return attention_decode_rows(r, {900, 3}, {0, 1}, 2, 1024, 32, 32, 96, 0, true);
       }},
      // a paged cache (kv_pages): the same rows through a block table of shuffled blocks of 16
      // (7 and 1: a block edge and a partial last block), and a window with merging splits;
      // a prefill chunk's queries over its slot's paged keys (attention_forward_paged_cuda)
      {"attn_decode_paged", "Tk={5,130,17} slots={2,0,3} of 4 bs=16 NH=8 NKV=2 HS=64", kBf16, kF32,
       [](auto& r) {
         return attention_decode_rows(r, {5, 130, 17}, {2, 0, 3}, 4, 300, 8, 2, 64, 0, false, 16);
       }},
      {"attn_decode_paged", "Tk={900,33} slots={1,0} bs=16 w=150 NH=32 HS=96 counters", kBf16, kF32,
       [](auto& r) {
         return attention_decode_rows(r, {900, 33}, {1, 0}, 2, 1024, 32, 32, 96, 150, true, 16);
       }},
      {"attn_prefill_paged", "Tq=37 Tk=301 slot 1 of 3 bs=16 NH=8 NKV=2 HS=64", kBf16, kF32,
       [](auto& r) { return attention_fwd_paged(r, 37, 301, 1, 3, 320, 16, 8, 2, 64, 0); }},
      {"attn_prefill_paged", "Tq=5 Tk=40 slot 0 of 2 bs=8 w=16 NH=4 NKV=2 HS=16", kBf16, kF32,
       [](auto& r) { return attention_fwd_paged(r, 5, 40, 0, 2, 48, 8, 4, 2, 16, 16); }},
      // the same on the tensor cores (attention_forward_paged_mma_cuda); then, for --perf, a
      // Phi-3 prompt's last chunk of 512 after 1536 cached keys and a 16-query remainder after
      // 4080 on both kernels (which one the decoder takes: engine/cuda/infer_layer.cu)
      {"attn_prefill_pmma", "Tq=37 Tk=301 slot 1 of 3 bs=16 NH=8 NKV=2 HS=64", kBf16, kF32,
       [](auto& r) { return attention_fwd_paged(r, 37, 301, 1, 3, 320, 16, 8, 2, 64, 0, true); }},
      {"attn_prefill_pmma", "Tq=70 Tk=1000 bs=16 w=300 NH=4 NKV=2 HS=96", kBf16, kF32,
       [](auto& r) {
         return attention_fwd_paged(r, 70, 1000, 0, 1, 1008, 16, 4, 2, 96, 300, true);
       }},
      {"attn_prefill_paged", "Tq=512 Tk=2048 bs=16 NH=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_paged(r, 512, 2048, 0, 1, 2048, 16, 32, 32, 96, 0); }},
      {"attn_prefill_pmma", "Tq=512 Tk=2048 bs=16 NH=32 HS=96", kBf16, kF32,
       [](auto& r) {
         return attention_fwd_paged(r, 512, 2048, 0, 1, 2048, 16, 32, 32, 96, 0, true);
       }},
      {"attn_prefill_paged", "Tq=16 Tk=4096 bs=16 NH=32 HS=96", kBf16, kF32,
       [](auto& r) { return attention_fwd_paged(r, 16, 4096, 0, 1, 4096, 16, 32, 32, 96, 0); }},
      {"attn_prefill_pmma", "Tq=16 Tk=4096 bs=16 NH=32 HS=96", kBf16, kF32,
       [](auto& r) {
         return attention_fwd_paged(r, 16, 4096, 0, 1, 4096, 16, 32, 32, 96, 0, true);
       }},
      // fused lm_head + CE (parity_cases_lce.cu): 3 chunks (a short last one), Phi-3's vocabulary
      // in 4 chunks, one chunk (Vc > V). fp32 losses/lse come from bf16 operands: 1e-3.
      {"lce_fwd", "N=37 C=256 V=1000 Vc=384", kBf16, 1e-3,
       [](auto& r) { return lce_fwd(r, 37, 256, 1000, 384); }},
      {"lce_fwd", "N=8 C=3072 V=32064 Vc=8192", kBf16, 1e-3,
       [](auto& r) { return lce_fwd(r, 8, 3072, 32064, 8192); }},
      {"lce_fwd", "N=5 C=64 V=104 Vc=4096", kBf16, 1e-3,
       [](auto& r) { return lce_fwd(r, 5, 64, 104, 4096); }},
      {"lce_bwd", "N=37 C=256 V=1000 Vc=384", kBf16, 1e-3,
       [](auto& r) { return lce_bwd(r, 37, 256, 1000, 384); }},
      {"lce_bwd", "N=8 C=3072 V=32064 Vc=8192", kBf16, 1e-3,
       [](auto& r) { return lce_bwd(r, 8, 3072, 32064, 8192); }},
      {"lce_bwd", "N=5 C=64 V=104 Vc=4096", kBf16, 1e-3,
       [](auto& r) { return lce_bwd(r, 5, 64, 104, 4096); }},
      // fused NF4 tensor-core GEMM: Phi-3 qkv, ragged N with 3 k-tiles, 1 k-tile, down_proj's long
      // K at N = 1, a mid shape
      {"nf4_gemm_mma", "N=256 C=3072 OC=9216", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 256, 3072, 9216, false); }},
      {"nf4_gemm_mma", "N=37 C=192 OC=128", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 37, 192, 128, false); }},
      {"nf4_gemm_mma", "N=130 C=64 OC=256", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 130, 64, 256, false); }},
      {"nf4_gemm_mma", "N=1 C=8192 OC=3072", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 1, 8192, 3072, false); }},
      {"nf4_gemm_mma", "N=300 C=1024 OC=384", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 300, 1024, 384, false); }},
      // its backward-input form: Phi-3 qkv, ragged N with 3 k-tiles, down_proj's C = 8192, mid
      {"nf4_mma_dinp", "N=128 C=3072 OC=9216", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 128, 3072, 9216, false); }},
      {"nf4_mma_dinp", "N=37 C=128 OC=192", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 37, 128, 192, false); }},
      {"nf4_mma_dinp", "N=64 C=8192 OC=3072", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 64, 8192, 3072, false); }},
      {"nf4_mma_dinp", "N=300 C=384 OC=1024", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 300, 384, 1024, false); }},
      // the 256-row tile variants: two row tiles with a ragged second, one ragged tile, three
      {"nf4_mma_m256", "N=300 C=1024 OC=384", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 300, 1024, 384, true); }},
      {"nf4_mma_m256", "N=37 C=192 OC=128", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 37, 192, 128, true); }},
      {"nf4_mma_m256", "N=513 C=3072 OC=256", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_fwd(r, 513, 3072, 256, true); }},
      {"nf4_dinp_m256", "N=300 C=384 OC=1024", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 300, 384, 1024, true); }},
      {"nf4_dinp_m256", "N=37 C=128 OC=192", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 37, 128, 192, true); }},
      {"nf4_dinp_m256", "N=513 C=256 OC=3072", kBf16, kF32,
       [](auto& r) { return nf4_gemm_mma_bwd_inp(r, 513, 256, 3072, true); }},
      {"ce_fwd", "N=9 V=32064", kBf16, kF32,
       [](auto& r) { return cross_entropy_fwd(r, 9, 32064); }},
      {"ce_fwd", "N=1 V=5", kBf16, kF32, [](auto& r) { return cross_entropy_fwd(r, 1, 5); }},
      {"ce_bwd", "N=9 V=32064", kBf16, kF32,
       [](auto& r) { return cross_entropy_bwd(r, 9, 32064); }},
      {"ce_bwd", "N=2 V=5", kBf16, kF32, [](auto& r) { return cross_entropy_bwd(r, 2, 5); }},
      // grad clipping: fp32 sums with block order varying (kF32); the scale is one fp32 multiply.
      {"grad_sum_sq", "n=100003", kBf16, kF32, [](auto& r) { return grad_sum_squares(r, 100003); }},
      {"grad_scale", "n=1001", kExact, kExact, [](auto& r) { return grad_scale(r, 1001); }},
      // LoRA: the CUDA twin rounds z and dz to bf16 between products, so fp32 dA/dB get kBf16 too.
      {"lora_fwd", "N=37 IN=200 R=8 OUT=72 p=0", kBf16, kBf16,
       [](auto& r) { return lora_fwd(r, 37, 200, 8, 72, 0.0f); }},
      {"lora_fwd", "N=64 IN=3072 R=8 OUT=256 p=.1", kBf16, kBf16,
       [](auto& r) { return lora_fwd(r, 64, 3072, 8, 256, 0.1f); }},
      {"lora_decode", "N=1 IN=3072 R=8 OUT=9216", kBf16, kBf16,
       [](auto& r) { return lora_decode(r, 1, 3072, 8, 9216); }},
      {"lora_decode", "N=16 IN=8192 R=8 OUT=3072", kBf16, kBf16,
       [](auto& r) { return lora_decode(r, 16, 8192, 8, 3072); }},
      {"lora_decode", "N=3 IN=200 R=4 OUT=33 (scalar)", kBf16, kBf16,
       [](auto& r) { return lora_decode(r, 3, 200, 4, 33); }},
      {"lora_dec_swiglu", "N=1 IN=3072 R=8 I=8192", kBf16, kBf16,
       [](auto& r) { return lora_decode_swiglu(r, 1, 3072, 8, 8192); }},
      {"lora_dec_swiglu", "N=16 IN=3072 R=8 I=8192", kBf16, kBf16,
       [](auto& r) { return lora_decode_swiglu(r, 16, 3072, 8, 8192); }},
      {"lora_dec_swiglu", "N=3 IN=200 R=4 I=33 (scalar)", kBf16, kBf16,
       [](auto& r) { return lora_decode_swiglu(r, 3, 200, 4, 33); }},
      {"lora_dec_norm", "N=1 IN=3072 R=8 C=3072", kBf16, kF32,
       [](auto& r) { return lora_decode_add_rmsnorm(r, 1, 3072, 8, 3072); }},
      {"lora_dec_norm", "N=16 IN=8192 R=8 C=3072", kBf16, kF32,
       [](auto& r) { return lora_decode_add_rmsnorm(r, 16, 8192, 8, 3072); }},
      {"lora_dec_norm", "N=3 IN=200 R=4 C=100 (scalar)", kBf16, kF32,
       [](auto& r) { return lora_decode_add_rmsnorm(r, 3, 200, 4, 100); }},
      {"lora_bwd", "N=37 IN=200 R=8 OUT=72 p=0", kBf16, kBf16,
       [](auto& r) { return lora_bwd(r, 37, 200, 8, 72, 0.0f); }},
      {"lora_bwd", "N=64 IN=3072 R=8 OUT=256 p=.1", kBf16, kBf16,
       [](auto& r) { return lora_bwd(r, 64, 3072, 8, 256, 0.1f); }},
      // Llama's q/k/v (and gate/up) LoRAs as one block-diagonal LoRA: the mask is a select.
      {"lora_blk_mask", "qkv 4096+1024+1024 r=8", kExact, kExact,
       [](auto& r) {
         return lora_block_mask(r, {4096, 5120, 6144}, 8);
       }},
      {"lora_blk_mask", "gate_up 33+66 r=3 (odd)", kExact, kExact,
       [](auto& r) {
         return lora_block_mask(r, {33, 99}, 3);
       }},
      // AdamW spells the CPU twin's fp32 operations with _rn intrinsics (no FMA): exact.
      {"adamw", "n=100003 step=1", kExact, kExact, [](auto& r) { return adamw(r, 100003, 1); }},
      {"adamw", "n=7 step=1000", kExact, kExact, [](auto& r) { return adamw(r, 7, 1000); }},
      {"adamw_multi", "6 tensors (0, 1, 7, 4096, 4097, 100003) step=3", kExact, kExact,
       [](auto& r) {
         return adamw_multi(r, {7, 0, 4096, 1, 4097, 100003}, 3);
       }},
  };
}

double time_cuda_us(cuda_context& cx, const std::function<void(cuda_context&)>& run) {
  cudaEvent_t a, b;
  cuda_or_die(cudaEventCreate(&a), "event");
  cuda_or_die(cudaEventCreate(&b), "event");
  for (int i = 0; i < 3; ++i) run(cx);
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    cuda_or_die(cudaEventRecord(a, cx.stream()), "record");
    run(cx);
    cuda_or_die(cudaEventRecord(b, cx.stream()), "record");
    cuda_or_die(cudaEventSynchronize(b), "sync");
    float t = 0.0f;
    cuda_or_die(cudaEventElapsedTime(&t, a, b), "elapsed");
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return 1000.0 * ms[ms.size() / 2];
}

// Runs one case; prints one line per output; returns the number of failed outputs.
int run_case(cuda_context& cx, const parity_case& pc, std::mt19937& rng, bool perf) {
  prepared p = pc.make(rng);
  for (output& o : p.outs) {
    if (!o.init.empty() && o.dev->type() == elem::bf16) {  // bf16 += output: round the start
      std::vector<bf16> b(o.init.size());
      o.ref->resize(o.init.size());
      for (size_t i = 0; i < b.size(); ++i)
        (*o.ref)[i] = bf16_to_f32(b[i] = f32_to_bf16(o.init[i]));
      o.dev->upload(b.data());
    } else if (!o.init.empty()) {
      o.dev->upload(o.init.data());
      *o.ref = o.init;
    } else {
      o.dev->poison();
      o.ref->assign(size_t(o.dev->size()), std::nanf(""));
    }
  }
  p.cpu();
  p.cuda(cx);
  status st = cx.synchronize();
  int failures = 0;
  for (const output& o : p.outs) {
    compare_result r = compare(*o.ref, o.dev->to_float(), o.dev->guards_intact());
    if (!st.ok()) r.failure = "CUDA error: " + st.to_string();
    const double tol = o.dev->type() == elem::bf16 ? pc.tol_bf16 : pc.tol_f32;
    const bool ok = r.failure.empty() && r.max_rel <= tol;
    if (!ok) ++failures;
    std::printf("%-16s %-26s %-8s %8.0e %10.3e %10.3e  %s%s\n", pc.op, pc.shape, o.name.c_str(),
                tol, r.max_rel, r.nmse, ok ? "ok" : "FAIL",
                r.failure.empty() ? (ok ? "" : " (above tolerance)") : (" " + r.failure).c_str());
  }
  if (perf && st.ok()) {
    const double us = time_cuda_us(cx, p.cuda);
    const status perf_st = cx.synchronize();
    std::printf("%-16s %-26s perf     %10.2f us  %8.1f GB/s  %8.2f TFLOP/s%s\n", pc.op, pc.shape,
                us, p.bytes / (us * 1e3), p.flops / (us * 1e6), perf_st.ok() ? "" : "  CUDA error");
    if (!perf_st.ok()) ++failures;
  }
  return failures;
}

}  // namespace
}  // namespace kaito::parity

int main(int argc, char** argv) {
  using namespace kaito;
  bool perf = false, first = false;
  std::vector<std::string> skip, only;  // ops left out (--skip a,b); the only ops run (--only)
  bool fixed_seed = false;
  unsigned seed = 0;
  const auto split = [](const std::string& list, std::vector<std::string>& out) {
    for (size_t at = 0; at <= list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) out.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
  };
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--perf") == 0) {
      perf = true;
    } else if (std::strcmp(argv[i], "--first") == 0) {
      first = true;
    } else if (std::strcmp(argv[i], "--skip") == 0 && i + 1 < argc) {
      split(argv[++i], skip);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      split(argv[++i], only);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      char* end = nullptr;
      seed = unsigned(std::strtoul(argv[++i], &end, 10));
      if (end == nullptr || *end != 0) {
        std::fprintf(stderr, "parity_test: --seed wants a number, got '%s'\n", argv[i]);
        return 2;
      }
      fixed_seed = true;
    } else {
      std::fprintf(stderr,
                   "usage: parity_test [--perf] [--first] [--skip OP[,OP...]] [--only OP[,OP...]] "
                   "[--seed N]\n");
      return 2;
    }
  }
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  auto cx = cuda_context::create();
  if (!cx.ok()) {
    std::fprintf(stderr, "parity: %s\n", cx.error().to_string().c_str());
    return 1;
  }
  std::printf("device: %s (%d SMs)\n", (*cx)->device_name().c_str(), (*cx)->sm_count());
  std::printf("%-16s %-26s %-8s %8s %10s %10s  %s\n", "op", "shape", "output", "tol", "max_rel",
              "nmse", "result");
  if (!fixed_seed) seed = std::random_device{}();
  std::printf("seed %u (%s)\n", seed, fixed_seed ? "--seed" : "fresh every run");
  std::mt19937 rng(seed);
  int failures = 0, rows = 0;
  std::vector<std::string> seen_ops;
  for (const parity::parity_case& pc : parity::cases()) {
    if (std::find(skip.begin(), skip.end(), pc.op) != skip.end()) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), pc.op) == only.end()) continue;
    if (first) {
      if (std::find(seen_ops.begin(), seen_ops.end(), pc.op) != seen_ops.end()) continue;
      seen_ops.push_back(pc.op);
    }
    failures += parity::run_case(**cx, pc, rng, perf);
    ++rows;
  }
  std::printf("%d cases, %d failed outputs\n", rows, failures);
  return failures == 0 ? 0 : 1;
}
