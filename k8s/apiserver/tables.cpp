// Table conversion; see tables.h.
#include "k8s/apiserver/tables.h"

#include "k8s/apiserver/table_cells.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace kaito::k8s::apiserver {

namespace {

using cell_fn = std::function<json(const json& obj, std::time_t now)>;

struct column {
  printer_column def;
  cell_fn cell;
};

json age_of(const json& ts, std::time_t now) {
  if (!ts.is_string()) return "<unknown>";
  auto t = parse_rfc3339(ts.get<std::string>());
  if (!t) return "<invalid>";
  return human_duration(static_cast<int64_t>(now - *t));
}

column col(const char* name, const char* type, cell_fn fn, int priority = 0,
           const char* format = "") {
  printer_column d;
  d.name = name;
  d.type = type;
  d.format = format;
  d.priority = priority;
  return {d, std::move(fn)};
}

column age_col() {
  return col("Age", "string", [](const json& o, std::time_t now) {
    return age_of(at(o, {"metadata", "creationTimestamp"}), now);
  });
}

column name_col() {
  column c = col(
      "Name", "string",
      [](const json& o, std::time_t) {
        return at(o, {"metadata", "name"});
      },
      0, "name");
  c.def.description =
      "Name must be unique within a namespace. Is required when creating resources, although some "
      "resources may allow a client to request the generation of an appropriate name "
      "automatically. Name is primarily intended for creation idempotence and configuration "
      "definition. Cannot be updated.";
  return c;
}

std::vector<column> builtin_columns(const resource_def& d) {
  const std::string& r = d.resource;
  std::vector<column> c = {name_col()};
  if (r == "pods") {
    c.push_back(col("Ready", "string", [](const json& o, std::time_t now) {
      return json(pod_row_cells(o, now).ready);
    }));
    c.push_back(col("Status", "string", [](const json& o, std::time_t now) {
      return json(pod_row_cells(o, now).status);
    }));
    c.push_back(col("Restarts", "string", [](const json& o, std::time_t now) {
      return json(pod_row_cells(o, now).restarts);
    }));
    c.push_back(age_col());
    c.push_back(col(
        "IP", "string",
        [](const json& o, std::time_t) {
          return json(s_or(at(o, {"status", "podIP"}), "<none>"));
        },
        1));
    c.push_back(col(
        "Node", "string",
        [](const json& o, std::time_t) {
          return json(s_or(at(o, {"spec", "nodeName"}), "<none>"));
        },
        1));
  } else if (r == "services") {
    c.push_back(col("Type", "string", [](const json& o, std::time_t) {
      return json(s_or(at(o, {"spec", "type"}), "ClusterIP"));
    }));
    c.push_back(col("Cluster-IP", "string", [](const json& o, std::time_t) {
      return json(s_or(at(o, {"spec", "clusterIP"}), "<none>"));
    }));
    c.push_back(col("External-IP", "string", [](const json& o, std::time_t) {
      const json& ips = at(o, {"spec", "externalIPs"});
      return json(ips.is_array() && !ips.empty() ? s_or(ips[0], "<none>") : "<none>");
    }));
    c.push_back(col("Port(s)", "string",
                    [](const json& o, std::time_t) { return json(service_ports(o)); }));
    c.push_back(age_col());
    c.push_back(col(
        "Selector", "string",
        [](const json& o, std::time_t) {
          return json(map_text(at(o, {"spec", "selector"})));
        },
        1));
  } else if (r == "endpoints") {
    c.push_back(col("Endpoints", "string",
                    [](const json& o, std::time_t) { return json(endpoints_text(o)); }));
    c.back().def.description = "Endpoints is the list of endpoints in the endpoints resource.";
    c.push_back(age_col());
  } else if (r == "endpointslices") {
    c.push_back(col("AddressType", "string", [](const json& o, std::time_t) {
      return json(s_or(at(o, {"addressType"}), ""));
    }));
    c.push_back(col("Ports", "string",
                    [](const json& o, std::time_t) { return json(slice_ports_text(o)); }));
    c.push_back(col("Endpoints", "string",
                    [](const json& o, std::time_t) { return json(slice_endpoints_text(o)); }));
    c.push_back(age_col());
  } else if (r == "jobs") {
    c.push_back(
        col("Status", "string", [](const json& o, std::time_t) { return json(job_status(o)); }));
    c.push_back(col("Completions", "string", [](const json& o, std::time_t) {
      return json(std::to_string(i_or(at(o, {"status", "succeeded"}), 0)) + "/" +
                  std::to_string(i_or(at(o, {"spec", "completions"}), 1)));
    }));
    c.push_back(col("Duration", "string",
                    [](const json& o, std::time_t now) { return json(job_duration(o, now)); }));
    c.push_back(age_col());
  } else if (r == "deployments" || r == "statefulsets") {
    c.push_back(col("Ready", "string", [](const json& o, std::time_t) {
      return json(std::to_string(i_or(at(o, {"status", "readyReplicas"}), 0)) + "/" +
                  std::to_string(i_or(at(o, {"spec", "replicas"}), 1)));
    }));
    if (r == "deployments") {
      c.push_back(col("Up-to-date", "integer", [](const json& o, std::time_t) {
        return json(i_or(at(o, {"status", "updatedReplicas"}), 0));
      }));
      c.push_back(col("Available", "integer", [](const json& o, std::time_t) {
        return json(i_or(at(o, {"status", "availableReplicas"}), 0));
      }));
    }
    c.push_back(age_col());
  } else if (r == "namespaces") {
    c.push_back(col("Status", "string", [](const json& o, std::time_t) {
      return json(s_or(at(o, {"status", "phase"}), "Active"));
    }));
    c.push_back(age_col());
  } else if (r == "nodes") {
    c.push_back(col("Status", "string", [](const json& o, std::time_t) {
      const json& conds = at(o, {"status", "conditions"});
      if (conds.is_array())
        for (const auto& k : conds)
          if (s_or(at(k, {"type"}), "") == "Ready")
            return json(s_or(at(k, {"status"}), "") == "True" ? "Ready" : "NotReady");
      return json("Unknown");
    }));
    c.push_back(age_col());
  } else if (r == "events") {
    c = {col("Last Seen", "string",
             [](const json& o, std::time_t now) {
               const json& t = at(o, {"lastTimestamp"});
               return t.is_string() ? age_of(t, now)
                                    : age_of(at(o, {"metadata", "creationTimestamp"}), now);
             }),
         col("Type", "string", [](const json& o, std::time_t) { return at(o, {"type"}); }),
         col("Reason", "string", [](const json& o, std::time_t) { return at(o, {"reason"}); }),
         col("Object", "string",
             [](const json& o, std::time_t) {
               std::string k = s_or(at(o, {"involvedObject", "kind"}), "");
               for (auto& ch : k)
                 ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
               return json(k + "/" + s_or(at(o, {"involvedObject", "name"}), ""));
             }),
         col("Message", "string", [](const json& o, std::time_t) { return at(o, {"message"}); })};
    column n = name_col();
    n.def.priority = 1;
    c.push_back(n);
  } else if (r == "configmaps" || r == "secrets") {
    if (r == "secrets")
      c.push_back(col("Type", "string", [](const json& o, std::time_t) {
        return json(s_or(at(o, {"type"}), "Opaque"));
      }));
    c.push_back(col("Data", "integer", [](const json& o, std::time_t) {
      size_t n = 0;
      for (const char* k : {"data", "binaryData", "stringData"})
        if (at(o, {k}).is_object()) n += at(o, {k}).size();
      return json(n);
    }));
    c.push_back(age_col());
  } else if (r == "leases") {
    c.push_back(col("Holder", "string", [](const json& o, std::time_t) {
      return json(s_or(at(o, {"spec", "holderIdentity"}), ""));
    }));
    c.push_back(age_col());
  } else if (r == "customresourcedefinitions") {
    c.push_back(col("Created At", "date", [](const json& o, std::time_t) {
      return at(o, {"metadata", "creationTimestamp"});
    }));
  } else {
    c.push_back(age_col());
  }
  return c;
}

json custom_cell(const printer_column& pc, const json& obj, std::time_t now) {
  auto vals = json_path(obj, pc.json_path);
  if (vals.empty()) return nullptr;
  if (pc.type == "date") return age_of(vals[0], now);
  if (vals.size() == 1) {
    const json& v = vals[0];
    if ((pc.type == "integer" && v.is_number_integer()) || (pc.type == "number" && v.is_number()) ||
        (pc.type == "boolean" && v.is_boolean()))
      return v;
    if (v.is_string()) return v;
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::string out;
  for (const auto& v : vals)
    out += (out.empty() ? "" : ",") +
           (v.is_string() ? v.get<std::string>()
                          : v.dump(-1, ' ', false, json::error_handler_t::replace));
  return out;
}

std::vector<column> custom_columns(const resource_def& d, const std::string& version) {
  std::vector<column> c = {name_col()};
  auto it = d.columns.find(version);
  if (it == d.columns.end() || it->second.empty()) {
    c.push_back(age_col());
    c.back().def.type = "date";
    return c;
  }
  for (const auto& pc : it->second) {
    column k{pc, [pc](const json& o, std::time_t now) { return custom_cell(pc, o, now); }};
    if (k.def.description.empty())
      k.def.description = "Custom resource definition column (in JSONPath format): " + pc.json_path;
    c.push_back(k);
  }
  return c;
}

}  // namespace

bool wants_table(const std::string& accept) {
  return accept.find("as=Table") != std::string::npos &&
         accept.find("g=meta.k8s.io") != std::string::npos;
}

std::string human_duration(int64_t s) {
  char buf[64];
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) {
    int64_t sec = s % 60;
    if (sec == 0) return std::to_string(m) + "m";
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(m),
                  static_cast<long long>(sec));
    return buf;
  }
  if (m < 180) return std::to_string(m) + "m";
  int64_t h = s / 3600;
  if (h < 8) {
    int64_t mm = m % 60;
    if (mm == 0) return std::to_string(h) + "h";
    std::snprintf(buf, sizeof buf, "%lldh%lldm", static_cast<long long>(h),
                  static_cast<long long>(mm));
    return buf;
  }
  if (h < 48) return std::to_string(h) + "h";
  if (h < 24 * 8) {
    int64_t hh = h % 24;
    if (hh == 0) return std::to_string(h / 24) + "d";
    std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(h / 24),
                  static_cast<long long>(hh));
    return buf;
  }
  if (h < 24 * 365 * 2) return std::to_string(h / 24) + "d";
  if (h < 24 * 365 * 8) {
    int64_t dy = (h / 24) % 365;
    if (dy == 0) return std::to_string(h / 24 / 365) + "y";
    std::snprintf(buf, sizeof buf, "%lldy%lldd", static_cast<long long>(h / 24 / 365),
                  static_cast<long long>(dy));
    return buf;
  }
  return std::to_string(h / 24 / 365) + "y";
}

std::optional<std::time_t> parse_rfc3339(const std::string& s) {
  int Y, M, D, h, m, sec;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 ||
      n != 19)
    return std::nullopt;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size() || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  return timegm(&tm) - offset;
}

std::string format_rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json build_table(const resource_def& def, const std::string& version,
                 const std::vector<const json*>& objs, const std::string& list_rv,
                 bool include_column_definitions, std::time_t now) {
  auto cols = def.custom ? custom_columns(def, version) : builtin_columns(def);
  json defs = json::array();
  for (const auto& c : cols)
    defs.push_back({{"name", c.def.name},
                    {"type", c.def.type},
                    {"format", c.def.format},
                    {"description", c.def.description},
                    {"priority", c.def.priority}});
  json rows = json::array();
  for (const json* o : objs) {
    json cells = json::array();
    for (const auto& c : cols) cells.push_back(c.cell(*o, now));
    json meta = o->contains("metadata") ? (*o)["metadata"] : json::object();
    if (meta.is_object()) meta.erase("managedFields");
    rows.push_back({{"cells", cells},
                    {"object",
                     {{"kind", "PartialObjectMetadata"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", meta}}}});
  }
  json t = {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", {{"resourceVersion", list_rv}}}};
  t["columnDefinitions"] = include_column_definitions ? defs : json(nullptr);
  t["rows"] = rows;
  return t;
}

}  // namespace kaito::k8s::apiserver
