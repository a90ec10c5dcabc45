// Logits processors and the draw (see sampling.h).
#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/rng.h"

namespace kaito::engine {

namespace {

int32_t argmax(const std::vector<float>& l) {
  return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
}

}  // namespace

std::vector<double> sampling_distribution(std::vector<float> l, const sampling_params& p,
                                          const std::vector<int32_t>& history) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t V = static_cast<int64_t>(l.size());
  if (p.repetition_penalty != 1.0) {
    std::vector<bool> seen(l.size(), false);
    for (int32_t t : history)
      if (t >= 0 && t < V) seen[static_cast<size_t>(t)] = true;
    const float pen = static_cast<float>(p.repetition_penalty);
    for (int64_t v = 0; v < V; ++v)
      if (seen[v]) l[v] = l[v] < 0 ? l[v] * pen : l[v] / pen;
  }
  if (p.temperature > 0.0) {
    const float t = static_cast<float>(p.temperature);
    for (float& x : l) x /= t;
  }
  if (p.top_k > 0 && p.top_k < V) {
    std::vector<float> sorted = l;
    std::nth_element(sorted.begin(), sorted.begin() + (p.top_k - 1), sorted.end(),
                     std::greater<float>());
    const float kth = sorted[static_cast<size_t>(p.top_k - 1)];
    for (float& x : l)
      if (x < kth) x = ninf;
  }
  // softmax (fp64), max subtracted
  const double mx = *std::max_element(l.begin(), l.end());
  std::vector<double> prob(l.size());
  double sum = 0.0;
  for (size_t v = 0; v < l.size(); ++v) sum += prob[v] = std::exp(double(l[v]) - mx);
  for (double& x : prob) x /= sum;
  if (p.top_p < 1.0) {
    std::vector<int64_t> order(l.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return prob[a] < prob[b]; });  // ascending
    double cum = 0.0;
    for (size_t i = 0; i + 1 < order.size(); ++i) {  // the most likely token always stays
      cum += prob[order[i]];
      if (cum <= 1.0 - p.top_p) prob[order[i]] = 0.0;
    }
    double s = 0.0;
    for (double x : prob) s += x;
    for (double& x : prob) x /= s;
  }
  return prob;
}

int32_t sample_token(std::vector<float> logits, const sampling_params& p,
                     const std::vector<int32_t>& history, uint64_t step) {
  if (p.temperature <= 0.0) {
    if (p.repetition_penalty != 1.0) {
      sampling_params greedy = p;
      greedy.temperature = 0.0;
      std::vector<double> d = sampling_distribution(std::move(logits), greedy, history);
      return static_cast<int32_t>(std::max_element(d.begin(), d.end()) - d.begin());
    }
    return argmax(logits);
  }
  const std::vector<double> prob = sampling_distribution(std::move(logits), p, history);
  const double u = rng_uniform(p.seed, step);
  double cum = 0.0;
  int32_t last = 0;
  for (size_t v = 0; v < prob.size(); ++v) {
    if (prob[v] <= 0.0) continue;
    last = static_cast<int32_t>(v);
    cum += prob[v];
    if (u < cum) return last;
  }
  return last;  // rounding left u >= the total
}

}  // namespace kaito::engine
