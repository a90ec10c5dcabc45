// Admission CREATE rules, one test per rule (kaito.md §1.9): exact field path and message.
#include <gtest/gtest.h>

#include "tests/protocol/validation_fixture.h"

namespace kaito::api {
namespace {

using testing::check_create_rows;
using testing::inference_base;
using testing::rule_row;
using testing::tuning_base;

const std::string kLabelRegexMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

TEST(CreateRule, NameIsDns1123Label) {
  check_create_rows(
      tuning_base(),
      {
          {"valid", [](json&) {}, "", ""},
          {"uppercase", [](json& j) { j["metadata"]["name"] = "BadName"; }, "metadata.name",
           "Invalid value: \"BadName\": " + kLabelRegexMsg},
          {"dots", [](json& j) { j["metadata"]["name"] = "a.b"; }, "metadata.name",
           "Invalid value: \"a.b\": must not contain dots"},
          {"too long", [](json& j) { j["metadata"]["name"] = std::string(64, 'a'); },
           "metadata.name",
           "Invalid value: \"" + std::string(64, 'a') + "\": must be no more than 63 characters"},
          {"missing", [](json& j) { j["metadata"].erase("name"); }, "metadata.name",
           "Required value: name or generateName is required"},
      });
}

TEST(CreateRule, ExactlyOneOfInferenceOrTuning) {
  check_create_rows(tuning_base(),
                    {
                        {"neither", [](json& j) { j.erase("tuning"); }, "spec",
                         "Either Inference or Tuning must be specified, not neither"},
                        {"both",
                         [](json& j) {
                           j["inference"] = {{"preset", {{"name", "phi-3-mini-4k-instruct"}}}};
                         },
                         "spec", "Either Inference or Tuning must be specified, but not both"},
                    });
}

TEST(CreateRule, InstanceTypeRequiredUnderNodeAutoProvisioning) {
  check_create_rows(
      tuning_base(),
      {
          {"missing", [](json& j) { j["resource"].erase("instanceType"); }, "resource.instanceType",
           "Required value: instanceType is required when node auto-provisioning is enabled"},
      });
  auto byo = testing::default_options();
  byo.node_auto_provisioning = false;
  check_create_rows(
      tuning_base(),
      {
          {"byo set", [](json&) {}, "resource.instanceType",
           "Invalid value: \"Standard_NC6s_v3\": instanceType must be empty when node "
           "auto-provisioning is disabled (BYO scenario)"},
          {"byo empty", [](json& j) { j["resource"].erase("instanceType"); }, "", ""},
      },
      byo);
}

TEST(CreateRule, LabelSelectorRequired) {
  check_create_rows(tuning_base(),
                    {
                        {"missing", [](json& j) { j["resource"].erase("labelSelector"); },
                         "resource.labelSelector", "Required value"},
                        {"empty object is present",
                         [](json& j) { j["resource"]["labelSelector"] = json::object(); }, "", ""},
                    });
}

TEST(CreateRule, LabelSelectorOnlyMatchLabelsOrSingleIn) {
  auto expr = [](const std::string& op, json values) {
    return [op, values](json& j) {
      j["resource"]["labelSelector"]["matchExpressions"] = {
          {{"key", "k"}, {"operator", op}, {"values", values}}};
    };
  };
  check_create_rows(
      inference_base(),
      {
          {"In one value", expr("In", {"a"}), "", ""},
          {"In two values", expr("In", {"a", "b"}), "resource.labelSelector",
           "operator \"In\" without a single value cannot be converted into the old label selector "
           "format"},
          {"NotIn", expr("NotIn", {"a"}), "resource.labelSelector",
           "operator \"NotIn\" cannot be converted into the old label selector format"},
          {"bogus", expr("Near", {"a"}), "resource.labelSelector",
           "\"Near\" is not a valid selector operator"},
      });
}

TEST(CreateRule, Annotations) {
  auto ann = [](const char* k, const char* v) {
    return [k, v](json& j) { j["metadata"]["annotations"][k] = v; };
  };
  check_create_rows(
      inference_base(),
      {
          {"image family ok", ann("kaito.sh/node-image-family", "AzureLinux"), "", ""},
          {"image family bad", ann("kaito.sh/node-image-family", "windows"),
           "metadata.annotations[\"kaito.sh/node-image-family\"]",
           "Invalid value: \"windows\": unsupported node image family \"windows\", supported "
           "values "
           "are azurelinux, ubuntu"},
          {"performance mode ok", ann("kaito.sh/performance-mode", "throughput"), "", ""},
          {"performance mode bad", ann("kaito.sh/performance-mode", "fast"),
           "metadata.annotations[kaito.sh/performance-mode]",
           "Invalid value: \"fast\": \"fast\" is not a valid performance mode; choose one of: "
           "balanced, interactivity, throughput"},
          {"local weights bad", ann("kaito.sh/use-local-weights", "yes"),
           "metadata.annotations[kaito.sh/use-local-weights]",
           "Invalid value: \"yes\": \"yes\" must be \"true\" or \"false\""},
      });
}

TEST(CreateRule, InferencePresetXorTemplate) {
  json tmpl = {{"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}};
  check_create_rows(inference_base(),
                    {
                        {"template only",
                         [&](json& j) {
                           j["inference"] = {{"template", tmpl}};
                         },
                         "", ""},
                        {"both", [&](json& j) { j["inference"]["template"] = tmpl; }, "inference",
                         "Preset and Template cannot be set at the same time"},
                        {"neither", [](json& j) { j["inference"] = json::object(); }, "inference",
                         "Required value: Preset or Template must be specified"},
                    });
}

TEST(CreateRule, InferencePresetKnown) {
  check_create_rows(inference_base(),
                    {
                        {"unknown", [](json& j) { j["inference"]["preset"]["name"] = "nope"; },
                         "inference.preset.name",
                         "Invalid value: \"nope\": Unsupported inference preset name nope"},
                    });
  json j = inference_base();
  j["inference"]["preset"]["name"] = "phi-2";
  auto res = validate_create(testing::decode_defaulted(j), testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u) << testing::dump_errors(res.errors);
  EXPECT_EQ(res.errors[0].to_string(),
            "inference.preset.name: Model phi-2 is deprecated and no longer supported");
  EXPECT_EQ(res.errors[1].to_string(),
            "inference.preset.name: Invalid value: \"phi-2\": Unsupported inference preset name "
            "phi-2");
}

TEST(CreateRule, InstanceTypeKnown) {
  check_create_rows(inference_base(),
                    {
                        {"unknown", [](json& j) { j["resource"]["instanceType"] = "Standard_XYZ"; },
                         "resource.instanceType",
                         "Invalid value: \"Standard_XYZ\": Unsupported instance type Standard_XYZ. "
                         "Supported SKUs: "
                         "Standard_NC24ads_A100_v4, Standard_NC6s_v3, Standard_NC96ads_A100_v4, "
                         "Standard_NV36ads_A10_v5, g5.xlarge"},
                        {"azure N-series passes",
                         [](json& j) { j["resource"]["instanceType"] = "Standard_NC999"; }, "", ""},
                    });
  auto aws = testing::default_options();
  aws.cloud_provider = "aws";
  json j = inference_base();
  j["resource"]["instanceType"] = "Standard_NC999";
  auto res = validate_create(testing::decode_defaulted(j), aws);
  ASSERT_EQ(res.errors.size(), 1u);
  EXPECT_EQ(res.errors[0].field, "resource.instanceType");
}

TEST(CreateRule, EnoughTotalGpuMemoryForThePreset) {
  auto transformers = [](json& j) {
    j["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers";
    j["inference"]["preset"]["name"] = "phi-4";
    j["resource"]["instanceType"] = "Standard_NC6s_v3";
  };
  check_create_rows(
      inference_base(),
      {
          {"too small", transformers, "resource.instanceType",
           "Invalid value: \"Standard_NC6s_v3\": Insufficient total GPU memory: Instance type "
           "Standard_NC6s_v3 has a total of 16Gi, but preset phi-4 requires at least 29323823759"},
          {"two nodes suffice",
           [&](json& j) {
             transformers(j);
             j["resource"]["count"] = 2;
           },
           "", ""},
          {"bypass annotation",
           [&](json& j) {
             transformers(j);
             j["metadata"]["annotations"]["kaito.sh/bypass-resource-checks"] = "";
           },
           "", ""},
          {"vllm estimates instead",
           [](json& j) {
             j["inference"]["preset"]["name"] = "phi-4";
             j["resource"]["instanceType"] = "Standard_NC6s_v3";
           },
           "", ""},
      });
}

TEST(CreateRule, RuntimeValidation) {
  json adapter = {{"source", {{"name", "a"}, {"image", "myacr.azurecr.io/a:1"}}}};
  check_create_rows(inference_base(),
                    {
                        {"vllm lora unsupported",
                         [&](json& j) {
                           j["inference"]["preset"]["name"] = "falcon-7b";
                           j["inference"]["adapters"] = {adapter};
                         },
                         "inference",
                         "Runtime validation: vLLM does not support LoRA adapters for this model: "
                         "falcon-7b"},
                        {"vllm strength",
                         [&](json& j) {
                           json a = adapter;
                           a["strength"] = "0.5";
                           j["inference"]["adapters"] = {a};
                         },
                         "inference", "Runtime validation: vLLM does not support adapter strength"},
                        {"transformers unsupported",
                         [](json& j) {
                           j["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers";
                           j["resource"]["instanceType"] = "Standard_NC96ads_A100_v4";
                           j["inference"]["preset"] = {
                               {"name", "llama-3.3-70b-instruct"},
                               {"presetOptions", {{"modelAccessSecret", "hf"}}}};
                         },
                         "inference",
                         "Runtime validation: model llama-3.3-70b-instruct does not support "
                         "inference with Huggingface Transformers runtime"},
                    });
}

TEST(CreateRule, ModelAccessSecret) {
  check_create_rows(
      inference_base(),
      {
          {"gated without secret",
           [](json& j) {
             j["resource"]["instanceType"] = "Standard_NC96ads_A100_v4";
             j["inference"]["preset"]["name"] = "llama-3.3-70b-instruct";
           },
           "inference.preset.presetOptions.modelAccessSecret",
           "This preset requires authentication and needs a modelAccessSecret with HF_TOKEN key "
           "under presetOptions to download the model"},
          {"secret where none needed",
           [](json& j) { j["inference"]["preset"]["presetOptions"]["modelAccessSecret"] = "hf"; },
           "inference.preset.presetOptions.modelAccessSecret",
           "This preset does not require a modelAccessSecret with HF_TOKEN key under "
           "presetOptions"},
      });
}

json adapters(int n) {
  json a = json::array();
  for (int i = 0; i < n; ++i)
    a.push_back({{"source",
                  {{"name", "a" + std::to_string(i)},
                   {"image", "myacr.azurecr.io/a" + std::to_string(i) + ":1"}}}});
  return a;
}

TEST(CreateRule, AtMostTenAdapters) {
  check_create_rows(inference_base(),
                    {
                        {"ten", [](json& j) { j["inference"]["adapters"] = adapters(10); }, "", ""},
                        {"eleven", [](json& j) { j["inference"]["adapters"] = adapters(11); },
                         "inference.adapters",
                         "Number of Adapters exceeds the maximum limit, maximum of 10 allowed"},
                    });
}

TEST(CreateRule, AdapterNamesDns1123AndUnique) {
  check_create_rows(
      inference_base(),
      {
          {"duplicate",
           [](json& j) {
             j["inference"]["adapters"] = adapters(2);
             j["inference"]["adapters"][1]["source"]["name"] = "a0";
           },
           "inference.adapters[1].source.name", "Duplicate adapter source name found: a0"},
          {"not dns",
           [](json& j) {
             j["inference"]["adapters"] = adapters(1);
             j["inference"]["adapters"][0]["source"]["name"] = "Bad_Name";
           },
           "inference.adapters[0].source.name",
           "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case "
           "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
           "character "
           "(e.g. 'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
          {"subdomain with dots ok",
           [](json& j) {
             j["inference"]["adapters"] = adapters(1);
             j["inference"]["adapters"][0]["source"]["name"] = "phi-3.adapter";
           },
           "", ""},
          {"empty name",
           [](json& j) {
             j["inference"]["adapters"] = adapters(1);
             j["inference"]["adapters"][0]["source"].erase("name");
           },
           "inference.adapters[0].source.name",
           "Required value: Name of Adapter field must be specified"},
          {"no source", [](json& j) { j["inference"]["adapters"] = json::array({json::object()}); },
           "inference.adapters[0].source", "Required value"},
      });
}

TEST(CreateRule, AdapterSourceImageOrVolumeNotUrls) {
  json j = inference_base();
  j["inference"]["adapters"] = {{{"source", {{"name", "x"}}}}};
  auto res = validate_create(testing::decode_defaulted(j), testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u) << testing::dump_errors(res.errors);
  EXPECT_EQ(
      res.errors[0].to_string(),
      "inference.adapters[0].source: Exactly one of URLs, Volume, or Image must be specified");
  EXPECT_EQ(res.errors[1].to_string(),
            "inference.adapters[0].source: Either Image or Volume must be specified for adapter "
            "source");
  j["inference"]["adapters"] = {{{"source", {{"name", "x"}, {"urls", {"https://e.com/a"}}}}}};
  res = validate_create(testing::decode_defaulted(j), testing::default_options());
  ASSERT_EQ(res.errors.size(), 2u) << testing::dump_errors(res.errors);
  EXPECT_EQ(res.errors[1].to_string(),
            "inference.adapters[0].source.urls: URLs are not supported as adapter source");
}

TEST(CreateRule, AdapterStrengthIsAFloatInZeroOne) {
  auto strength = [](const char* s) {
    return [s](json& j) {
      j["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers";
      j["inference"]["adapters"] = adapters(1);
      j["inference"]["adapters"][0]["strength"] = s;
    };
  };
  check_create_rows(
      inference_base(),
      {
          {"0", strength("0"), "", ""},
          {"1", strength("1"), "", ""},
          {"0.25", strength("0.25"), "", ""},
          {"abc", strength("abc"), "inference.adapters[0].strength",
           "Invalid strength value for Adapter 'a0': strconv.ParseFloat: parsing \"abc\": invalid "
           "syntax"},
          {"1.5", strength("1.5"), "inference.adapters[0].strength",
           "Strength value for Adapter 'a0' must be between 0 and 1"},
          {"-0.1", strength("-0.1"), "inference.adapters[0].strength",
           "Strength value for Adapter 'a0' must be between 0 and 1"},
      });
}

TEST(CreateRule, TuningMethodLoraOrQlora) {
  check_create_rows(
      tuning_base(),
      {
          {"lora", [](json& j) { j["tuning"]["method"] = "lora"; }, "", ""},
          {"case-insensitive", [](json& j) { j["tuning"]["method"] = "QLoRA"; }, "", ""},
          {"sft", [](json& j) { j["tuning"]["method"] = "sft"; }, "tuning.method",
           "Unsupported value: \"sft\": supported values: \"lora\", \"qlora\""},
          {"missing", [](json& j) { j["tuning"].erase("method"); }, "tuning.method",
           "Unsupported value: \"\": supported values: \"lora\", \"qlora\""},
      });
}

TEST(CreateRule, TuningPresetKnownAndTunable) {
  check_create_rows(
      tuning_base(),
      {
          {"unknown", [](json& j) { j["tuning"]["preset"]["name"] = "nope"; }, "tuning.preset.name",
           "Invalid value: \"nope\": Unsupported tuning preset name nope"},
          {"not tunable", [](json& j) { j["tuning"]["preset"]["name"] = "falcon-7b"; },
           "tuning.preset.name",
           "Invalid value: \"falcon-7b\": Unsupported tuning preset name "
           "falcon-7b"},
          {"missing", [](json& j) { j["tuning"].erase("preset"); }, "tuning.preset",
           "Required value"},
      });
}

TEST(CreateRule, TuningNeedsInputAndOutput) {
  check_create_rows(tuning_base(), {
                                       {"no input", [](json& j) { j["tuning"].erase("input"); },
                                        "tuning.input", "Required value"},
                                       {"no output", [](json& j) { j["tuning"].erase("output"); },
                                        "tuning.output", "Required value"},
                                   });
}

TEST(CreateRule, InputExactlyOneOfUrlsVolumeImage) {
  const std::string msg = "Exactly one of URLs, Volume, or Image must be specified";
  check_create_rows(
      tuning_base(),
      {
          {"volume",
           [](json& j) {
             j["tuning"]["input"] = {{"volumeSource", {{"emptyDir", json::object()}}}};
           },
           "", ""},
          {"image",
           [](json& j) {
             j["tuning"]["input"] = {{"image", "myacr.azurecr.io/data:1"}};
           },
           "", ""},
          {"urls and image",
           [](json& j) { j["tuning"]["input"]["image"] = "myacr.azurecr.io/data:1"; },
           "tuning.input", msg},
          {"none",
           [](json& j) {
             j["tuning"]["input"] = {{"name", "x"}};
           },
           "tuning.input", msg},
          {"empty urls", [](json& j) { j["tuning"]["input"]["urls"] = json::array(); },
           "tuning.input", msg},
      });
}

TEST(CreateRule, InputImageReferenceParses) {
  check_create_rows(
      tuning_base(),
      {
          {"uppercase repo",
           [](json& j) {
             j["tuning"]["input"] = {{"image", "myacr.azurecr.io/Data:1"}};
           },
           "tuning.input.image",
           "Invalid value: \"myacr.azurecr.io/Data:1\": Unable to parse input image reference: "
           "invalid reference format: repository name (Data) must be lowercase"},
          {"empty tag",
           [](json& j) {
             j["tuning"]["input"] = {{"image", "ubuntu:"}};
           },
           "tuning.input.image",
           "Invalid value: \"ubuntu:\": Unable to parse input image reference: invalid reference "
           "format"},
      });
}

TEST(CreateRule, DataUrlsMustNotTargetInternalEndpoints) {
  auto url = [](const char* u) { return [u](json& j) { j["tuning"]["input"]["urls"] = {u}; }; };
  const std::string local = "data source URL must not target a local or metadata endpoint";
  const std::string priv =
      "data source URL must not target a loopback, private, or link-local address";
  struct c {
    const char* url;
    std::string msg;
  };
  std::vector<c> cases = {
      {"https://example.com/data.parquet", ""},
      {"http://93.184.216.34/x", ""},
      {"ftp://example.com/x", "data source URL must use HTTP or HTTPS"},
      {"not a url", "invalid data source URL"},
      {"https:///nohost", "invalid data source URL"},
      {"http://localhost:8080/x", local},
      {"http://api.LOCALHOST/x", local},
      {"http://metadata.google.internal/computeMetadata/v1/", local},
      {"http://169.254.169.254/latest/meta-data/", priv},
      {"http://127.0.0.1/x", priv},
      {"http://10.1.2.3/x", priv},
      {"http://172.20.0.1/x", priv},
      {"http://192.168.1.1/x", priv},
      {"http://[::1]:8080/x", priv},
      {"http://[fe80::1%25eth0]/x", priv},
      {"http://[fd00::1]/x", priv},
      {"http://[::ffff:127.0.0.1]/x", priv},
      {"http://[2001:db8::1]/x", ""},
  };
  std::vector<rule_row> rows;
  for (const auto& k : cases)
    rows.push_back({k.url, url(k.url), k.msg.empty() ? "" : "tuning.input.urls[0]",
                    "Invalid value: \"" + std::string(k.url) + "\": " + k.msg});
  check_create_rows(tuning_base(), rows);
}

TEST(CreateRule, OutputExactlyOneOfImageOrVolumeAndPushSecret) {
  check_create_rows(
      tuning_base(),
      {
          {"volume",
           [](json& j) {
             j["tuning"]["output"] = {{"volumeSource", {{"emptyDir", json::object()}}}};
           },
           "", ""},
          {"no push secret", [](json& j) { j["tuning"]["output"].erase("imagePushSecret"); },
           "tuning.output.imagePushSecret",
           "Required value: Must specify imagePushSecret with destination image"},
          {"both",
           [](json& j) {
             j["tuning"]["output"]["volumeSource"] = {{"emptyDir", json::object()}};
           },
           "tuning.output", "Required value: Exactly one of Volume or Image must be specified"},
          {"none", [](json& j) { j["tuning"]["output"] = json::object(); }, "tuning.output",
           "Required value: Exactly one of Volume or Image must be specified"},
      });
}

TEST(CreateRule, UnparsableOutputImageIsAWarning) {
  json j = tuning_base();
  j["tuning"]["output"]["image"] = "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1";
  auto res = validate_create(testing::decode_defaulted(j), testing::default_options());
  EXPECT_TRUE(res.ok()) << testing::dump_errors(res.errors);
  ASSERT_EQ(res.warnings.size(), 1u);
  EXPECT_EQ(res.warnings[0],
            "tuning.output.image: Invalid value: \"ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1\""
            ": Unable to parse output image reference: invalid reference format: repository name "
            "(IMAGE_NAME_HERE) must be lowercase");
}

TEST(CreateRule, TuningIsSingleNodeWithoutPartitions) {
  check_create_rows(
      tuning_base(),
      {
          {"count 1", [](json& j) { j["resource"]["count"] = 1; }, "", ""},
          {"count 2", [](json& j) { j["resource"]["count"] = 2; }, "resource.count",
           "Invalid value: 2: Tuning does not currently support multinode configurations. Please "
           "set "
           "the node count to 1. Future support with DeepSpeed will allow this."},
          {"partition",
           [](json& j) {
             j["resource"]["partition"] = {{"mode", "mig"}};
           },
           "resource.partition",
           "Invalid value: {\"mode\":\"mig\"}: GPU partitioning is not supported for tuning "
           "workloads"},
      });
  check_create_rows(
      inference_base(),
      {
          {"partition under NAP",
           [](json& j) {
             j["resource"]["partition"] = {{"mode", "mig"}};
           },
           "resource.partition",
           "GPU partitioning is only supported with BYO nodes (disableNodeAutoProvisioning=true)"},
      });
}

TEST(CreateRule, TuningDoesNotCheckGpuMemoryAtAdmission) {
  // Kaito's seed: phi-3 QLoRA (72Gi tuning requirement) on a 16 GB V100 is admitted.
  check_create_rows(tuning_base(), {{"seed sku", [](json&) {}, "", ""}});
}

}  // namespace
}  // namespace kaito::api
