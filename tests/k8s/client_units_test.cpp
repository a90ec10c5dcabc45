// The client's pieces that need no server: kubeconfig parsing and its field errors, in-cluster
// configuration from an injected root, Status -> kaito::status mapping, and the work queue's
// controller-runtime semantics under a fake clock.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "k8s/client/api_error.h"
#include "k8s/client/client.h"
#include "k8s/client/kubeconfig.h"
#include "k8s/client/work_queue.h"

namespace kaito::k8s {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current = "ctx") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\nclusters:\n- name: c\n  cluster:\n" + cluster +
         "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n    namespace: team\n"
         "users:\n- name: u\n  user:\n" +
         user;
}

TEST(KubeconfigTest, ParsesServerCaAndToken) {
  // "hello" base64 as the CA payload: the client passes the PEM through.
  auto cfg =
      parse_kubeconfig(kubeconfig("    server: https://127.0.0.1:6443\n"
                                  "    certificate-authority-data: aGVsbG8=\n",
                                  "    token: abc\n"));
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "hello");
  EXPECT_EQ(cfg->token, "abc");
  EXPECT_EQ(cfg->namespace_name, "team");
}

TEST(KubeconfigTest, CaFileAndTokenFileResolveAgainstTheDirectory) {
  char tmpl[] = "/tmp/kaito_kc_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/ca.crt") << "PEM";
  std::ofstream(dir + "/tok") << "filetoken\n";
  std::ofstream(dir + "/config") << kubeconfig(
      "    server: https://h:1\n    certificate-authority: ca.crt\n", "    tokenFile: tok\n");
  auto cfg = load_kubeconfig(dir + "/config");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->ca_pem, "PEM");
  EXPECT_EQ(cfg->token, "filetoken");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, ErrorsNameTheField) {
  auto no_server = parse_kubeconfig(kubeconfig("    insecure-skip-tls-verify: true\n", ""));
  ASSERT_FALSE(no_server.ok());
  EXPECT_EQ(no_server.error().where(), "clusters[0].cluster.server");
  auto no_ca = parse_kubeconfig(kubeconfig("    server: https://h:1\n", ""));
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.error().where(), "clusters[0].cluster");
  auto bad_b64 = parse_kubeconfig(
      kubeconfig("    server: https://h:1\n    certificate-authority-data: '!!!'\n", ""));
  ASSERT_FALSE(bad_b64.ok());
  EXPECT_EQ(bad_b64.error().where(), "clusters[0].cluster.certificate-authority-data");
  auto no_ctx = parse_kubeconfig(kubeconfig("    server: http://h:1\n", "", "missing"));
  ASSERT_FALSE(no_ctx.ok());
  EXPECT_EQ(no_ctx.error().code(), status_code::not_found);
  EXPECT_EQ(no_ctx.error().where(), "contexts");
  auto exec = parse_kubeconfig(kubeconfig("    server: http://h:1\n", "    exec: {}\n"));
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.error().where(), "users[0].user.exec");
  auto garbage = parse_kubeconfig("{ [ unclosed");
  EXPECT_FALSE(garbage.ok());
  EXPECT_EQ(parse_kubeconfig("- a\n- b\n").take_status().code(), status_code::invalid_argument);
  auto missing = load_kubeconfig("/nonexistent/kubeconfig");
  EXPECT_EQ(missing.take_status().code(), status_code::io_error);
}

TEST(KubeconfigTest, InClusterFromInjectedRoot) {
  char tmpl[] = "/tmp/kaito_sa_XXXXXX";
  std::string root = mkdtemp(tmpl);
  std::string sa = root + "/var/run/secrets/kubernetes.io/serviceaccount";
  fs::create_directories(sa);
  std::ofstream(sa + "/token") << "satoken\n";
  std::ofstream(sa + "/ca.crt") << "CA";
  std::ofstream(sa + "/namespace") << "kaito-workspace";
  auto cfg = in_cluster_config({root, "10.0.0.1", "443"});
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg->token, "satoken");
  EXPECT_EQ(cfg->ca_pem, "CA");
  EXPECT_EQ(cfg->namespace_name, "kaito-workspace");
  fs::remove(sa + "/token");
  auto no_token = in_cluster_config({root, "10.0.0.1", "443"});
  ASSERT_FALSE(no_token.ok());
  EXPECT_EQ(no_token.error().where(), "token");
  fs::remove_all(root);
}

TEST(ApiErrorTest, MapsStatusAnswers) {
  auto nf = status_from_response(404, R"({"kind":"Status","reason":"NotFound","message":"x"})");
  EXPECT_EQ(nf.code(), status_code::not_found);
  auto ae = status_from_response(409, R"({"kind":"Status","reason":"AlreadyExists"})");
  EXPECT_EQ(ae.code(), status_code::already_exists);
  auto cf = status_from_response(409, R"({"kind":"Status","reason":"Conflict"})");
  EXPECT_EQ(cf.code(), status_code::conflict);
  auto inv = status_from_response(
      422, R"({"kind":"Status","reason":"Invalid","message":"bad","details":{"causes":[
        {"field":"spec.a"},{"field":"metadata.name"}]}})");
  EXPECT_EQ(inv.code(), status_code::invalid_argument);
  EXPECT_EQ(inv.where(), "spec.a, metadata.name");
  EXPECT_EQ(status_from_response(401, "Unauthorized").code(), status_code::unauthenticated);
  EXPECT_TRUE(is_gone(status_from_response(410, R"({"kind":"Status","reason":"Expired"})")));
  EXPECT_EQ(status_from_response(503, "").code(), status_code::unavailable);
}

TEST(ClientPathsTest, BuildsResourcePaths) {
  resource_ref cms{"", "v1", "configmaps", true};
  resource_ref ws{"kaito.sh", "v1beta1", "workspaces", true};
  resource_ref nodes{"", "v1", "nodes", false};
  EXPECT_EQ(resource_path(cms, "default", "a"), "/api/v1/namespaces/default/configmaps/a");
  EXPECT_EQ(resource_path(ws, "", ""), "/apis/kaito.sh/v1beta1/workspaces");
  EXPECT_EQ(resource_path(ws, "ns", "w", "status"),
            "/apis/kaito.sh/v1beta1/namespaces/ns/workspaces/w/status");
  EXPECT_EQ(resource_path(nodes, "ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(url_escape("app in (a,b)"), "app%20in%20%28a%2Cb%29");
}

TEST(ClientTimeoutTest, AServerThatNeverAnswersGivesDeadlineExceeded) {
  // A listener that never accepts: the kernel completes the handshake, nobody answers.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acc(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  rest_config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(acc.local_endpoint().port());
  client_options o;
  o.request_timeout = 200ms;
  auto c = client::connect(cfg, o);
  ASSERT_TRUE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->get({"", "v1", "configmaps", true}, "default", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::deadline_exceeded) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(WorkQueueTest, CoalescesAndRequeuesAddsWhileProcessing) {
  work_queue q;
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.len(), 2u);
  auto k = q.try_get();
  ASSERT_EQ(k, "a");
  q.add("a");  // while processing: not handed out again until done
  q.add("a");
  auto k2 = q.try_get();
  ASSERT_EQ(k2, "b");
  EXPECT_FALSE(q.try_get().has_value());
  q.done("a");  // dirty: back in the queue, once
  EXPECT_EQ(q.try_get(), "a");
  EXPECT_FALSE(q.try_get().has_value());
  q.done("a");
  q.done("b");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, ExponentialBackoffWithCapAndForget) {
  auto clk = std::make_shared<fake_clock>();
  work_queue q({10ms, 80ms}, clk);
  EXPECT_EQ(q.when("k"), 10ms);
  EXPECT_EQ(q.when("k"), 20ms);
  EXPECT_EQ(q.when("k"), 40ms);
  EXPECT_EQ(q.when("k"), 80ms);
  EXPECT_EQ(q.when("k"), 80ms);  // capped
  EXPECT_EQ(q.num_requeues("k"), 5);
  q.forget("k");
  EXPECT_EQ(q.num_requeues("k"), 0);
  q.add_rate_limited("k");  // 10 ms from now (fake)
  EXPECT_FALSE(q.try_get().has_value());
  EXPECT_EQ(q.delayed(), 1u);
  clk->advance(9ms);
  EXPECT_FALSE(q.try_get().has_value());
  clk->advance(1ms);
  EXPECT_EQ(q.try_get(), "k");
  q.done("k");
}

TEST(WorkQueueTest, AddAfterKeepsTheEarliestAndShutdownWakesWorkers) {
  auto clk = std::make_shared<fake_clock>();
  work_queue q({}, clk);
  q.add_after("x", 5s);
  q.add_after("x", 1s);
  q.add_after("x", 3s);
  clk->advance(1s);
  EXPECT_EQ(q.try_get(), "x");
  q.done("x");
  clk->advance(10s);
  EXPECT_FALSE(q.try_get().has_value());  // the later add_afters merged into the first
  std::thread worker([&] { EXPECT_FALSE(q.get().has_value()); });
  std::this_thread::sleep_for(20ms);
  q.shut_down();
  worker.join();
  q.add("y");
  EXPECT_FALSE(q.try_get().has_value());
}

TEST(WorkQueueTest, NoKeyIsProcessedByTwoWorkersAtOnce) {
  work_queue q;
  std::atomic<int> in_flight[4] = {0, 0, 0, 0};
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        int i = (*key)[0] - 'a';
        if (in_flight[i]++ != 0) overlap = true;
        std::this_thread::sleep_for(200us);
        in_flight[i]--;
        processed++;
        q.done(*key);
      }
    });
  for (int round = 0; round < 300; ++round)
    q.add(std::string(1, static_cast<char>('a' + round % 4)));
  for (int i = 0; i < 200 && (q.len() > 0 || processed < 4); ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(20ms);
  q.shut_down();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_GE(processed.load(), 4);
  EXPECT_LE(processed.load(), 300);  // coalescing never invents work
}

}  // namespace
}  // namespace kaito::k8s
