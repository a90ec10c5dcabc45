// emu_runtime_test: the CUDA emulation itself (tests/cuda/cuda_emulation.h, cuda_runtime_emu.cpp,
// cublaslt_emu.cpp), since the GPU model tests that run on it are only as good as it is:
//   fibers: 3-D blocks and linear thread ids, __syncthreads with threads that returned early,
//     shuffles within each warp of a block; threads waiting at barriers that cannot complete
//     are reported as a deadlock (death test); a race reads differently in the two schedules,
//     and shared memory starts every block as 0xFF bytes;
//   runtime: launch checks (block size, dynamic shared memory above 48 KB only after
//     cudaFuncSetAttribute), the last error kept until cudaGetLastError reads it, cudaFree of an
//     unknown pointer, stream capture freezing a launch's arguments, a synchronize invalidating
//     a capture, 2-D copies;
//   cuBLASLt: a transposed bf16 product with bias against a direct sum;
//   the PTX of mma_emulation.h refuses what the GPU faults on (death tests): cp.async with a
//     shared or global address not aligned to its size (a zero-fill copy's global address is
//     not read, so not checked), ldmatrix with a row address not 16-byte aligned.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

// the emulation first: launch.cuh spells launches for it when KAITO_CUDA_EMULATE is defined
#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/mma_emulation.h"
//
#include "kernels/cuda/launch.cuh"

namespace {

__global__ void index_kernel(unsigned* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * blockIdx.y;
  out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
}

// Threads >= live return before the barrier; the rest sum what the live ones wrote.
__global__ void early_exit_kernel(int* out, int live) {
  __shared__ int vals[256];
  if (int(threadIdx.x) >= live) return;
  vals[threadIdx.x] = int(threadIdx.x) + 1;
  __syncthreads();
  if (threadIdx.x == 0) {
    int s = 0;
    for (int i = 0; i < live; ++i) s += vals[i];
    out[blockIdx.x] = s;
  }
}

__global__ void shuffle_kernel(float* out) {
  float v = float(threadIdx.x);
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  out[threadIdx.x] = v;  // the sum of the warp's lane values
}

// Half of warp 0 at a warp collective, everyone else at __syncthreads: neither can complete.
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    out[0] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
  } else {
    __syncthreads();
  }
}

// Each thread reads its right neighbour's write with no barrier between: a race.
__global__ void racy_kernel(int* out) {
  __shared__ int v[64];
  v[threadIdx.x] = int(threadIdx.x);
  out[threadIdx.x] = v[(threadIdx.x + 1) % 64];
}

// Each block takes a ticket: the order the blocks ran in.
__global__ void ticket_kernel(unsigned* counter, unsigned* out) {
  if (threadIdx.x == 0) out[blockIdx.x] = atomicAdd(counter, 1u);
}

__global__ void smem_kernel(unsigned char* out, int n) {
  KAITO_DYNAMIC_SMEM(unsigned char, buf);
  for (int i = int(threadIdx.x); i < n; i += int(blockDim.x)) buf[i] = (unsigned char)(i & 0x7f);
  __syncthreads();
  for (int i = int(threadIdx.x); i < n; i += int(blockDim.x)) out[i] = buf[n - 1 - i];
}

__global__ void add_kernel(int* p, int v) {
  p[threadIdx.x] += v;
}

TEST(emu_fibers, three_d_blocks_and_grids) {
  std::vector<unsigned> out(2 * 3 * 4 * 5 * 2);
  KAITO_LAUNCH(dim3(2, 3), dim3(4, 5, 2), 0, nullptr, index_kernel)(out.data());
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  for (unsigned b = 0; b < 6; ++b)
    for (unsigned t = 0; t < 40; ++t) EXPECT_EQ(out[b * 40 + t], b * 1000 + t);
}

TEST(emu_fibers, early_return_leaves_the_barrier) {
  std::vector<int> out(3, -1);
  KAITO_LAUNCH(3, 256, 0, nullptr, early_exit_kernel)(out.data(), 70);
  for (int s : out) EXPECT_EQ(s, 70 * 71 / 2);
}

TEST(emu_fibers, shuffles_stay_in_their_warp) {
  std::vector<float> out(96);
  KAITO_LAUNCH(1, 96, 0, nullptr, shuffle_kernel)(out.data());
  for (int t = 0; t < 96; ++t) {
    const int w = t / 32;
    EXPECT_EQ(out[t], float(32 * 32 * w + 31 * 32 / 2)) << t;
  }
}

void launch_divergent() {
  int out = 0;
  KAITO_LAUNCH(1, 64, 0, nullptr, divergent_barrier_kernel)(&out);
}

TEST(emu_fibersDeathTest, different_barriers_are_a_deadlock) {
  EXPECT_DEATH(launch_divergent(), "emu: deadlock in block");
}

// cp.async and ldmatrix from a 32-thread block: `shift` bytes off the alignment they need (lane 5
// only, or the global address of its copy).
__global__ void async_copy_kernel(const unsigned char* src, uint32_t dst_shift, int src_shift,
                                  int src_bytes) {
  namespace m = kaito::nf4_mma;
  const int l = emu::lane();
  const uint32_t dst = 16 * uint32_t(l) + (l == 5 ? dst_shift : 0);
  m::cp_async16(dst, src + 16 * l + (l == 5 ? src_shift : 0), src_bytes);
  m::cp_async4(512 + 4 * uint32_t(l), src + 4 * l);
  m::cp_async_commit();
  m::cp_async_wait<0>();
}
__global__ void ldmatrix_kernel(uint32_t* out, uint32_t shift) {
  uint32_t r[4];
  kaito::nf4_mma::ldmatrix_x4(r, 16 * uint32_t(emu::lane()) + (emu::lane() == 5 ? shift : 0));
  out[emu::lane()] = r[0];
}
void async_copy(uint32_t dst_shift, int src_shift, int src_bytes) {
  alignas(16) static unsigned char src[32 * 16 + 16] = {};
  KAITO_LAUNCH(1, 32, 1024, nullptr, async_copy_kernel)(src, dst_shift, src_shift, src_bytes);
}
void ldmatrix(uint32_t shift) {
  std::vector<uint32_t> out(32);
  KAITO_LAUNCH(1, 32, 1024, nullptr, ldmatrix_kernel)(out.data(), shift);
}

TEST(emu_ptx, aligned_copies_and_loads_run) {
  async_copy(0, 0, 16);
  async_copy(0, 3, 0);  // zero-fill: the global address is not read
  ldmatrix(0);
}

TEST(emu_ptxDeathTest, misaligned_addresses_are_refused_as_the_gpu_does) {
  EXPECT_DEATH(async_copy(8, 0, 16), "emu: cp.async: shared address 0x58 is not 16-byte aligned");
  EXPECT_DEATH(async_copy(0, 4, 16),
               "emu: cp.async: global address 0x[0-9a-f]+ is not 16-byte "
               "aligned \\(block \\(0,0,0\\), thread \\(5,0,0\\)\\)");
  EXPECT_DEATH(ldmatrix(2), "emu: ldmatrix: shared address 0x52 is not 16-byte aligned");
}

// KAITO_EMU_SCHEDULE=reverse (emu::fib::reverse_order) exposes a missing barrier: first to last,
// thread t reads its neighbour's slot before the neighbour wrote it; last to first, after.
TEST(emu_fibers, the_reverse_schedule_changes_what_a_race_reads) {
  const bool saved = emu::fib::reverse_order;
  std::vector<int> fwd(64, -1), rev(64, -1);
  emu::fib::reverse_order = false;
  KAITO_LAUNCH(1, 64, 0, nullptr, racy_kernel)(fwd.data());
  emu::fib::reverse_order = true;
  KAITO_LAUNCH(1, 64, 0, nullptr, racy_kernel)(rev.data());
  emu::fib::reverse_order = saved;
  EXPECT_EQ(fwd[0], -1);  // thread 1 had not written: the block's shared memory starts as 0xFF
  EXPECT_EQ(rev[0], 1);   // thread 1 ran (and wrote) before thread 0
  EXPECT_NE(fwd, rev);
  // and the blocks of a grid run last to first
  unsigned counter = 0;
  std::vector<unsigned> order(5);
  emu::fib::reverse_order = true;
  KAITO_LAUNCH(5, 32, 0, nullptr, ticket_kernel)(&counter, order.data());
  emu::fib::reverse_order = saved;
  EXPECT_EQ(order, (std::vector<unsigned>{4, 3, 2, 1, 0}));
}

TEST(emu_runtime, dynamic_shared_memory_needs_the_attribute_above_48k) {
  const int n = 64 * 1024;
  std::vector<unsigned char> out(n);
  KAITO_LAUNCH(1, 128, size_t(n), nullptr, smem_kernel)(out.data(), n);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // read and cleared
  ASSERT_EQ(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n),
            cudaSuccess);
  KAITO_LAUNCH(1, 128, size_t(n), nullptr, smem_kernel)(out.data(), n);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], (unsigned char)((n - 1 - i) & 0x7f)) << i;
  EXPECT_EQ(
      cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024),
      cudaErrorInvalidValue);  // above the opt-in limit
}

TEST(emu_runtime, bad_configurations_and_frees) {
  int x = 0;
  KAITO_LAUNCH(1, 1025, 0, nullptr, add_kernel)(&x, 1);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  KAITO_LAUNCH(dim3(1, 70000), 1, 0, nullptr, add_kernel)(&x, 1);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(x, 0);
  EXPECT_EQ(cudaFree(&x), cudaErrorInvalidValue);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 100), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // twice
  (void)cudaGetLastError();
}

TEST(emu_runtime, a_graph_replays_the_arguments_of_its_capture) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  std::vector<int> v(4, 0);
  int add = 5;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  KAITO_LAUNCH(1, 4, 0, s, add_kernel)(v.data(), add);
  EXPECT_EQ(v[0], 0);  // recorded, not run
  cudaGraph_t g = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  cudaGraphExec_t e = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&e, g, 0), cudaSuccess);
  add = 100;  // a host value changed after the capture does not reach the graph
  ASSERT_EQ(cudaGraphLaunch(e, s), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(e, s), cudaSuccess);
  for (int x : v) EXPECT_EQ(x, 10);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  // synchronizing the capturing stream invalidates the capture
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_NE(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(g, nullptr);
  (void)cudaGetLastError();
  cudaStreamDestroy(s);
}

TEST(emu_runtime, copies_2d) {
  std::vector<uint8_t> src(5 * 8), dst(3 * 6, 0xEE);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i);
  ASSERT_EQ(cudaMemcpy2D(dst.data(), 6, src.data(), 8, 4, 3, cudaMemcpyDefault), cudaSuccess);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 6; ++c)
      EXPECT_EQ(dst[size_t(r * 6 + c)], c < 4 ? uint8_t(r * 8 + c) : 0xEE);
  EXPECT_EQ(cudaMemcpy2D(dst.data(), 2, src.data(), 8, 4, 3, cudaMemcpyDefault),
            cudaErrorInvalidPitchValue);
  (void)cudaGetLastError();
}

// Every op(A), op(B) pair, m past the emulation's row block (64) with a partial block, fp32 C = D
// with beta != 0, random bf16 values: each element is bit for bit alpha * (its fp32 sum over k in
// ascending order) + beta * C, what the header of cublaslt_emu.cpp promises.
TEST(emu_cublaslt, every_transpose_sums_in_k_order_bit_for_bit) {
  const int m = 70, n = 3, k = 37;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<__nv_bfloat16> A(size_t(m) * k), B(size_t(k) * n);
  for (auto& x : A) x = __float2bfloat16(u(rng));
  for (auto& x : B) x = __float2bfloat16(u(rng));
  std::vector<float> C0(size_t(m) * n);
  for (auto& x : C0) x = u(rng);
  const float alpha = 0.75f, beta = -1.25f;
  cublasLtHandle_t h;
  ASSERT_EQ(cublasLtCreate(&h), CUBLAS_STATUS_SUCCESS);
  for (const cublasOperation_t ta : {CUBLAS_OP_N, CUBLAS_OP_T})
    for (const cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
      // op(A)(i, p) and op(B)(p, j) in A and B's column-major storage
      const auto a = [&](int i, int p) { return ta == CUBLAS_OP_N ? A[i + p * m] : A[p + i * k]; };
      const auto b = [&](int p, int j) { return tb == CUBLAS_OP_N ? B[p + j * k] : B[j + p * n]; };
      cublasLtMatmulDesc_t op;
      ASSERT_EQ(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                CUBLAS_STATUS_SUCCESS);
      ASSERT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
                CUBLAS_STATUS_SUCCESS);
      ASSERT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
                CUBLAS_STATUS_SUCCESS);
      cublasLtMatrixLayout_t la, lb, lc;
      ASSERT_EQ(ta == CUBLAS_OP_N ? cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, m, k, m)
                                  : cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, k),
                CUBLAS_STATUS_SUCCESS);
      ASSERT_EQ(tb == CUBLAS_OP_N ? cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k)
                                  : cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, n, k, n),
                CUBLAS_STATUS_SUCCESS);
      ASSERT_EQ(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, m), CUBLAS_STATUS_SUCCESS);
      std::vector<float> D = C0;
      ASSERT_EQ(cublasLtMatmul(h, op, &alpha, A.data(), la, B.data(), lb, &beta, D.data(), lc,
                               D.data(), lc, nullptr, nullptr, 0, nullptr),
                CUBLAS_STATUS_SUCCESS);
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
          float acc = 0.0f;
          for (int p = 0; p < k; ++p) acc += __bfloat162float(a(i, p)) * __bfloat162float(b(p, j));
          float want = alpha * acc;
          want += beta * C0[size_t(i + j * m)];
          ASSERT_EQ(std::memcmp(&D[size_t(i + j * m)], &want, sizeof(float)), 0)
              << "ta " << ta << " tb " << tb << " i " << i << " j " << j;
        }
      cublasLtMatrixLayoutDestroy(la);
      cublasLtMatrixLayoutDestroy(lb);
      cublasLtMatrixLayoutDestroy(lc);
      cublasLtMatmulDescDestroy(op);
    }
  cublasLtDestroy(h);
}

TEST(emu_cublaslt, transposed_product_with_bias) {
  // D (m x n, col-major) = A^T (A stored k x m) * B (k x n) + bias[m]
  const int m = 3, n = 2, k = 4;
  std::vector<__nv_bfloat16> A(k * m), B(k * n), bias(m), D(m * n);
  for (int i = 0; i < k * m; ++i) A[i] = __float2bfloat16(float(i % 5) - 2.0f);
  for (int i = 0; i < k * n; ++i) B[i] = __float2bfloat16(0.5f * float(i % 3));
  for (int i = 0; i < m; ++i) bias[i] = __float2bfloat16(float(i));
  cublasLtHandle_t h;
  ASSERT_EQ(cublasLtCreate(&h), CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulDesc_t op;
  ASSERT_EQ(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  const cublasOperation_t t = CUBLAS_OP_T;
  const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  const void* bp = bias.data();
  ASSERT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)),
            CUBLAS_STATUS_SUCCESS);
  cublasLtMatrixLayout_t la, lb, ld;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, k), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, m, n, m), CUBLAS_STATUS_SUCCESS);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(h, op, &alpha, A.data(), la, B.data(), lb, &beta, D.data(), ld, D.data(),
                           ld, nullptr, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float want = float(i);
      for (int p = 0; p < k; ++p)
        want += __bfloat162float(A[i * k + p]) * __bfloat162float(B[j * k + p]);
      EXPECT_EQ(__bfloat162float(D[j * m + i]), __bfloat162float(__float2bfloat16(want)));
    }
  const cublasOperation_t bad = CUBLAS_OP_C;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &bad, sizeof(bad)),
            CUBLAS_STATUS_NOT_SUPPORTED);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(h);
}

}  // namespace
