// NF4 CPU twin (contract and bitsandbytes references: kernels/nf4.h).
#include "kernels/nf4.h"

#include <algorithm>
#include <cmath>

namespace kaito {

namespace {
int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}
}  // namespace

int64_t nf4_quant_state::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint8_t nf4_quantize_value(float x) {
  // Equivalent to bnb's dQuantizeNF4 tree of `x > t` tests: the number of thresholds below x.
  // x == t is not > t, so a tie lands on the lower code; NaN compares false everywhere -> code 0.
  uint8_t q = 0;
  for (float t : nf4_thresholds) q += (x > t) ? 1 : 0;
  return q;
}

void nf4_quantize_cpu(uint8_t* packed, float* absmax, const float* w, int64_t n) {
  int64_t nblocks = ceil_div(n, nf4_block_size);
  for (int64_t b = 0; b < nblocks; ++b) {
    int64_t begin = b * nf4_block_size;  // seek to w[b*64]
    int64_t end = std::min(n, begin + nf4_block_size);
    float amax = 0.0f;
    for (int64_t i = begin; i < end; ++i)
      amax = std::fmax(amax, std::fabs(w[i]));  // fmaxf: NaN ignored
    absmax[b] = amax;
    float recip = 1.0f / amax;  // +inf for an all-zero block, as the CUDA kernel
    // pairs (2j, 2j+1) never straddle a block (64 is even); a missing last element reads as 0
    for (int64_t i = begin; i < end; i += 2) {
      float lo = (i + 1 < end) ? w[i + 1] : 0.0f;
      uint8_t hi_q = nf4_quantize_value(w[i] * recip);
      uint8_t lo_q = nf4_quantize_value(lo * recip);
      packed[i / 2] = uint8_t((hi_q << 4) | lo_q);  // even element -> high nibble
    }
  }
}

void nf4_dequantize_cpu(float* out, const uint8_t* packed, const float* absmax, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint8_t byte = packed[i / 2];
    uint8_t q = (i % 2 == 0) ? uint8_t(byte >> 4) : uint8_t(byte & 0x0f);
    out[i] = nf4_code[q] * absmax[i / nf4_block_size];  // one fp32 multiply
  }
}

void nf4_dequantize_bf16_cpu(bf16* out, const uint8_t* packed, const float* absmax, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint8_t byte = packed[i / 2];
    uint8_t q = (i % 2 == 0) ? uint8_t(byte >> 4) : uint8_t(byte & 0x0f);
    out[i] = f32_to_bf16(nf4_code[q] * absmax[i / nf4_block_size]);
  }
}

namespace {
// torch.linspace(start, end, steps, dtype=float32), CPU scalar path (RangeFactoriesKernel.cpp):
// the first half counts up from start, the second half down from end.
std::vector<float> linspace_f32(float start, float end, int64_t steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  float step = (end - start) / float(steps - 1);
  int64_t halfway = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    out[size_t(i)] = i < halfway ? start + step * float(i) : end - step * float(steps - i - 1);
  return out;
}

// bnb dQuantize<0>: binary search over the sorted 256-entry code, then nearest of the bracket.
uint8_t quantize_8bit_value(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    float midpoint = (upper + val) * 0.5f;
    return uint8_t(x > midpoint ? upper_pivot : pivot);
  }
  float midpoint = (lower + val) * 0.5f;
  return uint8_t(x < midpoint ? lower_pivot : pivot);
}
}  // namespace

void dynamic_map_signed(float* code8) {
  // create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): non_sign_bits = 7, so for
  // i in 0..6 there are 2^i + 1 boundaries in linspace(0.1, 1) and 2^i midpoints, each scaled by
  // +-10^(i-6) (an fp32 multiply: torch casts the python scalar to the tensor's fp32);
  // additional_items = 0; then 0 and 1.0; sorted.
  std::vector<float> data;
  data.reserve(256);
  const float scales[7] = {1e-6f, 1e-5f, 1e-4f, 1e-3f, 1e-2f, 1e-1f, 1.0f};
  for (int i = 0; i < 7; ++i) {
    std::vector<float> b = linspace_f32(0.1f, 1.0f, (int64_t(1) << i) + 1);
    for (size_t k = 0; k + 1 < b.size(); ++k) {
      float mean = (b[k] + b[k + 1]) / 2.0f;
      data.push_back(scales[i] * mean);
      data.push_back(-scales[i] * mean);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::copy(data.begin(), data.end(), code8);
}

void quantize_blockwise_8bit_cpu(uint8_t* q, float* absmax, const float* x, const float* code8,
                                 int64_t n, int64_t blocksize) {
  int64_t nblocks = ceil_div(n, blocksize);
  for (int64_t b = 0; b < nblocks; ++b) {
    int64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    float amax = 0.0f;
    for (int64_t i = begin; i < end; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    absmax[b] = amax;
    float recip = 1.0f / amax;
    for (int64_t i = begin; i < end; ++i) q[i] = quantize_8bit_value(code8, x[i] * recip);
  }
}

void dequantize_blockwise_8bit_cpu(float* out, const uint8_t* q, const float* absmax,
                                   const float* code8, int64_t n, int64_t blocksize) {
  for (int64_t i = 0; i < n; ++i) out[i] = code8[q[i]] * absmax[i / blocksize];
}

void nf4_absmax_dequantize_cpu(float* absmax, const uint8_t* qabsmax, const float* code8,
                               const float* nested_absmax, float offset, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    float a = code8[qabsmax[b]] * nested_absmax[b / nf4_nested_block_size];  // rounded to fp32
    absmax[b] = a + offset;                                                  // then + offset
  }
}

nf4_quant_state nf4_quantize_weight(const float* w, const std::vector<int64_t>& shape,
                                    dtype orig_dtype, bool double_quant) {
  nf4_quant_state qs;
  qs.shape = shape;
  qs.orig_dtype = orig_dtype;
  int64_t n = qs.numel();
  int64_t nblocks = ceil_div(n, nf4_block_size);
  qs.packed.assign(size_t(ceil_div(n, 2)), 0);
  qs.quant_map.assign(std::begin(nf4_code), std::end(nf4_code));
  std::vector<float> absmax(static_cast<size_t>(nblocks));
  nf4_quantize_cpu(qs.packed.data(), absmax.data(), w, n);
  if (!double_quant) {
    qs.absmax = std::move(absmax);
    return qs;
  }
  qs.nested = true;
  double sum = 0.0;  // torch absmax.mean() sums in fp32; fp64 here (see the header)
  for (float a : absmax) sum += a;
  float offset = nblocks ? float(sum / double(nblocks)) : 0.0f;
  qs.nested_offset = offset;
  std::vector<float> centered(absmax.size());
  for (size_t b = 0; b < absmax.size(); ++b) centered[b] = absmax[b] - offset;
  qs.nested_quant_map.assign(256, 0.0f);
  dynamic_map_signed(qs.nested_quant_map.data());
  qs.qabsmax.assign(size_t(nblocks), 0);
  qs.nested_absmax.assign(size_t(ceil_div(nblocks, nf4_nested_block_size)), 0.0f);
  quantize_blockwise_8bit_cpu(qs.qabsmax.data(), qs.nested_absmax.data(), centered.data(),
                              qs.nested_quant_map.data(), nblocks, nf4_nested_block_size);
  return qs;
}

status nf4_validate(const nf4_quant_state& qs) {
  if (qs.shape.empty()) return invalid_argument("NF4 weight has an empty shape", "shape");
  int64_t n = 1;
  for (int64_t d : qs.shape) {
    if (d < 0 || (d > 0 && n > (int64_t(1) << 48) / d))
      return invalid_argument("NF4 shape dimension out of range", "shape");
    n *= d;
  }
  if (qs.blocksize != nf4_block_size)
    return invalid_argument(
        "NF4 blocksize " + std::to_string(qs.blocksize) + " is not supported (only 64)",
        "blocksize");
  int64_t nblocks = ceil_div(n, nf4_block_size);
  auto size_err = [](const char* field, size_t got, int64_t want) {
    return invalid_argument(
        "expected " + std::to_string(want) + " elements, got " + std::to_string(got), field);
  };
  if (int64_t(qs.packed.size()) != ceil_div(n, 2))
    return size_err("weight", qs.packed.size(), ceil_div(n, 2));
  if (qs.quant_map.size() != 16) return size_err("quant_map", qs.quant_map.size(), 16);
  if (!qs.nested) {
    if (int64_t(qs.absmax.size()) != nblocks) return size_err("absmax", qs.absmax.size(), nblocks);
    return status();
  }
  if (qs.nested_blocksize != nf4_nested_block_size)
    return invalid_argument(
        "nested blocksize " + std::to_string(qs.nested_blocksize) + " is not supported (only 256)",
        "nested_blocksize");
  if (int64_t(qs.qabsmax.size()) != nblocks) return size_err("absmax", qs.qabsmax.size(), nblocks);
  int64_t nnested = ceil_div(nblocks, nf4_nested_block_size);
  if (int64_t(qs.nested_absmax.size()) != nnested)
    return size_err("nested_absmax", qs.nested_absmax.size(), nnested);
  if (qs.nested_quant_map.size() != 256)
    return size_err("nested_quant_map", qs.nested_quant_map.size(), 256);
  return status();
}

std::vector<float> nf4_effective_absmax(const nf4_quant_state& qs) {
  if (!qs.nested) return qs.absmax;
  std::vector<float> absmax(qs.qabsmax.size());
  nf4_absmax_dequantize_cpu(absmax.data(), qs.qabsmax.data(), qs.nested_quant_map.data(),
                            qs.nested_absmax.data(), qs.nested_offset, int64_t(absmax.size()));
  return absmax;
}

status nf4_dequantize_weight(const nf4_quant_state& qs, float* out) {
  if (status st = nf4_validate(qs); !st.ok()) return st;
  std::vector<float> absmax = nf4_effective_absmax(qs);
  // the file's quant_map is used, as bnb does (it equals nf4_code for every NF4 checkpoint)
  int64_t n = qs.numel();
  for (int64_t i = 0; i < n; ++i) {
    uint8_t byte = qs.packed[size_t(i / 2)];
    uint8_t q = (i % 2 == 0) ? uint8_t(byte >> 4) : uint8_t(byte & 0x0f);
    out[i] = qs.quant_map[q] * absmax[size_t(i / nf4_block_size)];
  }
  return status();
}

const char* nf4_gemv_kernel_name(nf4_gemv_kernel k) {
  return k == nf4_gemv_kernel::register_lut ? "register_lut" : "scaled_lut";
}

}  // namespace kaito
