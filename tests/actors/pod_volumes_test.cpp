// pod_volumes: the kubelet's projection of secret and configMap volumes (items, keys, modes,
// subPath, optional, missing objects and keys named by field) and writing the files under a pod's
// root (modes kept, no path leaves the root).
#include "actors/pod_volumes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

namespace {

using kaito::actors::project_pod_volumes;
using kaito::actors::write_pod_files;
using nlohmann::json;
namespace fs = std::filesystem;

// The docker-config and config volumes of a tuning pod, as workspace_desired builds them.
json tuning_pod() {
  return {{"metadata", {{"namespace", "ns1"}, {"name", "tune-0"}}},
          {"spec",
           {{"containers",
             {{{"name", "tune"},
               {"volumeMounts",
                {{{"name", "dshm"}, {"mountPath", "/dev/shm"}},
                 {{"name", "docker-config"}, {"mountPath", "/root/.docker"}},
                 {{"name", "config-volume"}, {"mountPath", "/mnt/config"}}}}}}},
            {"volumes",
             {{{"name", "dshm"}, {"emptyDir", {{"medium", "Memory"}}}},
              {{"name", "docker-config"},
               {"secret",
                {{"secretName", "push"},
                 {"items", {{{"key", ".dockerconfigjson"}, {"path", "config.json"}}}}}}},
              {{"name", "config-volume"}, {"configMap", {{"name", "params"}}}}}}}}};
}

struct store {
  std::map<std::string, json> objects;  // "kind/ns/name"
  kaito::actors::object_lookup lookup() const {
    return [this](const std::string& kind, const std::string& ns,
                  const std::string& name) -> std::optional<json> {
      auto it = objects.find(kind + "/" + ns + "/" + name);
      if (it == objects.end()) return std::nullopt;
      return it->second;
    };
  }
};

store tuning_store() {
  store s;
  // {"auths":{}} and "a: 1\n" in base64 / plain text
  s.objects["secret/ns1/push"] = {{"data", {{".dockerconfigjson", "eyJhdXRocyI6e319"}}}};
  s.objects["configmap/ns1/params"] = {{"data", {{"training_config.yaml", "a: 1\n"}}},
                                       {"binaryData", {{"blob.bin", "AAEC"}}}};
  return s;
}

std::string text(const kaito::msg::pod_file& f) {
  return std::string(f.data.begin(), f.data.end());
}

TEST(PodVolumes, ProjectsSecretItemsAndConfigMapKeys) {
  auto s = tuning_store();
  auto files = project_pod_volumes(tuning_pod(), s.lookup());
  ASSERT_TRUE(files.ok()) << files.error().to_string();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].path, "/root/.docker/config.json");
  EXPECT_EQ(text((*files)[0]), "{\"auths\":{}}");
  EXPECT_EQ((*files)[0].mode, 0644u);
  EXPECT_EQ((*files)[1].path, "/mnt/config/blob.bin");
  EXPECT_EQ((*files)[1].data, std::vector<uint8_t>({0, 1, 2}));
  EXPECT_EQ((*files)[2].path, "/mnt/config/training_config.yaml");
  EXPECT_EQ(text((*files)[2]), "a: 1\n");
}

TEST(PodVolumes, ModesSubPathAndOptional) {
  auto s = tuning_store();
  json pod = tuning_pod();
  pod["spec"]["volumes"][1]["secret"]["defaultMode"] = 0600;
  pod["spec"]["volumes"][1]["secret"]["items"][0]["mode"] = 0400;
  pod["spec"]["volumes"][2]["configMap"]["defaultMode"] = 0440;
  pod["spec"]["containers"][0]["volumeMounts"][2]["subPath"] = "training_config.yaml";
  pod["spec"]["containers"][0]["volumeMounts"][2]["mountPath"] = "/etc/kaito/tc.yaml";
  auto files = project_pod_volumes(pod, s.lookup());
  ASSERT_TRUE(files.ok()) << files.error().to_string();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].mode, 0400u);
  EXPECT_EQ((*files)[1].path, "/etc/kaito/tc.yaml");
  EXPECT_EQ((*files)[1].mode, 0440u);
  EXPECT_EQ(text((*files)[1]), "a: 1\n");
  // An optional volume whose object is missing projects nothing.
  s.objects.erase("configmap/ns1/params");
  pod["spec"]["volumes"][2]["configMap"]["optional"] = true;
  files = project_pod_volumes(pod, s.lookup());
  ASSERT_TRUE(files.ok()) << files.error().to_string();
  EXPECT_EQ(files->size(), 1u);
}

TEST(PodVolumes, MissingObjectsKeysAndBadPathsAreNamed) {
  auto s = tuning_store();
  s.objects.erase("secret/ns1/push");
  auto r = project_pod_volumes(tuning_pod(), s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), kaito::status_code::failed_precondition);
  EXPECT_EQ(r.error().where(), "spec.volumes[1].secret.secretName");
  EXPECT_NE(r.error().message().find("secret \"push\" not found"), std::string::npos);

  s = tuning_store();
  s.objects["secret/ns1/push"] = {{"data", {{"other", "eA=="}}}};
  r = project_pod_volumes(tuning_pod(), s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "spec.volumes[1].secret.items[0].key");

  s = tuning_store();
  s.objects["secret/ns1/push"] = {{"data", {{".dockerconfigjson", "not base64!"}}}};
  r = project_pod_volumes(tuning_pod(), s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), kaito::status_code::invalid_argument);

  s = tuning_store();
  json pod = tuning_pod();
  pod["spec"]["volumes"][1]["secret"]["items"][0]["path"] = "../../etc/passwd";
  r = project_pod_volumes(pod, s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "spec.volumes[1].secret.items[0].path");
  pod = tuning_pod();
  pod["spec"]["containers"][0]["volumeMounts"][1]["mountPath"] = "relative/dir";
  r = project_pod_volumes(pod, s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "spec.containers[0].volumeMounts[1].mountPath");
  pod = tuning_pod();
  pod["spec"]["containers"][0]["volumeMounts"][1]["name"] = "nope";
  r = project_pod_volumes(pod, s.lookup());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "spec.containers[0].volumeMounts[1].name");
  // A pod without mounts or volumes projects nothing.
  EXPECT_TRUE(project_pod_volumes(json::object(), s.lookup())->empty());
}

TEST(PodVolumes, WritesFilesUnderTheRootWithTheirModes) {
  auto root = fs::temp_directory_path() / ("pod_volumes_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto s = tuning_store();
  json pod = tuning_pod();
  pod["spec"]["volumes"][1]["secret"]["defaultMode"] = 0600;
  auto files = project_pod_volumes(pod, s.lookup());
  ASSERT_TRUE(files.ok());
  ASSERT_TRUE(write_pod_files(root.string(), *files).ok());
  std::ifstream in(root / "root/.docker/config.json");
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "{\"auths\":{}}");
  struct stat st {};
  ASSERT_EQ(::stat((root / "root/.docker/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(root / "root/.docker/config.json.tmp"));
  kaito::msg::pod_file escape;
  escape.path = "/a/../../outside";
  auto bad = write_pod_files(root.string(), {escape});
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(fs::exists(root.parent_path() / "outside"));
  fs::remove_all(root);
}

}  // namespace
