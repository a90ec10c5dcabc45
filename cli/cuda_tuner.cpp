// The GPU tune job; see cuda_tuner.h.
#include "cli/cuda_tuner.h"

#include <memory>
#include <string>

#if KAITO_CLI_WITH_CUDA
#include "engine/cuda_hf/gpu_sequence_decoder.h"
#include "engine/cuda_hf/gpu_tune_job.h"
#include "kernels/cuda/cuda_context.h"
#endif

namespace kaito::cli {

bool cuda_tuner_built() {
#if KAITO_CLI_WITH_CUDA
  return true;
#else
  return false;
#endif
}

result<engine::tune_summary> tune_on_cuda(const engine::tune_job& j,
                                          const engine::tune_progress& on_step,
                                          const std::string& flag) {
#if KAITO_CLI_WITH_CUDA
  (void)flag;
  KAITO_ASSIGN_OR_RETURN(std::unique_ptr<cuda_context> cx, cuda_context::create());
  return gpu::run_gpu_tune_job(*cx, j, on_step);
#else
  (void)j;
  (void)on_step;
  return status(status_code::failed_precondition,
                "this kaito was built without CUDA (no nvcc at configure time)", flag);
#endif
}

engine::decoder_factory cuda_decoder_factory(bool nf4, const std::string& flag) {
  return [nf4, flag](
             const engine::chat_service_config& cfg,
             const engine::model_config& c) -> result<std::unique_ptr<engine::sequence_decoder>> {
#if KAITO_CLI_WITH_CUDA
    (void)flag;
    gpu::gpu_serving_options o;
    o.model_dir = cfg.model_dir;
    o.adapter_dirs = cfg.adapter_dirs;
    o.adapter_strengths = cfg.adapter_strengths;
    o.max_batch = cfg.max_batch;
    o.context = cfg.max_model_len;
    o.quantized_base = nf4;
    if (cfg.gpu_memory_utilization > 0) o.gpu_memory_utilization = cfg.gpu_memory_utilization;
    o.prefix_caching = cfg.prefix_caching;
    o.kv_blocks = cfg.kv_blocks;
    return gpu::make_gpu_sequence_decoder(o, c);
#else
    (void)nf4;
    (void)cfg;
    (void)c;
    return status(status_code::failed_precondition,
                  "this kaito was built without CUDA (no nvcc at configure time)", flag);
#endif
  };
}

}  // namespace kaito::cli
