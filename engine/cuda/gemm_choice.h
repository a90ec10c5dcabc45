// gemm_choice: which path the NF4 base products of training and prefill take, the fused
// tensor-core GEMM or dequantize + cuBLASLt (gpu_model::fused_nf4_gemm), decided by measurement on
// the device they run on (issue #6: "... or dequantize + cuBLASLt bf16 GEMM where that measures
// faster — decide by measurement").
//
// choose_nf4_gemm(cx, m, N) measures at R = min(N, kGemmChoiceMaxRows) rows (a product of more
// rows repeats the same tiles, at about R's speed per row), per direction (forward: out = inp · Wᵀ;
// backward_inp: dinp = dout · W, both through base_linear_*_via, gpu_model.h):
//   1. which of layer 0's NF4 linears the fused kernel takes (its shape preconditions,
//      kernels/nf4.h). None: the direction stays on dequantize + cuBLASLt, not measured.
//   2. agreement: both paths on those linears at min(R, 64) rows of deterministic inputs. The fused
//      path is never chosen unless max |a - b| / max |a| <= kGemmAgreement (both multiply the
//      same bf16 weights with fp32 accumulation: they differ in summation order only).
//   3. timing: one pass over layer 0's NF4 linears at R rows per path (CUDA events; best of 3
//      after a warm-up pass). Every layer has layer 0's shapes, so one layer stands for all.
//   The faster path wins; a tie keeps dequantize + cuBLASLt.
// A choice is remembered for the process per (device, R, layer 0's shapes): tuners built for one
// model and batch in one process take the same paths, so their runs match bit for bit. A run
// resumed in another process measures again; the two paths agree within bf16 rounding, not bit for
// bit, so pin the paths (gpu_tune_options::nf4_gemm) where runs must repeat across processes.
// Data-parallel ranks in different processes may take different paths; their LoRA weights stay
// the same, as every rank applies the same all-reduced gradients.
// Cost: 16 passes over one layer's base products at R rows plus the check. Device memory: two
// bf16 (R, max(C, OC)) buffers (128 MiB each at Phi-3-mini's 4096 x 16384) and a small one, freed
// on return, and cx's arena scratch of the dequantize path (OC*C*2 bytes, as training needs).
// Runs outside graph capture. Synchronizes.
// Errors: invalid_argument for N < 1; the dequantize path's CUDA failures return as the status; a
// fused launch that fails (recorded by its launcher) leaves that direction on dequantize (`note`).
// Thread-safety: any thread (the memory of past choices is locked); one thread per cx.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"

namespace kaito::gpu {

inline constexpr double kGemmAgreement = 1e-2;
inline constexpr int64_t kGemmChoiceMaxRows = 4096;

struct nf4_gemm_direction {
  bool fused = false;       // the choice
  bool measured = false;    // false: the fused kernel takes none of layer 0's linears
  int linears = 0;          // layer 0's NF4 linears the fused kernel takes
  double us[2] = {0, 0};    // one pass over layer 0's NF4 linears: [dequantize, fused]
  double max_rel_diff = 0;  // fused vs dequantize on those linears
  std::string note;         // "fused: 812.0 us vs dequantize 1020.0 us per layer", ...
};

struct gemm_choice {
  nf4_gemm_direction forward, backward_inp;
  bool remembered = false;  // taken from an earlier measurement in this process
  gpu_model::nf4_gemm_paths paths() const { return {forward.fused, backward_inp.fused}; }
  std::string note() const;  // "forward: ...; backward_inp: ..." for logs and bench reports
};

// The decision for one direction from its measurements (host logic, unit-tested without a GPU).
// linears == 0: not measured (the times are ignored).
nf4_gemm_direction decide_nf4_gemm(int linears, double us_dequant, double us_fused,
                                   double max_rel_diff);

// Measures on cx's device for N rows (B*T of training, or the prefill length).
result<gemm_choice> choose_nf4_gemm(cuda_context& cx, const gpu_model& m, int64_t N);

}  // namespace kaito::gpu
