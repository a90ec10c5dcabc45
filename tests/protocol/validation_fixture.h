// validation_fixture: table-driven helpers for the admission-rule tests. A row mutates a valid
// base Workspace (JSON) and names the one error it must produce (field + exact message), or none.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/api/workspace.h"
#include "protocol/api/workspace_validation.h"
#include "tests/protocol/test_catalog.h"

namespace kaito::api::testing {

inline json tuning_base() {
  return json::parse(R"({
    "apiVersion": "kaito.sh/v1beta1", "kind": "Workspace",
    "metadata": {"name": "workspace-tuning-phi-3", "namespace": "default"},
    "resource": {"instanceType": "Standard_NC6s_v3",
                 "labelSelector": {"matchLabels": {"app": "tuning-phi-3"}}},
    "tuning": {"preset": {"name": "phi-3-mini-128k-instruct"}, "method": "qlora",
               "input": {"urls": ["https://huggingface.co/datasets/x/resolve/main/train.parquet"]},
               "output": {"image": "myacr.azurecr.io/adapters/phi-3:0.0.1",
                          "imagePushSecret": "acr-secret"}}})");
}

inline json inference_base() {
  return json::parse(R"({
    "apiVersion": "kaito.sh/v1beta1", "kind": "Workspace",
    "metadata": {"name": "workspace-phi-3-mini", "namespace": "default"},
    "resource": {"instanceType": "Standard_NC24ads_A100_v4",
                 "labelSelector": {"matchLabels": {"apps": "phi-3"}}},
    "inference": {"preset": {"name": "phi-3-mini-128k-instruct"}}})");
}

struct rule_row {
  std::string name;
  std::function<void(json&)> mutate;
  std::string field;  // empty: the row must validate cleanly
  std::string message;
};

inline const test_catalog& catalog_instance() {
  static test_catalog c;
  return c;
}

inline validation_options default_options() {
  validation_options o;
  o.presets = &catalog_instance();
  return o;
}

inline workspace decode_defaulted(const json& j) {
  auto d = decode_workspace(j);
  EXPECT_TRUE(d.ok()) << d.error().to_string();
  workspace ws = d.ok() ? d->ws : workspace{};
  apply_defaults(ws);
  return ws;
}

inline std::string dump_errors(const std::vector<field_error>& errs) {
  std::string s;
  for (const auto& e : errs) s += "\n  " + e.to_string();
  return s;
}

// One row's outcome: no error when the row names no field, else exactly its field and message.
template <class Result>
void expect_row(const rule_row& r, const Result& res) {
  if (r.field.empty()) {
    EXPECT_TRUE(res.errors.empty()) << r.name << ":" << dump_errors(res.errors);
    return;
  }
  ASSERT_EQ(res.errors.size(), 1u) << r.name << ":" << dump_errors(res.errors);
  EXPECT_EQ(res.errors[0].field, r.field) << r.name;
  EXPECT_EQ(res.errors[0].message, r.message) << r.name;
}

inline void check_create_rows(const json& base, const std::vector<rule_row>& rows,
                              const validation_options& opt = default_options()) {
  for (const auto& r : rows) {
    json j = base;
    r.mutate(j);
    expect_row(r, validate_create(decode_defaulted(j), opt));
  }
}

inline void check_update_rows(const json& base, const std::vector<rule_row>& rows,
                              const validation_options& opt = default_options()) {
  workspace old_ws = decode_defaulted(base);
  for (const auto& r : rows) {
    json j = base;
    r.mutate(j);
    expect_row(r, validate_update(old_ws, decode_defaulted(j), opt));
  }
}

}  // namespace kaito::api::testing
