// libFuzzer target: Kaito's training_config.yaml (a tuning ConfigMap's text, untrusted) applied to
// a tune job. Any input gives the job or an error status, never a crash or a hang, and an
// accepted config leaves the job valid for the trainer whenever it started valid.
#include <cstddef>
#include <cstdint>
#include <string>

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
  return 0;
}
