// The AdamW kernels (kernels/cuda/adamw.cu) run on the CPU (tests/cuda/cuda_emulation.h), launched
// as adamw_update_multi_cuda and adamw_update_cuda launch them (the same table, grid and block),
// against adamw_update_cpu (kernels/adamw.h), which they claim to match bit for bit: tensors of
// odd sizes around the 4096-element chunk (one launch for all, empty tensors skipped), weight
// decay on and off, steps 1 and 10, both branches of torch's lerp, a few chained steps.
// Every tensor is its own allocation, so AddressSanitizer catches a chunk running past one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "kernels/adamw.h"
#include "kernels/cuda/adamw.cu"  // NOLINT

namespace kaito {
namespace {

struct tensor_state {
  std::vector<float> param, m, v, grad;
};

tensor_state make_state(int64_t n, bool fresh, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  tensor_state s;
  for (int64_t i = 0; i < n; ++i) {
    s.param.push_back(0.5f * g(rng));
    s.grad.push_back(0.01f * g(rng));
    const float m = 0.003f * g(rng), v = 1e-5f * g(rng) * g(rng);
    s.m.push_back(fresh ? 0.0f : m);
    s.v.push_back(fresh ? 0.0f : std::fabs(v));
  }
  if (n > 3) s.grad[3] = 0.0f;  // a zero gradient (v may stay 0: denom = eps)
  return s;
}

adamw_tensor view(tensor_state& s) {
  return adamw_tensor{s.param.empty() ? nullptr : s.param.data(),
                      s.m.empty() ? nullptr : s.m.data(), s.v.empty() ? nullptr : s.v.data(),
                      s.grad.empty() ? nullptr : s.grad.data(), int64_t(s.param.size())};
}

// adamw_update_multi_cuda's launch, kernel emulated (the table lives in host memory here).
void multi_emulated(std::vector<tensor_state>& ts, const adamw_params& hp, int64_t t) {
  std::vector<adamw_tensor> list;
  for (tensor_state& s : ts) list.push_back(view(s));
  int64_t chunks = 0;
  const std::vector<multi_entry> table = multi_table(list.data(), int64_t(list.size()), chunks);
  if (table.empty()) return;
  const adamw_scalars s = scalars_for(hp, t);
  emu::run(dim3(unsigned(chunks)), kAdamwThreads,
           [&] { adamw_multi_kernel(table.data(), int(table.size()), s); });
}

void expect_bitwise(const std::vector<float>& got, const std::vector<float>& want, const char* what,
                    size_t tensor) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    ASSERT_EQ(a, b) << what << " of tensor " << tensor << " element " << i << ": " << got[i]
                    << " vs " << want[i];
  }
}

void expect_multi_matches_cpu(const std::vector<int64_t>& sizes, const adamw_params& hp, int64_t t,
                              bool fresh, int steps, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<tensor_state> gpu, cpu;
  for (int64_t n : sizes) gpu.push_back(make_state(n, fresh, rng));
  cpu = gpu;
  for (int k = 0; k < steps; ++k) {
    multi_emulated(gpu, hp, t + k);
    for (tensor_state& s : cpu)
      adamw_update_cpu(s.param.data(), s.m.data(), s.v.data(), s.grad.data(),
                       int64_t(s.param.size()), hp, t + k);
  }
  for (size_t j = 0; j < sizes.size(); ++j) {
    expect_bitwise(gpu[j].param, cpu[j].param, "param", j);
    expect_bitwise(gpu[j].m, cpu[j].m, "m", j);
    expect_bitwise(gpu[j].v, cpu[j].v, "v", j);
  }
}

// odd sizes around the chunk: 1, a partial chunk, chunk - 1, chunk, chunk + 1, empty, 2+ chunks
const std::vector<int64_t> kSizes = {1, 37, 4095, 4096, 0, 4097, 9000, 255};

TEST(adamw_emulation, multi_tensor_step_1_with_and_without_weight_decay) {
  adamw_params hp;
  hp.lr = 2e-4;
  hp.weight_decay = 0.01;
  expect_multi_matches_cpu(kSizes, hp, 1, /*fresh=*/true, 1, 1);
  hp.weight_decay = 0.0;
  expect_multi_matches_cpu(kSizes, hp, 1, /*fresh=*/true, 1, 2);
}

TEST(adamw_emulation, multi_tensor_step_10_with_and_without_weight_decay) {
  adamw_params hp;
  hp.lr = 1e-3;
  hp.weight_decay = 0.1;
  expect_multi_matches_cpu(kSizes, hp, 10, /*fresh=*/false, 1, 3);
  hp.weight_decay = 0.0;
  expect_multi_matches_cpu(kSizes, hp, 10, /*fresh=*/false, 1, 4);
}

TEST(adamw_emulation, multi_tensor_chained_steps_and_the_other_lerp_branch) {
  adamw_params hp;  // torch defaults, 3 steps from a fresh state
  expect_multi_matches_cpu({5, 4100, 0, 300}, hp, 1, /*fresh=*/true, 3, 5);
  hp.beta1 = 0.3;  // 1 - beta1 >= 0.5: torch lerp's end - (end - self) * (1 - weight) branch
  hp.beta2 = 0.95;
  hp.eps = 1e-6;
  expect_multi_matches_cpu({5, 4100, 300}, hp, 10, /*fresh=*/false, 1, 6);
}

TEST(adamw_emulation, multi_tensor_all_empty_launches_nothing) {
  std::vector<adamw_tensor> list = {{nullptr, nullptr, nullptr, nullptr, 0}};
  int64_t chunks = -1;
  EXPECT_TRUE(multi_table(list.data(), 1, chunks).empty());
  EXPECT_EQ(chunks, 0);
}

TEST(adamw_emulation, multi_tensor_updates_every_element) {
  // The CPU twin changes every param with a nonzero gradient; so must the kernel (a skipped
  // element would keep its start value).
  std::mt19937 rng(9);
  std::vector<tensor_state> ts;
  for (int64_t n : kSizes) ts.push_back(make_state(n, true, rng));
  const std::vector<tensor_state> start = ts;
  multi_emulated(ts, adamw_params{}, 1);
  for (size_t j = 0; j < ts.size(); ++j)
    for (size_t i = 0; i < ts[j].param.size(); ++i)
      if (start[j].grad[i] != 0.0f) ASSERT_NE(ts[j].param[i], start[j].param[i]) << j << " " << i;
}

TEST(adamw_emulation, single_tensor_kernel_matches_the_cpu_twin) {
  // adamw_update_cuda: one thread per element, grid ceil(n / 256).
  std::mt19937 rng(7);
  for (int64_t n : {int64_t(1), int64_t(300), int64_t(1024)}) {
    tensor_state gpu = make_state(n, false, rng), cpu = gpu;
    adamw_params hp;
    const adamw_scalars s = scalars_for(hp, 10);
    emu::run(dim3(unsigned(ceil_div<int64_t>(n, kAdamwThreads))), kAdamwThreads, [&] {
      adamw_kernel(gpu.param.data(), gpu.m.data(), gpu.v.data(), gpu.grad.data(), n, s);
    });
    adamw_update_cpu(cpu.param.data(), cpu.m.data(), cpu.v.data(), cpu.grad.data(), n, hp, 10);
    expect_bitwise(gpu.param, cpu.param, "param", 0);
    expect_bitwise(gpu.m, cpu.m, "m", 0);
    expect_bitwise(gpu.v, cpu.v, "v", 0);
  }
}

}  // namespace
}  // namespace kaito
