// Desired-state builders; see workspace_desired.h.
#include "k8s/controllers/workspace_desired.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include <openssl/evp.h>

#include "k8s/client/api_error.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/scheduling.h"
#include "presets/preset_catalog.h"
#include "protocol/api/workspace_types.h"

namespace kaito::k8s::controllers {

namespace {

bool node_label_present(const json& node, const std::string& key) {
  const json& l = member(member(node, "metadata"), "labels");
  return l.is_object() && l.contains(key);
}

std::map<std::string, std::string> child_labels(const workspace_facts& f) {
  return {{labels::kWorkspace, f.name}, {labels::kWorkspaceNamespace, f.ns}};
}

json child_meta(const json& ws, const workspace_facts& f, const std::string& name,
                int64_t revision) {
  json m = {{"name", name},
            {"namespace", f.ns},
            {"labels", child_labels(f)},
            {"ownerReferences", json::array({controller_ref(ws)})}};
  if (revision > 0) m["annotations"] = {{annotations::kRevision, std::to_string(revision)}};
  return m;
}

// `kaito worker --task=tune` flags for the Workspace's tuning spec (actors/work_args.h). Inputs
// and outputs kaito-cpp cannot move yet (a dataset image, volumes) are passed on as flags the
// worker refuses by name, so the Job fails saying which field.
std::vector<std::string> tuning_args(const json& ws, const workspace_facts& f) {
  const json& t = member(ws, "tuning");
  const json& in = member(t, "input");
  const json& out = member(t, "output");
  std::string method = string_field(t, "method");
  std::vector<std::string> a = {"--task=tune", "--preset=" + f.preset,
                                "--method=" + (method.empty() ? std::string("qlora") : method)};
  const json& urls = member(in, "urls");
  if (urls.is_array())
    for (const auto& u : urls)
      if (u.is_string()) a.push_back("--input-url=" + u.get<std::string>());
  if (!string_field(in, "image").empty()) a.push_back("--input-image=" + string_field(in, "image"));
  if (member(in, "volumeSource").is_object())
    a.push_back("--input-volume=tuning.input.volumeSource");
  if (!string_field(out, "image").empty())
    a.push_back("--output-image=" + string_field(out, "image"));
  if (member(out, "volumeSource").is_object())
    a.push_back("--output-volume=tuning.output.volumeSource");
  return a;
}

// The imagePullSecrets of image sources (tuning.input, inference.adapters[].source), each once,
// in order of appearance.
void collect_pull_secrets(const json& source, std::vector<std::string>& names) {
  const json& list = member(source, "imagePullSecrets");
  if (!list.is_array()) return;
  for (const auto& n : list)
    if (n.is_string() && !n.get<std::string>().empty() &&
        std::find(names.begin(), names.end(), n.get<std::string>()) == names.end())
      names.push_back(n.get<std::string>());
}

std::string pull_secret_dir(const std::string& name) {
  return "/mnt/pull-secrets/" + name;
}

// The worker pulls images itself (Kaito's puller init containers): each pull secret's
// .dockerconfigjson is projected at /mnt/pull-secrets/<name>/config.json and named by a
// --pull-secret flag.
void add_pull_secrets(const std::vector<std::string>& names, json& tmpl) {
  json& vols = tmpl["spec"]["volumes"];
  json& container = tmpl["spec"]["containers"][0];
  for (size_t i = 0; i < names.size(); ++i) {
    std::string volume = "pull-secret-" + std::to_string(i);
    vols.push_back(
        {{"name", volume},
         {"secret",
          {{"secretName", names[i]},
           {"items", json::array({{{"key", ".dockerconfigjson"}, {"path", "config.json"}}})}}}});
    container["volumeMounts"].push_back(
        {{"name", volume}, {"mountPath", pull_secret_dir(names[i])}, {"readOnly", true}});
    container["args"].push_back("--pull-secret=" + pull_secret_dir(names[i]) + "/config.json");
  }
}

// Kaito's tuning volumes: the push secret's .dockerconfigjson as /root/.docker/config.json, the
// tuning ConfigMap at /mnt/config, emptyDirs for /mnt/data and /mnt/results.
void add_tuning_volumes(const json& ws, json& tmpl) {
  const json& t = member(ws, "tuning");
  json& vols = tmpl["spec"]["volumes"];
  json& mounts = tmpl["spec"]["containers"][0]["volumeMounts"];
  std::string secret = string_field(member(t, "output"), "imagePushSecret");
  if (!secret.empty()) {
    vols.push_back(
        {{"name", "docker-config"},
         {"secret",
          {{"secretName", secret},
           {"items", json::array({{{"key", ".dockerconfigjson"}, {"path", "config.json"}}})}}}});
    mounts.push_back({{"name", "docker-config"}, {"mountPath", "/root/.docker"}});
  }
  vols.push_back({{"name", "config-volume"}, {"configMap", {{"name", tuning_config_name(ws)}}}});
  mounts.push_back({{"name", "config-volume"}, {"mountPath", "/mnt/config"}});
  for (const char* v : {"data", "results"}) {
    std::string name = std::string(v) + "-volume";
    vols.push_back({{"name", name}, {"emptyDir", json::object()}});
    mounts.push_back({{"name", name}, {"mountPath", std::string("/mnt/") + v}});
  }
  if (!string_field(member(t, "input"), "image").empty()) {
    std::vector<std::string> secrets;
    collect_pull_secrets(member(t, "input"), secrets);
    add_pull_secrets(secrets, tmpl);
  }
}

}  // namespace

result<workspace_facts> read_workspace_facts(const json& ws, const presets::preset_catalog* cat) {
  workspace_facts f;
  f.ns = meta_string(ws, "namespace");
  f.name = meta_string(ws, "name");
  f.uid = meta_string(ws, "uid");
  f.api_version = string_field(ws, "apiVersion");
  if (f.name.empty()) return invalid_argument("a Workspace needs a name", "metadata.name");
  if (f.ns.empty()) return invalid_argument("a Workspace needs a namespace", "metadata.namespace");
  const json& gen = member(member(ws, "metadata"), "generation");
  f.generation = gen.is_number_integer() ? gen.get<int64_t>() : 0;
  f.deleting = !meta_string(ws, "deletionTimestamp").empty();
  const json& tuning = member(ws, "tuning");
  const json& inference = member(ws, "inference");
  bool has_tuning = tuning.is_object(), has_inference = inference.is_object();
  if (has_tuning == has_inference)
    return invalid_argument("exactly one of inference and tuning must be set", "inference");
  f.tuning = has_tuning;
  const json& res = member(ws, "resource");
  f.instance_type = string_field(res, "instanceType");
  const json& ml = member(member(res, "labelSelector"), "matchLabels");
  if (ml.is_object())
    for (auto it = ml.begin(); it != ml.end(); ++it)
      if (it->is_string()) f.match_labels[it.key()] = it->get<std::string>();
  const json& count = member(res, "count");
  int64_t n = count.is_number_integer() ? count.get<int64_t>() : 1;  // the CRD default
  if (n < 1) return invalid_argument("must be at least 1", "resource.count");
  f.target_node_count = f.tuning ? 1 : n;
  f.preset = string_field(member(f.tuning ? tuning : inference, "preset"), "name");
  if (cat && !f.instance_type.empty())
    if (const auto* sku = cat->find_sku_entry(f.instance_type))
      f.gpus_per_node = sku->facts.gpu_count;
  if (cat && !f.preset.empty())
    if (const auto* p = cat->find(f.preset)) {
      if (p->chat_template != "none") f.chat_template = p->chat_template;
      f.tool_call_parser = p->tool_call_parser;
      f.weights_bytes = p->weights_bytes();
    }
  return f;
}

result<std::optional<int>> self_test_seconds(const json& ws) {
  const json& ann = member(member(ws, "metadata"), "annotations");
  const json& v = member(ann, annotations::kSelfTestSeconds);
  if (v.is_null()) return std::optional<int>();
  std::string where = std::string("metadata.annotations[") + annotations::kSelfTestSeconds + "]";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  int out = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || out < 0 ||
      out > kMaxSelfTestSeconds)
    return invalid_argument("must be an integer number of seconds in 0..86400, got \"" + s + "\"",
                            where);
  return std::optional<int>(out);
}

std::string workspace_hash(const json& ws) {
  std::string text;
  for (const char* k : {"resource", "inference", "tuning"}) text += member(ws, k).dump() + "\n";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

json build_controller_revision(const json& ws, const std::string& hash, int64_t revision) {
  std::string name = meta_string(ws, "name");
  return {{"apiVersion", "apps/v1"},
          {"kind", "ControllerRevision"},
          {"metadata",
           {{"name", name + "-" + hash.substr(0, 5)},
            {"namespace", meta_string(ws, "namespace")},
            {"labels", {{labels::kWorkspaceName, name}}},
            {"annotations", {{annotations::kHash, hash}}},
            {"ownerReferences", json::array({controller_ref(ws)})}}},
          {"data",
           {{"resource", member(ws, "resource")},
            {"inference", member(ws, "inference")},
            {"tuning", member(ws, "tuning")}}},
          {"revision", revision}};
}

json build_pod_template(const workspace_facts& f, const std::vector<std::string>& args) {
  json resources = json::object();
  if (f.gpus_per_node > 0)
    resources = {{"limits", {{kGpuResource, std::to_string(f.gpus_per_node)}}},
                 {"requests", {{kGpuResource, std::to_string(f.gpus_per_node)}}}};
  json env =
      json::array({{{"name", "PYTORCH_CUDA_ALLOC_CONF"}, {"value", "expandable_segments:True"}},
                   {{"name", "KAITO_WORKSPACE"}, {"value", f.name}},
                   {{"name", "KAITO_WORKSPACE_NAMESPACE"}, {"value", f.ns}}});
  if (!f.preset.empty()) env.push_back({{"name", "KAITO_PRESET"}, {"value", f.preset}});
  json container = {{"name", f.name},
                    {"image", kWorkerImage},
                    {"command", json::array({"kaito", "worker"})},
                    {"args", args},
                    {"env", env},
                    {"resources", resources},
                    {"ports", json::array({{{"containerPort", 5000}, {"protocol", "TCP"}}})},
                    {"volumeMounts", json::array({{{"name", "dshm"}, {"mountPath", "/dev/shm"}}})}};
  json spec = {
      {"containers", json::array({container})},
      {"nodeSelector", child_labels(f)},
      {"tolerations",
       json::array(
           {{{"key", "gpu"}, {"operator", "Equal"}, {"effect", "NoSchedule"}},
            {{"key", "sku"}, {"operator", "Equal"}, {"value", "gpu"}, {"effect", "NoSchedule"}}})},
      {"volumes", json::array({{{"name", "dshm"}, {"emptyDir", {{"medium", "Memory"}}}}})}};
  return {{"metadata", {{"labels", child_labels(f)}}}, {"spec", spec}};
}

std::string tuning_config_name(const json& ws) {
  const json& t = member(ws, "tuning");
  std::string config = string_field(t, "config");
  if (!config.empty()) return config;
  std::string method = string_field(t, "method");
  for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return method == "lora" ? "lora-params-template" : "qlora-params-template";
}

json default_tuning_config_copy(const json& release_config_map, const workspace_facts& f) {
  json meta = {{"name", meta_string(release_config_map, "name")},
               {"namespace", f.ns},
               {"labels", {{"kaito.sh/workspace-default-config", "true"}}}};
  json out = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", meta}};
  const json& data = member(release_config_map, "data");
  out["data"] = data.is_object() ? data : json::object();
  return out;
}

json build_tuning_job(const json& ws, const workspace_facts& f, int64_t revision,
                      std::optional<int> self_test) {
  json tmpl = self_test
                  ? build_pod_template(
                        f, {"--task=self-test", "--duration-seconds=" + std::to_string(*self_test)})
                  : build_pod_template(f, tuning_args(ws, f));
  if (!self_test) add_tuning_volumes(ws, tmpl);
  tmpl["spec"]["restartPolicy"] = "Never";
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", child_meta(ws, f, f.name, revision)},
          {"spec",
           {{"backoffLimit", kDefaultBackoffLimit},
            {"completions", 1},
            {"parallelism", 1},
            {"template", tmpl}}}};
}

int32_t startup_failure_threshold(int64_t weights_bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  const int64_t bytes = std::clamp<int64_t>(weights_bytes, 0, int64_t{1} << 50);  // no overflow
  int64_t seconds = 15 * 60 + 18 * ((bytes + kGiB - 1) / kGiB);
  seconds = std::clamp<int64_t>(seconds, 30 * 60, 180 * 60);
  return static_cast<int32_t>((seconds + kProbePeriodSeconds - 1) / kProbePeriodSeconds);
}

namespace {

json health_probe(int32_t failure_threshold, int32_t timeout_seconds) {
  return {{"httpGet", {{"path", "/health"}, {"port", 5000}, {"scheme", "HTTP"}}},
          {"periodSeconds", kProbePeriodSeconds},
          {"timeoutSeconds", timeout_seconds},
          {"successThreshold", 1},
          {"failureThreshold", failure_threshold}};
}

}  // namespace

json build_inference_statefulset(const json& ws, const workspace_facts& f, int64_t revision) {
  std::vector<std::string> args = {"--task=serve", "--preset=" + f.preset, "--port=5000"};
  const json& adapters = member(member(ws, "inference"), "adapters");
  std::vector<std::string> secrets;
  if (adapters.is_array())
    for (const auto& a : adapters) {
      const json& source = member(a, "source");
      std::string name = string_field(source, "name"), image = string_field(source, "image");
      if (image.empty()) {
        args.push_back("--adapter-volume=" + name);  // refused by the worker, by name
        continue;
      }
      args.push_back("--adapter-image=" + name + "=" + image);
      if (member(a, "strength").is_string())
        args.push_back("--adapter-strength=" + name + "=" + string_field(a, "strength"));
      collect_pull_secrets(source, secrets);
    }
  // What the runtime makes of them (vLLM: LoRA modules; transformers: merged). Only with
  // adapters, so a Workspace without any keeps its pod template.
  if (adapters.is_array() && !adapters.empty()) {
    const json& ann = member(member(ws, "metadata"), "annotations");
    args.push_back(std::string("--runtime=") +
                   (string_field(ann, api::annotations::kRuntime) == "transformers" ? "transformers"
                                                                                    : "vllm"));
  }
  const bool self_test =
      !member(member(member(ws, "metadata"), "annotations"), annotations::kSelfTestSeconds)
           .is_null();
  if (self_test) args = {"--task=serve-self-test"};
  // The preset's chat template, for a model folder that has none (Kaito gives its runtime the
  // preset's template from /workspace/chat_templates).
  if (!self_test && !f.chat_template.empty()) args.push_back("--chat-template=" + f.chat_template);
  // Its tool call format (vLLM's --tool-call-parser, as Kaito passes a preset's).
  if (!self_test && !f.tool_call_parser.empty())
    args.push_back("--tool-call-parser=" + f.tool_call_parser);
  json tmpl = build_pod_template(f, args);
  if (!self_test) add_pull_secrets(secrets, tmpl);
  // Kaito's inference ConfigMap (vLLM settings) at /mnt/config, as its StatefulSet mounts it.
  const std::string config = string_field(member(ws, "inference"), "config");
  if (!self_test && !config.empty()) {
    tmpl["spec"]["volumes"].push_back(
        {{"name", "config-volume"}, {"configMap", {{"name", config}}}});
    tmpl["spec"]["containers"][0]["volumeMounts"].push_back(
        {{"name", "config-volume"}, {"mountPath", "/mnt/config"}});
  }
  // Kaito's probes on the server's /health: a startup budget by weight size, then liveness
  // (three misses restart the container: a hung server or a lost device) and readiness.
  if (!self_test) {
    json& c = tmpl["spec"]["containers"][0];
    c["startupProbe"] = health_probe(startup_failure_threshold(f.weights_bytes), 5);
    c["livenessProbe"] = health_probe(3, 5);
    c["readinessProbe"] = health_probe(3, 5);
  }
  tmpl["spec"]["restartPolicy"] = "Always";
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", child_meta(ws, f, f.name, revision)},
          {"spec",
           {{"replicas", f.target_node_count},
            {"podManagementPolicy", "Parallel"},
            {"serviceName", f.name + "-headless"},
            {"selector", {{"matchLabels", {{labels::kWorkspace, f.name}}}}},
            {"template", tmpl}}}};
}

json build_service(const json& ws, const workspace_facts& f) {
  const json& ann = member(member(ws, "metadata"), "annotations");
  bool lb = string_field(ann, "kaito.sh/enablelb") == "True";
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", child_meta(ws, f, f.name, 0)},
          {"spec",
           {{"type", lb ? "LoadBalancer" : "ClusterIP"},
            {"selector", {{labels::kWorkspace, f.name}, {labels::kStsPodName, f.name + "-0"}}},
            {"ports",
             json::array(
                 {{{"name", "http"}, {"port", 80}, {"targetPort", 5000}, {"protocol", "TCP"}}})},
            {"publishNotReadyAddresses", true}}}};
}

json build_headless_service(const json& ws, const workspace_facts& f) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", child_meta(ws, f, f.name + "-headless", 0)},
          {"spec",
           {{"type", "ClusterIP"},
            {"clusterIP", "None"},
            {"selector", {{labels::kWorkspace, f.name}}},
            {"ports",
             json::array(
                 {{{"name", "http"}, {"port", 80}, {"targetPort", 5000}, {"protocol", "TCP"}}})},
            {"publishNotReadyAddresses", true}}}};
}

std::map<std::string, std::string> claim_labels(const workspace_facts& f) {
  auto l = f.match_labels;
  l[labels::kWorkspace] = f.name;
  l[labels::kWorkspaceNamespace] = f.ns;
  return l;
}

json claim_patch(const workspace_facts& f, const json& node) {
  std::string keys;
  for (const auto& [k, v] : f.match_labels) {
    if (!node_label_present(node, k)) keys += (keys.empty() ? "" : ",") + k;
  }
  return {{"metadata",
           {{"resourceVersion", meta_string(node, "resourceVersion")},
            {"labels", claim_labels(f)},
            {"annotations", {{annotations::kClaimedLabels, keys}}}}}};
}

json release_patch(const json& node) {
  json l = {{labels::kWorkspace, nullptr}, {labels::kWorkspaceNamespace, nullptr}};
  const json& ann = member(member(node, "metadata"), "annotations");
  std::string keys = string_field(ann, annotations::kClaimedLabels);
  size_t start = 0;
  while (start < keys.size()) {
    size_t comma = keys.find(',', start);
    std::string k =
        keys.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!k.empty()) l[k] = nullptr;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return {{"metadata",
           {{"resourceVersion", meta_string(node, "resourceVersion")},
            {"labels", l},
            {"annotations", {{annotations::kClaimedLabels, nullptr}}}}}};
}

std::string missing_machines_message(const workspace_facts& f, int64_t have, int64_t free_count) {
  int64_t need = f.target_node_count - have;
  std::string type = f.instance_type.empty() ? "any" : f.instance_type;
  return "need " + std::to_string(need) + " more machine(s) of instance type " + type + " (" +
         std::to_string(have) + " of " + std::to_string(f.target_node_count) +
         " ready and claimed, " + std::to_string(free_count) + " free)";
}

}  // namespace kaito::k8s::controllers
