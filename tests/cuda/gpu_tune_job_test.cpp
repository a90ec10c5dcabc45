// gpu_tune_job_test: `kaito tune --device cuda`'s job (engine/cuda_hf/gpu_tune_job.h) against the
// CPU engine's run_tune_job on the same folder and data (tests/engine/tiny_chat_model.h): the
// same steps over the same micro-batches, each step's loss within bf16 reach of the CPU's, and a
// PEFT adapter the CPU engine loads. QLoRA and LoRA. And a stopped run resumed from its checkpoint.
// Runs on the emulated CUDA runtime in CI (gpu_tune_job_emu_test) and on a GPU (exit 77 without
// one).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/cuda_hf/gpu_tune_job.h"
#include "engine/model_config.h"
#include "engine/peft_adapter.h"
#include "tests/cuda/gtest_device.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito {
namespace {

namespace fs = std::filesystem;

class GpuTuneJob : public testing::cuda_fixture, public ::testing::WithParamInterface<bool> {};
class GpuTuneJobResume : public testing::cuda_fixture {};

std::vector<engine::step_info> cpu_steps(const engine::tune_job& j) {
  std::vector<engine::step_info> steps;
  auto r = engine::run_tune_job(j, [&](const engine::step_info& s, int64_t) {
    steps.push_back(s);
    return true;
  });
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return steps;
}

TEST_P(GpuTuneJob, FollowsTheCpuEngineStepByStep) {
  const bool qlora = GetParam();
  engine::tune_job j = testing::tiny_chat_job(qlora ? "gpu-qlora" : "gpu-lora", 6);
  j.qlora = qlora;
  const std::vector<engine::step_info> cpu = cpu_steps(j);
  ASSERT_EQ(cpu.size(), 6u);
  fs::remove_all(j.out_dir);
  std::vector<engine::step_info> gpu;
  auto r = gpu::run_gpu_tune_job(*cx_, j, [&](const engine::step_info& s, int64_t total) {
    EXPECT_EQ(total, 6);
    gpu.push_back(s);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(gpu.size(), 6u);
  EXPECT_EQ(r->examples, 6);
  for (size_t i = 0; i < gpu.size(); ++i) {
    // the same micro-batch (supervised tokens), schedule (lr) and, within bf16 and the two NF4
    // quantizations of an fp32 checkpoint (the GPU quantizes bf16-rounded weights), the same loss
    // (emulated: at most 4.5e-3 apart over the six steps)
    EXPECT_EQ(gpu[i].tokens, cpu[i].tokens) << "step " << i + 1;
    EXPECT_DOUBLE_EQ(gpu[i].lr, cpu[i].lr) << "step " << i + 1;
    EXPECT_NEAR(gpu[i].loss, cpu[i].loss, 1e-2 * std::fabs(cpu[i].loss)) << "step " << i + 1;
  }
  auto cfg = engine::load_model_config(j.model_dir);
  ASSERT_TRUE(cfg.ok());
  auto a = engine::load_peft_adapter(j.out_dir, *cfg);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->modules.size(), 8u);
  double b_norm = 0.0;
  for (const engine::lora_module& m : a->modules)
    for (float b : m.B) b_norm += double(b) * b;
  EXPECT_GT(b_norm, 0.0);  // trained: PEFT starts B at zero
  fs::remove_all(j.model_dir);
}

// Stopped after step 3 and resumed from its checkpoint, the GPU run ends where the straight one
// does, bit for bit (one process: the same NF4 GEMM paths, engine/cuda/gemm_choice.h).
TEST_F(GpuTuneJobResume, ResumesBitForBit) {
  engine::tune_job whole = testing::tiny_chat_job("gpu-whole", 6);
  auto a = gpu::run_gpu_tune_job(*cx_, whole);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  engine::tune_job j = testing::tiny_chat_job("gpu-resumed", 6);
  j.checkpoint_dir = j.model_dir + "/ckpt";
  auto b = gpu::run_gpu_tune_job(*cx_, j,
                                 [](const engine::step_info& s, int64_t) { return s.step < 3; });
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_TRUE(b->stopped);
  EXPECT_FALSE(fs::exists(j.out_dir));
  j.resume = true;
  auto c = gpu::run_gpu_tune_job(*cx_, j);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->resumed_at, 3);
  EXPECT_EQ(c->last_loss, a->last_loss);
  EXPECT_FALSE(testing::adapter_bytes(whole.out_dir).empty());
  EXPECT_EQ(testing::adapter_bytes(j.out_dir), testing::adapter_bytes(whole.out_dir));
  fs::remove_all(whole.model_dir);
  fs::remove_all(j.model_dir);
}

// Activation checkpointing (the job's default, as TRL's) recomputes each layer in backward: the
// same adapter bit for bit as keeping every activation.
TEST_F(GpuTuneJobResume, ActivationCheckpointingChangesNoBit) {
  engine::tune_job on = testing::tiny_chat_job("gpu-ckpt-on", 4);
  engine::tune_job off = testing::tiny_chat_job("gpu-ckpt-off", 4);
  off.activation_checkpointing = false;
  ASSERT_TRUE(on.activation_checkpointing);
  auto a = gpu::run_gpu_tune_job(*cx_, on);
  auto b = gpu::run_gpu_tune_job(*cx_, off);
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.error() : a.error()).to_string();
  EXPECT_EQ(a->last_loss, b->last_loss);
  EXPECT_LT(a->device_bytes, b->device_bytes);  // one activation set instead of one a layer
  EXPECT_FALSE(testing::adapter_bytes(on.out_dir).empty());
  EXPECT_EQ(testing::adapter_bytes(on.out_dir), testing::adapter_bytes(off.out_dir));
  fs::remove_all(on.model_dir);
  fs::remove_all(off.model_dir);
}

INSTANTIATE_TEST_SUITE_P(Methods, GpuTuneJob, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("qlora") : std::string("lora");
                         });

}  // namespace
}  // namespace kaito
