// Pure pieces of the API server against hand-computed answers: selectors, JSONPath, ages, tables,
// patches (RFC 7386 / RFC 6902 examples, strategic merge by key), URL routing and body decoding.
#include <gtest/gtest.h>

#include "k8s/apiserver/body.h"
#include "k8s/apiserver/patch.h"
#include "k8s/apiserver/protobuf_body.h"
#include "k8s/apiserver/resources.h"
#include "k8s/apiserver/route.h"
#include "k8s/apiserver/selectors.h"
#include "k8s/apiserver/table_cells.h"
#include "k8s/apiserver/tables.h"

namespace kaito::k8s::apiserver {
namespace {

TEST(SelectorTest, LabelSelectorOperators) {
  json labels = {{"app", "phi-3"}, {"tier", "gold"}};
  auto match = [&](const std::string& s) {
    auto sel = parse_label_selector(s);
    EXPECT_TRUE(sel.ok()) << s;
    return sel.ok() && sel->matches(labels);
  };
  EXPECT_TRUE(match(""));
  EXPECT_TRUE(match("app=phi-3"));
  EXPECT_TRUE(match("app==phi-3,tier"));
  EXPECT_FALSE(match("app!=phi-3"));
  EXPECT_TRUE(match("app in (phi-3,x)"));
  EXPECT_FALSE(match("app notin (phi-3, x)"));
  EXPECT_TRUE(match("missing!=x"));  // != matches objects without the key
  EXPECT_TRUE(match("!missing"));
  EXPECT_FALSE(match("!tier"));
  EXPECT_FALSE(parse_label_selector("app in (a").ok());
  EXPECT_FALSE(parse_label_selector("a b c").ok());
}

TEST(SelectorTest, FieldSelectors) {
  json ev = {{"metadata", {{"name", "e1"}, {"namespace", "default"}}},
             {"involvedObject", {{"kind", "Workspace"}, {"name", "w"}}}};
  auto sel = parse_field_selector(
      "involvedObject.kind=Workspace,involvedObject.name==w,metadata.name!=x", "events");
  ASSERT_TRUE(sel.ok());
  EXPECT_TRUE(sel->matches(ev));
  auto bad = parse_field_selector("spec.foo=bar", "workspaces");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "field label not supported: spec.foo");
  EXPECT_FALSE(parse_field_selector("involvedObject.kind=Workspace", "pods").ok());
}

TEST(TableTest, HumanDurationMatchesKubernetes) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(119), "119s");
  EXPECT_EQ(human_duration(130), "2m10s");
  EXPECT_EQ(human_duration(300), "5m");
  EXPECT_EQ(human_duration(45 * 60), "45m");
  EXPECT_EQ(human_duration(3 * 3600 + 20 * 60), "3h20m");
  EXPECT_EQ(human_duration(20 * 3600), "20h");
  EXPECT_EQ(human_duration(5 * 86400), "5d");
  EXPECT_EQ(human_duration(696 * 86400), "696d");
  EXPECT_EQ(human_duration(3 * 365 * 86400 + 10 * 86400), "3y10d");
}

TEST(TableTest, Rfc3339) {
  EXPECT_EQ(*parse_rfc3339("1970-01-01T00:01:00Z"), 60);
  EXPECT_EQ(*parse_rfc3339("1970-01-01T01:00:00.123+01:00"), 0);
  EXPECT_FALSE(parse_rfc3339("yesterday").has_value());
  EXPECT_EQ(format_rfc3339(86400), "1970-01-02T00:00:00Z");
}

TEST(TableTest, JsonPathSubset) {
  json o = {{"resource", {{"instanceType", "Standard_NC6s_v3"}, {"count", 2}}},
            {"status",
             {{"conditions",
               {{{"type", "A"}, {"status", "True"}}, {{"type", "B"}, {"status", "False"}}}}}}};
  EXPECT_EQ(json_path(o, ".resource.instanceType")[0], "Standard_NC6s_v3");
  EXPECT_EQ(json_path(o, "{.resource.count}")[0], 2);
  EXPECT_EQ(json_path(o, ".status.conditions[?(@.type==\"B\")].status")[0], "False");
  EXPECT_EQ(json_path(o, ".status.conditions[1].type")[0], "B");
  EXPECT_EQ(json_path(o, ".status.conditions[*].type").size(), 2u);
  EXPECT_TRUE(json_path(o, ".status.missing").empty());
  EXPECT_TRUE(json_path(o, "..[[bad").empty());
}

TEST(TableTest, CustomResourceColumns) {
  json crd = {
      {"spec",
       {{"group", "kaito.sh"},
        {"names", {{"plural", "workspaces"}, {"kind", "Workspace"}, {"shortNames", {"wk"}}}},
        {"scope", "Namespaced"},
        {"versions",
         {{{"name", "v1beta1"},
           {"served", true},
           {"storage", true},
           {"subresources", {{"status", json::object()}}},
           {"additionalPrinterColumns",
            {{{"name", "Instance"}, {"type", "string"}, {"jsonPath", ".resource.instanceType"}},
             {{"name", "ResourceReady"},
              {"type", "string"},
              {"jsonPath", ".status.conditions[?(@.type==\"ResourceReady\")].status"}},
             {{"name", "Age"},
              {"type", "date"},
              {"jsonPath", ".metadata.creationTimestamp"}}}}}}}}}};
  auto def = def_from_crd(crd);
  ASSERT_TRUE(def);
  EXPECT_TRUE(def->status_subresource);
  json ws = {{"metadata", {{"name", "w"}, {"creationTimestamp", "1970-01-01T00:00:00Z"}}},
             {"resource", {{"instanceType", "Standard_NC12s_v3"}}}};
  std::vector<const json*> rows = {&ws};
  json t = build_table(*def, "v1beta1", rows, "7", true, 300);
  ASSERT_EQ(t["columnDefinitions"].size(), 4u);
  EXPECT_EQ(t["columnDefinitions"][0]["name"], "Name");
  EXPECT_EQ(t["rows"][0]["cells"], json({"w", "Standard_NC12s_v3", nullptr, "5m"}));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["metadata"]["resourceVersion"], "7");
  EXPECT_TRUE(build_table(*def, "v1beta1", rows, "7", false, 300)["columnDefinitions"].is_null());
}

TEST(TableTest, PodColumns) {
  registry reg;
  auto pods = reg.find("", "v1", "pods");
  json pod = {{"metadata", {{"name", "web-0"}, {"creationTimestamp", "1970-01-01T00:00:00Z"}}},
              {"spec", {{"containers", {{{"name", "a"}}, {{"name", "b"}}}}}},
              {"status",
               {{"phase", "Running"},
                {"containerStatuses",
                 {{{"ready", true},
                   {"restartCount", 3},
                   {"state", {{"running", {{"startedAt", "1970-01-01T00:00:05Z"}}}}}}}}}}};
  std::vector<const json*> rows = {&pod};
  json t = build_table(*pods, "v1", rows, "1", true, 10);
  EXPECT_EQ(t["columnDefinitions"][3]["name"], "Restarts");
  EXPECT_EQ(t["columnDefinitions"][3]["type"], "string");
  EXPECT_EQ(t["rows"][0]["cells"],
            json({"web-0", "1/2", "Running", "3", "10s", "<none>", "<none>"}));
}

// printPod: a container's waiting or terminated reason is the STATUS; RESTARTS says when the
// last container ended; only running, ready containers count as ready.
TEST(TableTest, PodStatusFollowsTheContainers) {
  auto cells = [](json status, json meta = json::object()) {
    meta["name"] = "p";
    json pod = {{"metadata", meta},
                {"spec", {{"containers", {{{"name", "a"}}}}}},
                {"status", std::move(status)}};
    return pod_row_cells(pod, 1000);
  };
  json crash = {
      {"phase", "Running"},
      {"containerStatuses",
       {{{"ready", true},
         {"restartCount", 2},
         {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
         {"lastState",
          {{"terminated", {{"exitCode", 1}, {"finishedAt", "1970-01-01T00:15:40Z"}}}}}}}}};
  auto c = cells(crash);
  EXPECT_EQ(c.status, "CrashLoopBackOff");
  EXPECT_EQ(c.ready, "0/1");
  EXPECT_EQ(c.restarts, "2 (60s ago)");
  json error = {{"phase", "Running"},
                {"containerStatuses",
                 {{{"state", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}}}}};
  EXPECT_EQ(cells(error).status, "Error");
  EXPECT_EQ(cells(error).restarts, "0");
  error["containerStatuses"][0]["state"]["terminated"].erase("reason");
  EXPECT_EQ(cells(error).status, "ExitCode:3");
  error["containerStatuses"][0]["state"]["terminated"]["signal"] = 9;
  EXPECT_EQ(cells(error).status, "Signal:9");
  json done = {{"phase", "Succeeded"},
               {"containerStatuses", {{{"state", {{"terminated", {{"reason", "Completed"}}}}}}}}};
  EXPECT_EQ(cells(done).status, "Completed");
  EXPECT_EQ(cells(done, {{"deletionTimestamp", "1970-01-01T00:00:01Z"}}).status, "Completed");
  json running = {
      {"phase", "Running"},
      {"containerStatuses", {{{"ready", false}, {"state", {{"running", json::object()}}}}}}};
  EXPECT_EQ(cells(running).status, "Running");
  EXPECT_EQ(cells(running, {{"deletionTimestamp", "1970-01-01T00:00:01Z"}}).status, "Terminating");
  json gated = {{"phase", "Pending"},
                {"conditions", {{{"type", "PodScheduled"}, {"reason", "SchedulingGated"}}}}};
  EXPECT_EQ(cells(gated).status, "SchedulingGated");
  EXPECT_EQ(cells(json::object()).status, "Pending");
  EXPECT_EQ(cells(json::object()).ready, "0/1");
}

TEST(TableTest, EndpointsColumn) {
  registry reg;
  auto eps = reg.find("", "v1", "endpoints");
  ASSERT_TRUE(eps);
  EXPECT_EQ(eps->kind, "Endpoints");
  EXPECT_EQ(eps->short_names, std::vector<std::string>{"ep"});
  EXPECT_FALSE(eps->status_subresource);
  json meta = {{"name", "svc"}, {"creationTimestamp", "1970-01-01T00:00:00Z"}};
  // kubectl's formatEndpoints: ports outside, addresses inside; notReadyAddresses are not shown.
  json two = {{"metadata", meta},
              {"subsets",
               {{{"addresses", {{{"ip", "10.0.0.1"}}, {{"ip", "fd00::2"}}}},
                 {"notReadyAddresses", {{{"ip", "10.0.0.9"}}}},
                 {"ports", {{{"name", "http"}, {"port", 80}}}}}}}};
  json many = {{"metadata", meta},
               {"subsets",
                {{{"addresses", {{{"ip", "10.0.0.1"}}, {{"ip", "10.0.0.2"}}}},
                  {"ports", {{{"name", "a"}, {"port", 80}}, {{"name", "b"}, {"port", 81}}}}},
                 {{"addresses", {{{"ip", "10.0.1.1"}}}}}}}};
  json none = {{"metadata", meta}};
  json no_addresses = {{"metadata", meta}, {"subsets", {{{"ports", {{{"port", 80}}}}}}}};
  std::vector<const json*> rows = {&two, &many, &none, &no_addresses};
  json t = build_table(*eps, "v1", rows, "1", true, 10);
  ASSERT_EQ(t["columnDefinitions"].size(), 3u);
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Endpoints");
  EXPECT_EQ(t["rows"][0]["cells"], json({"svc", "10.0.0.1:80,[fd00::2]:80", "10s"}));
  EXPECT_EQ(t["rows"][1]["cells"][1], "10.0.0.1:80,10.0.0.2:80,10.0.0.1:81 + 2 more...");
  EXPECT_EQ(t["rows"][2]["cells"][1], "<none>");
  EXPECT_EQ(t["rows"][3]["cells"][1], "");
}

TEST(TableTest, EndpointSliceColumns) {
  registry reg;
  auto def = reg.find("discovery.k8s.io", "v1", "endpointslices");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->kind, "EndpointSlice");
  EXPECT_TRUE(def->namespaced);
  json meta = {{"name", "svc-abc"}, {"creationTimestamp", "1970-01-01T00:00:00Z"}};
  json slice = {{"metadata", meta},
                {"addressType", "IPv4"},
                {"ports", {{{"name", "http"}, {"port", 5001}}, {{"name", "m"}, {"port", 5002}}}},
                {"endpoints",
                 {{{"addresses", {"10.0.0.1"}}},
                  {{"addresses", {"10.0.0.2"}}},
                  {{"addresses", {"10.0.0.3"}}},
                  {{"addresses", {"10.0.0.4"}}}}}};
  json empty = {{"metadata", meta}, {"addressType", "IPv4"}};
  std::vector<const json*> rows = {&slice, &empty};
  json t = build_table(*def, "v1", rows, "1", true, 10);
  ASSERT_EQ(t["columnDefinitions"].size(), 5u);
  EXPECT_EQ(t["rows"][0]["cells"], json({"svc-abc", "IPv4", "5001,5002",
                                         "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "10s"}));
  EXPECT_EQ(t["rows"][1]["cells"], json({"svc-abc", "IPv4", "<unset>", "<unset>", "10s"}));
}

TEST(PatchTest, MergePatchRfc7386) {
  json target = {{"a", "b"}, {"c", {{"d", "e"}, {"f", "g"}}}};
  json patch = {{"a", "z"}, {"c", {{"f", nullptr}}}};
  EXPECT_EQ(*apply_merge_patch(target, patch), json({{"a", "z"}, {"c", {{"d", "e"}}}}));
}

TEST(PatchTest, JsonPatchRfc6902) {
  json target = {{"resource", {{"count", 1}}}};
  auto out =
      apply_json_patch(target, json::parse(R"([{"op":"replace","path":"/resource/count","value":2},
                                                        {"op":"add","path":"/x","value":[1]}])"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, json({{"resource", {{"count", 2}}}, {"x", {1}}}));
  EXPECT_FALSE(apply_json_patch(target, json::parse(R"([{"op":"remove","path":"/nope"}])")).ok());
  EXPECT_FALSE(apply_json_patch(target, json::parse(R"({"op":"remove"})")).ok());
  EXPECT_FALSE(apply_json_patch(target, json::parse(R"([{"path":"/x"}])")).ok());
}

TEST(PatchTest, StrategicMergeByKey) {
  json pod = json::parse(
      R"({"spec":{"containers":[{"name":"main","image":"a","env":[{"name":"X","value":"1"}]},
                                                     {"name":"side","image":"b"}]},
                             "metadata":{"finalizers":["f1"],"labels":{"a":"1"}}})");
  json patch = json::parse(
      R"({"spec":{"containers":[{"name":"main","image":"a2","env":[{"name":"Y","value":"2"}]},
                                                       {"name":"side","$patch":"delete"}],
                                        "$setElementOrder/containers":[{"name":"main"}]},
                               "metadata":{"finalizers":["f2"],"labels":{"a":null,"b":"2"}}})");
  auto out = apply_strategic_merge_patch(pod, patch);
  ASSERT_TRUE(out.ok());
  json expect = json::parse(R"({"spec":{"containers":[{"name":"main","image":"a2",
                                         "env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]}]},
                                "metadata":{"finalizers":["f1","f2"],"labels":{"b":"2"}}})");
  EXPECT_EQ(*out, expect);
  EXPECT_EQ(patch_type_of("application/strategic-merge-patch+json; charset=utf-8"),
            patch_type::strategic);
  EXPECT_EQ(patch_type_of("application/apply-patch+yaml"), patch_type::apply);
  EXPECT_EQ(patch_type_of("text/plain"), patch_type::unknown);
}

TEST(RouteTest, KubernetesPaths) {
  auto r = parse_route("/apis/kaito.sh/v1beta1/namespaces/default/workspaces/w/status");
  EXPECT_EQ(r.k, route::kind::object);
  EXPECT_EQ(r.group, "kaito.sh");
  EXPECT_EQ(r.ns, "default");
  EXPECT_EQ(r.resource, "workspaces");
  EXPECT_EQ(r.name, "w");
  EXPECT_EQ(r.subresource, "status");
  r = parse_route("/api/v1/namespaces/kube-system");
  EXPECT_EQ(r.resource, "namespaces");
  EXPECT_EQ(r.name, "kube-system");
  r = parse_route("/api/v1/namespaces/x/status");
  EXPECT_EQ(r.name, "x");
  EXPECT_EQ(r.subresource, "status");
  r = parse_route("/api/v1/namespaces/x/pods");
  EXPECT_EQ(r.ns, "x");
  EXPECT_EQ(r.resource, "pods");
  EXPECT_EQ(parse_route("/apis/kaito.sh/v1beta1").k, route::kind::resource_list);
  EXPECT_EQ(parse_route("/version/").k, route::kind::version);
  EXPECT_EQ(parse_route("/openapi/v3/apis/kaito.sh/v1beta1").k, route::kind::openapi_doc);
  EXPECT_EQ(parse_route("/nope").k, route::kind::unknown);

  // The proxy subresource keeps the rest of the path verbatim; nothing else takes extra segments.
  r = parse_route("/api/v1/namespaces/ns/services/http:svc:80/proxy/v1/chat//completions/");
  EXPECT_EQ(r.k, route::kind::object);
  EXPECT_EQ(r.ns, "ns");
  EXPECT_EQ(r.resource, "services");
  EXPECT_EQ(r.name, "http:svc:80");
  EXPECT_EQ(r.subresource, "proxy");
  EXPECT_EQ(r.proxy_path, "/v1/chat//completions/");
  r = parse_route("/api/v1/namespaces/ns/pods/p/proxy");
  EXPECT_EQ(r.k, route::kind::object);
  EXPECT_EQ(r.resource, "pods");
  EXPECT_EQ(r.subresource, "proxy");
  EXPECT_EQ(r.proxy_path, "");
  EXPECT_EQ(parse_route("/api/v1/namespaces/ns/pods/p/proxy/").proxy_path, "/");
  EXPECT_EQ(parse_route("/api/v1/namespaces/ns/pods/p/log/x").k, route::kind::unknown);
  EXPECT_EQ(parse_route("/api/v1/namespaces/ns/pods/p/status/x").k, route::kind::unknown);
  EXPECT_EQ(parse_route("/api/v1/namespaces/ns/pods/p/status").proxy_path, "");

  std::string path;
  std::map<std::string, std::string> q;
  ASSERT_TRUE(
      parse_target("/api/v1/pods?labelSelector=app+in+%28a%2Cb%29&watch=True", path, q).ok());
  EXPECT_EQ(path, "/api/v1/pods");
  EXPECT_EQ(q["labelSelector"], "app in (a,b)");
  EXPECT_EQ(q["watch"], "True");
  EXPECT_FALSE(parse_target("/x?a=%2", path, q).ok());
  EXPECT_FALSE(parse_target("x", path, q).ok());
}

TEST(BodyTest, JsonAndYaml) {
  auto j = decode_body(R"({"a":1})", body_format_of("application/json"));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["a"], 1);
  auto y = decode_body("a: 1\nb: 'true'\nc: true\nd: ~\ne: [x, 2.5]\n",
                       body_format_of("application/yaml"));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, json({{"a", 1}, {"b", "true"}, {"c", true}, {"d", nullptr}, {"e", {"x", 2.5}}}));
  auto bad = decode_body("{\"a\":", body_format::json);
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(bad.error().where().empty());
  EXPECT_FALSE(decode_body("a: [1, 2", body_format::yaml).ok());
  EXPECT_EQ(body_format_of("application/vnd.kubernetes.protobuf"), body_format::unsupported);
  EXPECT_FALSE(parse_json_body(std::string(500, '[') + std::string(500, ']')).ok());
  EXPECT_FALSE(parse_yaml_body(std::string(500, '[') + std::string(500, ']')).ok());
  auto docs = parse_yaml_documents("a: 1\n---\nb: 2\n---\n");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 2u);
  // An alias bomb (9^9 leaves from a few hundred bytes) is refused, not expanded into memory.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", " : "") + prev;
    bomb += "]\n";
  }
  auto exploded = decode_body(bomb, body_format::yaml);
  ASSERT_FALSE(exploded.ok());
  EXPECT_EQ(exploded.error().code(), status_code::invalid_argument);
  // Errors carry the YAML position.
  auto at = decode_body("a: 1\nb: [1, 2\n", body_format::yaml);
  ASSERT_FALSE(at.ok());
  EXPECT_NE(at.error().where().find("line"), std::string::npos) << at.error().to_string();
}

// Length-delimited protobuf field (lengths < 128 here).
std::string ld(int field, const std::string& bytes) {
  return std::string(1, static_cast<char>(field << 3 | 2)) + static_cast<char>(bytes.size()) +
         bytes;
}

TEST(ProtobufTest, KubectlGeneratorBodies) {
  std::string meta = ld(1, "team-a") + ld(11, ld(1, "app") + ld(2, "x"));
  std::string ns = std::string("k8s\0", 4) + ld(1, ld(1, "v1") + ld(2, "Namespace")) +
                   ld(2, ld(1, meta)) + ld(4, "application/vnd.kubernetes.protobuf");
  auto j = decode_k8s_protobuf(ns);
  ASSERT_TRUE(j.ok()) << j.error().to_string();
  EXPECT_EQ(
      *j,
      json::parse(
          R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a","labels":{"app":"x"}}})"));
  std::string secret =
      std::string("k8s\0", 4) + ld(1, ld(1, "v1") + ld(2, "Secret")) +
      ld(2, ld(1, ld(1, "s1")) + ld(2, ld(1, "k") + ld(2, "v")) + ld(3, "Opaque") + "\x28\x01");
  auto sj = decode_k8s_protobuf(secret);
  ASSERT_TRUE(sj.ok());
  EXPECT_EQ((*sj)["data"]["k"], "dg==");  // bytes come back base64, as in JSON
  EXPECT_EQ((*sj)["type"], "Opaque");
  EXPECT_EQ((*sj)["immutable"], true);
  std::string deploy = std::string("k8s\0", 4) + ld(1, ld(1, "apps/v1") + ld(2, "Deployment"));
  EXPECT_EQ(decode_k8s_protobuf(deploy).error().code(), status_code::unimplemented);
  EXPECT_EQ(decode_k8s_protobuf("json").error().code(), status_code::invalid_argument);
  EXPECT_FALSE(decode_k8s_protobuf(ns.substr(0, ns.size() - 3)).ok());  // truncated
}

}  // namespace
}  // namespace kaito::k8s::apiserver
