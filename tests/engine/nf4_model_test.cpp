// NF4 base weights in the model: the NF4 path computes exactly what the dequantized fp32 weights
// compute, and on the three fixtures the logits stay within the bound nf4_error.h derives from the
// round trip.
#include <filesystem>
#include <string>
#include <tuple>

#include <unistd.h>

#include <gtest/gtest.h>

#include "engine/nf4_error.h"
#include "engine/peft_adapter.h"
#include "engine/safetensors.h"
#include "engine/transformer.h"
#include "engine/verify.h"

namespace kaito::engine {
namespace {

std::string fixture(const std::string& name) {
  return std::string(KAITO_SHARED_DIR) + "/fixtures/" + name;
}

batch fixture_batch(const std::string& name) {
  batch b;
  auto f = safetensors_file::open(fixture(name) + "/expected.safetensors");
  EXPECT_TRUE(f.ok());
  const st_tensor_info* ids = f->find("input_ids");
  const st_tensor_info* labels = f->find("labels");
  b.B = ids->shape[0];
  b.T = ids->shape[1];
  const std::vector<int64_t> iv = st_to_i64(*ids, f->data(*ids)).value();
  const std::vector<int64_t> lv = st_to_i64(*labels, f->data(*labels)).value();
  for (int64_t v : iv) b.ids.push_back(int32_t(v));
  for (int64_t v : lv) b.labels.push_back(int32_t(v));
  return b;
}

TEST(nf4_model, quantized_path_equals_dequantized_fp32_weights) {
  auto m = load_model(fixture("tiny-phi3") + "/base");
  ASSERT_TRUE(m.ok());
  auto a = load_peft_adapter(fixture("tiny-phi3") + "/adapter", m.value()->config);
  ASSERT_TRUE(a.ok());
  model q = *m.value();
  nf4_quantize_linears(&q, /*double_quant=*/true);
  ASSERT_TRUE(q.weights.layers[0].qkv.quantized());
  EXPECT_TRUE(q.weights.layers[0].qkv.w.empty());
  model d = q;  // the same weights, dequantized once into fp32 storage
  for (auto& l : d.weights.layers)
    for (linear_weight* lw : {&l.qkv, &l.o, &l.gate_up, &l.down}) {
      std::vector<float> scratch;
      const float* w = lw->materialize(scratch);
      lw->w.assign(w, w + lw->out * lw->in);
      lw->nf4.clear();
    }
  const batch b = fixture_batch("tiny-phi3");
  lora_adapter aq = a.value(), ad = a.value();
  forward_state sq, sd;
  ASSERT_TRUE(model_forward(q, &aq, b, {}, &sq).ok());
  ASSERT_TRUE(model_forward(d, &ad, b, {}, &sd).ok());
  EXPECT_EQ(sq.logits, sd.logits);
  ASSERT_TRUE(model_backward(q, &aq, b, sq).ok());
  ASSERT_TRUE(model_backward(d, &ad, b, sd).ok());
  for (size_t i = 0; i < aq.modules.size(); ++i) {
    EXPECT_EQ(aq.modules[i].dA, ad.modules[i].dA) << aq.modules[i].path;
    EXPECT_EQ(aq.modules[i].dB, ad.modules[i].dB) << aq.modules[i].path;
  }
  // And NF4 did change something: the fp32 model gives other logits.
  forward_state s32;
  ASSERT_TRUE(model_forward(*m.value(), &ad, b, {}, &s32).ok());
  EXPECT_NE(s32.logits, sq.logits);
}

TEST(nf4_model, bitsandbytes_checkpoint_round_trip) {
  const std::string src = fixture("tiny-llama-gqa") + "/base";
  auto m = load_model(src);
  ASSERT_TRUE(m.ok());
  const std::string dir = ::testing::TempDir() + "/kaito_bnb_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(src + "/config.json", dir + "/config.json");
  const batch b = fixture_batch("tiny-llama-gqa");
  for (bool dq : {false, true}) {
    model q = *m.value();
    nf4_quantize_linears(&q, dq);
    // One bitsandbytes state per HF module: q_proj, k_proj, v_proj are separate tensors.
    ASSERT_EQ(q.weights.layers[0].qkv.nf4.size(), 3u);
    ASSERT_TRUE(save_model_safetensors(q, dir + "/model.safetensors").ok());
    auto f = safetensors_file::open(dir + "/model.safetensors");
    ASSERT_TRUE(f.ok());
    const st_tensor_info* blob =
        f->find("model.layers.0.self_attn.k_proj.weight.quant_state.bitsandbytes__nf4");
    ASSERT_NE(blob, nullptr);
    EXPECT_EQ(blob->dtype, st_dtype::u8);
    const st_tensor_info* packed = f->find("model.layers.0.self_attn.k_proj.weight");
    EXPECT_EQ(packed->shape, (std::vector<int64_t>{32 * 64 / 2, 1}));
    EXPECT_EQ(f->find("model.layers.0.self_attn.k_proj.weight.absmax")->dtype,
              dq ? st_dtype::u8 : st_dtype::f32);
    EXPECT_EQ(f->find("model.layers.1.mlp.up_proj.weight.nested_quant_map") != nullptr, dq);
    auto back = load_model(dir);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    ASSERT_TRUE(back.value()->weights.layers[1].gate_up.quantized());
    forward_state s1, s2;
    ASSERT_TRUE(model_forward(q, nullptr, b, {}, &s1).ok());
    ASSERT_TRUE(model_forward(*back.value(), nullptr, b, {}, &s2).ok());
    EXPECT_EQ(s1.logits, s2.logits) << "dq=" << dq;
  }
  // A truncated absmax is an error naming the tensor.
  {
    model q = *m.value();
    nf4_quantize_linears(&q, false);
    nf4_quant_state st = *q.weights.layers[0].o.nf4[0].state;
    st.absmax.pop_back();
    q.weights.layers[0].o.nf4[0].state = std::make_shared<const nf4_quant_state>(std::move(st));
    ASSERT_TRUE(save_model_safetensors(q, dir + "/model.safetensors").ok());
    auto bad = load_model(dir);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().where(), "model.layers.0.self_attn.o_proj.weight.absmax");
  }
  std::filesystem::remove_all(dir);
}

class nf4_bound_test : public ::testing::TestWithParam<std::tuple<const char*, bool>> {};

TEST_P(nf4_bound_test, logits_within_the_round_trip_prediction) {
  const std::string name = std::get<0>(GetParam());
  const bool dq = std::get<1>(GetParam());
  auto m = load_model(fixture(name) + "/base");
  ASSERT_TRUE(m.ok());
  auto a = load_peft_adapter(fixture(name) + "/adapter", m.value()->config);
  ASSERT_TRUE(a.ok());
  const batch b = fixture_batch(name);
  for (const lora_adapter* la : std::vector<const lora_adapter*>{nullptr, &a.value()}) {
    auto r = nf4_logit_error(*m.value(), la, b, dq);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    std::printf(
        "%s dq=%d lora=%d: weight_ratio=%.4f ||dW||/||W||=%.4f logit_err=%.3e "
        "predicted=%.3e ratio=%.3f\n",
        name.c_str(), dq, la != nullptr, r->weight_ratio, r->weight_rel, r->logit_err,
        r->logit_predicted, r->logit_ratio);
    EXPECT_LE(r->weight_ratio, 1.0 + 1e-5);
    EXPECT_GT(r->weight_ratio, 0.5);  // the bound is tight, not vacuous
    EXPECT_LE(r->logit_ratio, k_nf4_logit_bound);
    EXPECT_GT(r->logit_ratio, 1.0 / k_nf4_logit_bound);  // the prediction is a real prediction
    EXPECT_GT(r->logit_err, 1e-4);                       // NF4 visibly moves the logits
  }
}

INSTANTIATE_TEST_SUITE_P(fixtures, nf4_bound_test,
                         ::testing::Combine(::testing::Values("tiny-phi3", "tiny-phi3-longrope",
                                                              "tiny-llama-gqa"),
                                            ::testing::Bool()));

}  // namespace
}  // namespace kaito::engine
