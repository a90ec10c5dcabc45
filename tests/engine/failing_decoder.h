// Test-only: the CPU engine's sequence_decoder (engine/sequence_decoder.h) whose decode steps fail
// with `error` from the `fail_at`th call on, as a device that broke mid-serving would (a sticky
// CUDA error fails every later step). Everything else is the CPU decoder's.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"
#include "tests/engine/forwarding_decoder.h"

namespace kaito::testing {

class failing_decoder final : public forwarding_decoder {
 public:
  failing_decoder(const engine::model& m, int64_t slots, int fail_at, status error)
      : forwarding_decoder(engine::make_cpu_decoder(m, slots)),
        fail_at_(fail_at),
        error_(std::move(error)) {}
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    if (++calls_ >= fail_at_) return error_;
    return forwarding_decoder::decode(slots, ids, logits);
  }

 private:
  int calls_ = 0, fail_at_;
  status error_;
};

}  // namespace kaito::testing
