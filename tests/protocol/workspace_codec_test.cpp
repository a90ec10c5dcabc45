// Workspace codec: lossless round trips of every example (YAML -> struct -> YAML), unknown-field
// warnings with their paths, type errors naming the field, and v1alpha1 <-> v1beta1 conversion.
#include "protocol/api/workspace.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "protocol/api/yaml.h"
#include "tests/protocol/example_files.h"

namespace kaito::api {
namespace {

using testing::example_paths;
using testing::load_example;

TEST(WorkspaceCodec, EveryExampleRoundTripsThroughStructAndYaml) {
  int workspaces = 0;
  for (const auto& path : example_paths()) {
    auto f = load_example(path);
    ASSERT_FALSE(f.workspaces.empty()) << path;
    for (const auto& j : f.workspaces) {
      auto d = decode_workspace(j);
      ASSERT_TRUE(d.ok()) << path << ": " << d.error().to_string();
      EXPECT_TRUE(d->warnings.empty()) << path << ": " << d->warnings[0];
      json again = encode_workspace(d->ws);
      EXPECT_EQ(again, j) << path;
      auto reread = decode_yaml(encode_yaml(again));
      ASSERT_TRUE(reread.ok()) << path;
      EXPECT_EQ(*reread, j) << path << "\n" << encode_yaml(again);
      ++workspaces;
    }
  }
  EXPECT_GE(workspaces, 6);
}

TEST(WorkspaceCodec, ConversionRoundTripsEveryExample) {
  for (const auto& path : example_paths()) {
    for (const auto& j : load_example(path).workspaces) {
      auto d = decode_workspace(j);
      ASSERT_TRUE(d.ok()) << path;
      auto beta = convert_to_v1beta1(d->ws);
      ASSERT_TRUE(beta.ok()) << path;
      EXPECT_EQ(beta->api_version, kV1beta1);
      auto alpha = convert_to_v1alpha1(*beta);
      ASSERT_TRUE(alpha.ok()) << path;
      EXPECT_EQ(alpha->api_version, kV1alpha1);
      auto beta2 = convert_to_v1beta1(*alpha);
      ASSERT_TRUE(beta2.ok());
      EXPECT_EQ(encode_workspace(*beta2), encode_workspace(*beta)) << path;
      // The original version comes back unchanged.
      auto orig = convert_to(*beta, j["apiVersion"].get<std::string>());
      ASSERT_TRUE(orig.ok());
      EXPECT_EQ(encode_workspace(*orig), j) << path;
    }
  }
}

TEST(WorkspaceCodec, BetaOnlyFieldsSurviveAlphaInAnAnnotation) {
  json beta = {{"apiVersion", "kaito.sh/v1beta1"},
               {"kind", "Workspace"},
               {"metadata", {{"name", "ws"}}},
               {"resource",
                {{"labelSelector", {{"matchLabels", {{"a", "b"}}}}},
                 {"partition", {{"mode", "mig"}, {"profile", "1g.10gb"}}}}},
               {"inference",
                {{"preset",
                  {{"name", "llama-3.3-70b-instruct"},
                   {"presetOptions", {{"modelAccessSecret", "hf-token"}}}}}}},
               {"status", {{"state", "Ready"}, {"targetNodeCount", 2}}}};
  auto d = decode_workspace(beta);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->warnings.empty());
  ASSERT_TRUE(d->ws.resource->partition);
  EXPECT_EQ(*d->ws.resource->partition->profile, "1g.10gb");
  auto alpha = convert_to_v1alpha1(d->ws);
  ASSERT_TRUE(alpha.ok());
  json aj = encode_workspace(*alpha);
  EXPECT_FALSE(aj["resource"].contains("partition"));
  EXPECT_FALSE(aj["status"].contains("state"));
  EXPECT_EQ(aj["inference"]["preset"]["presetOptions"], json::object());
  json moved =
      json::parse(aj["metadata"]["annotations"][annotations::kV1beta1Fields].get<std::string>());
  EXPECT_EQ(moved["resource"]["partition"]["mode"], "mig");
  EXPECT_EQ(moved["inference"]["preset"]["presetOptions"]["modelAccessSecret"], "hf-token");
  EXPECT_EQ(moved["status"]["targetNodeCount"], 2);
  // Decoding the alpha JSON reports no unknown fields, and converting back restores everything.
  auto ad = decode_workspace(aj);
  ASSERT_TRUE(ad.ok());
  EXPECT_TRUE(ad->warnings.empty());
  auto back = convert_to_v1beta1(ad->ws);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(encode_workspace(*back), beta);
}

TEST(WorkspaceCodec, UnknownFieldsAreReportedWithPathsAndKept) {
  json j = {{"apiVersion", "kaito.sh/v1alpha1"},
            {"kind", "Workspace"},
            {"metadata", {{"name", "ws"}, {"bogus", 1}}},
            {"resource", {{"labelSelector", json::object()}, {"partition", {{"mode", "mig"}}}}},
            {"tuning",
             {{"foo", "bar"},
              {"input", {{"urls", {"https://x.example/a"}}, {"weird", true}}},
              {"preset", {{"name", "p"}, {"presetOptions", {{"modelAccessSecret", "s"}}}}}}},
            {"spec", json::object()}};
  auto d = decode_workspace(j);
  ASSERT_TRUE(d.ok());
  std::vector<std::string> want = {
      "unknown field \"metadata.bogus\"",
      "unknown field \"resource.partition\"",  // v1beta1 only
      "unknown field \"tuning.preset.presetOptions.modelAccessSecret\"",
      "unknown field \"tuning.input.weird\"",
      "unknown field \"tuning.foo\"",
      "unknown field \"spec\"",
  };
  auto got = d->warnings;
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(encode_workspace(d->ws), j);  // nothing dropped
}

TEST(WorkspaceCodec, TypeErrorsNameTheField) {
  json base = {{"apiVersion", "kaito.sh/v1beta1"}, {"kind", "Workspace"}};
  struct row {
    json patch;
    std::string where;
    std::string message;
  };
  std::vector<row> rows = {
      {{{"resource", {{"count", "two"}}}}, "resource.count", "expected an integer, got string"},
      {{{"tuning", {{"input", {{"urls", {"ok", 3}}}}}}},
       "tuning.input.urls[1]",
       "expected a string, got integer"},
      {{{"inference", {{"adapters", {{{"strength", 1.0}}}}}}},
       "inference.adapters[0].strength",
       "expected a string, got number"},
      {{{"metadata", {{"labels", {{"a", true}}}}}},
       "metadata.labels.a",
       "expected a string, got boolean"},
      {{{"resource", "x"}}, "resource", "expected an object, got string"},
  };
  for (const auto& r : rows) {
    json j = base;
    j.update(r.patch);
    auto d = decode_workspace(j);
    ASSERT_FALSE(d.ok()) << r.where;
    EXPECT_EQ(d.error().where(), r.where);
    EXPECT_EQ(d.error().message(), r.message);
  }
  json wrong = {{"apiVersion", "kaito.sh/v2"}, {"kind", "Workspace"}};
  EXPECT_EQ(decode_workspace(wrong).error().message(),
            "no kind \"Workspace\" is registered for version \"kaito.sh/v2\"");
  EXPECT_FALSE(decode_workspace(json::array()).ok());
}

TEST(WorkspaceCodec, DefaultsAreKaitosCrdDefaults) {
  auto d = decode_workspace(json{{"apiVersion", "kaito.sh/v1alpha1"},
                                 {"kind", "Workspace"},
                                 {"resource", {{"labelSelector", json::object()}}},
                                 {"inference", {{"preset", {{"name", "phi-2"}}}}}});
  ASSERT_TRUE(d.ok());
  apply_defaults(d->ws);
  EXPECT_EQ(*d->ws.resource->count, 1);
  EXPECT_EQ(*d->ws.resource->instance_type, "Standard_NC24ads_A100_v4");
  EXPECT_EQ(*d->ws.inference->preset->access_mode, "public");
  d->ws.api_version = kV1beta1;
  d->ws.resource->instance_type.reset();
  apply_defaults(d->ws);
  EXPECT_FALSE(d->ws.resource->instance_type.has_value());  // no default in v1beta1
}

}  // namespace
}  // namespace kaito::api
