// The API server over real HTTP on an ephemeral port: auth, discovery, CRUD on built-ins and a
// custom resource, patch types, status subresource, generation, tables, watches (replay, 410,
// selectors, slow and vanished watchers), finalizers, garbage collection, pod logs, bad input and
// restart durability.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "k8s/apiserver/server.h"
#include "tests/k8s/http_test_client.h"

namespace kaito::k8s::apiserver {
namespace {

namespace fs = std::filesystem;
using testing::reply;
using testing::request_spec;
using testing::watch_stream;

constexpr const char* kToken = "test-token-0123456789";
constexpr const char* kWs = "/apis/kaito.sh/v1beta1/namespaces/default/workspaces";

json test_crd() {
  return json::parse(R"({
    "apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"workspaces.kaito.sh"},
    "spec":{"group":"kaito.sh","scope":"Namespaced",
      "names":{"plural":"workspaces","singular":"workspace","kind":"Workspace","listKind":"WorkspaceList",
               "shortNames":["wk"],"categories":["workspace"]},
      "versions":[
        {"name":"v1alpha1","served":true,"storage":false,"subresources":{"status":{}},
         "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}},
        {"name":"v1beta1","served":true,"storage":true,"subresources":{"status":{}},
         "schema":{"openAPIV3Schema":{"type":"object","properties":{"resource":{"type":"object",
            "properties":{"instanceType":{"type":"string"},"count":{"type":"integer"}}}}}},
         "additionalPrinterColumns":[
           {"name":"Instance","type":"string","jsonPath":".resource.instanceType"},
           {"name":"ResourceReady","type":"string","jsonPath":".status.conditions[?(@.type==\"ResourceReady\")].status"},
           {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}]}]}})");
}

json workspace(const std::string& name, const std::string& instance = "Standard_NC6s_v3") {
  return {{"apiVersion", "kaito.sh/v1beta1"},
          {"kind", "Workspace"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"resource",
           {{"instanceType", instance}, {"labelSelector", {{"matchLabels", {{"apps", "x"}}}}}}}};
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kaito_server_XXXXXX";
    home_ = mkdtemp(tmpl);
    start();
    ASSERT_EQ(
        call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd().dump())
            .code,
        201);
  }
  void TearDown() override {
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  void start() {
    server_options o;
    o.home = home_;
    o.token = kToken;
    o.max_body_bytes = 256 * 1024;
    o.watch_queue_limit = 8;
    o.bookmark_interval_ms = 200;
    o.compaction_window = 50;
    auto s = api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
  }
  reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "application/json",
             const std::string& accept = "application/json") {
    request_spec r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.content_type = content_type;
    r.accept = accept;
    r.token = kToken;
    return testing::send_request(srv_->port(), r);
  }
  json create_ws(const std::string& name) {
    reply r = call("POST", kWs, workspace(name).dump());
    EXPECT_EQ(r.code, 201) << r.body;
    return r.json();
  }
  std::string home_;
  std::unique_ptr<api_server> srv_;
};

TEST_F(ServerTest, RequiresBearerTokenExceptForVersion) {
  request_spec r;
  r.target = "/api/v1/namespaces";
  reply no = testing::send_request(srv_->port(), r);
  EXPECT_EQ(no.code, 401);
  EXPECT_EQ(no.json()["reason"], "Unauthorized");
  r.token = "wrong";
  EXPECT_EQ(testing::send_request(srv_->port(), r).code, 401);
  r.target = "/version/";
  r.token.clear();
  reply v = testing::send_request(srv_->port(), r);
  EXPECT_EQ(v.code, 200);
  EXPECT_EQ(v.json()["minor"], "32");
  // The kubeconfig carries the token and the address.
  std::ifstream kc(srv_->kubeconfig_path());
  std::string text((std::istreambuf_iterator<char>(kc)), {});
  EXPECT_NE(text.find(std::string("token: ") + kToken), std::string::npos);
  EXPECT_NE(text.find(srv_->url()), std::string::npos);
}

TEST_F(ServerTest, DiscoveryBothFormats) {
  const std::string agg =
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
  reply a = call("GET", "/apis", "", "", agg);
  EXPECT_EQ(a.content_type, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  bool found = false;
  json groups = a.json();
  for (const auto& g : groups["items"])
    if (g["metadata"]["name"] == "kaito.sh") {
      found = true;
      EXPECT_EQ(g["versions"][0]["version"], "v1beta1");  // preferred first
      EXPECT_EQ(g["versions"][0]["resources"][0]["shortNames"], json({"wk"}));
    }
  EXPECT_TRUE(found);
  reply legacy = call("GET", "/apis");
  EXPECT_EQ(legacy.json()["kind"], "APIGroupList");
  reply core = call("GET", "/api");
  EXPECT_EQ(core.json()["versions"], json({"v1"}));
  reply v1 = call("GET", "/api/v1");
  bool log = false;
  json v1_doc = v1.json();
  for (const auto& r : v1_doc["resources"]) log |= r["name"] == "pods/log";
  EXPECT_TRUE(log);
  EXPECT_EQ(call("GET", "/apis/kaito.sh/v1beta1").json()["resources"][0]["name"], "workspaces");
  EXPECT_EQ(call("GET", "/apis/nope.io/v1").code, 404);
}

TEST_F(ServerTest, OpenApiHasPatchWithFieldValidation) {
  json index = call("GET", "/openapi/v3").json();
  std::string url = index["paths"]["apis/kaito.sh/v1beta1"]["serverRelativeURL"];
  EXPECT_NE(url.find("?hash="), std::string::npos);
  json doc = call("GET", url).json();
  json patch =
      doc["paths"]["/apis/kaito.sh/v1beta1/namespaces/{namespace}/workspaces/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Workspace");
  bool fv = false;
  for (const auto& p : patch["parameters"]) fv |= p["name"] == "fieldValidation";
  EXPECT_TRUE(fv);
  EXPECT_EQ(doc["components"]["schemas"]["sh.kaito.v1beta1.Workspace"]["properties"]["resource"]
               ["properties"]["instanceType"]["type"],
            "string");
  EXPECT_EQ(call("GET", "/openapi/v2").code, 404);
}

TEST_F(ServerTest, CreateGetListUpdateConflicts) {
  json w = create_ws("w1");
  EXPECT_EQ(w["metadata"]["generation"], 1);
  EXPECT_EQ(w["metadata"]["namespace"], "default");
  EXPECT_FALSE(w["metadata"]["uid"].get<std::string>().empty());
  reply dup = call("POST", kWs, workspace("w1").dump());
  EXPECT_EQ(dup.code, 409);
  EXPECT_EQ(dup.json()["reason"], "AlreadyExists");
  EXPECT_EQ(dup.json()["message"], "workspaces.kaito.sh \"w1\" already exists");
  EXPECT_EQ(dup.json()["details"]["kind"], "workspaces");

  // Served in both versions.
  EXPECT_EQ(
      call("GET", "/apis/kaito.sh/v1alpha1/namespaces/default/workspaces/w1").json()["apiVersion"],
      "kaito.sh/v1alpha1");
  reply missing = call("GET", std::string(kWs) + "/nope");
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.json()["message"], "workspaces.kaito.sh \"nope\" not found");

  json put = w;
  put["resource"]["instanceType"] = "Standard_NC12s_v3";
  reply ok = call("PUT", std::string(kWs) + "/w1", put.dump());
  ASSERT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(ok.json()["metadata"]["generation"], 2);
  reply stale = call("PUT", std::string(kWs) + "/w1", put.dump());  // still carries the old RV
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(stale.json()["reason"], "Conflict");
  put["metadata"].erase("resourceVersion");
  reply norv = call("PUT", std::string(kWs) + "/w1", put.dump());
  EXPECT_EQ(norv.code, 422);

  create_ws("w2");
  create_ws("w3");
  json sel = call("GET", std::string(kWs) + "?labelSelector=app%20in%20(w1,w3)").json();
  EXPECT_EQ(sel["kind"], "WorkspaceList");
  EXPECT_EQ(sel["items"].size(), 2u);
  json page1 = call("GET", std::string(kWs) + "?limit=2").json();
  ASSERT_EQ(page1["items"].size(), 2u);
  std::string cont = page1["metadata"]["continue"];
  json page2 = call("GET", std::string(kWs) + "?limit=2&continue=" + cont).json();
  ASSERT_EQ(page2["items"].size(), 1u);
  EXPECT_EQ(page2["items"][0]["metadata"]["name"], "w3");
  EXPECT_FALSE(page2["metadata"].contains("continue"));
  EXPECT_EQ(call("GET", "/apis/kaito.sh/v1beta1/workspaces").json()["items"].size(), 3u);
  reply badfs = call("GET", std::string(kWs) + "?fieldSelector=spec.foo%3Dbar");
  EXPECT_EQ(badfs.code, 400);
  EXPECT_NE(badfs.json()["message"].get<std::string>().find("field label not supported: spec.foo"),
            std::string::npos);
  EXPECT_EQ(
      call("GET", std::string(kWs) + "?fieldSelector=metadata.name%3Dw2").json()["items"].size(),
      1u);
}

TEST_F(ServerTest, ServicePortsAreDefaultedAsTheRealServerDoes) {
  json svc = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"selector", {{"app", "web"}}},
        {"ports", {{{"name", "http"}, {"port", 80}}, {{"port", 81}, {"targetPort", 8081}}}}}}};
  reply made = call("POST", "/api/v1/namespaces/default/services", svc.dump());
  ASSERT_EQ(made.code, 201) << made.body;
  json spec = made.json()["spec"];
  EXPECT_EQ(spec["type"], "ClusterIP");
  EXPECT_EQ(spec["sessionAffinity"], "None");
  EXPECT_EQ(spec["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(spec["ports"][0]["targetPort"], 80);  // targetPort defaults to port
  EXPECT_EQ(spec["ports"][1]["targetPort"], 8081);
}

TEST_F(ServerTest, PatchTypes) {
  create_ws("p");
  std::string item = std::string(kWs) + "/p";
  reply merge = call("PATCH", item, R"({"metadata":{"labels":{"tier":"gold"}}})",
                     "application/merge-patch+json");
  ASSERT_EQ(merge.code, 200);
  EXPECT_EQ(merge.json()["metadata"]["labels"]["tier"], "gold");
  EXPECT_EQ(merge.json()["metadata"]["generation"], 1);  // metadata only
  reply jp = call("PATCH", item, R"([{"op":"add","path":"/resource/count","value":2}])",
                  "application/json-patch+json");
  ASSERT_EQ(jp.code, 200);
  EXPECT_EQ(jp.json()["resource"]["count"], 2);
  EXPECT_EQ(jp.json()["metadata"]["generation"], 2);
  reply smp =
      call("PATCH", item, R"({"resource":{"count":3}})", "application/strategic-merge-patch+json");
  EXPECT_EQ(smp.code, 415);
  EXPECT_EQ(
      smp.json()["message"],
      "the body of the request was in an unknown format - accepted media types include: "
      "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
  reply apply_no_manager =
      call("PATCH", item, workspace("p").dump(), "application/apply-patch+yaml");
  EXPECT_EQ(apply_no_manager.code, 422);
  // resource.count was last set by the merge patch above (manager "unknown": no User-Agent):
  // applying another value conflicts until forced.
  const std::string apply_count =
      "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: p\nresource:\n  count: "
      "4\n";
  reply conflict = call("PATCH", item + "?fieldManager=kubectl&force=false", apply_count,
                        "application/apply-patch+yaml");
  ASSERT_EQ(conflict.code, 409) << conflict.body;
  EXPECT_EQ(conflict.json()["details"]["causes"][0]["field"], ".resource.count");
  reply ssa = call("PATCH", item + "?fieldManager=kubectl&force=true", apply_count,
                   "application/apply-patch+yaml");
  ASSERT_EQ(ssa.code, 200) << ssa.body;
  EXPECT_EQ(ssa.json()["resource"]["count"], 4);
  EXPECT_EQ(ssa.json()["resource"]["instanceType"], "Standard_NC6s_v3");
  reply ssa_new = call("PATCH", std::string(kWs) + "/fresh?fieldManager=kubectl",
                       workspace("fresh").dump(), "application/apply-patch+yaml");
  EXPECT_EQ(ssa_new.code, 201);
  reply stale =
      call("PATCH", item, R"({"metadata":{"resourceVersion":"1"},"resource":{"count":9}})",
           "application/merge-patch+json");
  EXPECT_EQ(stale.code, 409);

  // Strategic merge on a built-in merges containers by name.
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"containers", {{{"name", "main"}, {"image", "a"}}, {{"name", "side"}, {"image", "b"}}}}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/pods", pod.dump()).code, 201);
  reply ps = call("PATCH", "/api/v1/namespaces/default/pods/web",
                  R"({"spec":{"containers":[{"name":"side","image":"c"}]}})",
                  "application/strategic-merge-patch+json");
  ASSERT_EQ(ps.code, 200);
  EXPECT_EQ(ps.json()["spec"]["containers"].size(), 2u);
  EXPECT_EQ(ps.json()["spec"]["containers"][1]["image"], "c");
}

TEST_F(ServerTest, StatusSubresourceAndGeneration) {
  create_ws("s");
  std::string item = std::string(kWs) + "/s";
  reply st = call(
      "PATCH", item + "/status",
      R"({"status":{"conditions":[{"type":"ResourceReady","status":"True","reason":"Ok","message":""}]},
                      "resource":{"instanceType":"ignored"}})",
      "application/merge-patch+json");
  ASSERT_EQ(st.code, 200) << st.body;
  EXPECT_EQ(st.json()["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(st.json()["resource"]["instanceType"], "Standard_NC6s_v3");
  EXPECT_EQ(st.json()["metadata"]["generation"], 1);
  reply main = call("PATCH", item, R"({"status":{"conditions":[]},"resource":{"count":5}})",
                    "application/merge-patch+json");
  EXPECT_EQ(main.json()["status"]["conditions"].size(), 1u);  // status only changes through /status
  EXPECT_EQ(main.json()["metadata"]["generation"], 2);
  // The table shows the printer columns.
  const std::string table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  reply t = call("GET", kWs, "", "", table);
  EXPECT_EQ(t.content_type, "application/json;as=Table;v=v1;g=meta.k8s.io");
  json cells = t.json()["rows"][0]["cells"];
  EXPECT_EQ(cells[0], "s");
  EXPECT_EQ(cells[1], "Standard_NC6s_v3");
  EXPECT_EQ(cells[2], "True");
  EXPECT_TRUE(cells[3] == "0s" || cells[3] == "1s") << cells[3];  // a second boundary may pass
}

TEST_F(ServerTest, WatchReplaySyntheticAddedAndSelectors) {
  create_ws("a");
  watch_stream from_zero(srv_->port(), std::string(kWs) + "?watch=true&resourceVersion=0", kToken);
  auto first = from_zero.read_lines(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["type"], "ADDED");
  watch_stream sel(srv_->port(), std::string(kWs) + "?watch=1&labelSelector=tier%3Dgold", kToken);
  json b = create_ws("b");
  std::string rv_b = b["metadata"]["resourceVersion"];
  call("PATCH", std::string(kWs) + "/b", R"({"metadata":{"labels":{"tier":"gold"}}})",
       "application/merge-patch+json");
  call("PATCH", std::string(kWs) + "/b", R"({"metadata":{"labels":{"tier":null}}})",
       "application/merge-patch+json");
  call("DELETE", std::string(kWs) + "/a");
  auto events = from_zero.read_lines(5);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1]["type"], "ADDED");
  EXPECT_EQ(events[2]["type"], "MODIFIED");
  EXPECT_EQ(events[4]["type"], "DELETED");
  EXPECT_EQ(events[4]["object"]["metadata"]["name"], "a");
  auto s = sel.read_lines(2);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]["type"], "ADDED");    // entered the selector
  EXPECT_EQ(s[1]["type"], "DELETED");  // left it
  // From a revision: only what came after it, no synthetic events.
  watch_stream replay(srv_->port(), std::string(kWs) + "?watch=true&resourceVersion=" + rv_b,
                      kToken);
  auto r = replay.read_lines(3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["type"], "MODIFIED");
}

TEST_F(ServerTest, WatchTimeoutBookmarksAndExpired) {
  watch_stream w(srv_->port(),
                 std::string(kWs) + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=1",
                 kToken);
  auto lines = w.read_lines(100, std::chrono::seconds(4));
  EXPECT_TRUE(w.ended());  // closed cleanly at timeoutSeconds
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["type"], "BOOKMARK");
  for (int i = 0; i < 60; ++i)
    call("POST", "/api/v1/namespaces/default/configmaps",
         json({{"metadata", {{"name", "c" + std::to_string(i)}}}}).dump());
  watch_stream old(srv_->port(),
                   "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2", kToken);
  auto e = old.read_lines(1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["type"], "ERROR");
  EXPECT_EQ(e[0]["object"]["code"], 410);
  EXPECT_EQ(e[0]["object"]["reason"], "Expired");
}

TEST_F(ServerTest, SlowWatcherIsDroppedWithoutStallingWriters) {
  // A tiny receive window so the server's socket fills up while the client does not read.
  watch_stream slow(srv_->port(), "/api/v1/namespaces/default/configmaps?watch=true", kToken,
                    "application/json", 4096);
  std::string big(120 * 1024, 'x');
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 150; ++i) {
    json cm = {{"metadata", {{"name", "big" + std::to_string(i)}}}, {"data", {{"k", big}}}};
    ASSERT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", cm.dump()).code, 201);
  }
  auto writes = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(writes, std::chrono::seconds(20));
  auto lines = slow.read_lines(1000, std::chrono::seconds(20));
  ASSERT_FALSE(lines.empty());
  EXPECT_LT(lines.size(), 151u);
  EXPECT_EQ(lines.back()["type"], "ERROR");
  EXPECT_EQ(lines.back()["object"]["code"], 410);
  for (int i = 0; i < 100 && srv_->db().watcher_count() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(srv_->db().watcher_count(), 0u);
}

TEST_F(ServerTest, DisconnectedWatcherIsCleanedUp) {
  {
    watch_stream w(srv_->port(), std::string(kWs) + "?watch=true", kToken);
    for (int i = 0; i < 100 && srv_->db().watcher_count() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(srv_->db().watcher_count(), 1u);
    w.close();
  }
  for (int i = 0; i < 200 && srv_->db().watcher_count() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(srv_->db().watcher_count(), 0u);
}

TEST_F(ServerTest, FinalizersAndGarbageCollection) {
  json w = workspace("fin");
  w["metadata"]["finalizers"] = {"workspace.finalizer.kaito.sh"};
  ASSERT_EQ(call("POST", kWs, w.dump()).code, 201);
  reply del = call("DELETE", std::string(kWs) + "/fin", R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(del.code, 200);
  EXPECT_TRUE(del.json()["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(del.json()["metadata"]["generation"], 2);
  reply add = call("PATCH", std::string(kWs) + "/fin",
                   R"({"metadata":{"finalizers":["a","workspace.finalizer.kaito.sh"]}})",
                   "application/merge-patch+json");
  EXPECT_EQ(add.code, 422);
  EXPECT_EQ(call("GET", std::string(kWs) + "/fin").code, 200);
  ASSERT_EQ(call("PATCH", std::string(kWs) + "/fin", R"({"metadata":{"finalizers":null}})",
                 "application/merge-patch+json")
                .code,
            200);
  EXPECT_EQ(call("GET", std::string(kWs) + "/fin").code, 404);

  json owner = create_ws("owner");
  json ref = {{"apiVersion", "kaito.sh/v1beta1"},
              {"kind", "Workspace"},
              {"name", "owner"},
              {"uid", owner["metadata"]["uid"]},
              {"controller", true}};
  for (const char* n : {"dep1", "dep2"}) {
    json svc = {{"metadata", {{"name", n}, {"ownerReferences", {ref}}}},
                {"spec", {{"ports", {{{"port", 80}}}}}}};
    ASSERT_EQ(call("POST", "/api/v1/namespaces/default/services", svc.dump()).code, 201);
  }
  ASSERT_EQ(call("DELETE", std::string(kWs) + "/owner").code, 200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/dep1").code, 404);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/dep2").code, 404);
  // A dependent created after its owner is gone (a controller racing the deletion) is collected
  // at once, as the garbage collector's absent-owner rule does; the create itself succeeds.
  json late = {{"metadata", {{"name", "late"}, {"ownerReferences", {ref}}}},
               {"spec", {{"ports", {{{"port", 80}}}}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/services", late.dump()).code, 201);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/late").code, 404);

  // Foreground: the owner is marked deleting (a MODIFIED with deletionTimestamp, so its controller
  // stops replacing dependents) before the dependents go, and is removed after them.
  json owner3 = create_ws("owner3");
  ref["name"] = "owner3";
  ref["uid"] = owner3["metadata"]["uid"];
  json dep3 = {{"metadata", {{"name", "dep3"}, {"ownerReferences", {ref}}}},
               {"spec", {{"ports", {{{"port", 80}}}}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/services", dep3.dump()).code, 201);
  std::string rv3 = owner3["metadata"]["resourceVersion"];
  watch_stream ws3(srv_->port(), std::string(kWs) + "?watch=true&resourceVersion=" + rv3, kToken);
  watch_stream svc3(srv_->port(),
                    "/api/v1/namespaces/default/services?watch=true&resourceVersion=" + rv3,
                    kToken);
  ASSERT_EQ(
      call("DELETE", std::string(kWs) + "/owner3", R"({"propagationPolicy":"Foreground"})").code,
      200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/dep3").code, 404);
  auto ow = ws3.read_lines(2);
  auto dv = svc3.read_lines(2);  // dep3's ADDED came at rv3 + 1
  ASSERT_EQ(ow.size(), 2u);
  ASSERT_EQ(dv.size(), 2u);
  EXPECT_EQ(ow[0]["type"], "MODIFIED");
  EXPECT_TRUE(ow[0]["object"]["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(ow[1]["type"], "DELETED");
  EXPECT_EQ(dv[1]["type"], "DELETED");
  auto rv_of = [](const json& e) {
    return std::stoll(e["object"]["metadata"]["resourceVersion"].get<std::string>());
  };
  EXPECT_LT(rv_of(ow[0]), rv_of(dv[1]));
  EXPECT_LT(rv_of(dv[1]), rv_of(ow[1]));

  json owner2 = create_ws("owner2");
  ref["name"] = "owner2";
  ref["uid"] = owner2["metadata"]["uid"];
  json svc = {{"metadata", {{"name", "kept"}, {"ownerReferences", {ref}}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/services", svc.dump()).code, 201);
  ASSERT_EQ(call("DELETE", std::string(kWs) + "/owner2", R"({"propagationPolicy":"Orphan"})").code,
            200);
  reply kept = call("GET", "/api/v1/namespaces/default/services/kept");
  ASSERT_EQ(kept.code, 200);
  EXPECT_FALSE(kept.json()["metadata"].contains("ownerReferences"));
}

TEST_F(ServerTest, PodLogs) {
  json pod = {{"metadata", {{"name", "train"}}}, {"spec", {{"containers", {{{"name", "tune"}}}}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/pods", pod.dump()).code, 201);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/pods/train/log").code, 400);  // not started yet
  fs::create_directories(home_ + "/logs/default/train");
  std::ofstream(home_ + "/logs/default/train/tune.log") << "one\ntwo\nthree\n";
  reply all = call("GET", "/api/v1/namespaces/default/pods/train/log");
  EXPECT_EQ(all.code, 200);
  EXPECT_EQ(all.body, "one\ntwo\nthree\n");
  EXPECT_EQ(
      call("GET", "/api/v1/namespaces/default/pods/train/log?container=tune&tailLines=1").body,
      "three\n");
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/pods/train/log?container=nope").code, 400);
}

TEST_F(ServerTest, BadInputGetsStatusNeverACrash) {
  EXPECT_EQ(call("POST", kWs, "{\"metadata\":").code, 400);
  EXPECT_EQ(call("POST", kWs, "[1,2]").code, 400);
  EXPECT_EQ(call("POST", kWs, R"({"metadata":{"name":"BadName"}})").code, 422);
  EXPECT_EQ(call("POST", kWs, "x", "application/vnd.kubernetes.protobuf").code, 400);  // no magic
  // Hex escapes split so that the following letters are not read as hex digits.
  std::string deploy(
      "k8s\0\x0a\x15\x0a\x07"
      "apps/v1\x12\x0a"
      "Deployment",
      27);
  EXPECT_EQ(call("POST", "/apis/apps/v1/namespaces/default/deployments", deploy,
                 "application/vnd.kubernetes.protobuf")
                .code,
            415);
  EXPECT_EQ(call("POST", kWs, "x", "text/plain").code, 415);
  EXPECT_EQ(call("POST", kWs, std::string(300 * 1024, ' ')).code, 413);
  EXPECT_EQ(call("GET", "/apis/kaito.sh/v1beta1/namespaces/default/gadgets").code, 404);
  EXPECT_EQ(call("GET", "/nope").code, 404);
  reply nons =
      call("POST", "/apis/kaito.sh/v1beta1/namespaces/nosuchns/workspaces", workspace("x").dump());
  EXPECT_EQ(nons.code, 404);
  EXPECT_EQ(nons.json()["message"], "namespaces \"nosuchns\" not found");
  reply kind = call("POST", kWs, R"({"kind":"Pod","metadata":{"name":"x"}})");
  EXPECT_EQ(kind.code, 400);
  EXPECT_EQ(call("PATCH", std::string(kWs) + "/none", "{}", "application/merge-patch+json").code,
            404);
  EXPECT_EQ(call("PATCH", "/api/v1/namespaces/default", "{}", "text/plain").code, 415);
  EXPECT_EQ(call("GET", "/version").code, 200);  // still alive
}

TEST_F(ServerTest, RestartKeepsObjectsAndCustomResources) {
  json w = create_ws("durable");
  srv_->stop();
  srv_.reset();
  start();
  reply got = call("GET", std::string(kWs) + "/durable");
  ASSERT_EQ(got.code, 200);
  EXPECT_EQ(got.json()["metadata"]["uid"], w["metadata"]["uid"]);
  json stale = w;
  stale["resource"]["count"] = 2;
  ASSERT_EQ(call("PUT", std::string(kWs) + "/durable", stale.dump()).code, 200);
  EXPECT_EQ(call("PUT", std::string(kWs) + "/durable", stale.dump()).code, 409);
}

}  // namespace
}  // namespace kaito::k8s::apiserver
