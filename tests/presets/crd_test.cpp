// deploy/crds/kaito.sh_workspaces.yaml: both versions, v1beta1 stored, status subresource, printer
// columns, short names, and a structural schema with Kaito's preserve-unknown-fields places.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace {

YAML::Node crd() {
  static YAML::Node n =
      YAML::LoadFile(std::string(KAITO_SOURCE_DIR) + "/deploy/crds/kaito.sh_workspaces.yaml");
  return n;
}

YAML::Node version(const std::string& name) {
  for (const auto& v : crd()["spec"]["versions"])
    if (v["name"].as<std::string>() == name) return v;
  ADD_FAILURE() << "no version " << name;
  return YAML::Node();
}

TEST(WorkspaceCrd, NamesAndVersions) {
  YAML::Node c = crd();
  EXPECT_EQ(c["apiVersion"].as<std::string>(), "apiextensions.k8s.io/v1");
  EXPECT_EQ(c["kind"].as<std::string>(), "CustomResourceDefinition");
  EXPECT_EQ(c["metadata"]["name"].as<std::string>(), "workspaces.kaito.sh");
  EXPECT_EQ(c["spec"]["group"].as<std::string>(), "kaito.sh");
  EXPECT_EQ(c["spec"]["scope"].as<std::string>(), "Namespaced");
  YAML::Node names = c["spec"]["names"];
  EXPECT_EQ(names["kind"].as<std::string>(), "Workspace");
  EXPECT_EQ(names["plural"].as<std::string>(), "workspaces");
  EXPECT_EQ(names["singular"].as<std::string>(), "workspace");
  EXPECT_EQ(names["listKind"].as<std::string>(), "WorkspaceList");
  EXPECT_EQ(names["shortNames"].as<std::vector<std::string>>(),
            std::vector<std::string>({"wk", "wks"}));
  EXPECT_EQ(names["categories"].as<std::vector<std::string>>(),
            std::vector<std::string>({"workspace"}));
  ASSERT_EQ(c["spec"]["versions"].size(), 2u);
  int stored = 0;
  for (const char* v : {"v1alpha1", "v1beta1"}) {
    YAML::Node n = version(v);
    EXPECT_TRUE(n["served"].as<bool>()) << v;
    EXPECT_TRUE(n["subresources"]["status"].IsMap()) << v;
    stored += n["storage"].as<bool>();
  }
  EXPECT_EQ(stored, 1);
  EXPECT_TRUE(version("v1beta1")["storage"].as<bool>());
}

std::vector<std::string> column_names(const YAML::Node& v) {
  std::vector<std::string> out;
  for (const auto& c : v["additionalPrinterColumns"]) out.push_back(c["name"].as<std::string>());
  return out;
}

TEST(WorkspaceCrd, PrinterColumns) {
  EXPECT_EQ(column_names(version("v1alpha1")),
            std::vector<std::string>({"Instance", "ResourceReady", "InferenceReady", "JobStarted",
                                      "WorkspaceSucceeded", "Age"}));
  EXPECT_EQ(column_names(version("v1beta1")),
            std::vector<std::string>({"Instance", "ResourceReady", "InferenceReady", "JobStarted",
                                      "WorkspaceSucceeded", "TargetNodeCount", "State", "Age"}));
  for (const auto& c : version("v1beta1")["additionalPrinterColumns"]) {
    const std::string name = c["name"].as<std::string>(), path = c["jsonPath"].as<std::string>();
    if (name == "Instance") EXPECT_EQ(path, ".resource.instanceType");
    if (name == "ResourceReady")
      EXPECT_EQ(path, ".status.conditions[?(@.type==\"ResourceReady\")].status");
    if (name == "WorkspaceSucceeded")
      EXPECT_EQ(path, ".status.conditions[?(@.type==\"WorkspaceSucceeded\")].status");
    if (name == "TargetNodeCount") {
      EXPECT_EQ(path, ".status.targetNodeCount");
      EXPECT_EQ(c["type"].as<std::string>(), "integer");
    }
    if (name == "State") EXPECT_EQ(path, ".status.state");
    if (name == "Age") {
      EXPECT_EQ(path, ".metadata.creationTimestamp");
      EXPECT_EQ(c["type"].as<std::string>(), "date");
    }
  }
}

// Structural: every schema node has a type, unless it preserves unknown fields; objects with
// properties are type object; arrays have items.
void check_structural(const YAML::Node& s, const std::string& path, int* preserved) {
  const bool preserve = s["x-kubernetes-preserve-unknown-fields"] &&
                        s["x-kubernetes-preserve-unknown-fields"].as<bool>();
  if (preserve) ++*preserved;
  ASSERT_TRUE(s["type"] || preserve) << path << " has no type";
  if (s["properties"]) {
    EXPECT_EQ(s["type"].as<std::string>(), "object") << path;
    for (const auto& kv : s["properties"])
      check_structural(kv.second, path + "." + kv.first.as<std::string>(), preserved);
  }
  if (s["type"] && s["type"].as<std::string>() == "array") {
    ASSERT_TRUE(s["items"]) << path;
    check_structural(s["items"], path + "[]", preserved);
  }
  if (s["additionalProperties"] && s["additionalProperties"].IsMap())
    check_structural(s["additionalProperties"], path + "{}", preserved);
}

TEST(WorkspaceCrd, SchemaShape) {
  for (const char* v : {"v1alpha1", "v1beta1"}) {
    YAML::Node root = version(v)["schema"]["openAPIV3Schema"];
    int preserved = 0;
    check_structural(root, v, &preserved);
    // inference.template, adapters[].source.volumeSource, tuning.input.volumeSource,
    // tuning.output.volumeSource.
    EXPECT_EQ(preserved, 4) << v;
    YAML::Node props = root["properties"];
    for (const char* top :
         {"apiVersion", "kind", "metadata", "resource", "inference", "tuning", "status"})
      EXPECT_TRUE(props[top]) << v << " " << top;
    EXPECT_FALSE(props["spec"]) << "Kaito's Workspace has no spec wrapper";
    EXPECT_TRUE(props["inference"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"]
                    .as<bool>());
    EXPECT_EQ(props["resource"]["required"].as<std::vector<std::string>>(),
              std::vector<std::string>({"labelSelector"}));
    EXPECT_EQ(props["tuning"]["required"].as<std::vector<std::string>>(),
              std::vector<std::string>({"input", "output"}));
    EXPECT_EQ(props["inference"]["properties"]["preset"]["properties"]["accessMode"]["default"]
                  .as<std::string>(),
              "public");
    EXPECT_EQ(props["resource"]["properties"]["count"]["default"].as<int>(), 1);
  }
  YAML::Node alpha = version("v1alpha1")["schema"]["openAPIV3Schema"]["properties"];
  YAML::Node beta = version("v1beta1")["schema"]["openAPIV3Schema"]["properties"];
  EXPECT_EQ(alpha["resource"]["properties"]["instanceType"]["default"].as<std::string>(),
            "Standard_NC24ads_A100_v4");
  EXPECT_FALSE(beta["resource"]["properties"]["instanceType"]["default"]);
  EXPECT_FALSE(alpha["resource"]["properties"]["partition"]);
  EXPECT_TRUE(beta["resource"]["properties"]["partition"]);
  EXPECT_FALSE(alpha["status"]["properties"]["state"]);
  EXPECT_EQ(beta["status"]["properties"]["targetNodeCount"]["format"].as<std::string>(), "int32");
  EXPECT_TRUE(beta["inference"]["properties"]["preset"]["properties"]["presetOptions"]["properties"]
                  ["modelAccessSecret"]);
  EXPECT_EQ(beta["status"]["properties"]["conditions"]["items"]["properties"]["status"]["enum"]
                .as<std::vector<std::string>>(),
            std::vector<std::string>({"True", "False", "Unknown"}));
}

}  // namespace
