// train_batches (contract: engine/train_batches.h).
#include "engine/train_batches.h"

#include <algorithm>
#include <string>

#include "kernels/rng.h"

namespace kaito::engine {

namespace {

constexpr uint64_t k_tag_order = 1;

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  const uint64_t s = rng_derive(rng_derive(seed, k_tag_order), static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(order[i],
              order[rng_bits(s, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1)]);
  return order;
}

}  // namespace

status validate_train_data(const std::vector<train_example>& data, int64_t vocab_size) {
  if (data.empty()) return invalid_argument("the dataset is empty", "data");
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i].ids.empty() || data[i].ids.size() != data[i].labels.size())
      return invalid_argument("ids and labels must be non-empty and equally long",
                              "data[" + std::to_string(i) + "]");
    for (int32_t id : data[i].ids)
      if (id < 0 || id >= vocab_size)
        return invalid_argument("token id out of range", "data[" + std::to_string(i) + "].ids");
  }
  return {};
}

std::vector<int64_t> micro_batch_examples(int64_t n_examples, int64_t size, uint64_t seed,
                                          int64_t index) {
  std::vector<int64_t> out;
  int64_t cached_epoch = -1;
  std::vector<int64_t> order;
  for (int64_t j = 0; j < size; ++j) {
    const int64_t p = index * size + j;
    if (p / n_examples != cached_epoch) {
      cached_epoch = p / n_examples;
      order = epoch_order(n_examples, seed, cached_epoch);
    }
    out.push_back(order[static_cast<size_t>(p % n_examples)]);
  }
  return out;
}

batch make_train_batch(const std::vector<train_example>& data, const std::vector<int64_t>& which,
                       int64_t min_T) {
  batch b;
  b.B = static_cast<int64_t>(which.size());
  b.T = min_T;
  for (int64_t i : which) b.T = std::max<int64_t>(b.T, static_cast<int64_t>(data[i].ids.size()));
  b.ids.assign(static_cast<size_t>(b.B * b.T), 0);
  b.labels.assign(static_cast<size_t>(b.B * b.T), -100);
  for (int64_t r = 0; r < b.B; ++r) {
    const train_example& e = data[static_cast<size_t>(which[r])];
    std::copy(e.ids.begin(), e.ids.end(), b.ids.begin() + r * b.T);
    std::copy(e.labels.begin(), e.labels.end(), b.labels.begin() + r * b.T);
  }
  return b;
}

int64_t supervised_tokens(const batch& b) {
  int64_t n = 0;
  for (int64_t r = 0; r < b.B; ++r)
    for (int64_t t = 1; t < b.T; ++t) n += b.labels[r * b.T + t] != -100;
  return n;
}

}  // namespace kaito::engine
