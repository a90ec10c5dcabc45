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
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<gpu_tuner> t,
                         gpu_tuner::create(cx, m, std::move(d.examples),
                                           engine::tune_train_config(j, sum.steps), opts));
  if (j.resume) {
    status st = t->load_checkpoint(j.checkpoint_dir);
    if (!st.ok()) return st.with_context("--resume");
    sum.resumed_at = t->steps_done();
  }
  for (int64_t s = t->steps_done(); s < sum.steps; ++s) {
    KAITO_ASSIGN_OR_RETURN(engine::step_info info, t->step());
    if (s == sum.resumed_at) sum.first_loss = info.loss;
    sum.last_loss = info.loss;
    // a stop after the last step is just the end
    const bool stop = on_step && !on_step(info, sum.steps) && s + 1 < sum.steps;
    if (engine::tune_checkpoint_due(j, s + 1, sum.steps) || (stop && !j.checkpoint_dir.empty()))
      KAITO_TRY(engine::replace_checkpoint(
          j.checkpoint_dir, [&](const std::string& dir) { return t->save_checkpoint(dir); }));
    if (stop) {
      sum.stopped = true;
      return sum;
    }
  }
  KAITO_TRY(gpu_model_save_adapter(cx, m, j.out_dir, j.model_dir));
  return sum;
}

}  // namespace kaito::gpu
