// The client against the embedded API server over HTTPS on an ephemeral port: kubeconfig from the
// server's writer, TLS verification, CRUD on ConfigMaps and Workspaces, conflicts, 422 causes,
// pagination, watches (order, resume after the server drops the connection, re-list after 410),
// the informer cache and Lease leader election between two candidates.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "k8s/apiserver/bootstrap.h"
#include "k8s/apiserver/pki.h"
#include "k8s/apiserver/server.h"
#include "k8s/client/client.h"
#include "k8s/client/informer.h"
#include "k8s/client/kubeconfig.h"
#include "k8s/client/leader_election.h"
#include "k8s/client/watch.h"

namespace kaito::k8s {
namespace {

namespace fs = std::filesystem;
namespace as = apiserver;
using namespace std::chrono_literals;

constexpr const char* kToken = "client-test-token-0123456789";
const resource_ref kCms{"", "v1", "configmaps", true};
const resource_ref kWs{"kaito.sh", "v1beta1", "workspaces", true};
const resource_ref kLeases{"coordination.k8s.io", "v1", "leases", true};

json configmap(const std::string& name, const std::string& v = "1") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", "t"}}}}},
          {"data", {{"k", v}}}};
}

json workspace(const std::string& name) {
  return {{"apiVersion", "kaito.sh/v1beta1"},
          {"kind", "Workspace"},
          {"metadata", {{"name", name}}},
          {"resource",
           {{"instanceType", "Standard_NC6s_v3"},
            {"labelSelector", {{"matchLabels", {{"apps", "x"}}}}}}}};
}

template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kaito_client_XXXXXX";
    home_ = mkdtemp(tmpl);
    start(0);
    auto crds = as::install_manifests(*srv_, std::string(KAITO_SOURCE_DIR) + "/deploy/crds");
    ASSERT_TRUE(crds.ok()) << crds.error().to_string();
    auto cfg = load_kubeconfig(srv_->kubeconfig_path());
    ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
    cfg_ = *cfg;
    client_options co;
    co.request_timeout = 5s;
    auto c = client::connect(cfg_, co);
    ASSERT_TRUE(c.ok());
    c_ = std::move(*c);
  }
  void TearDown() override {
    c_.reset();
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  void start(uint16_t port) {
    as::server_options o;
    o.home = home_;
    o.token = kToken;
    o.tls = true;
    o.port = port;
    o.bookmark_interval_ms = 200;
    o.compaction_window = 20;
    auto s = as::api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
  }
  std::string home_;
  std::unique_ptr<as::api_server> srv_;
  rest_config cfg_;
  std::unique_ptr<client> c_;
};

TEST_F(ClientTest, KubeconfigFromTheServerAndTls) {
  EXPECT_EQ(cfg_.server, srv_->url());
  EXPECT_EQ(cfg_.token, kToken);
  EXPECT_EQ(cfg_.ca_pem, srv_->ca_pem());
  EXPECT_TRUE(c_->request("GET", "/version").ok());
  size_t before = c_->connections_opened();
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(c_->list(kCms, "default").ok());
  EXPECT_LE(c_->connections_opened(), before + 1);  // kept alive and reused
  // Another CA: the server certificate does not verify.
  auto other = as::load_or_create_pki(home_ + "/other-pki");
  ASSERT_TRUE(other.ok());
  rest_config bad_ca = cfg_;
  bad_ca.ca_pem = other->ca_cert_pem;
  auto c2 = client::connect(bad_ca);
  auto r = (*c2)->get(kCms, "default", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::unavailable) << r.error().to_string();
  // A wrong token: 401.
  rest_config bad_token = cfg_;
  bad_token.token = "nope";
  auto c3 = client::connect(bad_token);
  EXPECT_EQ((*c3)->get(kCms, "default", "x").take_status().code(), status_code::unauthenticated);
}

TEST_F(ClientTest, ConfigMapCrudConflictAndPatches) {
  auto created = c_->create(kCms, "default", configmap("a"));
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_EQ(c_->create(kCms, "default", configmap("a")).take_status().code(),
            status_code::already_exists);
  json live = *c_->get(kCms, "default", "a");
  EXPECT_EQ(live["data"]["k"], "1");
  json v2 = live;
  v2["data"]["k"] = "2";
  ASSERT_TRUE(c_->update(kCms, "default", v2).ok());
  json stale = live;  // still carries the old resourceVersion
  stale["data"]["k"] = "3";
  auto conflict = c_->update(kCms, "default", stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), status_code::conflict) << conflict.error().to_string();

  auto merged = c_->patch(kCms, "default", "a", patch_type::merge, {{"data", {{"m", "x"}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().to_string();
  EXPECT_EQ((*merged)["data"], json({{"k", "2"}, {"m", "x"}}));
  auto jp = c_->patch(kCms, "default", "a", patch_type::json_patch,
                      json::parse(R"([{"op":"remove","path":"/data/m"}])"));
  ASSERT_TRUE(jp.ok()) << jp.error().to_string();
  EXPECT_FALSE((*jp)["data"].contains("m"));
  auto smp = c_->patch(kCms, "default", "a", patch_type::strategic_merge, {{"data", {{"s", "y"}}}});
  ASSERT_TRUE(smp.ok()) << smp.error().to_string();
  EXPECT_EQ((*smp)["data"]["s"], "y");
  EXPECT_EQ(
      c_->patch(kCms, "default", "a", patch_type::apply, configmap("a")).take_status().where(),
      "fieldManager");
  patch_options po;
  po.field_manager = "kaito-test";
  auto applied =
      c_->patch(kCms, "default", "applied", patch_type::apply, configmap("applied", "7"), po);
  ASSERT_TRUE(applied.ok()) << applied.error().to_string();
  EXPECT_EQ((*applied)["data"]["k"], "7");

  delete_options d;
  d.propagation_policy = "Background";
  ASSERT_TRUE(c_->remove(kCms, "default", "a", d).ok());
  EXPECT_EQ(c_->get(kCms, "default", "a").take_status().code(), status_code::not_found);
  EXPECT_EQ(c_->remove(kCms, "default", "a").take_status().code(), status_code::not_found);
}

TEST_F(ClientTest, InvalidObjectNamesTheField) {
  auto r = c_->create(kCms, "default", configmap("Bad_Name"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::invalid_argument);
  EXPECT_EQ(r.error().where(), "metadata.name");
  EXPECT_NE(r.error().message().find("Invalid"), std::string::npos);
}

TEST_F(ClientTest, WorkspaceCrudAndStatus) {
  auto created = c_->create(kWs, "default", workspace("w1"));
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  json w = *created;
  w["status"] = {{"conditions", json::array({{{"type", "ResourceReady"},
                                              {"status", "True"},
                                              {"reason", "Ready"},
                                              {"message", ""},
                                              {"lastTransitionTime", "2026-01-01T00:00:00Z"}}})}};
  auto st = c_->update_status(kWs, "default", w);
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  json got = *c_->get(kWs, "default", "w1");
  EXPECT_EQ(got["status"]["conditions"][0]["type"], "ResourceReady");
  auto list = c_->list(kWs, "");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["items"].size(), 1u);
  ASSERT_TRUE(c_->remove(kWs, "default", "w1").ok());
  EXPECT_EQ(c_->get(kWs, "default", "w1").take_status().code(), status_code::not_found);
}

TEST_F(ClientTest, ListCollectsPagesAndFilters) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(c_->create(kCms, "default", configmap("p" + std::to_string(i))).ok());
  json other = configmap("q");
  other["metadata"]["labels"]["app"] = "other";
  ASSERT_TRUE(c_->create(kCms, "default", other).ok());
  list_options o;
  o.label_selector = "app=t";
  o.limit = 3;
  auto all = c_->list(kCms, "default", o);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_EQ((*all)["items"].size(), 7u);
  EXPECT_EQ((*all)["items"][6]["metadata"]["name"], "p6");
  EXPECT_FALSE((*all)["metadata"]["resourceVersion"].get<std::string>().empty());
  o.field_selector = "metadata.name=p3";
  EXPECT_EQ((*c_->list(kCms, "default", o))["items"].size(), 1u);
}

// Collects a watcher's events on a thread.
struct watch_run {
  explicit watch_run(client& c, watch_options o = {}) {
    o.min_backoff = 20ms;
    o.max_backoff = 100ms;
    w = std::make_unique<watcher>(c, kCms, "default", o);
    t = std::thread([this] {
      result_status = w->run([this](const watch_event& e) {
        if (e.type == "BOOKMARK") return;
        std::lock_guard<std::mutex> l(mu);
        events.push_back(e.type + " " + e.object["metadata"]["name"].get<std::string>());
      });
    });
  }
  ~watch_run() {
    w->stop();
    t.join();
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> l(mu);
    return events;
  }
  bool has(const std::string& e) {
    auto s = snapshot();
    return std::find(s.begin(), s.end(), e) != s.end();
  }
  std::unique_ptr<watcher> w;
  std::thread t;
  std::mutex mu;
  std::vector<std::string> events;
  status result_status;
};

TEST_F(ClientTest, WatchDeliversEventsInOrder) {
  ASSERT_TRUE(c_->create(kCms, "default", configmap("before")).ok());
  watch_run run(*c_);
  ASSERT_TRUE(eventually([&] { return run.has("ADDED before"); }));
  ASSERT_TRUE(c_->create(kCms, "default", configmap("a")).ok());
  ASSERT_TRUE(c_->patch(kCms, "default", "a", patch_type::merge, {{"data", {{"k", "9"}}}}).ok());
  ASSERT_TRUE(c_->remove(kCms, "default", "a").ok());
  ASSERT_TRUE(eventually([&] { return run.snapshot().size() >= 4; }));
  EXPECT_EQ(run.snapshot(),
            (std::vector<std::string>{"ADDED before", "ADDED a", "MODIFIED a", "DELETED a"}));
  EXPECT_EQ(run.w->relists(), 1);
}

TEST_F(ClientTest, WatchResumesAfterTheServerDropsTheConnection) {
  watch_run run(*c_);
  ASSERT_TRUE(c_->create(kCms, "default", configmap("a")).ok());
  ASSERT_TRUE(eventually([&] { return run.has("ADDED a"); }));
  uint16_t port = srv_->port();
  srv_.reset();  // closes every connection
  start(port);
  ASSERT_TRUE(c_->create(kCms, "default", configmap("b")).ok());
  ASSERT_TRUE(eventually([&] { return run.has("ADDED b"); }));
  EXPECT_GE(run.w->reconnects(), 1);
  EXPECT_EQ(run.w->relists(), 1);  // resumed from the last resourceVersion, no re-list
  EXPECT_EQ(run.snapshot(), (std::vector<std::string>{"ADDED a", "ADDED b"}));
}

TEST_F(ClientTest, WatchRelistsAfterGone) {
  ASSERT_TRUE(c_->create(kCms, "default", configmap("a")).ok());
  ASSERT_TRUE(c_->create(kCms, "default", configmap("b")).ok());
  watch_run run(*c_);
  ASSERT_TRUE(eventually([&] { return run.has("ADDED a") && run.has("ADDED b"); }));
  uint16_t port = srv_->port();
  srv_.reset();
  {  // While the watcher cannot connect: writes past the compaction window, on another port.
    start(0);
    auto other = client::connect(*load_kubeconfig(srv_->kubeconfig_path()));
    ASSERT_TRUE((*other)->remove(kCms, "default", "a").ok());
    ASSERT_TRUE(
        (*other)->patch(kCms, "default", "b", patch_type::merge, {{"data", {{"k", "2"}}}}).ok());
    for (int i = 0; i < 25; ++i)
      ASSERT_TRUE((*other)->create(kCms, "default", configmap("n" + std::to_string(i))).ok());
    other->reset();
    srv_.reset();
  }
  start(port);
  // The re-list delivers its ADDED/MODIFIED events first and the DELETED of vanished objects
  // after them (watcher::relist), so wait for all three kinds, not just the last ADDED.
  ASSERT_TRUE(eventually(
      [&] { return run.has("ADDED n24") && run.has("DELETED a") && run.has("MODIFIED b"); }));
  EXPECT_GE(run.w->relists(), 2);
  EXPECT_TRUE(run.has("ADDED n0"));
}

TEST_F(ClientTest, InformerCacheConverges) {
  ASSERT_TRUE(c_->create(kWs, "default", workspace("w0")).ok());
  informer inf(*c_, kWs, "");
  std::atomic<int> adds{0}, updates{0}, deletes{0};
  inf.add_handlers({[&](const json&) { adds++; }, [&](const json&, const json&) { updates++; },
                    [&](const json&) { deletes++; }});
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_EQ(inf.size(), 1u);
  ASSERT_TRUE(c_->create(kWs, "default", workspace("w1")).ok());
  ASSERT_TRUE(c_->create(kWs, "default", workspace("w2")).ok());
  ASSERT_TRUE(
      c_->patch(kWs, "default", "w1", patch_type::merge, {{"metadata", {{"labels", {{"x", "y"}}}}}})
          .ok());
  ASSERT_TRUE(c_->remove(kWs, "default", "w0").ok());
  ASSERT_TRUE(eventually([&] {
    auto w1 = inf.get("default", "w1");
    return inf.size() == 2 && w1 && (*w1)["metadata"].contains("labels") && deletes == 1;
  }));
  EXPECT_EQ(adds.load(), 3);
  EXPECT_EQ(updates.load(), 1);
  EXPECT_EQ(inf.list("default").size(), 2u);
  EXPECT_TRUE(inf.list("elsewhere").empty());
  EXPECT_FALSE(inf.get("default", "w0").has_value());
  inf.stop();
  EXPECT_TRUE(inf.error().ok());
}

TEST_F(ClientTest, LeaderElectionTwoCandidates) {
  auto config = [](const std::string& id, std::atomic<int>& started) {
    leader_election_config c;
    c.lease_namespace = "default";
    c.lease_name = "kaito-controller";
    c.identity = id;
    c.lease_duration = 1000ms;
    c.renew_deadline = 800ms;
    c.retry_period = 100ms;
    c.on_started_leading = [&started] { started++; };
    return c;
  };
  std::atomic<int> started_a{0}, started_b{0};
  auto c2 = client::connect(cfg_);
  ASSERT_TRUE(c2.ok());
  auto a = std::make_unique<leader_elector>(*c_, config("a", started_a));
  leader_elector b(**c2, config("b", started_b));
  a->start();
  ASSERT_TRUE(eventually([&] { return a->is_leader(); }));
  b.start();
  for (int i = 0; i < 10; ++i) {  // exactly one leads while a keeps renewing
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(a->is_leader());
    EXPECT_FALSE(b.is_leader());
  }
  a->stop();  // stops renewing without releasing
  EXPECT_FALSE(a->is_leader());
  auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return b.is_leader(); }, 5000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - stopped, 700ms);  // waited for the lease to expire
  EXPECT_EQ(started_a.load(), 1);
  EXPECT_EQ(started_b.load(), 1);
  auto lease = c_->get(kLeases, "default", "kaito-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  b.stop();
}

TEST_F(ClientTest, LeaderStepsDownWhenItCannotRenew) {
  leader_election_config cfg;
  cfg.lease_name = "solo";
  cfg.identity = "a";
  cfg.lease_duration = 1000ms;
  cfg.renew_deadline = 400ms;
  cfg.retry_period = 50ms;
  std::atomic<int> stopped{0};
  cfg.on_stopped_leading = [&] { stopped++; };
  client_options co;
  co.request_timeout = 300ms;
  co.connect_timeout = 300ms;
  auto c = client::connect(cfg_, co);
  leader_elector le(**c, cfg);
  le.start();
  ASSERT_TRUE(eventually([&] { return le.is_leader(); }));
  // Renewals fail from the moment the server starts shutting down (which itself can take a while
  // on a loaded machine), and the last good renewal was at most retry_period before that: the
  // elector must keep leading for at least renew_deadline - retry_period = 350 ms from here.
  auto lost = std::chrono::steady_clock::now();
  srv_.reset();  // renewals now fail
  ASSERT_TRUE(eventually([&] { return !le.is_leader(); }, 5000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - lost, 300ms);  // kept leading until the deadline
  EXPECT_EQ(stopped.load(), 1);
  le.stop();
  EXPECT_EQ(stopped.load(), 1);
}

}  // namespace
}  // namespace kaito::k8s
