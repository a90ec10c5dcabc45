// Server-side apply field ownership; see managed_fields.h.
#include "k8s/apiserver/managed_fields.h"

#include <map>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/object_meta.h"

namespace kaito::k8s::apiserver {

namespace {

bool keyed_list(const json& a) {
  if (!a.is_array() || a.empty()) return false;
  for (const auto& e : a)
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return false;
  return true;
}

std::string item_key(const json& item) {
  return "k:" + json({{"name", item["name"]}}).dump();
}

void collect(const json& v, field_path& at, field_set& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, sub] : v.items()) {
      at.push_back("f:" + k);
      collect(sub, at, out);
      at.pop_back();
    }
  } else if (keyed_list(v)) {
    for (const auto& item : v) {
      at.push_back(item_key(item));
      for (const auto& [k, sub] : item.items()) {
        if (k == "name") continue;
        at.push_back("f:" + k);
        collect(sub, at, out);
        at.pop_back();
      }
      at.push_back("f:name");
      out.insert(at);
      at.pop_back();
      at.pop_back();
    }
  } else if (!at.empty()) {
    out.insert(at);
  }
}

// The value (and its container) at `p`, or null when absent.
const json* lookup(const json& obj, const field_path& p) {
  const json* cur = &obj;
  for (const auto& c : p) {
    if (c.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(c.substr(2));
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      if (!cur->is_array()) return nullptr;
      const json* found = nullptr;
      for (const auto& e : *cur)
        if (e.is_object() && e.contains("name") && item_key(e) == c) found = &e;
      if (!found) return nullptr;
      cur = found;
    }
  }
  return cur;
}

// Removes the value at `p` (and maps left empty on the way up, which nobody set explicitly).
void erase_path(json& obj, const field_path& p, size_t i = 0) {
  if (i + 1 > p.size()) return;
  const std::string& c = p[i];
  bool last = i + 1 == p.size();
  if (c.rfind("f:", 0) == 0) {
    if (!obj.is_object() || !obj.contains(c.substr(2))) return;
    if (last) {
      obj.erase(c.substr(2));
      return;
    }
    json& sub = obj[c.substr(2)];
    erase_path(sub, p, i + 1);
    if ((sub.is_object() || sub.is_array()) && sub.empty()) obj.erase(c.substr(2));
    return;
  }
  if (!obj.is_array()) return;
  for (size_t k = 0; k < obj.size(); ++k) {
    if (!obj[k].is_object() || !obj[k].contains("name") || item_key(obj[k]) != c) continue;
    // Removing an item's key (f:name) removes the item.
    if (last || p[i + 1] == "f:name") {
      obj.erase(k);
      return;
    }
    erase_path(obj[k], p, i + 1);
    return;
  }
}

bool never_owned(const field_path& p) {
  if (p.empty()) return true;
  if (p[0] == "f:apiVersion" || p[0] == "f:kind" || p[0] == "f:status") return true;
  if (p[0] == "f:metadata" && p.size() >= 2)
    for (const char* k :
         {"f:name", "f:namespace", "f:uid", "f:resourceVersion", "f:generation",
          "f:creationTimestamp", "f:managedFields", "f:deletionTimestamp", "f:selfLink"})
      if (p[1] == k) return true;
  return false;
}

struct entry {
  std::string manager, operation, api_version, time;
  field_set fields;
};

std::vector<entry> read_entries(const json& obj) {
  std::vector<entry> out;
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return out;
  const json& mf = obj["metadata"].value("managedFields", json::array());
  if (!mf.is_array()) return out;
  for (const auto& e : mf) {
    if (!e.is_object()) continue;
    entry en{e.value("manager", ""),
             e.value("operation", ""),
             e.value("apiVersion", ""),
             e.value("time", ""),
             {}};
    if (e.contains("fieldsV1")) en.fields = from_fields_v1(e["fieldsV1"]);
    out.push_back(std::move(en));
  }
  return out;
}

void write_entries(json& obj, const std::vector<entry>& entries) {
  json mf = json::array();
  for (const auto& e : entries) {
    if (e.fields.empty()) continue;
    mf.push_back({{"manager", e.manager},
                  {"operation", e.operation},
                  {"apiVersion", e.api_version},
                  {"time", e.time},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", to_fields_v1(e.fields)}});
  }
  if (mf.empty())
    obj["metadata"].erase("managedFields");
  else
    obj["metadata"]["managedFields"] = std::move(mf);
}

entry& entry_for(std::vector<entry>& es, const std::string& manager, const std::string& op) {
  for (auto& e : es)
    if (e.manager == manager && e.operation == op) return e;
  es.push_back({manager, op, "", "", {}});
  return es.back();
}

}  // namespace

field_set fields_of(const json& obj) {
  field_set all, out;
  field_path at;
  collect(obj, at, all);
  for (const auto& p : all)
    if (!never_owned(p)) out.insert(p);
  return out;
}

json to_fields_v1(const field_set& s) {
  json out = json::object();
  for (const auto& p : s) {
    json* cur = &out;
    for (const auto& c : p) cur = &(*cur)[c];
    if (cur->is_null()) *cur = json::object();
  }
  return out;
}

field_set from_fields_v1(const json& f) {
  field_set out;
  std::function<void(const json&, field_path&)> walk = [&](const json& v, field_path& at) {
    bool leaf = true;
    if (v.is_object())
      for (const auto& [k, sub] : v.items()) {
        if (k == ".") continue;
        leaf = false;
        at.push_back(k);
        walk(sub, at);
        at.pop_back();
      }
    if (leaf && !at.empty()) out.insert(at);
  };
  field_path at;
  walk(f, at);
  return out;
}

std::string path_string(const field_path& p) {
  std::string out;
  for (const auto& c : p) {
    if (c.rfind("f:", 0) == 0) {
      out += "." + c.substr(2);
    } else {
      json k = json::parse(c.substr(2), nullptr, false);
      out += "[name=" + (k.is_object() ? k.value("name", json("")).dump() : c) + "]";
    }
  }
  return out;
}

apply_outcome apply_ownership(const json& live, json merged, const json& applied,
                              const std::string& manager, const std::string& api_version,
                              bool force) {
  apply_outcome out;
  field_set mine = fields_of(applied);
  std::vector<entry> entries = read_entries(live);
  for (auto& e : entries) {
    if (e.manager == manager && e.operation == "Apply") continue;
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      bool ours = mine.count(*it) > 0;
      const json* now = ours ? lookup(live, *it) : nullptr;
      const json* want = ours ? lookup(applied, *it) : nullptr;
      bool differs = ours && (!now || !want || *now != *want);
      if (differs && !force) out.conflicts.push_back({e.manager, e.api_version, *it});
      // Applying a field takes it over (shared when the values agree, taken on force).
      it = differs && force ? e.fields.erase(it) : std::next(it);
    }
  }
  if (!out.conflicts.empty()) return out;
  entry& me = entry_for(entries, manager, "Apply");
  for (const auto& p : me.fields) {
    if (mine.count(p)) continue;
    bool shared = false;
    for (const auto& e : entries)
      if (&e != &me && e.fields.count(p)) shared = true;
    if (!shared) erase_path(merged, p);
  }
  me.fields = std::move(mine);
  me.api_version = api_version;
  me.time = now_rfc3339();
  write_entries(merged, entries);
  out.object = std::move(merged);
  return out;
}

void record_update(const json* live, json& next, const std::string& manager,
                   const std::string& api_version) {
  std::vector<entry> entries = live ? read_entries(*live) : std::vector<entry>{};
  field_set after = fields_of(next);
  field_set changed;
  for (const auto& p : after) {
    const json* before = live ? lookup(*live, p) : nullptr;
    if (!before || *before != *lookup(next, p)) changed.insert(p);
  }
  bool removed_any = false;
  for (auto& e : entries)
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      bool gone = !after.count(*it);
      bool taken = changed.count(*it) && !(e.manager == manager && e.operation == "Update");
      removed_any |= gone;
      it = gone || taken ? e.fields.erase(it) : std::next(it);
    }
  if (!changed.empty()) {
    entry& me = entry_for(entries, manager, "Update");
    me.fields.insert(changed.begin(), changed.end());
    me.api_version = api_version;
    me.time = now_rfc3339();
  }
  if (!next.contains("metadata") || !next["metadata"].is_object())
    next["metadata"] = json::object();
  if (changed.empty() && !removed_any && live && live->contains("metadata") &&
      (*live)["metadata"].contains("managedFields")) {
    next["metadata"]["managedFields"] = (*live)["metadata"]["managedFields"];
    return;
  }
  write_entries(next, entries);
}

json conflict_status(const std::vector<apply_conflict>& conflicts, const std::string& group,
                     const std::string& resource, const std::string& name) {
  std::string msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflict" +
                    (conflicts.size() == 1 ? "" : "s") + ": ";
  json causes = json::array();
  for (size_t i = 0; i < conflicts.size(); ++i) {
    const auto& c = conflicts[i];
    std::string who = "conflict with \"" + c.manager + "\"" +
                      (c.api_version.empty() ? "" : " using " + c.api_version);
    msg += (i ? "\n" : "") + who + ": " + path_string(c.path);
    causes.push_back(
        {{"reason", "FieldManagerConflict"}, {"message", who}, {"field", path_string(c.path)}});
  }
  return status_object(409, "Conflict", msg,
                       {{"name", name}, {"group", group}, {"kind", resource}, {"causes", causes}});
}

}  // namespace kaito::k8s::apiserver
