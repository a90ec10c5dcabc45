// golden_fixture: the expected values of a golden fixture folder made with HF transformers + PEFT
// (../shared/fixtures/<name>: base/, adapter/, expected.safetensors, README.txt), read once for
// every engine that checks itself against them (engine/verify.h: the CPU engine;
// engine/cuda_hf/gpu_verify.h: the GPU one).
//   expected.safetensors: input_ids and labels I64 [B, S] (labels -100 = ignored, HF's unshifted
//     labels), base_logits and lora_logits F32 [B, S, V], loss F32 (mean CE over the shifted
//     unmasked labels), grad.<name> (after loss.backward()) and after_adamw.<name> (after one
//     torch.optim.AdamW step) for every LoRA parameter, <name> = golden_param_name(...).
//   README.txt: the AdamW step's hyper-parameters (parse_readme_adamw).
// Errors name the file and tensor (not_found "missing from expected.safetensors: grad.<name>",
// invalid_argument for shapes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/safetensors.h"
#include "engine/transformer.h"
#include "kernels/adamw.h"

namespace kaito::engine {

// Reads "lr=.. betas=(..,..) eps=.. wd=.." from README text into the optimizer's settings; absent
// keys keep the fixtures' defaults: lr 1e-2, betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
adamw_params parse_readme_adamw(const std::string& readme);

// The fixture's name for a LoRA parameter: PEFT's in-memory name, adapter "default" kept
// ("base_model.model.<path>.lora_A.default.weight").
std::string golden_param_name(const lora_module& m, bool is_b);

class golden_fixture {
 public:
  // Opens dir/expected.safetensors and reads input_ids, labels and README.txt's AdamW settings.
  static result<golden_fixture> open(const std::string& dir);

  const batch& inputs() const { return batch_; }  // ids, labels (B, S); pos empty
  const adamw_params& adamw() const { return adamw_; }
  // The next-token targets of the inputs, (B, S): targets[b, t] = labels[b, t + 1], -100 at t =
  // S - 1 (what the mean CE of `loss` runs over, for trainers that take targets).
  std::vector<int32_t> shifted_targets() const;
  // Any F32/F16/BF16 tensor of expected.safetensors as fp32 ("lora_logits", "grad.<name>").
  result<std::vector<float>> f32(const std::string& name) const;

 private:
  explicit golden_fixture(safetensors_file f) : file_(std::move(f)) {}
  safetensors_file file_;
  batch batch_;
  adamw_params adamw_;
};

}  // namespace kaito::engine
