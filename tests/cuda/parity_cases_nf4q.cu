// Row builders for the device quantizers (kernels/cuda/nf4_quantize.cu) against their CPU twins
// nf4_quantize_cpu and quantize_blockwise_8bit_cpu (see parity_cases.h). The codes are u8 on
// both sides; the harness compares f32/bf16 buffers, so the CUDA side widens its codes into an
// f32 output with a one-line kernel (exact for 0..255) and the rows compare with tolerance 0.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/nf4.h"
#include "tests/cuda/parity_cases.h"

namespace kaito::parity {
namespace {

__global__ void u8_to_f32_kernel(float* out, const uint8_t* in, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = float(in[i]);
}

void widen(cuda_context& cx, float* out, const uint8_t* in, int64_t n) {
  if (n == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), u8_to_f32_kernel)
  (out, in, n);
  CUDA_CHECK(cudaGetLastError());
}

// Weights with the edge cases of the contract: an all-zero block (code 0 everywhere, absmax 0),
// a NaN (ignored by absmax, code 0), +-absmax exactly (codes 0 and 15), a partial last block.
std::vector<float> nf4_inputs(std::mt19937& rng, int64_t n) {
  auto w = random_f32(rng, n, -0.3f, 0.3f);
  if (n >= 128) std::fill(w.begin() + 64, w.begin() + 128, 0.0f);
  if (n >= 64) {
    w[3] = std::numeric_limits<float>::quiet_NaN();
    w[5] = 0.5f;
    w[6] = -0.5f;
  }
  return w;
}

}  // namespace

prepared nf4_quantize(std::mt19937& rng, int64_t n) {
  prepared p;
  const int64_t nblocks = (n + 63) / 64, nbytes = (n + 1) / 2;
  const std::vector<float> w = nf4_inputs(rng, n);
  auto wd = upload(p, elem::f32, w);
  auto scratch = std::make_shared<dev_buf>(elem::u8, nbytes);
  p.inputs.push_back(scratch);
  auto packed = add_output(p, "packed", elem::f32, nbytes);
  auto absmax = add_output(p, "absmax", elem::f32, nblocks);
  p.cpu = [=] {
    std::vector<uint8_t> q(static_cast<size_t>(nbytes));
    nf4_quantize_cpu(q.data(), absmax.ref->data(), w.data(), n);
    for (int64_t i = 0; i < nbytes; ++i) (*packed.ref)[size_t(i)] = float(q[size_t(i)]);
  };
  p.cuda = [=](cuda_context& cx) {
    nf4_quantize_cuda(cx, scratch->as<uint8_t>(), absmax.dev->as<float>(), wd->as<float>(), n);
    widen(cx, packed.dev->as<float>(), scratch->as<uint8_t>(), nbytes);
  };
  p.bytes = 4.0 * n + 0.5 * n + 4.0 * nblocks;
  return p;
}

prepared quantize_8bit(std::mt19937& rng, int64_t n, int64_t blocksize) {
  prepared p;
  const int64_t nblocks = (n + blocksize - 1) / blocksize;
  // Centered absmax values as double quantization feeds them (small, both signs), one zero block.
  auto x = random_f32(rng, n, -0.01f, 0.01f);
  if (n >= 2 * blocksize) std::fill(x.begin() + blocksize, x.begin() + 2 * blocksize, 0.0f);
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  auto xd = upload(p, elem::f32, x), cd = upload(p, elem::f32, code8);
  auto scratch = std::make_shared<dev_buf>(elem::u8, n);
  p.inputs.push_back(scratch);
  auto q = add_output(p, "q", elem::f32, n);
  auto absmax = add_output(p, "absmax", elem::f32, nblocks);
  p.cpu = [=] {
    std::vector<uint8_t> qh(static_cast<size_t>(n));
    quantize_blockwise_8bit_cpu(qh.data(), absmax.ref->data(), x.data(), code8.data(), n,
                                blocksize);
    for (int64_t i = 0; i < n; ++i) (*q.ref)[size_t(i)] = float(qh[size_t(i)]);
  };
  p.cuda = [=](cuda_context& cx) {
    quantize_blockwise_8bit_cuda(cx, scratch->as<uint8_t>(), absmax.dev->as<float>(),
                                 xd->as<float>(), cd->as<float>(), n, blocksize);
    widen(cx, q.dev->as<float>(), scratch->as<uint8_t>(), n);
  };
  p.bytes = 5.0 * n + 4.0 * nblocks;
  return p;
}

}  // namespace kaito::parity
