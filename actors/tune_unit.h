// tune_unit: the work of a Kaito tuning Job's pod (`kaito worker` --task=tune, actors/work_args.h),
// in place of Kaito's init containers, trainer and sidecar (reference/kaito.md 3.6):
//
//   1. model     <models dir>/<preset> (--model-dir, else $KAITO_MODELS_DIR/<preset>): a Hugging
//                Face folder (config.json, *.safetensors, tokenizer.json, tokenizer_config.json)
//   2. push plan --output-image parsed and the push credentials read (--docker-config, the
//                projected imagePushSecret) before any work, so a typo fails in a second
//   3. data      each --input-url downloaded into --data-dir (Kaito's data-downloader:
//                k8s/artifacts/data_download.h), or --input-image pulled and its /data written
//                there (Kaito's puller: actors/image_inputs.h, with the --pull-secret configs);
//                an image's dataset files are those whose names contain json or parquet, or
//                end in .csv (arrow ones are refused by name)
//   4. config    --config-file (Kaito's training_config.yaml) applied over the method's defaults
//                (actors/training_config.h); absent file: the defaults
//   5. train     engine::tune_job over the downloaded files (JSONL or Parquet), on the CPU engine
//                or the runner the worker was given (the GPU engine, injected by the CLI);
//                progress "step 3/24 loss 1.234" after every optimizer step
//   6. results   adapter_config.json + adapter_model.safetensors in --results-dir (or the config's
//                output_dir), then fine_tuning_completed.txt (Kaito's sentinel)
//   7. push      the adapter image (k8s/artifacts/adapter_image.h: /data/adapter_*, annotation
//                sh.kaito.model.name) pushed to --output-image
// Container paths resolve under the pod's root directory. Errors name the flag, file, field or
// URL; cancel stops between steps (a download or push in flight is aborted).
// Thread-safety: one call per thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "actors/model_store.h"
#include "actors/work_args.h"
#include "base/status.h"
#include "engine/tune_job.h"

namespace kaito::actors {

// Runs a tune job: engine::run_tune_job (CPU) unless the worker was given another engine.
using tune_runner = std::function<result<engine::tune_summary>(const engine::tune_job&,
                                                               const engine::tune_progress&)>;

struct tune_unit_env {
  std::string root;     // the pod's directory; container paths live under it
  model_source models;  // $KAITO_MODELS_DIR, $KAITO_MODEL_IMAGE, ... (model_store.h)
  tune_runner runner;   // empty: the CPU engine
};

struct tune_unit_result {
  bool cancelled = false;
  int64_t steps = 0, examples = 0;
  double first_loss = 0, last_loss = 0;
  std::string image;    // pushed: registry/repo:tag@sha256:...
  std::string message;  // one line for the pod's status
};

// on_progress(text, permille) after each phase and optimizer step.
result<tune_unit_result> run_tune_unit(
    const tune_args& a, const tune_unit_env& env, const std::atomic<bool>& cancel,
    const std::function<void(const std::string& text, uint32_t permille)>& on_progress);

}  // namespace kaito::actors
