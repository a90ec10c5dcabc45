// libFuzzer target: Kaito's training_config.yaml (a tuning ConfigMap's text, untrusted) applied to
// a tune job, and the same text as an inference_config.yaml applied to a served model's config.
// Any input gives the result or an error status, never a crash or a hang; an accepted training
// config leaves the job valid for the trainer whenever it started valid, and an accepted
// inference config leaves a batch size and context chat_service::load takes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/inference_config.h"
#include "actors/training_config.h"
#include "base/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  kaito::engine::tune_job j;
  j.model_dir = "m";
  j.data_paths = {"d"};
  j.out_dir = "o";
  auto eff = kaito::actors::apply_training_config(text, &j);
  if (eff.ok()) {
    auto st = kaito::engine::validate_tune_job(j);
    KAITO_CHECK(st.ok());
  }
  kaito::engine::chat_service_config c;
  auto applied = kaito::actors::apply_inference_config(text, &c);
  if (applied.ok()) KAITO_CHECK(c.max_batch >= 1 && c.max_model_len >= 0);
  return 0;
}
