// gpu_tune_job: engine/tune_job.h's job (`kaito tune --device cuda`) on the GPU engine, with the
// same inputs, defaults and adapter output as the CPU engine's run_tune_job:
//   load_tune_data (tokenizer + chat template over the JSONL); gpu_model_from_hf (job.qlora: NF4
//   with double quantization, else a bf16 base; a fresh PEFT-initialized adapter from job.lora
//   and job.seed); gpu_tuner (engine::trainer's loop: batches, accumulation, schedule, clipping,
//   AdamW) with every micro-batch padded to the longest example; gpu_model_save_adapter.
// The NF4 GEMM path is measured at create (gpu_tune_options::nf4_gemm, engine/cuda/gemm_choice.h)
// unless opts pins it; activation checkpointing is the job's (opts.checkpoint is ignored). Errors
// are load_tune_data's, gpu_model_from_hf's (the config.json field the GPU model cannot hold) and
// the tuner's (resource_exhausted when the activations do not fit). Lifetime: cx outlives the call.
// Thread-safety: one host thread per cx.
#pragma once

#include "base/status.h"
#include "engine/cuda_hf/gpu_tuner.h"
#include "engine/tune_job.h"

namespace kaito::gpu {

result<engine::tune_summary> run_gpu_tune_job(cuda_context& cx, const engine::tune_job& j,
                                              const engine::tune_progress& on_step = {},
                                              const gpu_tune_options& opts = {});

}  // namespace kaito::gpu
