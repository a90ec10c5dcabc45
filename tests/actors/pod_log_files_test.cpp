// pod_log_files: where a pod's container log lives, the line each report adds (progress, a
// container's end), and the rotation to <container>.previous.log when the container restarts.
#include "actors/pod_log_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kaito::actors {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PodLogFiles, LinesOfReports) {
  msg::pod_report r;
  r.phase = "Running";
  EXPECT_EQ(pod_report_log_line(r), "");
  r.progress = "step 3/12 loss 2.1";
  EXPECT_EQ(pod_report_log_line(r), "step 3/12 loss 2.1");
  r.container_state = "terminated";
  r.exit_code = 2;
  r.reason = "InvalidArgs";
  r.message = "bad --memory-mib";
  EXPECT_EQ(pod_report_log_line(r), "Terminated exit=2 InvalidArgs: bad --memory-mib");
  r.container_state = "waiting";  // back-off: the line tells how the last container ended
  r.reason = "CrashLoopBackOff";
  r.last_exit = {137, "Error", "", 1, 2};
  EXPECT_EQ(pod_report_log_line(r), "Terminated exit=137 Error");
  r.phase = "Failed";
  r.reason = "Error";
  r.message = "";
  EXPECT_EQ(pod_report_log_line(r), "Failed exit=2 Error");
}

TEST(PodLogFiles, ARestartKeepsThePreviousLog) {
  char tmpl[] = "/tmp/kaito_pod_logs_XXXXXX";
  const std::string home = mkdtemp(tmpl);
  json pod = {{"metadata", {{"namespace", "ns"}, {"name", "p"}}},
              {"spec", {{"containers", {{{"name", "serve"}}}}}}};
  EXPECT_EQ(pod_log_container(pod), "serve");
  EXPECT_EQ(pod_log_container(json::object()), "main");
  EXPECT_EQ(pod_log_path(home, pod), home + "/logs/ns/p/serve.log");
  rotate_pod_log(home, pod);  // nothing yet: nothing happens
  EXPECT_FALSE(fs::exists(pod_log_path(home, pod, true)));
  append_pod_log(home, pod, "first run");
  append_pod_log(home, pod, "it failed");
  rotate_pod_log(home, pod);
  append_pod_log(home, pod, "second run");
  EXPECT_EQ(read(pod_log_path(home, pod, true)), "first run\nit failed\n");
  EXPECT_EQ(read(pod_log_path(home, pod)), "second run\n");
  rotate_pod_log(home, pod);  // only the one before is kept
  EXPECT_EQ(read(pod_log_path(home, pod, true)), "second run\n");
  EXPECT_FALSE(fs::exists(pod_log_path(home, pod)));
  append_pod_log("", pod, "no home: nowhere");
  remove_pod_logs(home, "ns", "..");  // never outside the pod's own folder
  EXPECT_TRUE(fs::exists(home + "/logs/ns/p"));
  remove_pod_logs(home, "ns", "p");
  EXPECT_FALSE(fs::exists(home + "/logs/ns/p"));
  EXPECT_TRUE(fs::exists(home + "/logs/ns"));
  fs::remove_all(home);
}

}  // namespace
}  // namespace kaito::actors
