// Admission UPDATE rules (immutable fields), one test per rule, and the single 422 Status.
#include <gtest/gtest.h>

#include "tests/protocol/validation_fixture.h"

namespace kaito::api {
namespace {

using testing::check_update_rows;
using testing::inference_base;
using testing::tuning_base;

TEST(UpdateRule, InferenceAndTuningCannotBeToggled) {
  check_update_rows(tuning_base(), {
                                       {"unchanged", [](json&) {}, "", ""},
                                   });
  json j = tuning_base();
  j.erase("tuning");
  j["inference"] = {{"preset", {{"name", "phi-3-mini-4k-instruct"}}}};
  auto res = validate_update(testing::decode_defaulted(tuning_base()), testing::decode_defaulted(j),
                             testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u) << testing::dump_errors(res.errors);
  EXPECT_EQ(res.errors[0].to_string(), "inference: Inference field cannot be toggled once set");
  EXPECT_EQ(res.errors[1].to_string(), "tuning: Tuning field cannot be toggled once set");
}

TEST(UpdateRule, ResourceIsImmutable) {
  check_update_rows(
      inference_base(),
      {
          {"count", [](json& j) { j["resource"]["count"] = 2; }, "resource.count",
           "field is immutable"},
          {"instanceType", [](json& j) { j["resource"]["instanceType"] = "Standard_NC6s_v3"; },
           "resource.instanceType",
           "instanceType cannot be changed once set when node auto-provisioning is enabled"},
          {"instanceType removed", [](json& j) { j["resource"].erase("instanceType"); },
           "resource.instanceType",
           "Required value: instanceType is required when node auto-provisioning is enabled"},
          {"labelSelector",
           [](json& j) { j["resource"]["labelSelector"]["matchLabels"]["x"] = "y"; },
           "resource.labelSelector", "field is immutable"},
          {"labelSelector same as In",
           [](json& j) {
             j["resource"]["labelSelector"] = {
                 {"matchExpressions",
                  {{{"key", "apps"}, {"operator", "In"}, {"values", {"phi-3"}}}}}};
           },
           "", ""},
          {"labelSelector Exists",
           [](json& j) {
             j["resource"]["labelSelector"]["matchExpressions"] = {
                 {{"key", "x"}, {"operator", "Exists"}}};
           },
           "resource.labelSelector", "Only allow matchLabels or 'IN' matchExpression"},
          {"partition",
           [](json& j) {
             j["resource"]["partition"] = {{"mode", "mig"}};
           },
           "resource.partition", "field is immutable"},
      });
}

TEST(UpdateRule, InferencePresetImmutableTemplateNotToggled) {
  check_update_rows(
      inference_base(),
      {
          {"preset", [](json& j) { j["inference"]["preset"]["name"] = "phi-3-mini-4k-instruct"; },
           "inference.preset", "field is immutable"},
          {"adapters may change",
           [](json& j) {
             j["inference"]["adapters"] = {{{"source", {{"name", "a"}, {"image", "r.io/a:1"}}}}};
           },
           "", ""},
          {"adapter strength checked",
           [](json& j) {
             j["inference"]["adapters"] = {
                 {{"source", {{"name", "a"}, {"image", "r.io/a:1"}}}, {"strength", "2"}}};
           },
           "inference.adapters[0].strength",
           "Strength value for Adapter 'a' must be between 0 and 1"},
      });
  json tmpl = {{"spec", {{"containers", json::array()}}}};
  json base = inference_base();
  base["inference"] = {{"template", tmpl}};
  check_update_rows(base, {
                              {"template changes",
                               [](json& j) {
                                 j["inference"]["template"]["metadata"] = {{"a", 1}};
                               },
                               "", ""},
                          });
  json j = base;
  j["inference"] = {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}};
  auto res = validate_update(testing::decode_defaulted(base), testing::decode_defaulted(j),
                             testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u);
  EXPECT_EQ(res.errors[1].to_string(),
            "inference.template: field cannot be unset/set if it was set/unset");
}

TEST(UpdateRule, TuningPresetMethodAndInputNameImmutable) {
  check_update_rows(
      tuning_base(),
      {
          {"urls may change",
           [](json& j) { j["tuning"]["input"]["urls"] = {"https://b.example/x"}; }, "", ""},
          {"output may change", [](json& j) { j["tuning"]["output"]["image"] = "r.io/other:2"; },
           "", ""},
          {"preset", [](json& j) { j["tuning"]["preset"]["name"] = "phi-4"; }, "tuning.preset",
           "Preset cannot be changed"},
          {"method", [](json& j) { j["tuning"]["method"] = "lora"; }, "tuning.method",
           "Method cannot be changed"},
          {"method case only", [](json& j) { j["tuning"]["method"] = "QLORA"; }, "", ""},
          {"input name", [](json& j) { j["tuning"]["input"]["name"] = "other"; },
           "tuning.input.name",
           "Invalid value: \"other\": During tuning Name field cannot be changed once set"},
          {"input image",
           [](json& j) {
             j["tuning"]["input"] = {{"image", "r.io/Bad:1"}};
           },
           "tuning.input.image",
           "Invalid value: \"r.io/Bad:1\": Unable to parse input image reference: invalid "
           "reference "
           "format: repository name (Bad) must be lowercase"},
          {"output removed", [](json& j) { j["tuning"].erase("output"); }, "tuning.output",
           "Required value"},
      });
}

TEST(InvalidStatus, OneStatusWithOneCausePerField) {
  json j = tuning_base();
  j["tuning"]["method"] = "sft";
  j["resource"]["count"] = 2;
  auto res = validate_create(testing::decode_defaulted(j), testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u);
  k8s_status s = invalid_status("workspace-tuning-phi-3", res.errors);
  json sj = encode_status(s);
  EXPECT_EQ(sj["kind"], "Status");
  EXPECT_EQ(sj["apiVersion"], "v1");
  EXPECT_EQ(sj["status"], "Failure");
  EXPECT_EQ(sj["code"], 422);
  EXPECT_EQ(sj["reason"], "Invalid");
  EXPECT_EQ(sj["details"]["kind"], "Workspace");
  EXPECT_EQ(sj["details"]["group"], "kaito.sh");
  ASSERT_EQ(sj["details"]["causes"].size(), 2u);
  EXPECT_EQ(sj["details"]["causes"][1]["field"], "tuning.method");
  EXPECT_EQ(sj["details"]["causes"][1]["reason"], "FieldValueNotSupported");
  const std::string count_msg =
      "resource.count: Invalid value: 2: Tuning does not currently support multinode "
      "configurations. Please set the node count to 1. Future support with DeepSpeed will allow "
      "this.";
  const std::string method_msg =
      "tuning.method: Unsupported value: \"sft\": supported values: \"lora\", \"qlora\"";
  EXPECT_EQ(s.message, "Workspace.kaito.sh \"workspace-tuning-phi-3\" is invalid: [" + count_msg +
                           ", " + method_msg + "]");
  EXPECT_EQ(format_kubectl_invalid(s), "The Workspace \"workspace-tuning-phi-3\" is invalid: \n* " +
                                           count_msg + "\n* " + method_msg);
  auto back = decode_status(sj);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(encode_status(*back), sj);
  k8s_status one =
      invalid_status("bad", {{"resource.labelSelector", "FieldValueRequired", "Required value"}});
  EXPECT_EQ(one.message,
            "Workspace.kaito.sh \"bad\" is invalid: resource.labelSelector: "
            "Required value");
  EXPECT_EQ(format_kubectl_invalid(one),
            "The Workspace \"bad\" is invalid: resource.labelSelector: Required value");
}

}  // namespace
}  // namespace kaito::api
