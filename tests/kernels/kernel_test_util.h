// Helpers for the CPU-twin tests: deterministic random data and error measures.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace kaito::testing {

inline std::vector<float> random_vec(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// max_i |a_i - b_i| / max(max_i |b_i|, floor): the engine's "max relative error normalised by max
// |ref|".
template <class A, class B>
double max_rel_err(const A& a, const B& b, double floor = 1e-30) {
  double maxref = floor, maxdiff = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    maxref = std::max(maxref, std::fabs(double(b[i])));
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return INFINITY;
    maxdiff = std::max(maxdiff, d);
  }
  return maxdiff / maxref;
}

}  // namespace kaito::testing
