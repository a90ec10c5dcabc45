// training_config: Kaito's tuning ConfigMap (key training_config.yaml, the qlora / lora params
// templates of presets/tuning/) applied to an engine::tune_job, as Kaito's fine_tuning.py reads
// it into PEFT / TRL / bitsandbytes arguments.
//
//   training_config:
//     LoraConfig:         r, lora_alpha, lora_dropout, target_modules (list or "all-linear")
//     QuantizationConfig: load_in_4bit (NF4 base, double quant), bnb_4bit_quant_type: nf4
//     TrainingArguments:  num_train_epochs, max_steps (-1: none), per_device_train_batch_size,
//                         gradient_accumulation_steps, learning_rate, lr_scheduler_type
//                         (linear, cosine, constant, constant_with_warmup), warmup_steps,
//                         max_grad_norm, weight_decay, seed, gradient_checkpointing,
//                         max_seq_length / max_length, output_dir (must be under /mnt),
//                         dataset_text_field (the text column of language-modeling data)
//     DatasetConfig:      messages_column (the conversations' column), context_column +
//                         response_column (together: the prompt and completion columns of
//                         prompt-completion data), dataset_text_field (as TrainingArguments');
//                         see engine/sft_dataset.h for the formats
//     ModelConfig, DataCollator, DatasetConfig: read; settings that only steer Hugging Face
//                         loading (torch_dtype, device_map, local_files_only, mlm, shuffle,
//                         train_test_split) are noted, not errors.
// A setting we cannot honour (8-bit or fp4 quantization, an instruction column, context_column
// without response_column or response_column other than Kaito's default "text" without
// context_column, a bias or save strategy other than Kaito's) is unimplemented naming it; a
// malformed value is invalid_argument naming training_config.<Section>.<key>. Anything left
// unapplied is listed in `ignored` ("TrainingArguments.logging_steps") so the job's log can say so.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/tune_job.h"

namespace kaito::actors {

struct training_config_effect {
  std::string output_dir;            // TrainingArguments.output_dir ("" = not set)
  std::vector<std::string> ignored;  // "Section.key" read but without effect here
};

// Applies the YAML text to `job` (method already set from tuning.method: qlora / lora).
result<training_config_effect> apply_training_config(std::string_view yaml_text,
                                                     engine::tune_job* job);

}  // namespace kaito::actors
