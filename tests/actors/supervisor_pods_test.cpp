// supervisor_pods: which pods get a run_pod (bound to a ready machine, not terminal, not deleting,
// not already running or dispatched), the pod_report conversion, and the progress-line buffer.
#include "actors/supervisor_pods.h"

#include <gtest/gtest.h>

namespace {

using kaito::actors::dispatched_pod;
using kaito::actors::json;
using kaito::actors::node_registry;

json pod(const std::string& uid, const std::string& node, const std::string& phase) {
  return json{{"metadata", {{"namespace", "default"}, {"name", "p-" + uid}, {"uid", uid}}},
              {"spec",
               {{"nodeName", node},
                {"restartPolicy", "Never"},
                {"containers",
                 {{{"name", "main"}, {"args", {"--task=self-test", "--duration-seconds=1"}}}}}}},
              {"status", {{"phase", phase}}}};
}

node_registry registry() {
  node_registry reg(std::chrono::seconds(5));
  kaito::msg::machine_hello h;
  h.name = "m1";
  h.running_pod_uids = {"running"};
  EXPECT_TRUE(reg.admit(h, {}).ok());
  h.name = "m2";
  h.running_pod_uids = {};
  EXPECT_TRUE(reg.admit(h, {}).ok());
  EXPECT_EQ(reg.expire(std::chrono::steady_clock::time_point{} + std::chrono::seconds(6)).size(),
            2u);
  h.name = "m1";
  h.running_pod_uids = {"running"};
  EXPECT_TRUE(reg.admit(h, std::chrono::steady_clock::time_point{} + std::chrono::seconds(6)).ok());
  return reg;  // m1 ready (runs "running"), m2 lost
}

TEST(supervisor_pods, a_bound_pending_pod_on_a_ready_machine_is_run_with_its_args) {
  auto reg = registry();
  std::map<std::string, dispatched_pod> dispatched;
  auto r = kaito::actors::run_pod_for(pod("u1", "m1", "Pending"), reg, dispatched);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ns, "default");
  EXPECT_EQ(r->name, "p-u1");
  EXPECT_EQ(r->uid, "u1");
  EXPECT_EQ(r->restart_policy, "Never");
  EXPECT_EQ(r->args, (std::vector<std::string>{"--task=self-test", "--duration-seconds=1"}));
}

TEST(supervisor_pods, the_containers_probes_go_along_and_what_cannot_run_is_named) {
  auto reg = registry();
  std::map<std::string, dispatched_pod> dispatched;
  json p = pod("u9", "m1", "Pending");
  json& c = p["spec"]["containers"][0];
  c["ports"] = {{{"name", "http"}, {"containerPort", 5000}}};
  c["readinessProbe"] = {{"httpGet", {{"path", "/health"}, {"port", "http"}}}};
  c["livenessProbe"] = {{"exec", {{"command", {"true"}}}}};
  std::vector<std::string> not_run;
  auto r = kaito::actors::run_pod_for(p, reg, dispatched, &not_run);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->container, "main");
  EXPECT_EQ(r->readiness_probe.action, "http");
  EXPECT_EQ(r->readiness_probe.port, 5000);
  EXPECT_EQ(r->readiness_probe.path, "/health");
  EXPECT_TRUE(r->liveness_probe.action.empty());
  EXPECT_TRUE(r->startup_probe.action.empty());
  EXPECT_EQ(not_run, (std::vector<std::string>{"livenessProbe: exec probes are not run by kaito's "
                                               "machines (httpGet and tcpSocket are)"}));
}

TEST(supervisor_pods, pods_that_must_not_start_again_are_skipped) {
  auto reg = registry();
  std::map<std::string, dispatched_pod> dispatched{{"u2", {"m1", "default/p-u2"}}};
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u2", "m1", "Pending"), reg, dispatched))
      << "already dispatched";
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("running", "m1", "Running"), reg, dispatched))
      << "the machine says it runs it";
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u3", "m2", "Pending"), reg, dispatched))
      << "machine not ready";
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u4", "nobody", "Pending"), reg, dispatched));
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u5", "", "Pending"), reg, dispatched));
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u6", "m1", "Succeeded"), reg, dispatched));
  EXPECT_FALSE(kaito::actors::run_pod_for(pod("u7", "m1", "Failed"), reg, dispatched));
  auto deleting = pod("u8", "m1", "Running");
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_FALSE(kaito::actors::run_pod_for(deleting, reg, dispatched));
  auto no_policy = pod("u9", "m1", "Pending");
  no_policy["spec"].erase("restartPolicy");
  EXPECT_EQ(kaito::actors::run_pod_for(no_policy, reg, dispatched)->restart_policy, "Always");
  EXPECT_FALSE(kaito::actors::run_pod_for(json("garbage"), reg, dispatched));
}

TEST(supervisor_pods, the_termination_grace_is_the_pods) {
  auto reg = registry();
  std::map<std::string, dispatched_pod> dispatched;
  auto p = pod("g1", "m1", "Pending");
  EXPECT_EQ(kaito::actors::run_pod_for(p, reg, dispatched)->termination_grace_ms, 30000)
      << "the API's default";
  p["spec"]["terminationGracePeriodSeconds"] = 5;
  EXPECT_EQ(kaito::actors::run_pod_for(p, reg, dispatched)->termination_grace_ms, 5000);
  p["spec"]["terminationGracePeriodSeconds"] = 0;
  EXPECT_EQ(kaito::actors::run_pod_for(p, reg, dispatched)->termination_grace_ms, 0);
  p["spec"]["terminationGracePeriodSeconds"] = -3;
  EXPECT_EQ(kaito::actors::run_pod_for(p, reg, dispatched)->termination_grace_ms, 0);
  p["spec"]["terminationGracePeriodSeconds"] = "soon";
  EXPECT_EQ(kaito::actors::run_pod_for(p, reg, dispatched)->termination_grace_ms, 30000);
}

TEST(supervisor_pods, reports_convert_phase_and_times) {
  kaito::msg::pod_report r;
  r.uid = "u";
  r.phase = "Failed";
  r.exit_code = 137;
  r.reason = "Error";
  r.restart_count = 2;
  r.started_at_ms = 1'700'000'000'000;
  r.finished_at_ms = 1'700'000'005'000;
  r.host_port_offset = 2;
  auto c = kaito::actors::to_controller_report(r);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->phase, kaito::k8s::controllers::pod_phase_value::failed);
  EXPECT_EQ(c->exit_code, 137);
  EXPECT_EQ(c->restart_count, 2);
  EXPECT_EQ(c->reason, "Error");
  EXPECT_EQ(c->host_port_offset, 2);
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(c->finished_at - c->started_at).count(), 5);
  EXPECT_FALSE(c->last.has_value());
  EXPECT_EQ(c->container, kaito::k8s::controllers::container_state_value::running);
  // A container waiting out its back-off, and how the one before ended.
  r.phase = "Running";
  r.container_state = "waiting";
  r.last_exit.exit_code = 3;
  r.last_exit.reason = "Error";
  r.last_exit.started_at_ms = 1'700'000'000'000;
  r.last_exit.finished_at_ms = 1'700'000'002'000;
  c = kaito::actors::to_controller_report(r);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->container, kaito::k8s::controllers::container_state_value::waiting);
  ASSERT_TRUE(c->last.has_value());
  EXPECT_EQ(c->last->exit_code, 3);
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(c->last->finished_at - c->last->started_at)
          .count(),
      2);
  r.container_state = "terminated";
  EXPECT_EQ(kaito::actors::to_controller_report(r)->container,
            kaito::k8s::controllers::container_state_value::terminated);
  r.container_state = "sleeping";
  EXPECT_FALSE(kaito::actors::to_controller_report(r).has_value());
  r.container_state.clear();
  r.phase = "Exploded";
  EXPECT_FALSE(kaito::actors::to_controller_report(r).has_value());
}

TEST(supervisor_pods, the_log_buffer_keeps_the_last_lines_without_repeats) {
  kaito::actors::pod_log_buffer b(3);
  EXPECT_TRUE(b.add("ns/p", "a"));
  EXPECT_FALSE(b.add("ns/p", "a"));
  for (const char* l : {"b", "c", "d"}) EXPECT_TRUE(b.add("ns/p", l));
  EXPECT_EQ(b.all().at("ns/p"), (std::deque<std::string>{"b", "c", "d"}));
  b.forget("ns/p");
  EXPECT_TRUE(b.all().empty());
}

}  // namespace
