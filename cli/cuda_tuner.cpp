// The GPU tune job; see cuda_tuner.h.
#include "cli/cuda_tuner.h"

#include <memory>

#if KAITO_CLI_WITH_CUDA
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

}  // namespace kaito::cli
