// Logits processors and the draw (see sampling.h).
#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/parallel_for.h"
#include "kernels/rng.h"
#include "kernels/vexp.h"

namespace kaito::engine {

namespace {

// The first index of the largest logit (torch.argmax's), found as the max (kernels/vexp.h, 16
// lanes) and then its first place: ~10x faster than std::max_element's compare-and-keep loop.
int32_t argmax(const std::vector<float>& l) {
  const float mx = max_cpu(l.data(), static_cast<int64_t>(l.size()));
  const auto at = std::find(l.begin(), l.end(), mx);
  return at == l.end() ? 0 : static_cast<int32_t>(at - l.begin());  // (end: all NaN)
}

// TopPLogitsWarper on a normalized distribution: HF sorts ascending and drops every token whose
// cumulative probability (its own included) is <= 1 - top_p, except the most likely. Token i goes
// exactly when the tokens above it hold >= top_p of the mass, so in the order from the most likely
// down (ties: the higher index first, the reverse of a stable ascending sort) the first K tokens
// stay, K the least j >= 1 whose first j hold >= top_p (all when none do).
// Found in two passes without sorting the vocabulary (stable-sorting all V took ~7 ms a token at
// Phi-3's 32064 on the CI machine), on weights (the distribution times their total, the largest
// 1): tokens under (1 - top_p) / V of the total go at once (together they hold less than
// 1 - top_p, and come first in the ascending order); the rest fall into buckets by the
// top bits of their double (exponent and 3 mantissa bits: a positive double's bits order as its
// value, so bucket 0 holds the largest, each bucket spans a factor of <= 1.09); the buckets' masses
// from the top say which bucket holds the cut; only that bucket's tokens are sorted and walked.
// The sums run from the top down, not from the bottom up: a token whose predecessors' mass is
// within rounding (~1e-16) of top_p may be kept where the ascending sum would drop it, or the
// reverse.
constexpr int kTopPBuckets = 512;  // 64 binades below 1; smaller weights share the last

int top_p_bucket(double p) {  // p in (0, 1]
  uint64_t bits = 0;
  std::memcpy(&bits, &p, sizeof bits);
  const int64_t one = int64_t{1023} << 3;  // 1.0's exponent, mantissa bits 0
  return static_cast<int>(
      std::min<int64_t>(one - static_cast<int64_t>(bits >> 49), kTopPBuckets - 1));
}

// Applies top_p to weights w (the largest 1, summing to total) and returns the sum of those kept.
double keep_top_p(std::vector<double>& w, double total, double top_p) {
  struct item {
    double p;
    int64_t v;
  };
  const auto before = [](const item& a, const item& b) {
    return a.p > b.p || (a.p == b.p && a.v > b.v);
  };
  if (top_p <= 0.0) {  // only the most likely
    item best{0.0, -1};
    for (size_t v = 0; v < w.size(); ++v)
      if (w[v] > 0.0 && (best.v < 0 || before({w[v], static_cast<int64_t>(v)}, best)))
        best = {w[v], static_cast<int64_t>(v)};
    for (size_t v = 0; v < w.size(); ++v)
      if (static_cast<int64_t>(v) != best.v) w[v] = 0.0;
    return best.v < 0 ? 0.0 : best.p;
  }
  // (< 1 / V of the total)
  const double floor = (1.0 - top_p) * total / static_cast<double>(w.size());
  std::vector<double> mass(kTopPBuckets, 0.0);
  std::vector<uint16_t> bucket(w.size());
  for (size_t v = 0; v < w.size(); ++v) {
    if (w[v] <= floor) {
      w[v] = 0.0;
      continue;
    }
    bucket[v] = static_cast<uint16_t>(top_p_bucket(w[v]));
    mass[bucket[v]] += w[v];
  }
  int cut = kTopPBuckets;       // none: every token left stays
  double need = top_p * total;  // the mass still to cover when the cut bucket starts (> 0)
  double kept = 0.0;            // the mass of the buckets above the cut
  for (int b = 0; b < kTopPBuckets; ++b) {
    if (mass[static_cast<size_t>(b)] >= need) {
      cut = b;
      break;
    }
    need -= mass[static_cast<size_t>(b)];
    kept += mass[static_cast<size_t>(b)];
  }
  if (cut == kTopPBuckets) return kept;
  std::vector<item> edge;  // the cut bucket's tokens
  for (size_t v = 0; v < w.size(); ++v) {
    if (w[v] == 0.0) continue;
    if (bucket[v] > cut) w[v] = 0.0;
    if (bucket[v] == cut) edge.push_back({w[v], static_cast<int64_t>(v)});
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
  for (size_t j = keep; j < edge.size(); ++j) w[static_cast<size_t>(edge[j].v)] = 0.0;
  for (size_t j = 0; j < keep; ++j) kept += edge[j].p;
  return kept;
}

// The k-th largest of l (counting equal values apart), 0 < k < l.size(). A small k keeps the k
// largest in a min-heap (one compare per logit; ~10x faster than nth_element at Phi-3's 32064
// and k = 50); a large one selects with nth_element on a copy.
float kth_largest(const std::vector<float>& l, int64_t k) {
  const auto K = static_cast<size_t>(k);
  if (K * 16 > l.size()) {
    std::vector<float> sorted = l;
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
    return sorted[K - 1];
  }
  std::vector<float> heap(l.begin(), l.begin() + k);  // the k largest so far; heap[0] the least
  std::make_heap(heap.begin(), heap.end(), std::greater<float>());
  for (size_t i = K; i < l.size(); ++i) {
    if (!(l[i] > heap.front())) continue;
    std::pop_heap(heap.begin(), heap.end(), std::greater<float>());
    heap.back() = l[i];
    std::push_heap(heap.begin(), heap.end(), std::greater<float>());
  }
  return heap.front();
}

// draw_token on weights summing to total: the first token whose cumulative weight passes
// u * total, in id order; the last positive one when rounding leaves it at or above the sum.
int32_t draw_weighted(const std::vector<double>& w, double total, uint64_t seed, uint64_t step) {
  const double u = rng_uniform(seed, step) * total;
  double cum = 0.0;
  int32_t last = 0;
  for (size_t v = 0; v < w.size(); ++v) {
    if (w[v] <= 0.0) continue;
    last = static_cast<int32_t>(v);
    cum += w[v];
    if (u < cum) return last;
  }
  return last;
}

// The distribution sample_token draws from, unnormalized: w[v] proportional to token v's
// probability after every processor (the most likely token's weight is 1), total their sum.
struct weights {
  std::vector<double> w;
  double total = 0.0;
};

// The logits processors before the softmax, in place: logit_bias, the penalties, temperature,
// min_p, top_k (tokens they drop become -inf).
void process_logits(std::vector<float>& l, const sampling_params& p,
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
    const double cut = double(max_cpu(l.data(), V)) + std::log(p.min_p);
    for (float& x : l)
      if (double(x) < cut) x = ninf;
  }
  if (p.top_k > 0 && p.top_k < V) {
    const float kth = kth_largest(l, p.top_k);
    for (float& x : l)
      if (x < kth) x = ninf;
  }
}

weights sampling_weights(std::vector<float> l, const sampling_params& p,
                         const std::vector<int32_t>& history, uint64_t generated) {
  process_logits(l, p, history, generated);
  const int64_t V = static_cast<int64_t>(l.size());
  // softmax's numerators: fp32 exponentials of the logits less their max (kernels/vexp.h, 16
  // lanes; what torch's fp32 softmax computes; tokens dropped to -inf, and any under exp(-87) of
  // the most likely's weight, are 0), summed in fp64
  const float mx = max_cpu(l.data(), V);
  weights out;
  out.total = exp_sum_flushed_cpu(l.data(), l.data(), mx, V);  // (under exp(-87): 0)
  out.w.assign(l.begin(), l.end());
  if (p.top_p < 1.0) out.total = keep_top_p(out.w, out.total, p.top_p);
  return out;
}

}  // namespace

std::vector<double> sampling_distribution(std::vector<float> l, const sampling_params& p,
                                          const std::vector<int32_t>& history, uint64_t generated) {
  weights d = sampling_weights(std::move(l), p, history, generated);
  for (double& x : d.w) x /= d.total;
  return std::move(d.w);
}

step_logprobs logprobs_of(const std::vector<float>& l, int32_t chosen, int64_t top_k) {
  return logprobs_of(l.data(), static_cast<int64_t>(l.size()), chosen, top_k);
}

step_logprobs logprobs_of(const float* l, int64_t n, int32_t chosen, int64_t top_k) {
  step_logprobs out;
  if (n <= 0) return out;
  const double mx = max_cpu(l, n);  // (16 lanes; the fp64 sum below as the contract says)
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
      process_logits(logits, greedy, history, step);
    }
    return argmax(logits);
  }
  const weights d = sampling_weights(std::move(logits), p, history, step);
  return draw_weighted(d.w, d.total, p.seed, step);
}

int32_t draw_token(const std::vector<double>& prob, uint64_t seed, uint64_t step) {
  return draw_weighted(prob, 1.0, seed, step);
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
