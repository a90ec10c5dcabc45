// classify_pod_failure: Kaito's classifyInferencePodFailure reasons and messages, its order of
// checks, and the message cut.
#include "k8s/controllers/pod_failure.h"

#include <gtest/gtest.h>

namespace kaito::k8s::controllers {
namespace {

using json = nlohmann::json;

json pod(const std::string& name, json status) {
  return {{"metadata", {{"name", name}}}, {"status", std::move(status)}};
}

json running_with(json container_status) {
  return {{"phase", "Running"}, {"containerStatuses", json::array({std::move(container_status)})}};
}

TEST(PodFailure, HealthyOrStartingPodsHaveNone) {
  EXPECT_FALSE(classify_pod_failure({}));
  EXPECT_FALSE(classify_pod_failure({pod("a", running_with({{"name", "c"}, {"ready", false}}))}));
  EXPECT_FALSE(classify_pod_failure({pod("a", {{"phase", "Pending"}})}));
  EXPECT_FALSE(classify_pod_failure(
      {pod("a", running_with({{"name", "c"},
                              {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}))}));
  EXPECT_FALSE(classify_pod_failure({json("garbage"), json::array(), json::object()}));
}

TEST(PodFailure, CrashLoopNamesTheLastTermination) {
  json cs = {{"name", "phi"},
             {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
             {"lastState", {{"terminated", {{"exitCode", 3}, {"message", "no weights"}}}}}};
  auto f = classify_pod_failure({pod("phi-0", running_with(cs))});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "ContainerCrashLoopBackOff");
  EXPECT_EQ(f->message, "container \"phi\" is in CrashLoopBackOff; last termination: no weights");
  cs["lastState"]["terminated"].erase("message");
  EXPECT_EQ(classify_pod_failure({pod("phi-0", running_with(cs))})->message,
            "container \"phi\" is in CrashLoopBackOff; last termination: exit code 3");
  cs.erase("lastState");
  EXPECT_EQ(classify_pod_failure({pod("phi-0", running_with(cs))})->message,
            "container \"phi\" is in CrashLoopBackOff");
}

TEST(PodFailure, OomKilledComesFirstAcrossPods) {
  json loop = {{"name", "phi"}, {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}};
  json oom = {{"name", "phi"},
              {"state", {{"running", json::object()}}},
              {"lastState", {{"terminated", {{"exitCode", 137}, {"reason", "OOMKilled"}}}}}};
  auto f =
      classify_pod_failure({pod("phi-0", running_with(loop)), pod("phi-1", running_with(oom))});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "ContainerOOMKilled");
  EXPECT_EQ(f->message,
            "container \"phi\" was OOMKilled (exit code 137); reduce memory usage or use a larger "
            "instance type");
}

TEST(PodFailure, WaitingReasonsForImagesAndStarts) {
  json pull = {{"name", "c"},
               {"state", {{"waiting", {{"reason", "ErrImagePull"}, {"message", "not found"}}}}}};
  auto f = classify_pod_failure({pod("p", running_with(pull))});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "ImagePullError");
  EXPECT_EQ(f->message, "container \"c\" image pull failed (ErrImagePull): not found");
  json start = {
      {"name", "c"},
      {"state", {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", "no key"}}}}}};
  f = classify_pod_failure({pod("p", running_with(start))});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "ContainerStartError");
  EXPECT_EQ(f->message, "container \"c\" failed to start (CreateContainerConfigError): no key");
}

TEST(PodFailure, EvictionsAndScheduling) {
  auto evicted = [](const std::string& msg) {
    return pod("p", {{"phase", "Failed"}, {"reason", "Evicted"}, {"message", msg}});
  };
  EXPECT_EQ(classify_pod_failure({evicted("low on resource: ephemeral-storage")})->reason,
            "NodeDiskPressure");
  EXPECT_EQ(classify_pod_failure({evicted("The node was low on resource: memory.")})->reason,
            "NodeMemoryPressure");
  auto other = classify_pod_failure({evicted("preempted")});
  EXPECT_EQ(other->reason, "PodEvicted");
  EXPECT_EQ(other->message, "pod \"p\" was evicted: preempted");
  json pending = pod("p", {{"phase", "Pending"},
                           {"conditions",
                            {{{"type", "PodScheduled"},
                              {"status", "False"},
                              {"reason", "Unschedulable"},
                              {"message", "0/3 nodes are available"}}}}});
  auto u = classify_pod_failure({pending});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->reason, "Unschedulable");
  EXPECT_EQ(u->message, "pod \"p\" is unschedulable: 0/3 nodes are available");
}

TEST(PodFailure, LongMessagesAreCutAtACharacterBoundary) {
  std::string long_msg(300, 'x');
  long_msg.replace(250, 3, "\xE2\x82\xAC");  // a 3-byte character across the cut
  json cs = {{"name", "c"},
             {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
             {"lastState", {{"terminated", {{"message", long_msg}}}}}};
  auto f = classify_pod_failure({pod("p", running_with(cs))});
  ASSERT_TRUE(f);
  EXPECT_LE(f->message.size(), 256u);
  EXPECT_EQ(f->message.substr(f->message.size() - 3), "...");
  EXPECT_NO_THROW((void)json(f->message).dump());  // still valid UTF-8
}

}  // namespace
}  // namespace kaito::k8s::controllers
