// The typed client over pooled keep-alive connections; see client.h.
#include "k8s/client/client.h"

#include <fstream>
#include <sstream>

#include "k8s/client/api_error.h"

namespace kaito::k8s {

namespace http = boost::beast::http;

std::string url_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string resource_path(const resource_ref& r, const std::string& ns, const std::string& name,
                          const std::string& subresource) {
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) p += "/namespaces/" + url_escape(ns);
  p += "/" + r.resource;
  if (!name.empty()) p += "/" + url_escape(name);
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

client::client(rest_config cfg, endpoint ep, client_options opts)
    : cfg_(std::move(cfg)), ep_(std::move(ep)), opts_(std::move(opts)) {}

result<std::unique_ptr<client>> client::connect(const rest_config& cfg, client_options opts) {
  KAITO_ASSIGN_OR_RETURN(endpoint ep, endpoint_from(cfg));
  return std::unique_ptr<client>(new client(cfg, std::move(ep), std::move(opts)));
}

std::string client::bearer() const {
  if (!cfg_.token_file.empty()) {  // service-account tokens rotate: re-read
    std::ifstream in(cfg_.token_file);
    std::ostringstream s;
    if (in && (s << in.rdbuf())) {
      std::string t = s.str();
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
      if (!t.empty()) return t;
    }
  }
  return cfg_.token;
}

http_request client::make_request(const std::string& method, const std::string& target) const {
  http_request req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, ep_.host);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, opts_.user_agent);
  std::string token = bearer();
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
  return req;
}

result<std::unique_ptr<connection>> client::open_connection() {
  opened_++;
  return connection::open(ep_, opts_.connect_timeout);
}

result<http_reply> client::send(http_request& req) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<connection> c;
    bool reused = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
        reused = true;
      }
    }
    if (!c) {
      KAITO_ASSIGN_OR_RETURN(c, open_connection());
    }
    auto r = c->round_trip(req, opts_.request_timeout);
    if (!r.ok()) {
      // A kept-alive connection the server closed meanwhile (the others likely too): retry once
      // on a fresh one.
      if (reused && r.error().code() == status_code::unavailable) {
        std::lock_guard<std::mutex> l(mu_);
        idle_.clear();
        continue;
      }
      return r.error();
    }
    if (r->keep_alive) {
      std::lock_guard<std::mutex> l(mu_);
      if (idle_.size() < opts_.max_idle_connections) idle_.push_back(std::move(c));
    }
    return r;
  }
  return status(status_code::unavailable, "connection lost");
}

result<json> client::request(const std::string& method, const std::string& target,
                             const std::string& body, const std::string& content_type) {
  http_request req = make_request(method, target);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  KAITO_ASSIGN_OR_RETURN(http_reply rep, send(req));
  if (rep.code / 100 != 2) return status_from_response(rep.code, rep.body);
  json j = json::parse(rep.body, nullptr, false);
  if (j.is_discarded())
    return status(status_code::data_loss, "the server's answer is not JSON", target);
  return j;
}

static std::string query(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string q;
  for (const auto& [k, v] : kv) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + url_escape(v);
  }
  return q;
}

static std::string name_of(const json& obj) {
  return meta_string(obj, "name");
}

result<json> client::get(const resource_ref& r, const std::string& ns, const std::string& name) {
  return request("GET", resource_path(r, ns, name));
}

result<json> client::list(const resource_ref& r, const std::string& ns, const list_options& o) {
  json all;
  std::string cont;
  do {
    std::string q = query({{"labelSelector", o.label_selector},
                           {"fieldSelector", o.field_selector},
                           {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                           {"resourceVersion", cont.empty() ? o.resource_version : ""},
                           {"continue", cont}});
    KAITO_ASSIGN_OR_RETURN(json page, request("GET", resource_path(r, ns) + q));
    if (!page.is_object()) return status(status_code::data_loss, "a list is not an object");
    if (!page.contains("items") || !page["items"].is_array()) page["items"] = json::array();
    cont = meta_string(page, "continue");
    if (all.is_null()) {
      all = std::move(page);
    } else {
      for (auto& it : page["items"]) all["items"].push_back(std::move(it));
      all["metadata"]["resourceVersion"] = meta_string(page, "resourceVersion");
    }
  } while (!cont.empty());
  if (all.contains("metadata") && all["metadata"].is_object()) all["metadata"].erase("continue");
  return all;
}

result<json> client::create(const resource_ref& r, const std::string& ns, const json& obj) {
  return request("POST", resource_path(r, ns), obj.dump());
}

result<json> client::update(const resource_ref& r, const std::string& ns, const json& obj) {
  std::string name = name_of(obj);
  if (name.empty()) return invalid_argument("required", "metadata.name");
  return request("PUT", resource_path(r, ns, name), obj.dump());
}

result<json> client::update_status(const resource_ref& r, const std::string& ns, const json& obj) {
  std::string name = name_of(obj);
  if (name.empty()) return invalid_argument("required", "metadata.name");
  return request("PUT", resource_path(r, ns, name, "status"), obj.dump());
}

result<json> client::patch(const resource_ref& r, const std::string& ns, const std::string& name,
                           patch_type type, const json& patch, const patch_options& o) {
  const char* ct = "application/merge-patch+json";
  if (type == patch_type::json_patch) ct = "application/json-patch+json";
  if (type == patch_type::strategic_merge) ct = "application/strategic-merge-patch+json";
  if (type == patch_type::apply) {
    ct = "application/apply-patch+yaml";  // JSON is YAML
    if (o.field_manager.empty()) return invalid_argument("required for apply", "fieldManager");
  }
  std::string q = query({{"fieldManager", o.field_manager},
                         {"force", type == patch_type::apply && o.force ? "true" : ""}});
  return request("PATCH", resource_path(r, ns, name, o.subresource) + q, patch.dump(), ct);
}

result<json> client::remove(const resource_ref& r, const std::string& ns, const std::string& name,
                            const delete_options& o) {
  std::string body;
  if (!o.propagation_policy.empty() || !o.resource_version.empty()) {
    json d = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
    if (!o.propagation_policy.empty()) d["propagationPolicy"] = o.propagation_policy;
    if (!o.resource_version.empty()) d["preconditions"] = {{"resourceVersion", o.resource_version}};
    body = d.dump();
  }
  return request("DELETE", resource_path(r, ns, name), body);
}

}  // namespace kaito::k8s
