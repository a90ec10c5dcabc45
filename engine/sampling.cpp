// Logits processors and the draw (see sampling.h).
#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/parallel_for.h"
#include "kernels/rng.h"

namespace kaito::engine {

namespace {

int32_t argmax(const std::vector<float>& l) {
  return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
}

// TopPLogitsWarper on a normalized distribution: HF sorts ascending and drops every token whose
// cumulative probability (its own included) is <= 1 - top_p, except the most likely. Token i goes
// exactly when the tokens above it hold >= top_p of the mass, so in the order from the most likely
// down (ties: the higher index first, the reverse of a stable ascending sort) the first K tokens
// stay, K the least j >= 1 whose first j hold >= top_p (all when none do).
// Found in two passes without sorting the vocabulary (stable-sorting all V took ~7 ms a token at
// Phi-3's 32064 on the CI machine): tokens under (1 - top_p) / V go at once (together they hold
// less than 1 - top_p, and come first in the ascending order); the rest fall into buckets by the
// top bits of their double (exponent and 3 mantissa bits: a positive double's bits order as its
// value, so bucket 0 holds the largest, each bucket spans a factor of <= 1.09); the buckets' masses
// from the top say which bucket holds the cut; only that bucket's tokens are sorted and walked.
// The sums run from the top down, not from the bottom up: a token whose predecessors' mass is
// within rounding (~1e-16) of top_p may be kept where the ascending sum would drop it, or the
// reverse.
constexpr int kTopPBuckets = 512;  // 64 binades below 1; smaller probabilities share the last

int top_p_bucket(double p) {  // p in (0, 1]
  uint64_t bits = 0;
  std::memcpy(&bits, &p, sizeof bits);
  const int64_t one = int64_t{1023} << 3;  // 1.0's exponent, mantissa bits 0
  return static_cast<int>(
      std::min<int64_t>(one - static_cast<int64_t>(bits >> 49), kTopPBuckets - 1));
}

void keep_top_p(std::vector<double>& prob, double top_p) {
  struct item {
    double p;
    int64_t v;
  };
  const auto before = [](const item& a, const item& b) {
    return a.p > b.p || (a.p == b.p && a.v > b.v);
  };
  if (top_p <= 0.0) {  // only the most likely
    item best{0.0, -1};
    for (size_t v = 0; v < prob.size(); ++v)
      if (prob[v] > 0.0 && (best.v < 0 || before({prob[v], static_cast<int64_t>(v)}, best)))
        best = {prob[v], static_cast<int64_t>(v)};
    for (size_t v = 0; v < prob.size(); ++v)
      if (static_cast<int64_t>(v) != best.v) prob[v] = 0.0;
    return;
  }
  const double floor = (1.0 - top_p) / static_cast<double>(prob.size());  // < 1 / V
  std::vector<double> mass(kTopPBuckets, 0.0);
  for (double& p : prob) {
    if (p <= floor)
      p = 0.0;
    else
      mass[static_cast<size_t>(top_p_bucket(p))] += p;
  }
  int cut = kTopPBuckets;  // none: every token left stays
  double need = top_p;     // the mass still to cover when the cut bucket starts (> 0)
  for (int b = 0; b < kTopPBuckets; ++b) {
    if (mass[static_cast<size_t>(b)] >= need) {
      cut = b;
      break;
    }
    need -= mass[static_cast<size_t>(b)];
  }
  if (cut == kTopPBuckets) return;
  std::vector<item> edge;  // the cut bucket's tokens
  for (size_t v = 0; v < prob.size(); ++v) {
    if (prob[v] == 0.0) continue;
    const int b = top_p_bucket(prob[v]);
    if (b > cut) prob[v] = 0.0;
    if (b == cut) edge.push_back({prob[v], static_cast<int64_t>(v)});
  }
  std::sort(edge.begin(), edge.end(), before);
  double cum = 0.0;
  size_t keep = edge.size();
  for (size_t j = 0; j < edge.size(); ++j) {
    cum += edge[j].p;
    if (cum >= need) {
      keep = j + 1;
      break;
    }
  }
  for (size_t j = keep; j < edge.size(); ++j) prob[static_cast<size_t>(edge[j].v)] = 0.0;
}

}  // namespace

std::vector<double> sampling_distribution(std::vector<float> l, const sampling_params& p,
                                          const std::vector<int32_t>& history, uint64_t generated) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t V = static_cast<int64_t>(l.size());
  for (const auto& [id, bias] : p.logit_bias)
    if (id >= 0 && id < V) l[static_cast<size_t>(id)] += bias;
  if (p.repetition_penalty != 1.0) {
    std::vector<bool> seen(l.size(), false);
    for (int32_t t : history)
      if (t >= 0 && t < V) seen[static_cast<size_t>(t)] = true;
    const float pen = static_cast<float>(p.repetition_penalty);
    for (int64_t v = 0; v < V; ++v)
      if (seen[v]) l[v] = l[v] < 0 ? l[v] * pen : l[v] / pen;
  }
  if (p.frequency_penalty != 0.0 || p.presence_penalty != 0.0) {
    std::vector<int64_t> count(l.size(), 0);  // of each token among the generated ones
    const size_t from = history.size() - std::min<size_t>(history.size(), generated);
    for (size_t i = from; i < history.size(); ++i)
      if (history[i] >= 0 && history[i] < V) ++count[static_cast<size_t>(history[i])];
    for (int64_t v = 0; v < V; ++v)
      if (count[v] > 0)
        l[v] -= static_cast<float>(p.frequency_penalty * double(count[v]) + p.presence_penalty);
  }
  if (p.temperature > 0.0) {
    const float t = static_cast<float>(p.temperature);
    for (float& x : l) x /= t;
  }
  if (p.min_p > 0.0 && V > 0) {  // p < min_p * p_max, i.e. l < l_max + log(min_p)
    const double cut = double(*std::max_element(l.begin(), l.end())) + std::log(p.min_p);
    for (float& x : l)
      if (double(x) < cut) x = ninf;
  }
  if (p.top_k > 0 && p.top_k < V) {
    std::vector<float> sorted = l;
    std::nth_element(sorted.begin(), sorted.begin() + (p.top_k - 1), sorted.end(),
                     std::greater<float>());
    const float kth = sorted[static_cast<size_t>(p.top_k - 1)];
    for (float& x : l)
      if (x < kth) x = ninf;
  }
  // softmax (fp64), max subtracted; tokens top_k dropped (-inf) are 0 without an exp
  const double mx = *std::max_element(l.begin(), l.end());
  std::vector<double> prob(l.size());
  double sum = 0.0;
  for (size_t v = 0; v < l.size(); ++v)
    sum += prob[v] = l[v] == ninf ? 0.0 : std::exp(double(l[v]) - mx);
  for (double& x : prob) x /= sum;
  if (p.top_p < 1.0) {
    keep_top_p(prob, p.top_p);
    double s = 0.0;
    for (double x : prob) s += x;
    for (double& x : prob) x /= s;
  }
  return prob;
}

step_logprobs logprobs_of(const std::vector<float>& l, int32_t chosen, int64_t top_k) {
  return logprobs_of(l.data(), static_cast<int64_t>(l.size()), chosen, top_k);
}

step_logprobs logprobs_of(const float* l, int64_t n, int32_t chosen, int64_t top_k) {
  step_logprobs out;
  if (n <= 0) return out;
  const double mx = *std::max_element(l, l + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(l[i]) - mx);
  const double lse = mx + std::log(sum);
  const auto lp = [&](int32_t id) { return double(l[static_cast<size_t>(id)]) - lse; };
  const int32_t V = static_cast<int32_t>(n);
  out.chosen = {chosen, chosen >= 0 && chosen < V ? lp(chosen) : -INFINITY};
  const size_t k = static_cast<size_t>(std::clamp<int64_t>(top_k, 0, V));
  if (k == 0) return out;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t v = 0; v < V; ++v) ids[static_cast<size_t>(v)] = v;
  const auto first = [&](int32_t a, int32_t b) {
    const float la = l[static_cast<size_t>(a)], lb = l[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), first);
  for (size_t i = 0; i < k; ++i) out.top.push_back({ids[i], lp(ids[i])});
  return out;
}

int32_t sample_token(std::vector<float> logits, const sampling_params& p,
                     const std::vector<int32_t>& history, uint64_t step) {
  if (p.temperature <= 0.0) {
    if (p.repetition_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 ||
        !p.logit_bias.empty()) {
      sampling_params greedy = p;
      greedy.temperature = 0.0;
      std::vector<double> d = sampling_distribution(std::move(logits), greedy, history, step);
      return static_cast<int32_t>(std::max_element(d.begin(), d.end()) - d.begin());
    }
    return argmax(logits);
  }
  return draw_token(sampling_distribution(std::move(logits), p, history, step), p.seed, step);
}

int32_t draw_token(const std::vector<double>& prob, uint64_t seed, uint64_t step) {
  const double u = rng_uniform(seed, step);
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

std::vector<step_logprobs> prompt_logprobs_of(const std::vector<float>& rows, int64_t vocab,
                                              const std::vector<int32_t>& prompt, int64_t first,
                                              int64_t top_k) {
  const int64_t n = vocab > 0 ? static_cast<int64_t>(rows.size()) / vocab : 0;
  const int64_t P = static_cast<int64_t>(prompt.size());
  const int64_t count = std::clamp<int64_t>(P - 1 - first, 0, n);
  std::vector<step_logprobs> out(static_cast<size_t>(count));
  parallel_for(count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[static_cast<size_t>(i)] = logprobs_of(rows.data() + i * vocab, vocab,
                                                prompt[static_cast<size_t>(first + i + 1)], top_k);
  });
  return out;
}

}  // namespace kaito::engine
