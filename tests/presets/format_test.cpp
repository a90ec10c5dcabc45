// Quantities, parameter counts and the `kaito presets` table / YAML / JSON renderings.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "presets/preset_catalog.h"
#include "presets/preset_format.h"
#include "presets/quantity.h"

namespace kaito::presets {
namespace {

constexpr int64_t kGi = int64_t{1} << 30;

TEST(Quantity, ParsesKubernetesSuffixes) {
  struct c {
    const char* text;
    int64_t bytes;
  };
  for (const c& x : std::vector<c>{{"0", 0},
                                   {"1024", 1024},
                                   {"1Ki", 1024},
                                   {"1Mi", 1 << 20},
                                   {"9Gi", 9 * kGi},
                                   {"0Gi", 0},
                                   {"16.5Gi", 33 * kGi / 2},
                                   {"1Ti", 1024 * kGi},
                                   {"1G", 1000000000},
                                   {"2k", 2000},
                                   {"1.5", 2}}) {
    auto r = parse_quantity(x.text);
    ASSERT_TRUE(r.ok()) << x.text << ": " << r.take_status().to_string();
    EXPECT_EQ(r.value(), x.bytes) << x.text;
  }
  for (const char* bad :
       {"", "Gi", "-1Gi", "1 Gi", "1gi", "1GiB", "1e3", "1..2", "99999999999999999999Gi", "9Ei"}) {
    EXPECT_FALSE(parse_quantity(bad).ok()) << bad;
  }
}

TEST(Quantity, FormatsInGi) {
  EXPECT_EQ(format_quantity(0), "0");
  EXPECT_EQ(format_quantity(9 * kGi), "9Gi");
  EXPECT_EQ(format_quantity(33 * kGi / 2), "16.5Gi");
  EXPECT_EQ(format_quantity(7645845504), "7.12Gi");  // phi-3-mini bf16 weights
  EXPECT_EQ(format_quantity(1 << 20), "1Mi");
  EXPECT_EQ(format_quantity(1128 * kGi), "1.1Ti");
  EXPECT_EQ(format_quantity(512), "512");
  for (const char* q : {"9Gi", "16.5Gi", "280Gi", "1Mi", "72Gi"})
    EXPECT_EQ(format_quantity(parse_quantity(q).value()), q);
}

TEST(Format, Params) {
  EXPECT_EQ(format_params(3821079552), "3.8B");
  EXPECT_EQ(format_params(41835970560), "41.8B");
  EXPECT_EQ(format_params(14659507200), "14.7B");
  EXPECT_EQ(format_params(143680), "143.7K");
  EXPECT_EQ(format_params(999), "999");
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const preset_catalog& catalog() {
  static auto cat = load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets").value();
  return *cat;
}

TEST(Format, TableIsAlignedLikeKubectl) {
  std::string t = presets_table(catalog().all(), false);
  auto ls = lines(t);
  ASSERT_EQ(ls.size(), catalog().all().size() + 1);
  // Header: NAME padded to the longest name + 3 spaces.
  size_t longest = 0;
  for (const auto& p : catalog().all()) longest = std::max(longest, p.name.size());
  EXPECT_EQ(ls[0].rfind("NAME" + std::string(longest - 4 + 3, ' ') + "FAMILY", 0), 0u) << ls[0];
  EXPECT_EQ(ls[0].substr(ls[0].size() - 14), "MIN GPU MEMORY");
  const size_t family_col = ls[0].find("FAMILY"), params_col = ls[0].find("PARAMS"),
               tuning_col = ls[0].find("TUNING"), mem_col = ls[0].find("MIN GPU MEMORY");
  for (const auto& l : ls) EXPECT_NE(l.back(), ' ');
  bool saw_phi = false, saw_falcon = false, saw_tiny = false;
  for (const auto& l : ls) {
    if (l.rfind("phi-3-mini-128k-instruct ", 0) == 0) {
      saw_phi = true;
      EXPECT_EQ(l.substr(family_col, 4), "phi3");
      EXPECT_EQ(l.substr(params_col, 4), "3.8B");
      EXPECT_EQ(l.substr(tuning_col, 3), "yes");
      EXPECT_EQ(l.substr(mem_col), "9Gi");
    }
    if (l.rfind("falcon-40b ", 0) == 0) {
      saw_falcon = true;
      EXPECT_EQ(l.substr(params_col, 5), "41.8B");
      EXPECT_EQ(l.substr(tuning_col, 2), "no");
      EXPECT_EQ(l.substr(mem_col), "90Gi");
    }
    if (l.rfind("tiny-phi3 ", 0) == 0) {
      saw_tiny = true;
      EXPECT_EQ(l.substr(mem_col), "cpu");
    }
  }
  EXPECT_TRUE(saw_phi && saw_falcon && saw_tiny);
}

TEST(Format, WideTableAddsColumns) {
  auto ls = lines(presets_table(catalog().all(), true));
  for (const char* h : {"GPUS", "DISK", "TUNING GPU MEMORY", "CONTEXT", "CHAT TEMPLATE", "SOURCE"})
    EXPECT_NE(ls[0].find(h), std::string::npos) << h;
  const size_t source_col = ls[0].find("SOURCE"), disk_col = ls[0].find("DISK");
  for (const auto& l : ls)
    if (l.rfind("phi-4 ", 0) == 0) {
      EXPECT_EQ(l.substr(source_col), "microsoft/phi-4");
      EXPECT_EQ(l.substr(disk_col, 5), "150Gi");
    }
}

TEST(Format, YamlAndJsonCarryEveryFact) {
  const preset* p = catalog().find("phi-3-mini-128k-instruct");
  ASSERT_NE(p, nullptr);
  YAML::Node y = YAML::Load(preset_to_yaml(*p));
  EXPECT_EQ(y["name"].as<std::string>(), "phi-3-mini-128k-instruct");
  EXPECT_EQ(y["architecture"]["hidden_size"].as<int64_t>(), 3072);
  EXPECT_EQ(y["architecture"]["rms_norm_eps"].as<double>(), 1e-5);
  EXPECT_EQ(y["architecture"]["rope_scaling"]["long_factor"].size(), 48u);
  EXPECT_EQ(y["architecture"]["rope_scaling"]["long_factor"][47].as<double>(), 64.76000213623047);
  EXPECT_EQ(y["inference"]["total_gpu_memory"].as<std::string>(), "9Gi");
  EXPECT_EQ(y["tuning"]["supported"].as<bool>(), true);
  EXPECT_EQ(y["chat_template"].as<std::string>(), "phi-3");
  EXPECT_EQ(y["stop_tokens"][2].as<std::string>(), "<|end|>");
  EXPECT_EQ(y["lora_target_modules"][0].as<std::string>(), "qkv_proj");
  EXPECT_EQ(y["weights_size"].as<std::string>(), "7.12Gi");
  auto j = preset_to_json(*p);
  EXPECT_EQ(j["architecture"]["original_max_position_embeddings"], 4096);
  EXPECT_EQ(j["weights"]["revision"], "072cb7562cb8c4adf682a8e186aaafa49469eb5d");
  EXPECT_TRUE(j["architecture"]["sliding_window"] == 262144);
  auto mini4k = preset_to_json(*catalog().find("phi-3-mini-4k-instruct"));
  EXPECT_TRUE(mini4k["architecture"]["rope_scaling"].is_null());
  const std::string y4k = preset_to_yaml(*catalog().find("phi-3-mini-4k-instruct"));
  EXPECT_NE(y4k.find("\n  rope_scaling: null\n"), std::string::npos) << y4k;
  EXPECT_NE(y4k.find("\n  sliding_window: 2047\n"), std::string::npos);
}

}  // namespace
}  // namespace kaito::presets
