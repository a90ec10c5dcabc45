// Counter-based random numbers shared by the CPU and CUDA twins (LoRA init, dropout masks).
// Value i of stream `seed` is a pure function of (seed, i), so a kernel can draw element i in any
// order, on any device, and a resumed run redraws exactly what an uninterrupted run drew.
//   rng_bits(seed, i)    = splitmix64(splitmix64(seed) + i)       (Steele, Lea, Flood 2014
//   finalizer) rng_uniform(seed, i) = (rng_bits >> 40) * 2^-24               in [0, 1), 24 random
//   bits (fp32 exact)
// Not torch's generator: kaito's draws do not reproduce PyTorch's bit for bit (fixtures carry
// their own weights). Header-only; the CUDA side includes it (KAITO_HD marks host+device).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KAITO_HD __host__ __device__
#else
#define KAITO_HD
#endif

namespace kaito {

KAITO_HD inline uint64_t rng_splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

KAITO_HD inline uint64_t rng_bits(uint64_t seed, uint64_t i) {
  return rng_splitmix64(rng_splitmix64(seed) + i);
}

KAITO_HD inline float rng_uniform(uint64_t seed, uint64_t i) {
  return float(rng_bits(seed, i) >> 40) * (1.0f / 16777216.0f);
}

// Derives a sub-stream seed (e.g. per step, layer, module) from a parent seed and a tag.
KAITO_HD inline uint64_t rng_derive(uint64_t seed, uint64_t tag) {
  return rng_splitmix64(seed ^ rng_splitmix64(tag + 0x632be59bd9b4e019ull));
}

}  // namespace kaito
