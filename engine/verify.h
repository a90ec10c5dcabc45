// verify: checks the engine against a golden fixture folder made with HF transformers + PEFT
// (../shared/fixtures/<name>: base/, adapter/, expected.safetensors, README.txt; read by
// golden_fixture.h).
//
// Quantities and tolerances (issue 4; max relative error = max_i |ours_i - ref_i| / max_i |ref_i|):
//   base_logits, lora_logits   1e-4  (fp32 GEMM/attention reduction order differs from torch)
//   loss                       1e-5  (one fp32 scalar, fp64-summed mean)
//   grad.<peft name>           1e-4  (every LoRA A and B gradient after loss.backward())
//   after_adamw.<peft name>    1e-6  (one torch.optim.AdamW step on the fixture's gradients;
//                                     hyper-parameters from README.txt: lr, betas, eps, wd)
// The GPU engine's check against the same folders: engine/cuda_hf/gpu_verify.h.
//
// Thread-safety: free functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "engine/golden_fixture.h"

namespace kaito::engine {

struct verify_row {
  std::string quantity;
  double max_rel_err = 0.0;
  double tolerance = 0.0;
  bool pass = false;
};

struct verify_report {
  std::string summary;  // "arch=phi3 layers=2 B=2 T=24 lora_modules=8 ..."
  std::vector<verify_row> rows;
  bool pass() const;
  void add(std::string quantity, double max_rel_err, double tolerance);
};

// max_i |a_i - b_i| / max_i |b_i| (the absolute error when b is all zero); +inf on size mismatch or
// a NaN.
double max_rel_err(const float* ours, const float* ref, size_t n_ours, size_t n_ref);

struct verify_options {
  // Also check NF4 base weights (nf4_error.h): rows nf4.weight_roundtrip (tolerance 1, the
  // per-element round-trip bound) and nf4.base_logits / nf4.lora_logits (tolerance 1.5: actual
  // max logit change over the first-order prediction J·ΔW).
  bool nf4 = false;
  bool double_quant = false;  // with nf4: bitsandbytes double quantization of the absmax
};

// Runs every check. io_error / invalid_argument when the folder is incomplete or malformed.
result<verify_report> verify_fixture(const std::string& dir, const verify_options& opt = {});

// The table `kaito verify` prints.
std::string format_verify_report(const verify_report& r);

}  // namespace kaito::engine
