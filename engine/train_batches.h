// train_batches: which examples a training micro-batch holds and how they are laid out, shared by
// the CPU trainer (engine/trainer.h) and the GPU one (engine/cuda_hf/gpu_tuner.h) so both visit
// the data in the same order.
//
// Order: examples are visited in a per-epoch permutation (Fisher-Yates over
// rng_derive(rng_derive(seed, 1), epoch), kernels/rng.h); micro-batch `index` holds positions
// [index * size, (index + 1) * size) of the endless sequence of epochs, so a micro-batch may span
// two epochs. A batch right-pads its sequences with token 0 and label -100 (causal attention: the
// padding never influences real tokens).
//
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/transformer.h"

namespace kaito::engine {

struct train_example {
  std::vector<int32_t> ids;     // token ids
  std::vector<int32_t> labels;  // same length; -100 where no loss (prompt, padding)
};

// invalid_argument naming "data" or "data[i]" for an empty dataset, empty or mismatched ids and
// labels, or a token id outside [0, vocab_size).
status validate_train_data(const std::vector<train_example>& data, int64_t vocab_size);

// The examples of micro-batch `index` (n_examples > 0, size > 0).
std::vector<int64_t> micro_batch_examples(int64_t n_examples, int64_t size, uint64_t seed,
                                          int64_t index);

// The right-padded batch of data[which[i]], T = max(min_T, the longest of them).
batch make_train_batch(const std::vector<train_example>& data, const std::vector<int64_t>& which,
                       int64_t min_T = 0);

// Supervised tokens after HF's shift: labels[b, t] != -100 for t >= 1.
int64_t supervised_tokens(const batch& b);

}  // namespace kaito::engine
