#include "protocol/api/field_errors.h"

namespace kaito::api {

std::string render_value(const nlohmann::json& v) {
  if (v.is_string()) return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (v.is_null()) return "null";
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void field_errors::invalid(const std::string& field, const nlohmann::json& value,
                           const std::string& detail) {
  std::string msg = "Invalid value: " + render_value(value);
  if (!detail.empty()) msg += ": " + detail;
  errs_.push_back({field, "FieldValueInvalid", msg});
}

void field_errors::required(const std::string& field, const std::string& detail) {
  std::string msg = "Required value";
  if (!detail.empty()) msg += ": " + detail;
  errs_.push_back({field, "FieldValueRequired", msg});
}

void field_errors::not_supported(const std::string& field, const std::string& value,
                                 const std::vector<std::string>& supported) {
  std::string msg = "Unsupported value: " + render_value(value);
  if (!supported.empty()) {
    msg += ": supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      if (i) msg += ", ";
      msg += render_value(supported[i]);
    }
  }
  errs_.push_back({field, "FieldValueNotSupported", msg});
}

void field_errors::forbidden(const std::string& field, const std::string& detail) {
  errs_.push_back({field, "FieldValueForbidden", "Forbidden: " + detail});
}

void field_errors::too_many(const std::string& field, const std::string& detail) {
  errs_.push_back({field, "FieldValueTooMany", detail});
}

void field_errors::generic(const std::string& field, const std::string& detail) {
  errs_.push_back({field, "FieldValueInvalid", detail});
}

void field_errors::append(const std::vector<field_error>& more) {
  errs_.insert(errs_.end(), more.begin(), more.end());
}

k8s_status invalid_status(const std::string& name, const std::vector<field_error>& errs,
                          const std::string& kind, const std::string& group) {
  k8s_status s;
  s.status = "Failure";
  s.reason = "Invalid";
  s.code = 422;
  std::string agg;
  if (errs.size() == 1) {
    agg = errs[0].to_string();
  } else {
    agg = "[";
    for (size_t i = 0; i < errs.size(); ++i) {
      if (i) agg += ", ";
      agg += errs[i].to_string();
    }
    agg += "]";
  }
  s.message = kind + "." + group + " \"" + name + "\" is invalid: " + agg;
  status_details d;
  d.name = name;
  d.group = group;
  d.kind = kind;
  for (const auto& e : errs) d.causes.push_back({e.reason, e.message, e.field});
  s.details = std::move(d);
  return s;
}

}  // namespace kaito::api
