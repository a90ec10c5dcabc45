// The Endpoints controller (k8s/controllers/endpoints_controller.h): which pods a Service's
// Endpoints list, on which ports (the pods' host port offsets), and the reconcile against the
// embedded API server: created from an inference Workspace's Service, left alone when nothing
// changed, updated when a pod turns ready, deleted with the Service.
#include "tests/k8s/controllers/controllers_fixture.h"

#include "k8s/controllers/endpoint_slices.h"
#include "k8s/controllers/endpoints_controller.h"

namespace kaito::k8s::controllers::testing {
namespace {

json service(bool publish_not_ready, const json& target_port = 5000) {
  return {{"metadata", {{"name", "svc"}, {"namespace", "default"}}},
          {"spec",
           {{"selector", {{"app", "x"}}},
            {"ports", json::array({{{"name", "http"}, {"port", 80}, {"targetPort", target_port}}})},
            {"publishNotReadyAddresses", publish_not_ready}}}};
}

json pod(const std::string& name, bool ready, const std::string& offset = "") {
  json p = {
      {"metadata",
       {{"name", name},
        {"namespace", "default"},
        {"uid", "uid-" + name},
        {"labels", {{"app", "x"}}}}},
      {"spec",
       {{"nodeName", "m1"},
        {"restartPolicy", "Always"},
        {"containers",
         json::array({{{"name", "c"},
                       {"ports", json::array({{{"name", "web"}, {"containerPort", 5000}}})}}})}}},
      {"status",
       {{"phase", "Running"},
        {"podIP", "10.0.0.1"},
        {"conditions", json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
  if (!offset.empty()) p["metadata"]["annotations"] = {{kHostPortOffsetAnnotation, offset}};
  return p;
}

TEST(EndpointSubsets, ReadyAndNotReadyPodsOnTheirHostPorts) {
  json a = pod("a", true, "1");
  json b = pod("b", false);
  json no_ip = pod("c", true);
  no_ip["status"].erase("podIP");
  json gone = pod("d", true);
  gone["metadata"]["deletionTimestamp"] = "2026-11-30T00:00:00Z";
  json done = pod("e", true);
  done["spec"]["restartPolicy"] = "Never";
  done["status"]["phase"] = "Succeeded";
  json bad_offset = pod("f", true, "70000");  // unreadable: no shift
  json subsets = desired_endpoint_subsets(service(false), {a, b, no_ip, gone, done, bad_offset});
  ASSERT_EQ(subsets.size(), 2u) << subsets.dump();
  // Pods serving on 5000 (b not ready, f ready) share a subset; a is alone on 5001.
  const json& s5000 = subsets[0]["ports"][0]["port"] == 5000 ? subsets[0] : subsets[1];
  const json& s5001 = subsets[0]["ports"][0]["port"] == 5001 ? subsets[0] : subsets[1];
  EXPECT_EQ(s5001["ports"][0], json({{"name", "http"}, {"port", 5001}, {"protocol", "TCP"}}));
  ASSERT_EQ(s5001["addresses"].size(), 1u);
  EXPECT_EQ(s5001["addresses"][0]["ip"], "10.0.0.1");
  EXPECT_EQ(s5001["addresses"][0]["nodeName"], "m1");
  EXPECT_EQ(s5001["addresses"][0]["targetRef"],
            json({{"kind", "Pod"}, {"namespace", "default"}, {"name", "a"}, {"uid", "uid-a"}}));
  EXPECT_FALSE(s5001.contains("notReadyAddresses"));
  ASSERT_EQ(s5000["addresses"].size(), 1u);
  EXPECT_EQ(s5000["addresses"][0]["targetRef"]["name"], "f");
  ASSERT_EQ(s5000["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(s5000["notReadyAddresses"][0]["targetRef"]["name"], "b");
}

TEST(EndpointSubsets, PublishNotReadyNamedTargetPortAndHeadless) {
  json subsets = desired_endpoint_subsets(service(true, "web"), {pod("b", false, "2")});
  ASSERT_EQ(subsets.size(), 1u);
  EXPECT_EQ(subsets[0]["ports"][0]["port"], 5002);
  EXPECT_EQ(subsets[0]["addresses"][0]["targetRef"]["name"], "b");
  // A target port name the pod does not have: the pod gives no endpoint.
  EXPECT_TRUE(desired_endpoint_subsets(service(false, "grpc"), {pod("a", true)}).empty());
  // Headless without ports: addresses alone. Deleting pods stay with publishNotReadyAddresses.
  json headless = service(true);
  headless["spec"]["clusterIP"] = "None";
  headless["spec"].erase("ports");
  json leaving = pod("a", true);
  leaving["metadata"]["deletionTimestamp"] = "2026-11-30T00:00:00Z";
  subsets = desired_endpoint_subsets(headless, {leaving});
  ASSERT_EQ(subsets.size(), 1u);
  EXPECT_FALSE(subsets[0].contains("ports"));
  EXPECT_EQ(subsets[0]["addresses"][0]["targetRef"]["name"], "a");
}

TEST(EndpointKeys, ServicesSelectingThePodBeforeOrAfter) {
  json other_ns = service(false);
  other_ns["metadata"]["namespace"] = "prod";
  json all = service(false);
  all["metadata"]["name"] = "no-selector";
  all["spec"].erase("selector");
  json renamed = service(false);
  renamed["metadata"]["name"] = "svc-y";
  renamed["spec"]["selector"] = {{"app", "y"}};
  std::vector<json> services = {service(false), other_ns, all, renamed};
  json x = pod("a", true);
  json y = x;
  y["metadata"]["labels"]["app"] = "y";
  EXPECT_EQ(endpoints_keys_for(json(), x, services), std::vector<std::string>{"default/svc"});
  EXPECT_EQ(endpoints_keys_for(x, json(), services), std::vector<std::string>{"default/svc"});
  EXPECT_EQ(endpoints_keys_for(x, y, services),
            (std::vector<std::string>{"default/svc", "default/svc-y"}));
}

TEST(EndpointSlices, OneSlicePerPortSetWithConditions) {
  json svc = service(false);
  svc["metadata"]["uid"] = "svc-uid";
  json leaving = pod("c", true, "1");
  leaving["metadata"]["deletionTimestamp"] = "2026-11-30T00:00:00Z";
  auto slices = desired_endpoint_slices(svc, {pod("a", true, "1"), pod("b", false), leaving});
  ASSERT_EQ(slices.size(), 2u);
  const json& s5001 = slices[0]["ports"][0]["port"] == 5001 ? slices[0] : slices[1];
  const json& s5000 = slices[0]["ports"][0]["port"] == 5000 ? slices[0] : slices[1];
  EXPECT_EQ(s5001["addressType"], "IPv4");
  EXPECT_EQ(s5001["metadata"]["labels"]["kubernetes.io/service-name"], "svc");
  EXPECT_EQ(s5001["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
  EXPECT_EQ(s5001["metadata"]["name"].get<std::string>().rfind("svc-", 0), 0u);
  EXPECT_NE(s5001["metadata"]["name"], s5000["metadata"]["name"]);
  // Terminating pods stay in slices, flagged; a not-ready pod is neither ready nor serving.
  ASSERT_EQ(s5001["endpoints"].size(), 2u);
  EXPECT_EQ(s5001["endpoints"][0]["addresses"][0], "10.0.0.1");
  EXPECT_EQ(s5001["endpoints"][0]["conditions"],
            json({{"ready", true}, {"serving", true}, {"terminating", false}}));
  EXPECT_EQ(s5001["endpoints"][1]["conditions"]["terminating"], true);
  EXPECT_EQ(s5000["endpoints"][0]["conditions"],
            json({{"ready", false}, {"serving", false}, {"terminating", false}}));
  // The same pods give the same names: a re-run finds its own slices.
  EXPECT_EQ(desired_endpoint_slices(svc, {pod("a", true, "1")})[0]["metadata"]["name"],
            s5001["metadata"]["name"]);
}

class EndpointsTest : public ControllersTest {};

TEST_F(EndpointsTest, InferenceServiceEndpointsFollowItsPod) {
  add_machine("m1", "Standard_NC24ads_A100_v4", 4);
  policy_ = [](const json& p) -> std::optional<pod_report> {
    if (pod_phase(p) != "Pending") return std::nullopt;
    pod_report r;
    r.uid = meta_string(p, "uid");
    r.phase = pod_phase_value::running;
    r.ready = false;  // the model is still loading
    r.host_port_offset = 3;
    return r;
  };
  create_ws(inference_workspace("phi", "Standard_NC24ads_A100_v4", 1));
  ASSERT_TRUE(run_until([&] { return pod_phase(get(res::kPods, "phi-0")) == "Running"; }));
  json p = get(res::kPods, "phi-0");
  EXPECT_EQ(p["status"]["podIP"], "127.0.0.1");
  EXPECT_EQ(p["metadata"]["annotations"][kHostPortOffsetAnnotation], "3");
  EXPECT_EQ(host_port_offset(p), 3);

  for (const char* svc : {"phi", "phi-headless"}) {
    auto r = reconcile_endpoints(env_, "default", svc);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    json ep = get(res::kEndpoints, svc);
    ASSERT_TRUE(ep.is_object()) << svc;
    // Kaito's Services publish not-ready addresses: the loading pod is listed.
    ASSERT_EQ(ep["subsets"].size(), 1u) << ep.dump();
    EXPECT_EQ(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    EXPECT_EQ(ep["subsets"][0]["addresses"][0]["targetRef"]["name"], "phi-0");
    EXPECT_EQ(ep["subsets"][0]["ports"][0]["port"], 5003);
    EXPECT_EQ(ep["metadata"]["labels"]["kaito.sh/workspace"], "phi");
  }
  EXPECT_TRUE(get(res::kEndpoints, "phi-headless")["metadata"]["labels"].contains(
      "service.kubernetes.io/headless"));

  auto slices = list(res::kEndpointSlices, "default", "kubernetes.io/service-name=phi");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["endpoints"][0]["addresses"][0], "127.0.0.1");
  EXPECT_EQ(slices[0]["endpoints"][0]["conditions"]["ready"], true);  // publishNotReadyAddresses
  EXPECT_EQ(slices[0]["endpoints"][0]["conditions"]["serving"], false);
  EXPECT_EQ(slices[0]["ports"][0]["port"], 5003);
  EXPECT_EQ(slices[0]["metadata"]["ownerReferences"][0]["name"], "phi");

  // Nothing changed: no write.
  std::string rv = get(res::kEndpoints, "phi")["metadata"]["resourceVersion"];
  ASSERT_TRUE(reconcile_endpoints(env_, "default", "phi").ok());
  EXPECT_EQ(get(res::kEndpoints, "phi")["metadata"]["resourceVersion"], rv);

  // The worker moves to another slot (restarted elsewhere): the port follows.
  pod_report moved;
  moved.uid = meta_string(p, "uid");
  moved.phase = pod_phase_value::running;
  moved.ready = true;
  moved.host_port_offset = 1;
  ASSERT_TRUE(apply_pod_report(*c_, "default", "phi-0", moved).ok());
  ASSERT_TRUE(reconcile_endpoints(env_, "default", "phi").ok());
  EXPECT_EQ(get(res::kEndpoints, "phi")["subsets"][0]["ports"][0]["port"], 5001);
  slices = list(res::kEndpointSlices, "default", "kubernetes.io/service-name=phi");
  ASSERT_EQ(slices.size(), 1u);  // the slice for the old port is gone
  EXPECT_EQ(slices[0]["ports"][0]["port"], 5001);
  EXPECT_EQ(slices[0]["endpoints"][0]["conditions"]["serving"], true);

  // A Service without a selector is not ours; a deleted Service's Endpoints go.
  json manual = {{"metadata", {{"name", "manual"}}},
                 {"spec", {{"ports", json::array({{{"port", 80}}})}}}};
  ASSERT_TRUE(c_->create(res::kServices, "default", manual).ok());
  json manual_ep = {{"metadata", {{"name", "manual"}}},
                    {"subsets", json::array({{{"addresses", json::array({{{"ip", "10.1.1.1"}}})},
                                              {"ports", json::array({{{"port", 8080}}})}}})}};
  ASSERT_TRUE(c_->create(res::kEndpoints, "default", manual_ep).ok());
  ASSERT_TRUE(reconcile_endpoints(env_, "default", "manual").ok());
  EXPECT_EQ(get(res::kEndpoints, "manual")["subsets"][0]["ports"][0]["port"], 8080);
  ASSERT_TRUE(c_->remove(res::kServices, "default", "manual").ok());
  ASSERT_TRUE(reconcile_endpoints(env_, "default", "manual").ok());
  EXPECT_FALSE(exists(res::kEndpoints, "manual"));
  // The Workspace's Service deleted: the reconcile removes its Endpoints and slices.
  ASSERT_TRUE(c_->remove(res::kServices, "default", "phi").ok());
  ASSERT_TRUE(reconcile_endpoints(env_, "default", "phi").ok());
  EXPECT_FALSE(exists(res::kEndpoints, "phi"));
  EXPECT_TRUE(list(res::kEndpointSlices, "default", "kubernetes.io/service-name=phi").empty());
}

}  // namespace
}  // namespace kaito::k8s::controllers::testing
