// cuda_emulation.h: runs CUDA kernel source on the CPU, for machines without a GPU. Two uses:
//   kernel tests: a host-compiled test #includes a kernel's .cu after this header (with
//     KAITO_CUDA_EMULATE defined, the .cu files leave out their host launchers: the test drives
//     the kernel itself with emu::run);
//   the emulated CUDA runtime (tests/cuda/emu/): with KAITO_CUDA_EMULATE_RUNTIME also defined,
//     whole .cu files (launchers included) compile as C++ against it, so the engine's GPU model
//     runs on the CPU; KAITO_LAUNCH (kernels/cuda/launch.cuh) becomes emu::launcher.
// nf4_mma_common.cuh's inline PTX is left out under KAITO_CUDA_EMULATE: mma_emulation.h has it.
//   thread model: blocks one at a time (x fastest, then y, then z; all reversed under
//     KAITO_EMU_SCHEDULE=reverse, with the threads between barriers); a block's threads are fibers
//     (one stack each, switched cooperatively on the calling OS thread: deterministic, and a
//     switch costs nanoseconds, not a futex); blockDim may be 3-D; __syncthreads waits for the
//     block's threads that have not returned (a thread that returns early leaves the barrier,
//     as an exited thread does on the GPU); a round of switches in which no thread gets past a
//     barrier is a deadlock (threads of one block at different barriers), reported, then abort;
//     `__shared__` variables are function statics, shared by the block's threads;
//   warps are 32 consecutive linear thread indices; warp collectives (__shfl_xor_sync,
//     __shfl_sync, mma_emulation.h's ldmatrix and mma) exchange values through two alternating
//     per-warp slots with one warp barrier per op, so every lane of a warp must reach every
//     collective (as on the GPU with a full mask); __syncwarp is a barrier of the warp;
//   dynamic shared memory (KAITO_DYNAMIC_SMEM) is emu::dynamic_smem: emu::default_smem (256 KB)
//     for kernel tests, a buffer of exactly the launch's bytes (poisoned) for emulated launches;
//   AddressSanitizer is told of every stack switch (__sanitizer_start/finish_switch_fiber).
// Only for tests: slow, x86-64 only, no memory model beyond the barriers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__)
#error "tests/cuda/cuda_emulation.h switches fiber stacks with x86-64 code"
#endif

#define KAITO_CUDA_EMULATE 1
#ifndef KAITO_CUDA_EMULATE_RUNTIME
#define KAITO_CUDA_NO_LAUNCHERS 1  // kernel tests drive the kernels themselves
#endif
// A block's __shared__ variables are one object for all its threads: function statics here
// (the blocks run one at a time), all in the section emu_shared, which is filled with 0xFF bytes
// (NaN) before every block: a read of shared memory the block did not write shows, as the
// GPU's leftovers would. Kernels write `__shared__`, never `static __shared__`.
#undef __shared__
#define __shared__ static __attribute__((section("emu_shared"), aligned(16)))
#ifndef __launch_bounds__  // (host_defines.h defines it for nvcc only)
#define __launch_bounds__(...)
#endif

// threadIdx is the running fiber's; the fibers of a block run on one OS thread.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim, gridDim;

namespace emu {

constexpr int kMaxWarps = 32;
constexpr size_t kFiberStack = 256 * 1024;  // per CUDA thread (AddressSanitizer's redzones too)

struct warp_slot {
  uint32_t u[32][8];  // per lane: up to 8 words of one collective op
};
inline warp_slot slots[kMaxWarps][2];  // alternating per op: see the header comment
inline unsigned op_count = 0;          // the running fiber's count of collective ops

alignas(128) inline unsigned char default_smem[256 * 1024];
inline unsigned char* dynamic_smem = default_smem;  // what KAITO_DYNAMIC_SMEM names

inline unsigned linear_tid() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
inline int lane() {
  return int(linear_tid() & 31u);
}
inline unsigned warp_index() {
  return linear_tid() >> 5;
}
// This op's exchange slot of the calling thread's warp.
inline warp_slot& slot() {
  return slots[warp_index()][op_count & 1];
}

// ---- fibers: one per CUDA thread of the running block, switched cooperatively ----
namespace fib {

// Saves the callee-saved registers on the current stack, stores its pointer in *save, switches
// to the stack `to` (made by this function or by start_frame) and returns there.
__attribute__((naked, noinline)) inline void switch_stack(void** /*save*/, void* /*to*/) {
  asm volatile(
      "pushq %rbp\n\t"
      "pushq %rbx\n\t"
      "pushq %r12\n\t"
      "pushq %r13\n\t"
      "pushq %r14\n\t"
      "pushq %r15\n\t"
      "movq %rsp, (%rdi)\n\t"
      "movq %rsi, %rsp\n\t"
      "popq %r15\n\t"
      "popq %r14\n\t"
      "popq %r13\n\t"
      "popq %r12\n\t"
      "popq %rbx\n\t"
      "popq %rbp\n\t"
      "ret\n\t");
}

struct fiber {
  void* sp = nullptr;
  void* fake_stack = nullptr;  // AddressSanitizer's, while switched out
  unsigned char* stack = nullptr;
  uint3 tid{};
  unsigned op_count = 0;
  bool done = false;
  int waiting = 0;  // 0 running, 1 at __syncthreads, 2 at a warp collective
};
struct barrier {
  unsigned arrived = 0, generation = 0;
};

struct block_state {
  std::vector<fiber> fibers;
  std::vector<unsigned char*> stacks;  // mmap'ed, kept across grids
  unsigned current = 0, live = 0;
  unsigned live_in_warp[kMaxWarps] = {};
  barrier block, warp[kMaxWarps];
  uint64_t progress = 0;  // arrivals and exits: a round of yields without any is a deadlock
  void* main_sp = nullptr;
  void* main_fake_stack = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  const std::function<void()>* kernel = nullptr;
  const std::function<void()>* per_thread_init = nullptr;
};
inline block_state bs;

inline void start_switch([[maybe_unused]] void** fake_save, [[maybe_unused]] const void* bottom,
                         [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#endif
}
inline void finish_switch([[maybe_unused]] void* fake, [[maybe_unused]] const void** old_bottom,
                          [[maybe_unused]] size_t* old_size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#endif
}

// The next fiber after `from` that has not returned; `from` itself when it is the only one.
// KAITO_EMU_SCHEDULE=reverse runs a block's threads last to first between barriers, and a grid's
// blocks last to first (the default is first to last). A kernel that is right gives the same bits
// either way; one that reads what another thread writes without a barrier between them reads
// stale data in one of the two.
inline bool reverse_order = [] {
  const char* e = std::getenv("KAITO_EMU_SCHEDULE");
  return e != nullptr && std::strcmp(e, "reverse") == 0;
}();
inline unsigned next_live(unsigned from) {
  const unsigned n = unsigned(bs.fibers.size());
  for (unsigned k = 1; k <= n; ++k) {
    const unsigned i = reverse_order ? (from + n - k) % n : (from + k) % n;
    if (!bs.fibers[i].done) return i;
  }
  return from;
}

// From the running fiber to fiber `to` (to the main stack when `to` is n: the block is over).
inline void switch_to(unsigned to, bool dying) {
  fiber& me = bs.fibers[bs.current];
  me.op_count = op_count;
  void** save = &me.sp;
  void* dead_sp = nullptr;
  if (dying) save = &dead_sp;
  if (to == bs.fibers.size()) {
    start_switch(nullptr, bs.main_bottom, bs.main_size);
    switch_stack(save, bs.main_sp);
    __builtin_unreachable();
  }
  fiber& next = bs.fibers[to];
  bs.current = to;
  threadIdx = next.tid;
  op_count = next.op_count;
  start_switch(dying ? nullptr : &me.fake_stack, next.stack, kFiberStack);
  switch_stack(save, next.sp);
  finish_switch(me.fake_stack, nullptr, nullptr);  // resumed
}

[[noreturn]] inline void deadlock() {
  std::fprintf(stderr, "emu: deadlock in block (%u,%u,%u):", blockIdx.x, blockIdx.y, blockIdx.z);
  for (const fiber& f : bs.fibers)
    if (!f.done)
      std::fprintf(stderr, " t%u:%s", f.tid.x + blockDim.x * (f.tid.y + blockDim.y * f.tid.z),
                   f.waiting == 1 ? "syncthreads" : "warp");
  std::fprintf(stderr, "\n(threads of one block wait at different barriers)\n");
  std::abort();
}

// Arrive at `b` (expecting `expected` fibers) and wait for the rest, running the other fibers.
inline void arrive_and_wait(barrier& b, const unsigned& expected, int kind) {
  const unsigned gen = b.generation;
  ++bs.progress;
  if (++b.arrived == expected) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  fiber& me = bs.fibers[bs.current];
  me.waiting = kind;
  const unsigned self = bs.current;
  while (b.generation == gen) {
    const uint64_t seen = bs.progress;
    switch_to(next_live(self), false);
    if (b.generation == gen && bs.progress == seen) deadlock();  // a round without progress
  }
  me.waiting = 0;
}

// A fiber's returned: it leaves its block and warp barriers (as an exited GPU thread does).
inline void leave(barrier& b, unsigned& expected) {
  --expected;
  if (b.arrived > 0 && b.arrived == expected) {
    b.arrived = 0;
    ++b.generation;
  }
}

[[noreturn]] inline void entry() {
  if (bs.main_bottom == nullptr) {
    finish_switch(nullptr, &bs.main_bottom, &bs.main_size);  // entered from the main stack
  } else {
    finish_switch(nullptr, nullptr, nullptr);
  }
  if (*bs.per_thread_init) (*bs.per_thread_init)();
  (*bs.kernel)();
  fiber& me = bs.fibers[bs.current];
  me.done = true;
  ++bs.progress;
  leave(bs.block, bs.live);
  leave(bs.warp[linear_tid() >> 5], bs.live_in_warp[linear_tid() >> 5]);
  const unsigned next = next_live(bs.current);
  switch_to(next == bs.current ? unsigned(bs.fibers.size()) : next, true);
  __builtin_unreachable();
}

// A fresh frame on fiber i's stack that "returns" into entry().
inline void start_frame(fiber& f) {
#if defined(__SANITIZE_ADDRESS__)
  // the frames a returned fiber never unwound left their redzones poisoned
  __asan_unpoison_memory_region(f.stack, kFiberStack);
#endif
  auto top = reinterpret_cast<uintptr_t>(f.stack + kFiberStack) & ~uintptr_t(15);
  auto* frame = reinterpret_cast<void**>(top) - 8;  // 6 registers, entry, a fake return address
  for (int r = 0; r < 6; ++r) frame[r] = nullptr;
  frame[6] = reinterpret_cast<void*>(&entry);
  frame[7] = nullptr;  // entry() starts as if called: rsp = 8 mod 16
  f.sp = frame;
}

}  // namespace fib

// The linker's bounds of emu_shared (weak: a program without __shared__ variables has none).
extern "C" unsigned char __start_emu_shared[] __attribute__((weak));
extern "C" unsigned char __stop_emu_shared[] __attribute__((weak));
// (not instrumented: the section may hold AddressSanitizer's redzones between the variables)
__attribute__((no_sanitize_address, noinline)) inline void poison_shared_statics() {
  if (__start_emu_shared == nullptr) return;
  for (volatile unsigned char* b = __start_emu_shared; b < __stop_emu_shared; ++b) *b = 0xFF;
}

inline std::mutex& run_mutex() {
  static std::mutex m;
  return m;
}

// Runs `kernel` for every block of `grid` with `block` threads (at most 1024), the blocks one
// after another, each block's threads as fibers on the calling OS thread. `per_thread_init`
// runs in each thread before each block (test state); `per_block_init` once before each block.
inline void run(dim3 grid, dim3 block, const std::function<void()>& kernel,
                const std::function<void()>& per_thread_init = {},
                const std::function<void()>& per_block_init = {}) {
  using namespace fib;
  std::lock_guard<std::mutex> lock(run_mutex());
  const unsigned threads = block.x * block.y * block.z;
  const unsigned blocks = grid.x * grid.y * grid.z;
  if (threads == 0 || blocks == 0) return;
  if (threads > 32u * kMaxWarps) {
    std::fprintf(stderr, "emu: %u threads per block (at most %d)\n", threads, 32 * kMaxWarps);
    std::abort();
  }
  gridDim = grid;
  blockDim = block;
  while (bs.stacks.size() < threads) {
    void* s = mmap(nullptr, kFiberStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) {
      std::fprintf(stderr, "emu: no memory for a fiber stack\n");
      std::abort();
    }
    bs.stacks.push_back(static_cast<unsigned char*>(s));
  }
  bs.kernel = &kernel;
  bs.per_thread_init = &per_thread_init;
  const unsigned warps = (threads + 31) / 32;
  for (unsigned i = 0; i < blocks; ++i) {
    // (reversed too: a kernel that counts on a block order, such as block 0 initializing what
    // the others read, or the last block to arrive being the grid's last, shows in one order)
    const unsigned b = reverse_order ? blocks - 1 - i : i;
    blockIdx = make_uint3(b % grid.x, (b / grid.x) % grid.y, b / (grid.x * grid.y));
    poison_shared_statics();
    if (per_block_init) per_block_init();
    bs.fibers.assign(threads, fiber{});
    for (unsigned t = 0; t < threads; ++t) {
      fiber& f = bs.fibers[t];
      f.stack = bs.stacks[t];
      f.tid = make_uint3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
      start_frame(f);
    }
    bs.live = threads;
    bs.block = barrier{};
    for (unsigned w = 0; w < warps; ++w) {
      bs.warp[w] = barrier{};
      bs.live_in_warp[w] = std::min(32u, threads - 32 * w);
    }
    const unsigned first = reverse_order ? threads - 1 : 0;
    bs.current = first;
    threadIdx = bs.fibers[first].tid;
    op_count = 0;
    bs.main_bottom = nullptr;
    start_switch(&bs.main_fake_stack, bs.fibers[first].stack, kFiberStack);
    switch_stack(&bs.main_sp, bs.fibers[first].sp);
    finish_switch(bs.main_fake_stack, nullptr, nullptr);  // every fiber has returned
  }
}
inline void run(dim3 grid, int threads, const std::function<void()>& kernel,
                const std::function<void()>& per_thread_init = {},
                const std::function<void()>& per_block_init = {}) {
  run(grid, dim3(unsigned(threads)), kernel, per_thread_init, per_block_init);
}

// A warp collective: publish (the caller writes slot().u[lane()]), wait for the warp, read,
// then next().
inline void warp_wait() {
  const unsigned w = warp_index();
  fib::arrive_and_wait(fib::bs.warp[w], fib::bs.live_in_warp[w], 2);
}
inline void next() {
  ++op_count;
}

// ---- the emulated runtime's launch (KAITO_LAUNCH; defined in tests/cuda/emu/) ----
struct launch_config {
  dim3 grid, block;
  size_t smem_bytes;
  cudaStream_t stream;
  const void* func;
  const char* name;  // the kernel as the launch spells it (for traces)
};
// cudaSuccess, or the error the runtime gives this configuration (also made the last error).
cudaError_t check_launch(const launch_config& cfg);
// Runs `work` in stream order: now, or recorded into the graph the stream is capturing.
void enqueue(cudaStream_t stream, std::function<void()> work);
// Runs `work`, and with KAITO_EMU_TRACE set reports it (and the NaNs it made) on stderr.
void traced(const std::string& label, const std::function<void()>& work);
// Runs one grid: dynamic shared memory of exactly cfg.smem_bytes (poisoned), then run().
void run_grid(const launch_config& cfg, const std::function<void()>& kernel);

template <class... Params>
struct launch_call {
  launch_config cfg;
  void (*kernel)(Params...);
  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with wrong arity");
    if (check_launch(cfg) != cudaSuccess) return;
    std::tuple<std::decay_t<Params>...> a(static_cast<std::decay_t<Params>>(args)...);
    enqueue(cfg.stream, [cfg = cfg, k = kernel, a = std::move(a)] {
      run_grid(cfg, [&] { std::apply(k, a); });
    });
  }
};
template <class... Params>
launch_call<Params...> launcher(dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                                void (*kernel)(Params...), const char* name) {
  return {
      launch_config{grid, block, smem_bytes, stream, reinterpret_cast<const void*>(kernel), name},
      kernel};
}

}  // namespace emu

inline void __syncthreads() {
  emu::fib::arrive_and_wait(emu::fib::bs.block, emu::fib::bs.live, 1);
}

// Host versions of the device math the kernels spell out (IEEE fp32, round to nearest even: the
// emulation tests build with -ffp-contract=off, so nothing is fused) and CUDA's min/max.
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline float __fsub_rn(float a, float b) {
  return a - b;
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fdiv_rn(float a, float b) {
  return a / b;
}
inline float __fsqrt_rn(float a) {
  return std::sqrt(a);
}
// The GPU's rsqrtf is an approximation (<= 2 ulp); this one is correctly rounded 1/sqrt, so an
// emulated kernel matches the GPU to within those ulps, and itself exactly.
inline float rsqrtf(float a) {
  return 1.0f / std::sqrt(a);
}
// Read-only and streaming loads are plain loads here.
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
// Global-memory fences and atomics: the emulation's memory model is its barriers, and a grid's
// blocks run one after another, so a fence is a host fence and an atomic a host atomic.
inline void __threadfence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  return std::atomic_ref<unsigned>(*p).fetch_add(v);
}
inline float atomicAdd(float* p, float v) {
  return std::atomic_ref<float>(*p).fetch_add(v);
}
inline void __nanosleep(unsigned ns) {
  std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}
// nvcc's cuda_runtime.h takes a kernel for cudaFuncSetAttribute; the host headers only a void*.
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}
template <class T>
inline T min(T a, T b) {
  return b < a ? b : a;
}
template <class T>
inline T max(T a, T b) {
  return a < b ? b : a;
}

inline int __shfl_xor_sync(unsigned /*mask: full warps only*/, int v, int lane_mask) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  int r;
  std::memcpy(&r, &emu::slot().u[emu::lane() ^ lane_mask][0], 4);
  emu::next();
  return r;
}

inline float __shfl_xor_sync(unsigned /*mask: full warps only*/, float v, int lane_mask) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  float r;
  std::memcpy(&r, &emu::slot().u[emu::lane() ^ lane_mask][0], 4);
  emu::next();
  return r;
}

inline float __shfl_sync(unsigned /*mask: full warps only*/, float v, int src_lane) {
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 4);
  emu::warp_wait();
  float r;
  std::memcpy(&r, &emu::slot().u[src_lane & 31][0], 4);
  emu::next();
  return r;
}

// 64-bit indices (CUDA's long and long long overloads).
template <class T>
inline T shfl_sync_8(T v, int src_lane) {
  static_assert(sizeof(T) == 8);
  std::memcpy(&emu::slot().u[emu::lane()][0], &v, 8);
  emu::warp_wait();
  T r;
  std::memcpy(&r, &emu::slot().u[src_lane & 31][0], 8);
  emu::next();
  return r;
}
inline long __shfl_sync(unsigned /*mask: full warps only*/, long v, int src_lane) {
  return shfl_sync_8(v, src_lane);
}
inline long long __shfl_sync(unsigned /*mask: full warps only*/, long long v, int src_lane) {
  return shfl_sync_8(v, src_lane);
}

// A barrier of the calling thread's warp (no exchange slot: safe between collectives).
inline void __syncwarp(unsigned /*mask: full warps only*/ = 0xffffffffu) {
  emu::warp_wait();
}
