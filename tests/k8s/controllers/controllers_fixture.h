// A test world for the controllers: the embedded API server in-process (TLS, kubeconfig, the
// Workspace CRD and Kaito's admission with the real preset catalog), a client, a controller_env
// with a fake clock, and test "machines": register_node + a policy that turns each pod bound to a
// machine into the reports a machine would send (Pending -> Running/ready -> Succeeded by default).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "k8s/apiserver/bootstrap.h"
#include "k8s/apiserver/server.h"
#include "k8s/apiserver/workspace_admission.h"
#include "k8s/client/api_error.h"
#include "k8s/client/client.h"
#include "k8s/client/kubeconfig.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/events.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/pod_status.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/statefulset_controller.h"
#include "k8s/controllers/workspace_controller.h"
#include "presets/preset_catalog.h"

namespace kaito::k8s::controllers::testing {

namespace fs = std::filesystem;
namespace as = apiserver;
using namespace std::chrono_literals;
namespace res = resources;

inline json tuning_workspace(const std::string& name, const std::string& instance_type) {
  return {
      {"apiVersion", "kaito.sh/v1beta1"},
      {"kind", "Workspace"},
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"resource",
       {{"instanceType", instance_type}, {"labelSelector", {{"matchLabels", {{"apps", name}}}}}}},
      {"tuning",
       {{"preset", {{"name", "phi-3-mini-128k-instruct"}}},
        {"method", "qlora"},
        {"input", {{"urls", json::array({"https://example.com/data/train.parquet"})}}},
        {"output",
         {{"image", "registry.example.com/adapters/a:0.0.1"},
          {"imagePushSecret", "push-secret"}}}}}};
}

inline json inference_workspace(const std::string& name, const std::string& instance_type,
                                int count) {
  return {{"apiVersion", "kaito.sh/v1beta1"},
          {"kind", "Workspace"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"resource",
           {{"instanceType", instance_type},
            {"count", count},
            {"labelSelector", {{"matchLabels", {{"apps", name}}}}}}},
          {"inference", {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}}}};
}

// A reader that counts the reads a reconcile makes.
class counting_reader : public object_reader {
 public:
  explicit counting_reader(client& c) : inner_(c) {}
  result<std::optional<json>> get(const resource_ref& r, const std::string& ns,
                                  const std::string& name) override {
    ++gets;
    return inner_.get(r, ns, name);
  }
  result<std::vector<json>> list(const resource_ref& r, const std::string& ns,
                                 const list_query& q) override {
    ++lists;
    return inner_.list(r, ns, q);
  }
  int gets = 0, lists = 0;

 private:
  client_reader inner_;
};

// What a machine reports next for a pod bound to it (nullopt: nothing).
using machine_policy = std::function<std::optional<pod_report>(const json& pod)>;

inline std::optional<pod_report> run_to_success(const json& pod) {
  pod_report r;
  r.uid = meta_string(pod, "uid");
  std::string phase = pod_phase(pod);
  if (phase == "Pending") {
    r.phase = pod_phase_value::running;
    r.ready = true;
    return r;
  }
  if (phase == "Running") {
    bool job = pod["metadata"]["labels"].contains("job-name");
    if (!job) return std::nullopt;  // servers keep running
    r.phase = pod_phase_value::succeeded;
    r.reason = "Completed";
    return r;
  }
  return std::nullopt;
}

class ControllersTest : public ::testing::Test {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/kaito_ctrl_XXXXXX";
    home_ = mkdtemp(tmpl);
    auto cat = presets::load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets");
    ASSERT_TRUE(cat.ok()) << cat.error().to_string();
    catalog_ = *cat;
    as::server_options o;
    o.home = home_;
    o.token = "controllers-test-token-0123456789";
    o.tls = true;
    o.port = 0;
    o.admit = as::workspace_admission(catalog_);
    auto s = as::api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
    auto crds = as::install_manifests(*srv_, std::string(KAITO_SOURCE_DIR) + "/deploy/crds");
    ASSERT_TRUE(crds.ok()) << crds.error().to_string();
    auto cfg = load_kubeconfig(srv_->kubeconfig_path());
    ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
    client_options co;
    co.request_timeout = 10s;
    auto c = client::connect(*cfg, co);
    ASSERT_TRUE(c.ok());
    c_ = std::move(*c);
    clock_ = std::make_shared<fake_clock>();
    clock_->advance(std::chrono::hours(1000));
    events_ = std::make_unique<event_recorder>(*c_, clock_);
    // Kaito's release namespace with the default tuning ConfigMap admission looks up.
    ASSERT_TRUE(c_->create({"", "v1", "namespaces", false}, "",
                           {{"metadata", {{"name", "kaito-workspace"}}}})
                    .ok());
    json cm = {{"metadata", {{"name", "qlora-params-template"}}},
               {"data", {{"training_config.yaml", catalog_->tuning_training_config("qlora")}}}};
    auto made = c_->create({"", "v1", "configmaps", true}, "kaito-workspace", cm);
    ASSERT_TRUE(made.ok()) << made.error().to_string();
    json inf = {{"metadata", {{"name", "inference-params-template"}}},
                {"data", {{"inference_config.yaml", catalog_->inference_config()}}}};
    made = c_->create({"", "v1", "configmaps", true}, "kaito-workspace", inf);
    ASSERT_TRUE(made.ok()) << made.error().to_string();
    env_ = make_env();
  }
  void TearDown() override {
    events_.reset();
    c_.reset();
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }

  controller_env make_env() {
    controller_env e;
    e.client = c_.get();
    e.presets = catalog_.get();
    e.clock = clock_;
    e.events = events_.get();
    return e;
  }

  void add_machine(const std::string& name, const std::string& instance_type, int slots = 1) {
    node_info n;
    n.name = name;
    n.instance_type = instance_type;
    n.cpu_cores = 4;
    n.memory_bytes = 16ll << 30;
    n.gpu_count = 0;
    n.worker_slots = slots;
    n.address = "127.0.0.1";
    ASSERT_TRUE(register_node(*c_, n, clock_->now()).ok());
  }

  void create_ws(const json& ws) {
    auto r = c_->create(res::kWorkspaces, "default", ws);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  json get(const resource_ref& r, const std::string& name, const std::string& ns = "default") {
    auto g = c_->get(r, r.namespaced ? ns : "", name);
    return g.ok() ? *g : json();
  }
  bool exists(const resource_ref& r, const std::string& name, const std::string& ns = "default") {
    return c_->get(r, r.namespaced ? ns : "", name).ok();
  }
  std::vector<json> list(const resource_ref& r, const std::string& ns = "default",
                         const std::string& labels = "") {
    list_options o;
    o.label_selector = labels;
    auto l = c_->list(r, r.namespaced ? ns : "", o);
    EXPECT_TRUE(l.ok());
    std::vector<json> out;
    if (l.ok())
      for (const auto& i : (*l)["items"]) out.push_back(i);
    return out;
  }
  std::string cond(const json& obj, const std::string& type, const char* field = "status") {
    json conds =
        obj.is_object() ? obj.value("status", json::object()).value("conditions", json()) : json();
    const json* c = find_condition(conds, type);
    return c ? c->value(field, "") : "";
  }

  // One pass of every controller over the whole world, then every machine reports once.
  // With `tolerant`, retryable errors (a stale cache's conflicts) are skipped, as the actors'
  // queue retries them; terminal ones still fail the test.
  void step(const controller_env& env, bool tolerant = false) {
    auto check = [&](const result<reconcile_result>& r) {
      if (!r.ok() && !(tolerant && !is_terminal(r.error()))) FAIL() << r.error().to_string();
    };
    for (const auto& ws : list(res::kWorkspaces))
      check(reconcile_workspace(env, "default", meta_string(ws, "name")));
    for (const auto& j : list(res::kJobs))
      check(reconcile_job(env, "default", meta_string(j, "name")));
    for (const auto& s : list(res::kStatefulSets))
      check(reconcile_statefulset(env, "default", meta_string(s, "name")));
    if (HasFailure()) return;
    if (!machines_on_) return;
    for (const auto& pod : list(res::kPods)) {
      if (string_field(pod["spec"], "nodeName").empty()) continue;
      if (down_.count(string_field(pod["spec"], "nodeName"))) continue;
      auto rep = policy_(pod);
      if (!rep) continue;
      auto a = apply_pod_report(*c_, "default", meta_string(pod, "name"), *rep);
      ASSERT_TRUE(a.ok()) << a.error().to_string();
    }
    clock_->advance(1s);
  }
  // Steps until pred() holds (at most `max` steps).
  bool run_until(const std::function<bool()>& pred, int max = 30) {
    for (int i = 0; i < max; ++i) {
      if (pred()) return true;
      step(env_);
      if (HasFatalFailure()) return false;
    }
    return pred();
  }
  std::string state(const std::string& ws) {
    json w = get(res::kWorkspaces, ws);
    if (!w.is_object() || !w.contains("status")) return "";
    return w["status"].value("state", "");
  }

  std::string home_;
  std::shared_ptr<const presets::preset_catalog> catalog_;
  std::unique_ptr<as::api_server> srv_;
  std::unique_ptr<client> c_;
  std::shared_ptr<fake_clock> clock_;
  std::unique_ptr<event_recorder> events_;
  controller_env env_;
  machine_policy policy_ = run_to_success;
  bool machines_on_ = true;
  std::set<std::string> down_;  // machines that stopped reporting
};

}  // namespace kaito::k8s::controllers::testing
