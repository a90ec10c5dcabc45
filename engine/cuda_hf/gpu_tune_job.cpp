// gpu_tune_job (contract: engine/cuda_hf/gpu_tune_job.h).
#include "engine/cuda_hf/gpu_tune_job.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "engine/cuda_hf/gpu_model_from_hf.h"
#include "engine/model_config.h"

namespace kaito::gpu {

result<engine::tune_summary> run_gpu_tune_job(cuda_context& cx, const engine::tune_job& j,
                                              const engine::tune_progress& on_step,
                                              const gpu_tune_options& opts) {
  KAITO_TRY(engine::validate_tune_job(j));
  KAITO_ASSIGN_OR_RETURN(engine::model_config cfg, engine::load_model_config(j.model_dir));
  KAITO_ASSIGN_OR_RETURN(engine::tune_data d, engine::load_tune_data(j, cfg));
  int64_t longest = 1;
  for (const engine::train_example& e : d.examples)
    longest = std::max<int64_t>(longest, int64_t(e.ids.size()));
  gpu_hf_options ho;
  ho.max_T = std::max(longest, opts.T);
  ho.quantized_base = j.qlora;
  ho.lora = j.lora;
  ho.seed = j.seed;
  KAITO_ASSIGN_OR_RETURN(gpu_hf_model m, gpu_model_from_hf(cx, j.model_dir, ho));
  engine::tune_summary sum;
  sum.examples = int64_t(d.examples.size());
  sum.supervised_tokens = d.supervised_tokens;
  sum.truncated = d.truncated;
  sum.steps = engine::tune_total_steps(j, sum.examples);
  gpu_tune_options o = opts;
  o.checkpoint = j.activation_checkpointing;
  KAITO_ASSIGN_OR_RETURN(
      std::unique_ptr<gpu_tuner> t,
      gpu_tuner::create(cx, m, std::move(d.examples), engine::tune_train_config(j, sum.steps), o));
  sum.device_bytes = t->trainer_bytes();
  engine::tune_trainer_ops ops;
  ops.step = [&] { return t->step(); };
  ops.steps_done = [&] { return t->steps_done(); };
  ops.save_checkpoint = [&](const std::string& dir) { return t->save_checkpoint(dir); };
  ops.load_checkpoint = [&](const std::string& dir) { return t->load_checkpoint(dir); };
  KAITO_TRY(engine::run_tune_steps(j, ops, on_step, sum));
  if (sum.stopped) return sum;
  KAITO_TRY(gpu_model_save_adapter(cx, m, j.out_dir, j.model_dir));
  return sum;
}

}  // namespace kaito::gpu
