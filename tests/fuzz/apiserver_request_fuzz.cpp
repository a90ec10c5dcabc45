// Fuzzes the API server's whole request path in-process (no sockets): target and query parsing,
// routing, body decoding (JSON and YAML), selectors, patches, admission of metadata, tables and the
// SQLite store (in memory). Input: "METHOD TARGET\nCONTENT-TYPE\nACCEPT\n" then the body.
// Any input must produce a response; a crash, abort or hang is a bug.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/route.h"

namespace as = kaito::k8s::apiserver;

namespace {

struct fixture {
  std::unique_ptr<as::store> db = std::move(as::store::open(":memory:", {64}).value());
  as::registry reg;
  as::server_options opts;
  std::atomic<bool> stopping{false};
  std::unique_ptr<as::api_context> ctx;
  fixture() {
    opts.home = "/nonexistent-kaito-fuzz-home";
    opts.proxy_dial = false;  // services/NAME/proxy resolves but never connects anywhere
    ctx =
        std::make_unique<as::api_context>(as::api_context{*db, reg, opts, stopping, "127.0.0.1:1"});
    as::json ns = {
        {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}};
    (void)db->create({"namespaces", "", "default"}, ns);
    as::api_request crd{
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        {},
        "",
        "",
        R"({"metadata":{"name":"workspaces.kaito.sh"},"spec":{"group":"kaito.sh","scope":"Namespaced",
                            "names":{"plural":"workspaces","kind":"Workspace"},"versions":[{"name":"v1beta1","served":true,
                            "storage":true,"subresources":{"status":{}},"additionalPrinterColumns":[{"name":"I","type":"string",
                            "jsonPath":".resource.instanceType"}]}]}})"};
    (void)as::handle(*ctx, crd);
  }
};

std::string next_line(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string line(in.substr(0, nl));
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fixture f;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string first = next_line(in);
  as::api_request req;
  size_t sp = first.find(' ');
  req.method = first.substr(0, sp);
  std::string target = sp == std::string::npos ? "/" : first.substr(sp + 1);
  req.content_type = next_line(in);
  req.accept = next_line(in);
  req.body = std::string(in);
  if (!as::parse_target(target, req.path, req.query).ok()) return 0;
  as::api_response resp = as::handle(*f.ctx, req);
  if (resp.code < 100 || resp.code > 599) __builtin_trap();
  return 0;
}
