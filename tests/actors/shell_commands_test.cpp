// shell_commands: the tables and texts of the read commands, from hand-built objects.
#include "actors/shell_commands.h"

#include <gtest/gtest.h>

namespace {

using kaito::actors::json;
using kaito::actors::shell_snapshot;

json workspace(const std::string& ns, const std::string& name, bool succeeded) {
  return json{{"metadata", {{"namespace", ns}, {"name", name}, {"generation", 2}}},
              {"resource", {{"instanceType", "Standard_NC6s_v3"}}},
              {"tuning", {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}}},
              {"status",
               {{"conditions",
                 {{{"type", "ResourceReady"}, {"status", "True"}, {"reason", "ok"}},
                  {{"type", "JobStarted"}, {"status", "True"}},
                  {{"type", "WorkspaceSucceeded"},
                   {"status", succeeded ? "True" : "False"},
                   {"reason", succeeded ? "workspaceSucceeded" : "workspacePending"},
                   {"message", "waiting"}}}}}}};
}

json pod(const std::string& name, const std::string& job, const std::string& phase, int restarts) {
  return json{
      {"metadata", {{"namespace", "default"}, {"name", name}, {"labels", {{"job-name", job}}}}},
      {"spec", {{"nodeName", "m1"}}},
      {"status", {{"phase", phase}, {"containerStatuses", {{{"restartCount", restarts}}}}}}};
}

shell_snapshot snapshot() {
  shell_snapshot s;
  s.workspaces = {workspace("default", "ws-a", true), workspace("team", "ws-b", false)};
  s.pods = {pod("ws-a-0", "ws-a", "Failed", 0), pod("ws-a-1", "ws-a", "Running", 1),
            pod("other-0", "other", "Running", 0)};
  kaito::actors::machine_row m;
  m.name = "m1";
  m.ready = true;
  m.instance_type = "kaito-cpu";
  m.slots = 2;
  m.busy_slots = 1;
  m.cpu_cores = 8;
  m.memory_bytes = 16ull << 30;
  m.heartbeat_age_ms = 400;
  m.running_pods = 1;
  kaito::actors::machine_row lost = m;
  lost.name = "m2";
  lost.ready = false;
  lost.reason = "no heartbeat for 3100 ms";
  s.machines = {m, lost};
  kaito::msg::worker_list wl;
  wl.machine = "m1";
  kaito::msg::worker_info w;
  w.id = "m1/0";
  w.pid = 4242;
  w.state = "running";
  w.pod = "default/ws-a-1";
  w.restarts = 1;
  w.last_exit = "signal 9";
  w.progress_permille = 500;
  w.progress = "gemm 12.5 GFLOP/s";
  wl.workers = {w};
  s.workers = {wl};
  s.logs["default/ws-a-1"] = {"step 1", "step 2"};
  s.stats["workspace default/ws-a"].reconciles = 7;
  s.stats["workspace default/ws-a"].errors = 2;
  return s;
}

TEST(shell_commands, format_table_aligns_columns_like_kubectl) {
  EXPECT_EQ(kaito::actors::format_table({"NAME", "X"}, {{"a", "1"}, {"longer", "22"}}),
            "NAME     X\na        1\nlonger   22\n");
}

TEST(shell_commands, workspaces_lists_conditions_and_pods) {
  auto r = kaito::actors::run_shell_read({"workspaces"}, snapshot());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.text.substr(0, r.text.find('\n')),
            "NAMESPACE   NAME   INSTANCE           RESOURCEREADY   INFERENCEREADY   JOBSTARTED   "
            "WORKSPACESUCCEEDED   PODS");
  EXPECT_NE(r.text.find("default     ws-a   Standard_NC6s_v3   True            -                "
                        "True         True                 1/2"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("team        ws-b"), std::string::npos);
  EXPECT_EQ(kaito::actors::run_shell_read({"workspaces"}, shell_snapshot{}).text,
            "No workspaces.\n");
}

TEST(shell_commands, machines_shows_ready_and_lost_machines) {
  auto r = kaito::actors::run_shell_read({"machines"}, snapshot());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.text.find("m1     Ready      kaito-cpu   1/2    0      8      16.0Gi   0.4s"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("NotReady"), std::string::npos);
  EXPECT_NE(r.text.find("no heartbeat for 3100 ms"), std::string::npos);
}

TEST(shell_commands, workers_and_top_show_pids_and_progress) {
  auto s = snapshot();
  auto r = kaito::actors::run_shell_read({"workers"}, s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.text.find("m1/0   4242   running   default/ws-a-1   1          signal 9    50% gemm"),
            std::string::npos)
      << r.text;
  s.unanswered = {"m2"};
  r = kaito::actors::run_shell_read({"workers"}, s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.text.find("machine m2 did not answer"), std::string::npos);
  auto top = kaito::actors::run_shell_read({"top"}, s);
  EXPECT_NE(top.text.find("MACHINES"), std::string::npos);
  EXPECT_NE(top.text.find("workspace default/ws-a   7      2"), std::string::npos) << top.text;
}

TEST(shell_commands, describe_and_logs_follow_the_workspace_pods) {
  auto s = snapshot();
  auto d = kaito::actors::run_shell_read({"describe", "ws-a"}, s);
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_NE(d.text.find("Name:        ws-a"), std::string::npos);
  EXPECT_NE(d.text.find("WorkspaceSucceeded"), std::string::npos);
  EXPECT_NE(d.text.find("ws-a-1   m1     Running   1          step 2"), std::string::npos)
      << d.text;
  EXPECT_EQ(d.text.find("other-0"), std::string::npos);
  EXPECT_NE(d.text.find("Reconciles:  7 (2 errors)"), std::string::npos);
  // A container waiting out its restart back-off says so.
  s.pods[1]["status"]["containerStatuses"][0]["state"] = {
      {"waiting", {{"reason", "CrashLoopBackOff"}}}};
  d = kaito::actors::run_shell_read({"describe", "ws-a"}, s);
  EXPECT_NE(d.text.find("ws-a-1   m1     Running (CrashLoopBackOff)   1 "), std::string::npos)
      << d.text;
  auto l = kaito::actors::run_shell_read({"logs", "default/ws-a"}, s);
  EXPECT_EQ(l.text, "[ws-a-1] step 1\n[ws-a-1] step 2\n");
  auto none = kaito::actors::run_shell_read({"logs", "team/ws-b"}, s);
  EXPECT_EQ(none.text, "No progress lines received for team/ws-b.\n");
  EXPECT_EQ(kaito::actors::run_shell_read({"describe", "nope"}, s).exit_code, 1);
  EXPECT_EQ(kaito::actors::run_shell_read({"describe"}, s).exit_code, 2);
  EXPECT_EQ(kaito::actors::run_shell_read({"frobnicate"}, s).exit_code, 2);
}

TEST(shell_commands, classify_split_and_complete) {
  using kaito::actors::shell_command_kind;
  EXPECT_EQ(kaito::actors::classify_shell_command({"top"}), shell_command_kind::read_workers);
  EXPECT_EQ(kaito::actors::classify_shell_command({"kill", "m1/0"}), shell_command_kind::kill);
  EXPECT_EQ(kaito::actors::classify_shell_command({"x"}), shell_command_kind::unknown);
  EXPECT_EQ(kaito::actors::split_command_line("  logs  'a b' \"c\" "),
            (std::vector<std::string>{"logs", "a b", "c"}));
  auto s = snapshot();
  EXPECT_EQ(kaito::actors::shell_completions_for("w", s),
            (std::vector<std::string>{"workers", "workspaces"}));
  EXPECT_EQ(kaito::actors::shell_completions_for("describe ws-", s),
            (std::vector<std::string>{"ws-a", "ws-b"}));
  EXPECT_EQ(kaito::actors::shell_completions_for("kill ", s), (std::vector<std::string>{"m1/0"}));
  EXPECT_EQ(kaito::actors::shell_completions_for("drain m", s),
            (std::vector<std::string>{"m1", "m2"}));
}

}  // namespace
