// mma_emulation.h: the PTX that the tensor-core kernels use (kernels/cuda/nf4_mma_common.cuh's
// wrappers, namespace kaito::nf4_mma) emulated on the CPU from the PTX ISA's definitions, for the
// tests that compile those kernels on the host after tests/cuda/cuda_emulation.h:
//   cp.async (16 bytes with zero-fill, 4 bytes), commit_group, wait_group N: copies are queued per
//     thread and land at the wait that retires their group (lazy mode) or at issue (eager mode:
//     emu::eager_copies); both addresses aligned to the copy's size, as the GPU requires;
//   ldmatrix.x4 (.trans): lane l supplies the (16-byte aligned) row address of matrix l/8, row
//     l%8; register m of lane l = (row l/4, elements 2(l%4), +1) of matrix m (.trans: rows
//     2(l%4), +1; element l/4);
//   prmt.b32 (default mode, sign replication included);
//   mma.m16n8k16.row.col bf16 -> f32: a0..a3 = A(g, 2t..2t+1), A(g+8, ...), A(g, 2t+8..),
//     A(g+8, 2t+8..); b0, b1 = B(2t..2t+1, g), B(2t+8.., g); c = (g, 2t..2t+1), (g+8, 2t..2t+1),
//     with g = lane/4, t = lane%4 and the lower index in the lower 16 bits.
// Shared addresses are offsets into the block's dynamic shared memory, emu::dynamic_smem (what the
// kernels' KAITO_DYNAMIC_SMEM names); kernel tests see it as kaito::(anonymous)::smem.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "tests/cuda/cuda_emulation.h"

namespace emu {
inline bool eager_copies =
    false;  // cp.async copies land at issue (else at the retiring wait_group)
}  // namespace emu

namespace kaito {
namespace {
// The block's dynamic shared memory as kernel tests see it (what they poison between blocks).
[[maybe_unused]] unsigned char (&smem)[sizeof(emu::default_smem)] = emu::default_smem;
}  // namespace
}  // namespace kaito

namespace kaito::nf4_mma {

inline uint32_t smem_addr(const void* p) {
  return uint32_t(static_cast<const unsigned char*>(p) - emu::dynamic_smem);
}

struct pending_copy {
  unsigned char* dst;
  const unsigned char* src;
  int bytes, src_bytes;
  void run() const {
    std::memcpy(dst, src, size_t(src_bytes));
    std::memset(dst + src_bytes, 0, size_t(bytes - src_bytes));
  }
};
// Each CUDA thread's cp.async groups: the open one and those committed, oldest first.
struct copy_queues {
  std::vector<pending_copy> open;
  std::deque<std::vector<pending_copy>> committed;
  bool empty() const { return open.empty() && committed.empty(); }
  void clear() {
    open.clear();
    committed.clear();
  }
};
inline copy_queues queues_of[32 * emu::kMaxWarps];
inline copy_queues& queues() {
  return queues_of[emu::linear_tid()];
}

// The PTX ISA's alignment rules, which the GPU enforces ("misaligned address") and x86 does not:
// cp.async's shared and global addresses are aligned to its size (a zero-fill copy reads
// nothing, so its global address is not checked); ldmatrix's row addresses to 16 bytes. Shared
// addresses here are offsets from the block's dynamic shared memory, whose base the GPU aligns
// to at least 16 bytes.
[[noreturn]] inline void misaligned(const char* op, const char* space, uintptr_t addr, int align) {
  std::fprintf(stderr,
               "emu: %s: %s address 0x%llx is not %d-byte aligned (block (%u,%u,%u), thread "
               "(%u,%u,%u))\n",
               op, space, static_cast<unsigned long long>(addr), align, blockIdx.x, blockIdx.y,
               blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  std::abort();
}

inline void queue_copy(uint32_t dst, const void* src, int bytes, int src_bytes) {
  if (dst % uint32_t(bytes) != 0) misaligned("cp.async", "shared", dst, bytes);
  if (src_bytes > 0 && reinterpret_cast<uintptr_t>(src) % uintptr_t(bytes) != 0)
    misaligned("cp.async", "global", reinterpret_cast<uintptr_t>(src), bytes);
  const pending_copy c{emu::dynamic_smem + dst, static_cast<const unsigned char*>(src), bytes,
                       src_bytes};
  if (emu::eager_copies) {
    c.run();
  } else {
    queues().open.push_back(c);
  }
}
inline void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  queue_copy(dst, src, 16, src_bytes);
}
inline void cp_async4(uint32_t dst, const void* src) {
  queue_copy(dst, src, 4, 4);
}
inline void cp_async_commit() {
  copy_queues& q = queues();
  q.committed.push_back(std::move(q.open));
  q.open.clear();
}
template <int N>
void cp_async_wait() {
  copy_queues& q = queues();
  while (q.committed.size() > size_t(N)) {
    for (const pending_copy& c : q.committed.front()) c.run();
    q.committed.pop_front();
  }
}

inline uint16_t smem_u16(uint32_t addr) {
  uint16_t v;
  std::memcpy(&v, emu::dynamic_smem + addr, 2);
  return v;
}

inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  if (addr % 16 != 0) misaligned("ldmatrix", "shared", addr, 16);
  const int l = emu::lane();
  emu::slot().u[l][0] = addr;
  emu::warp_wait();
  for (int m = 0; m < 4; ++m) {
    const uint32_t row = emu::slot().u[8 * m + l / 4][0];
    r[m] = uint32_t(smem_u16(row + 4 * (l % 4))) | uint32_t(smem_u16(row + 4 * (l % 4) + 2)) << 16;
  }
  emu::next();
}

inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  if (addr % 16 != 0) misaligned("ldmatrix", "shared", addr, 16);
  const int l = emu::lane();
  emu::slot().u[l][0] = addr;
  emu::warp_wait();
  for (int m = 0; m < 4; ++m) {
    const uint32_t row0 = emu::slot().u[8 * m + 2 * (l % 4)][0],
                   row1 = emu::slot().u[8 * m + 2 * (l % 4) + 1][0];
    r[m] = uint32_t(smem_u16(row0 + 2 * (l / 4))) | uint32_t(smem_u16(row1 + 2 * (l / 4))) << 16;
  }
  emu::next();
}

inline float bf16_half(uint32_t reg, int hi) {
  const uint32_t bits = hi ? (reg & 0xffff0000u) : (reg << 16);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const int l = emu::lane();
  uint32_t* mine = emu::slot().u[l];
  for (int i = 0; i < 4; ++i) mine[i] = a[i];
  mine[4] = b0;
  mine[5] = b1;
  emu::warp_wait();
  auto A = [&](int r, int k) {  // register (r >= 8) + 2 (k >= 8) of lane (r%8)*4 + (k%8)/2
    return bf16_half(emu::slot().u[(r % 8) * 4 + (k % 8) / 2][(r >= 8) + 2 * (k >= 8)], k % 2);
  };
  auto B = [&](int k, int n) {  // b0 (k < 8) or b1 of lane n*4 + (k%8)/2
    return bf16_half(emu::slot().u[n * 4 + (k % 8) / 2][4 + (k >= 8)], k % 2);
  };
  const int g = l / 4, t = l % 4;
  float d[4];
  for (int e = 0; e < 4; ++e) {
    const int r = g + 8 * (e / 2), n = 2 * t + e % 2;
    float s = c[e];
    for (int k = 0; k < 16; ++k) s += A(r, k) * B(k, n);
    d[e] = s;
  }
  emu::next();
  for (int e = 0; e < 4; ++e) c[e] = d[e];
}

// prmt.b32, default mode (PTX ISA): selector nibble n picks byte s<2:0> of {b, a}; s<3> set
// replicates that byte's sign bit instead.
inline uint32_t prmt(uint32_t a, uint32_t b, uint32_t s) {
  const uint64_t src = uint64_t(b) << 32 | a;
  uint32_t d = 0;
  for (int n = 0; n < 4; ++n) {
    const uint32_t sel = (s >> (4 * n)) & 15u;
    uint32_t byte = uint32_t(src >> (8 * (sel & 7u))) & 0xffu;
    if (sel & 8u) byte = (byte & 0x80u) ? 0xffu : 0x00u;
    d |= byte << (8 * n);
  }
  return d;
}

}  // namespace kaito::nf4_mma
