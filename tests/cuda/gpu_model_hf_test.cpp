// gpu_model_hf_test: Hugging Face folders onto the GPU model and back (engine/cuda_hf), on the
// emulated CUDA runtime (tests/cuda/emu; GoogleTest, never on a kernels-only GPU host).
//   - Each checked-in HF fixture (tests/data/hf-*) loaded from its config.json, model.safetensors
//     and PEFT adapter by gpu_model_from_hf gives the same shape and the same device bytes,
//     tensor for tensor, as the fixture loader + gpu_model_from_host that hf_parity_test holds to
//     transformers + PEFT: the name mapping, the q/k/v and gate/up fusion, the LoRA block packing,
//     the biases and the rope tables from config.json are right.
//   - NF4 quantized on the device equals nf4_quantize_weight on the host, byte for byte.
//   - The adapter saved back (gpu_model_save_adapter) holds exactly the tensors it was loaded
//     from, and a fresh adapter is engine::lora_create's PEFT init.
//   - Tied embeddings, fp32 and bitsandbytes 4-bit checkpoints, and the refusals, each naming
//     the field or tensor.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cuda_hf/gpu_model_from_hf.h"
#include "engine/cuda_hf/gpu_shape_from_hf.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "engine/safetensors.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"
#include "tests/cuda/gtest_device.h"
#include "tests/cuda/hf_fixture.h"

namespace kaito {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(KAITO_SOURCE_DIR) + "/tests/data/";
const char* const kFixtures[] = {"hf-phi3-gqa-window-longrope", "hf-llama-gqa-llama3rope",
                                 "hf-qwen2-gqa-bias", "hf-phi3-partial-rotary"};

std::vector<uint8_t> bytes_of(const gpu::device_buffer& b) {
  std::vector<uint8_t> h(b.bytes());
  if (b.bytes() > 0)
    EXPECT_EQ(cudaMemcpy(h.data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

// Every device buffer of two models equal byte for byte (and the host-side fields).
void expect_same_model(const gpu::gpu_model& a, const gpu::gpu_model& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  EXPECT_EQ(a.max_T, b.max_T);
  EXPECT_EQ(bytes_of(a.embed), bytes_of(b.embed)) << "embed";
  EXPECT_EQ(bytes_of(a.lm_head), bytes_of(b.lm_head)) << "lm_head";
  EXPECT_EQ(bytes_of(a.final_norm), bytes_of(b.final_norm)) << "final_norm";
  EXPECT_EQ(bytes_of(a.rope_cos), bytes_of(b.rope_cos)) << "rope_cos";
  EXPECT_EQ(bytes_of(a.rope_sin), bytes_of(b.rope_sin)) << "rope_sin";
  EXPECT_EQ(bytes_of(a.rope_cos_long), bytes_of(b.rope_cos_long)) << "rope_cos_long";
  EXPECT_EQ(bytes_of(a.rope_sin_long), bytes_of(b.rope_sin_long)) << "rope_sin_long";
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const gpu::gpu_layer &x = a.layers[l], &y = b.layers[l];
    const std::string at = "layer " + std::to_string(l);
    EXPECT_EQ(bytes_of(x.input_norm), bytes_of(y.input_norm)) << at;
    EXPECT_EQ(bytes_of(x.post_norm), bytes_of(y.post_norm)) << at;
    for (int t = 0; t < gpu::kLoraTargets; ++t) {
      const std::string tt = at + " target " + std::to_string(t);
      const gpu::gpu_base_linear &u = x.base(t), &v = y.base(t);
      EXPECT_EQ(bytes_of(u.dense), bytes_of(v.dense)) << tt << " dense";
      EXPECT_EQ(bytes_of(u.packed), bytes_of(v.packed)) << tt << " packed";
      EXPECT_EQ(bytes_of(u.qabsmax), bytes_of(v.qabsmax)) << tt << " qabsmax";
      EXPECT_EQ(bytes_of(u.nested_absmax), bytes_of(v.nested_absmax)) << tt << " nested_absmax";
      EXPECT_EQ(u.offset, v.offset) << tt << " offset";
      EXPECT_EQ(bytes_of(u.bias), bytes_of(v.bias)) << tt << " bias";
      const gpu::gpu_lora_linear &p = x.lora(t), &q = y.lora(t);
      EXPECT_EQ(p.r, q.r) << tt;
      EXPECT_EQ(bytes_of(p.A_master), bytes_of(q.A_master)) << tt << " A";
      EXPECT_EQ(bytes_of(p.B_master), bytes_of(q.B_master)) << tt << " B";
      EXPECT_EQ(bytes_of(p.A), bytes_of(q.A)) << tt << " A bf16";
      EXPECT_EQ(bytes_of(p.B), bytes_of(q.B)) << tt << " B bf16";
    }
  }
}

class GpuModelHf : public testing::cuda_fixture, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string dir() const { return kData + GetParam(); }
  gpu::gpu_hf_options opts(bool quantized) const {
    gpu::gpu_hf_options o;
    o.max_T = 96;
    o.quantized_base = quantized;
    o.adapter_dir = dir() + "/adapter";
    return o;
  }
};

// The bf16 base from config.json + safetensors + PEFT equals the fixture-built model that
// hf_parity_test checks against transformers, with the same shape.
TEST_P(GpuModelHf, EqualsTheFixtureModel) {
  auto f = testing::load_hf_fixture(dir());
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  auto hf = gpu::gpu_model_from_hf(*cx_, dir() + "/base", opts(false));
  ASSERT_TRUE(hf.ok()) << hf.error().to_string();
  const gpu::gpu_model_shape &s = hf->model.shape, &w = f->shape;
  EXPECT_EQ(s.C, w.C);
  EXPECT_EQ(s.L, w.L);
  EXPECT_EQ(s.NH, w.NH);
  EXPECT_EQ(s.NKV, w.NKV);
  EXPECT_EQ(s.HS, w.HS);
  EXPECT_EQ(s.I, w.I);
  EXPECT_EQ(s.V, w.V);
  EXPECT_EQ(s.window, w.window);
  EXPECT_EQ(s.lora_r, w.lora_r);
  EXPECT_EQ(s.lora_scale(), w.lora_scale());
  EXPECT_EQ(s.rms_eps, w.rms_eps);
  EXPECT_EQ(s.split_lora, w.split_lora);
  EXPECT_EQ(s.qkv_bias, w.qkv_bias);
  EXPECT_EQ(s.rope.kind, w.rope.kind);
  EXPECT_EQ(s.rope.theta, w.rope.theta);
  auto ref = gpu::gpu_model_from_host(*cx_, w, 96, f->weights);
  ASSERT_TRUE(ref.ok()) << ref.error().to_string();
  expect_same_model(hf->model, *ref);
}

// QLoRA: NF4 made on the device equals the host twin's, and both equal the host-built model.
TEST_P(GpuModelHf, DeviceQuantizationEqualsHost) {
  gpu::gpu_hf_options o = opts(true);
  auto dev = gpu::gpu_model_from_hf(*cx_, dir() + "/base", o);
  ASSERT_TRUE(dev.ok()) << dev.error().to_string();
  o.quantizer = gpu::nf4_quantizer::host;
  auto host = gpu::gpu_model_from_hf(*cx_, dir() + "/base", o);
  ASSERT_TRUE(host.ok()) << host.error().to_string();
  EXPECT_TRUE(dev->model.layers[0].qkv.quantized());
  expect_same_model(dev->model, host->model);
  auto f = testing::load_hf_fixture(dir());
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  gpu::gpu_model_shape qs = f->shape;
  qs.quantized_base = true;
  auto ref = gpu::gpu_model_from_host(*cx_, qs, 96, f->weights);
  ASSERT_TRUE(ref.ok()) << ref.error().to_string();
  expect_same_model(dev->model, *ref);
}

// The adapter goes back out as exactly the PEFT tensors it came from, and loads again.
TEST_P(GpuModelHf, AdapterRoundTrip) {
  auto hf = gpu::gpu_model_from_hf(*cx_, dir() + "/base", opts(true));
  ASSERT_TRUE(hf.ok()) << hf.error().to_string();
  const std::string out =
      ::testing::TempDir() + "kaito_gpu_adapter_" + GetParam() + "_" + std::to_string(::getpid());
  fs::remove_all(out);
  ASSERT_TRUE(gpu::gpu_model_save_adapter(*cx_, *hf, out, "fixture").ok());
  auto orig = engine::safetensors_file::open(dir() + "/adapter/adapter_model.safetensors");
  auto saved = engine::safetensors_file::open(out + "/adapter_model.safetensors");
  ASSERT_TRUE(orig.ok() && saved.ok());
  ASSERT_EQ(orig->tensors().size(), saved->tensors().size());
  for (const engine::st_tensor_info& t : orig->tensors()) {
    const engine::st_tensor_info* u = saved->find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->shape, t.shape) << t.name;
    auto a = engine::st_to_f32(t, orig->data(t));
    auto b = engine::st_to_f32(*u, saved->data(*u));
    ASSERT_TRUE(a.ok() && b.ok()) << t.name;
    EXPECT_EQ(*a, *b) << t.name;
  }
  auto cfg = engine::load_model_config(dir() + "/base");
  ASSERT_TRUE(cfg.ok());
  auto again = engine::load_peft_adapter(out, *cfg);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->config.r, hf->lora.r);
  EXPECT_EQ(again->config.alpha, hf->lora.alpha);
  // Trained values land in the right module: bump one B_master entry inside the last block.
  gpu::gpu_lora_linear& lq = hf->model.layers[0].lqkv;
  const int64_t row = lq.out - 1, col = lq.r - 1;
  float v = 0.5f;
  ASSERT_EQ(cudaMemcpy(lq.B_master.as<float>() + row * lq.r + col, &v, 4, cudaMemcpyHostToDevice),
            cudaSuccess);
  auto a = gpu::gpu_model_adapter(*cx_, *hf);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  const std::string last = hf->config.fused_qkv ? "model.layers.0.self_attn.qkv_proj"
                                                : "model.layers.0.self_attn.v_proj";
  const engine::lora_module* m = a->find(last);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->B[size_t((m->out - 1) * m->r + m->r - 1)], 0.5f);
  fs::remove_all(out);
}

// A fresh adapter is PEFT's init, as the CPU engine makes it (A from the seed, B zero).
TEST_P(GpuModelHf, FreshAdapterIsPeftInit) {
  gpu::gpu_hf_options o = opts(false);
  o.adapter_dir.clear();
  o.lora.r = 4;
  o.lora.alpha = 16;
  o.lora.target_modules = {"all-linear"};
  o.seed = 7;
  auto hf = gpu::gpu_model_from_hf(*cx_, dir() + "/base", o);
  ASSERT_TRUE(hf.ok()) << hf.error().to_string();
  EXPECT_EQ(hf->model.shape.lora_scale(), 4.0f);
  auto got = gpu::gpu_model_adapter(*cx_, *hf);
  auto want = engine::lora_create(hf->config, o.lora, 7);
  ASSERT_TRUE(got.ok() && want.ok());
  ASSERT_EQ(got->modules.size(), want->modules.size());
  for (size_t i = 0; i < want->modules.size(); ++i) {
    EXPECT_EQ(got->modules[i].path, want->modules[i].path);
    EXPECT_EQ(got->modules[i].A, want->modules[i].A) << want->modules[i].path;
    EXPECT_EQ(got->modules[i].B, want->modules[i].B) << want->modules[i].path;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuModelHf, ::testing::ValuesIn(kFixtures));

// A copy of a fixture's base folder with one tensor left out of model.safetensors, when `tie`
// config.json saying tie_word_embeddings, and every 2-D decoder weight multiplied by `scale` in
// fp32 (stored F32).
std::string edited_copy(const std::string& fixture, const std::string& drop, bool tie,
                        float scale = 1.0f) {
  const std::string src = kData + fixture + "/base";
  const std::string dst =
      ::testing::TempDir() + "kaito_hf_edit_" + fixture + "_" + std::to_string(::getpid());
  fs::remove_all(dst);
  fs::create_directories(dst);
  std::ifstream in(src + "/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str());
  if (tie) j["tie_word_embeddings"] = true;
  std::ofstream(dst + "/config.json") << j.dump(2);
  auto f = engine::safetensors_file::open(src + "/model.safetensors");
  EXPECT_TRUE(f.ok());
  std::vector<engine::st_write_entry> keep;
  std::vector<std::vector<float>> scaled;
  scaled.reserve(f->tensors().size());
  for (const engine::st_tensor_info& t : f->tensors()) {
    if (t.name == drop) continue;
    if (scale != 1.0f && t.shape.size() == 2 && t.name.rfind("model.layers.", 0) == 0) {
      auto v = engine::st_to_f32(t, f->data(t));
      EXPECT_TRUE(v.ok());
      for (float& x : *v) x *= scale;
      scaled.push_back(std::move(*v));
      keep.push_back(engine::st_f32_entry(t.name, t.shape, scaled.back()));
    } else {
      keep.push_back({t.name, t.dtype, t.shape, f->data(t)});
    }
  }
  EXPECT_TRUE(engine::write_safetensors(dst + "/model.safetensors", keep).ok());
  return dst;
}

class GpuModelHfFiles : public testing::cuda_fixture {};

// tie_word_embeddings: lm_head holds the embedding (a stored lm_head.weight is not needed).
TEST_F(GpuModelHfFiles, TiedEmbeddings) {
  const std::string d = edited_copy("hf-llama-gqa-llama3rope", "lm_head.weight", true);
  gpu::gpu_hf_options o;
  o.max_T = 32;
  o.adapter_dir = kData + "hf-llama-gqa-llama3rope/adapter";
  auto hf = gpu::gpu_model_from_hf(*cx_, d, o);
  ASSERT_TRUE(hf.ok()) << hf.error().to_string();
  EXPECT_EQ(bytes_of(hf->model.lm_head), bytes_of(hf->model.embed));
  fs::remove_all(d);
}

// An fp32 checkpoint is held as transformers holds it with torch_dtype=bfloat16: the fixture's
// bf16-exact weights times (1 + 2^-12) round back to themselves, so the model (NF4 made from the
// rounded values) is the fixture's own, byte for byte.
TEST_F(GpuModelHfFiles, Fp32WeightsAreRoundedToBf16First) {
  const std::string name = "hf-phi3-gqa-window-longrope";
  const std::string d = edited_copy(name, "", false, 1.0f + 1.0f / 4096.0f);
  gpu::gpu_hf_options o;
  o.max_T = 32;
  o.adapter_dir = kData + name + "/adapter";
  auto got = gpu::gpu_model_from_hf(*cx_, d, o);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  auto want = gpu::gpu_model_from_hf(*cx_, kData + name + "/base", o);
  ASSERT_TRUE(want.ok()) << want.error().to_string();
  expect_same_model(got->model, want->model);
  fs::remove_all(d);
}

// A bitsandbytes 4-bit checkpoint (the layout save_model_safetensors writes for NF4 linears)
// loads through its dequantized values: with a bf16 base the model holds exactly
// bf16(dequantize(NF4)), as the CPU engine's materialize gives it.
TEST_F(GpuModelHfFiles, Bnb4bitCheckpointLoads) {
  const std::string name = "hf-phi3-gqa-window-longrope";
  auto m = engine::load_model(kData + name + "/base");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  engine::nf4_quantize_linears(m->get(), /*double_quant=*/true);
  const std::string d = ::testing::TempDir() + "kaito_hf_bnb4_" + std::to_string(::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  fs::copy_file(kData + name + "/base/config.json", d + "/config.json");
  ASSERT_TRUE(engine::save_model_safetensors(**m, d + "/model.safetensors").ok());
  auto file = engine::safetensors_file::open(d + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  ASSERT_NE(file->find("model.layers.1.mlp.gate_up_proj.weight.quant_state.bitsandbytes__nf4"),
            nullptr);  // the 4-bit layout, not fp32
  gpu::gpu_hf_options o;
  o.max_T = 32;
  o.quantized_base = false;
  o.adapter_dir = kData + name + "/adapter";
  auto hf = gpu::gpu_model_from_hf(*cx_, d, o);
  ASSERT_TRUE(hf.ok()) << hf.error().to_string();
  const engine::layer_weights& l1 = (*m)->weights.layers[1];
  std::vector<float> scratch;
  const float* w = l1.gate_up.materialize(scratch);
  std::vector<bf16> want(size_t(l1.gate_up.out * l1.gate_up.in));
  f32_to_bf16_cpu(want.data(), w, int64_t(want.size()));
  const std::vector<uint8_t> got = bytes_of(hf->model.layers[1].gate_up.dense);
  ASSERT_EQ(got.size(), want.size() * sizeof(bf16));
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
  fs::remove_all(d);
}

// A missing weight is named, and nothing is left half-built.
TEST_F(GpuModelHfFiles, MissingTensorIsNamed) {
  const std::string d =
      edited_copy("hf-qwen2-gqa-bias", "model.layers.1.self_attn.k_proj.bias", false);
  gpu::gpu_hf_options o;
  o.max_T = 32;
  o.adapter_dir = kData + "hf-qwen2-gqa-bias/adapter";
  auto hf = gpu::gpu_model_from_hf(*cx_, d, o);
  ASSERT_FALSE(hf.ok());
  EXPECT_NE(hf.error().to_string().find("model.layers.1.self_attn.k_proj.bias"), std::string::npos)
      << hf.error().to_string();
  fs::remove_all(d);
}

// A head dim the attention kernels are not built for (attention_head_size) is refused by name,
// before any device work.
TEST_F(GpuModelHfFiles, HeadDimOutsideTheKernelsIsRefused) {
  const std::string name = "hf-llama-gqa-llama3rope";
  const std::string d = ::testing::TempDir() + "kaito_hf_hd8_" + std::to_string(::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  nlohmann::json cfg;
  std::ifstream(kData + name + "/base/config.json") >> cfg;
  cfg["head_dim"] = 8;
  std::ofstream(d + "/config.json") << cfg.dump();
  fs::copy_file(kData + name + "/base/model.safetensors", d + "/model.safetensors");
  gpu::gpu_hf_options o;
  o.max_T = 32;
  o.lora.r = 8;  // a fresh adapter (the fixture's has the real head dim's shapes)
  o.lora.alpha = 16;
  o.lora.target_modules = {"all-linear"};
  auto hf = gpu::gpu_model_from_hf(*cx_, d, o);
  ASSERT_FALSE(hf.ok());
  EXPECT_EQ(hf.error().where(), "head_dim") << hf.error().to_string();
  fs::remove_all(d);
}

// What the GPU model cannot hold, each refusal naming its config field.
engine::model_config llama_config() {
  auto c = engine::load_model_config(kData + "hf-llama-gqa-llama3rope/base");
  EXPECT_TRUE(c.ok());
  return *c;
}

engine::lora_config all_linear() {
  engine::lora_config lc;
  lc.r = 8;
  lc.alpha = 16;
  lc.target_modules = {"all-linear"};
  return lc;
}

std::string refused_field(const engine::model_config& c, const engine::lora_config& lc) {
  auto s = gpu::gpu_shape_from_hf(c, lc, true);
  return s.ok() ? std::string("(accepted)") : s.error().where();
}

TEST(GpuShapeFromHf, RefusalsNameTheField) {
  const engine::model_config base = llama_config();
  EXPECT_EQ(refused_field(base, all_linear()), "(accepted)");
  engine::model_config c = base;
  c.rope.kind = engine::rope_type::linear;
  EXPECT_EQ(refused_field(c, all_linear()), "rope_scaling.type");
  c = base;
  c.o_bias = true;
  EXPECT_EQ(refused_field(c, all_linear()), "attention_bias");
  c = base;
  c.layer_window.assign(size_t(c.num_layers), 0);
  c.layer_window.back() = 16;
  EXPECT_EQ(refused_field(c, all_linear()), "layer_types");
  engine::lora_config lc = all_linear();
  lc.target_modules = {"q_proj", "v_proj"};
  EXPECT_EQ(refused_field(base, lc), "target_modules");
  lc = all_linear();
  lc.layers_to_transform = {0};
  EXPECT_EQ(refused_field(base, lc), "layers_to_transform");
  lc = all_linear();
  lc.rank_pattern["down_proj"] = 4;
  EXPECT_EQ(refused_field(base, lc), "rank_pattern");
  lc = all_linear();
  lc.alpha_pattern["o_proj"] = 4;
  EXPECT_EQ(refused_field(base, lc), "alpha_pattern");
}

// rslora: the shape's alpha / r is PEFT's alpha / sqrt(r).
// Partial rotary (Phi-4-mini): the shape rotates the first rotary_dim dims of each head.
TEST(GpuShapeFromHf, PartialRotary) {
  engine::model_config c = llama_config();
  c.rope.partial_rotary_factor = 0.75;
  c.rope.rotary_dim = c.head_dim * 3 / 4;
  auto s = gpu::gpu_shape_from_hf(c, all_linear(), true);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->rotary_dim(), c.head_dim * 3 / 4);
  c.rope.partial_rotary_factor = 1.0;
  c.rope.rotary_dim = c.head_dim;
  s = gpu::gpu_shape_from_hf(c, all_linear(), true);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->rotary, 0);
  EXPECT_EQ(s->rotary_dim(), c.head_dim);
}

TEST(GpuShapeFromHf, RsLoraScale) {
  engine::lora_config lc = all_linear();
  lc.use_rslora = true;
  auto s = gpu::gpu_shape_from_hf(llama_config(), lc, true);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_NEAR(s->lora_scale(), 16.0 / std::sqrt(8.0), 1e-6);
}

}  // namespace
}  // namespace kaito
