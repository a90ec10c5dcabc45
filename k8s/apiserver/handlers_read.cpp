// get and list; see handlers.h.
#include <ctime>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/selectors.h"
#include "k8s/apiserver/tables.h"

namespace kaito::k8s::apiserver {

namespace {

std::string to_hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

bool from_hex(const std::string& s, std::string& out) {
  if (s.size() % 2) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    auto v = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    int a = v(s[i]), b = v(s[i + 1]);
    if (a < 0 || b < 0) return false;
    out += static_cast<char>(a * 16 + b);
  }
  return true;
}

std::string ns_name(const json& obj) {
  const json& m = obj["metadata"];
  return m.value("namespace", std::string()) + "/" + m.value("name", std::string());
}

}  // namespace

api_response handle_get(api_context& ctx, const object_request& o) {
  auto got = ctx.db.get(o.key());
  if (!got.ok()) return not_found_error(o.def->group, o.def->resource, o.r.name);
  json obj = present(*o.def, o.r.version, *got);
  if (wants_table(o.req.accept)) {
    std::vector<const json*> one = {&obj};
    std::string rv = obj["metadata"].value("resourceVersion", std::string());
    return api_response::json_body(
        200, build_table(*o.def, o.r.version, one, rv, true, std::time(nullptr)),
        kTableContentType);
  }
  return api_response::json_body(200, obj);
}

api_response handle_list(api_context& ctx, const object_request& o) {
  auto labels = parse_label_selector(query_value(o.req, "labelSelector"));
  if (!labels.ok()) return bad_request("unable to parse requirement: " + labels.error().message());
  std::string fs_text = query_value(o.req, "fieldSelector");
  auto fields = parse_field_selector(fs_text, o.def->resource);
  if (!fields.ok())
    return bad_request("Unable to find \"" + o.def->api_version(o.r.version) +
                       ", Resource=" + o.def->resource + "\" that match label selector \"" +
                       query_value(o.req, "labelSelector") + "\", field selector \"" + fs_text +
                       "\": " + fields.error().message());
  int64_t limit = 0;
  if (std::string l = query_value(o.req, "limit"); !l.empty()) {
    try {
      limit = std::stoll(l);
    } catch (...) {
      return bad_request("invalid limit: " + l);
    }
  }
  std::string after;
  if (std::string c = query_value(o.req, "continue"); !c.empty()) {
    std::string decoded;
    if (!from_hex(c, decoded) || decoded.find('|') == std::string::npos)
      return bad_request("continue key is not valid: " + c);
    after = decoded.substr(decoded.find('|') + 1);
  }
  auto listed = ctx.db.list(o.def->store_key(), o.def->namespaced ? o.r.ns : "");
  std::vector<json> items;
  int64_t remaining = 0;
  std::string next;
  for (const auto& item : listed.items) {
    const json& obj = *item;
    if (!after.empty() && ns_name(obj) <= after) continue;
    const json& meta = obj["metadata"];
    if (!labels->matches(meta.contains("labels") ? meta["labels"] : json())) continue;
    if (!fields->matches(obj)) continue;
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
      ++remaining;
      continue;
    }
    items.push_back(present(*o.def, o.r.version, obj));
  }
  if (remaining > 0 && !items.empty())
    next = to_hex(std::to_string(listed.rv) + "|" + ns_name(items.back()));
  std::string rv = std::to_string(listed.rv);
  if (wants_table(o.req.accept)) {
    std::vector<const json*> ptrs;
    for (const auto& i : items) ptrs.push_back(&i);
    json t = build_table(*o.def, o.r.version, ptrs, rv, true, std::time(nullptr));
    if (!next.empty()) t["metadata"]["continue"] = next;
    return api_response::json_body(200, t, kTableContentType);
  }
  json meta = {{"resourceVersion", rv}};
  if (!next.empty()) {
    meta["continue"] = next;
    meta["remainingItemCount"] = remaining;
  }
  json list = {{"kind", o.def->kind + "List"},
               {"apiVersion", o.def->api_version(o.r.version)},
               {"metadata", meta},
               {"items", std::move(items)}};
  return api_response::json_body(200, list);
}

}  // namespace kaito::k8s::apiserver
