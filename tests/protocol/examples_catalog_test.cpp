// Every Workspace under examples/ passes admission with the real preset catalog (presets/), with
// the ConfigMaps its own file carries and Kaito's default tuning templates from the catalog.
#include <gtest/gtest.h>

#include "presets/preset_catalog.h"
#include "tests/protocol/example_files.h"

namespace kaito::api {
namespace {

TEST(ExamplesWithRealCatalog, EveryExampleIsValid) {
  auto cat = presets::load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets");
  ASSERT_TRUE(cat.ok()) << cat.error().to_string();
  int checked = 0;
  for (const auto& path : testing::example_paths()) {
    auto f = testing::load_example(path);
    auto cms = f.config_maps;
    for (const char* method : {"qlora", "lora"})
      cms.push_back({std::string(method) + "-params-template",
                     "kaito-workspace",
                     {{"training_config.yaml", (*cat)->tuning_training_config(method)}}});
    validation_options opt;
    opt.presets = cat->get();
    opt.config_maps = [&](const std::string& ns, const std::string& name) -> result<config_map> {
      for (const auto& cm : cms)
        if (cm.name == name && cm.namespace_ == ns) return cm;
      return status(status_code::unavailable, "not known offline");
    };
    for (const auto& j : f.workspaces) {
      auto d = decode_workspace(j);
      ASSERT_TRUE(d.ok()) << path;
      workspace ws = d->ws;
      apply_defaults(ws);
      auto res = validate_create(ws, opt);
      std::string errs;
      for (const auto& e : res.errors) errs += "\n  " + e.to_string();
      EXPECT_TRUE(res.ok()) << path << errs;
      ++checked;
    }
  }
  EXPECT_GE(checked, 6);
}

TEST(ExamplesWithRealCatalog, TheSeedIsAcceptedOnAV100) {
  auto cat = presets::load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets");
  ASSERT_TRUE(cat.ok());
  auto f = testing::load_example(std::string(KAITO_SOURCE_DIR) +
                                 "/examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml");
  ASSERT_EQ(f.workspaces.size(), 1u);
  auto d = decode_workspace(f.workspaces[0]);
  ASSERT_TRUE(d.ok());
  validation_options opt;
  opt.presets = cat->get();
  auto res = validate_create(d->ws, opt);
  EXPECT_TRUE(res.ok());
  // The placeholder output image does not parse as a reference: reported, not rejected.
  ASSERT_EQ(res.warnings.size(), 1u);
  EXPECT_NE(res.warnings[0].find("IMAGE_NAME_HERE"), std::string::npos);
  ASSERT_NE((*cat)->find_sku("Standard_NC6s_v3"), nullptr);
}

}  // namespace
}  // namespace kaito::api
