// Server-side apply ownership (managed_fields.h) against hand-written FieldsV1 sets: leaf paths of
// an applied configuration, keyed lists, conflicts between managers, force, removal of omitted
// fields, shared fields, and Update entries from ordinary writes.
#include "k8s/apiserver/managed_fields.h"

#include <gtest/gtest.h>

namespace kaito::k8s::apiserver {
namespace {

json cm(const json& data, const json& labels = json::object()) {
  json o = {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", "c"}, {"namespace", "default"}, {"resourceVersion", "7"}}},
            {"data", data}};
  if (!labels.empty()) o["metadata"]["labels"] = labels;
  return o;
}

// The merge the handler does before ownership: applied keys over live ones.
json merged(const json& live, const json& applied) {
  json out = live;
  out.merge_patch(applied);
  return out;
}

TEST(ManagedFields, FieldSetOfAppliedConfiguration) {
  json obj = cm({{"a", "1"}, {"b", "2"}}, {{"team", "ml"}});
  obj["spec"] = {{"containers", {{{"name", "app"}, {"image", "x"}}}}, {"args", {"p", "q"}}};
  obj["status"] = {{"phase", "Running"}};
  json f = to_fields_v1(fields_of(obj));
  json want = json::parse(R"({
    "f:data":{"f:a":{},"f:b":{}},
    "f:metadata":{"f:labels":{"f:team":{}}},
    "f:spec":{"f:args":{},"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{},"f:name":{}}}}})");
  EXPECT_EQ(f, want) << f.dump();
  EXPECT_EQ(from_fields_v1(want), fields_of(obj));
  EXPECT_EQ(path_string({"f:spec", "f:containers", "k:{\"name\":\"app\"}", "f:image"}),
            ".spec.containers[name=\"app\"].image");
  // "." markers (maps owned as a whole) are not leaves of their own.
  EXPECT_EQ(from_fields_v1(json::parse(R"({"f:data":{".":{},"f:a":{}}})")),
            (field_set{{"f:data", "f:a"}}));
}

TEST(ManagedFields, ApplyRecordsOneEntryPerManagerAndConflicts) {
  json applied_a = cm({{"a", "1"}});
  auto r1 = apply_ownership(cm(json::object()), merged(cm(json::object()), applied_a), applied_a,
                            "alice", "v1", false);
  ASSERT_TRUE(r1.conflicts.empty());
  const json& mf = r1.object["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 1u);
  EXPECT_EQ(mf[0]["manager"], "alice");
  EXPECT_EQ(mf[0]["operation"], "Apply");
  EXPECT_EQ(mf[0]["apiVersion"], "v1");
  EXPECT_EQ(mf[0]["fieldsType"], "FieldsV1");
  EXPECT_EQ(mf[0]["fieldsV1"], json::parse(R"({"f:data":{"f:a":{}}})"));
  EXPECT_TRUE(mf[0]["time"].is_string());

  // Bob sets a different value for alice's field: a conflict naming alice and the field.
  json applied_b = cm({{"a", "2"}, {"b", "x"}});
  auto r2 = apply_ownership(r1.object, merged(r1.object, applied_b), applied_b, "bob", "v1", false);
  ASSERT_EQ(r2.conflicts.size(), 1u);
  EXPECT_EQ(r2.conflicts[0].manager, "alice");
  EXPECT_EQ(path_string(r2.conflicts[0].path), ".data.a");
  json st = conflict_status(r2.conflicts, "", "configmaps", "c");
  EXPECT_EQ(st["code"], 409);
  EXPECT_EQ(st["message"],
            "Apply failed with 1 conflict: conflict with \"alice\" using v1: .data.a");
  EXPECT_EQ(st["details"]["causes"][0]["field"], ".data.a");

  // The same value is no conflict: the field becomes shared.
  json same = cm({{"a", "1"}});
  auto shared = apply_ownership(r1.object, merged(r1.object, same), same, "bob", "v1", false);
  ASSERT_TRUE(shared.conflicts.empty());
  EXPECT_EQ(shared.object["metadata"]["managedFields"].size(), 2u);

  // force: bob takes a over; alice keeps nothing, so her entry disappears.
  auto r3 = apply_ownership(r1.object, merged(r1.object, applied_b), applied_b, "bob", "v1", true);
  ASSERT_TRUE(r3.conflicts.empty());
  const json& mf3 = r3.object["metadata"]["managedFields"];
  ASSERT_EQ(mf3.size(), 1u);
  EXPECT_EQ(mf3[0]["manager"], "bob");
  EXPECT_EQ(mf3[0]["fieldsV1"], json::parse(R"({"f:data":{"f:a":{},"f:b":{}}})"));
  EXPECT_EQ(r3.object["data"], json({{"a", "2"}, {"b", "x"}}));
}

TEST(ManagedFields, OmittedFieldsAreRemovedUnlessShared) {
  json first = cm({{"a", "1"}, {"b", "2"}, {"c", "3"}});
  auto r1 = apply_ownership(cm(json::object()), first, first, "alice", "v1", false);
  json bob = cm({{"c", "3"}});
  auto r2 = apply_ownership(r1.object, merged(r1.object, bob), bob, "bob", "v1", false);
  ASSERT_TRUE(r2.conflicts.empty());
  // alice now applies only a: b (hers alone) goes away, c (shared with bob) stays.
  json second = cm({{"a", "1"}});
  auto r3 = apply_ownership(r2.object, merged(r2.object, second), second, "alice", "v1", false);
  ASSERT_TRUE(r3.conflicts.empty());
  EXPECT_EQ(r3.object["data"], json({{"a", "1"}, {"c", "3"}}));
  // A removed keyed-list item goes as a whole.
  json with_item = cm(json::object());
  with_item["spec"] = {{"containers", {{{"name", "app"}, {"image", "x"}}, {{"name", "side"}}}}};
  auto r4 = apply_ownership(cm(json::object()), with_item, with_item, "alice", "v1", false);
  json without = cm(json::object());
  without["spec"] = {{"containers", {{{"name", "app"}, {"image", "x"}}}}};
  auto r5 = apply_ownership(r4.object, r4.object, without, "alice", "v1", false);
  ASSERT_EQ(r5.object["spec"]["containers"].size(), 1u);
  EXPECT_EQ(r5.object["spec"]["containers"][0]["name"], "app");
}

TEST(ManagedFields, UpdatesTakeChangedFieldsAndDropRemovedOnes) {
  json applied = cm({{"a", "1"}, {"b", "2"}});
  auto r1 = apply_ownership(cm(json::object()), applied, applied, "alice", "v1", false);
  json next = r1.object;
  next["data"] = {{"a", "9"}, {"z", "new"}};  // a changed, b removed, z added
  record_update(&r1.object, next, "kubectl-edit", "v1");
  const json& mf = next["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 1u) << mf.dump();  // alice lost a (taken) and b (removed): no entry left
  EXPECT_EQ(mf[0]["manager"], "kubectl-edit");
  EXPECT_EQ(mf[0]["operation"], "Update");
  EXPECT_EQ(mf[0]["fieldsV1"], json::parse(R"({"f:data":{"f:a":{},"f:z":{}}})"));
  // An unchanged write keeps the entries (and their times) as they were.
  json again = next;
  record_update(&next, again, "other", "v1");
  EXPECT_EQ(again["metadata"]["managedFields"], next["metadata"]["managedFields"]);
  // Create: every field belongs to the creator.
  json created = cm({{"k", "v"}});
  record_update(nullptr, created, "kubectl-create", "v1");
  EXPECT_EQ(created["metadata"]["managedFields"][0]["fieldsV1"],
            json::parse(R"({"f:data":{"f:k":{}}})"));
}

}  // namespace
}  // namespace kaito::k8s::apiserver
