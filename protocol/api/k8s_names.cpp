#include "protocol/api/k8s_names.h"

namespace kaito::api {

namespace {

constexpr const char* kLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character";
constexpr const char* kSubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool label_ok(std::string_view v) {
  if (v.empty() || !alnum(v.front()) || !alnum(v.back())) return false;
  for (char c : v)
    if (!alnum(c) && c != '-') return false;
  return true;
}

bool subdomain_ok(std::string_view v) {
  size_t start = 0;
  while (true) {
    size_t dot = v.find('.', start);
    std::string_view part =
        v.substr(start, dot == std::string_view::npos ? v.size() - start : dot - start);
    if (!label_ok(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string regex_error(const char* msg, const char* fmt, const char* ex1, const char* ex2) {
  std::string out = msg;
  out += " (e.g. '";
  out += ex1;
  out += "', ";
  if (ex2) {
    out += "or '";
    out += ex2;
    out += "', ";
  }
  out += "regex used for validation is '";
  out += fmt;
  out += "')";
  return out;
}

}  // namespace

std::vector<std::string> is_dns1123_label(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 63) errs.push_back("must be no more than 63 characters");
  if (!label_ok(v)) {
    if (subdomain_ok(v))
      errs.push_back("must not contain dots");
    else
      errs.push_back(regex_error(kLabelMsg, kLabelFmt, "my-name", "123-abc"));
  }
  return errs;
}

std::vector<std::string> is_dns1123_subdomain(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 253) errs.push_back("must be no more than 253 characters");
  if (!subdomain_ok(v))
    errs.push_back(regex_error(kSubdomainMsg, kSubdomainFmt, "example.com", nullptr));
  return errs;
}

std::string join_messages(const std::vector<std::string>& msgs) {
  std::string out;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i) out += ", ";
    out += msgs[i];
  }
  return out;
}

std::string format_binary_quantity(int64_t bytes) {
  static const char* kSuffix[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  static const int kShift[] = {60, 50, 40, 30, 20, 10};
  if (bytes == 0) return "0";
  for (int i = 0; i < 6; ++i) {
    int64_t unit = int64_t{1} << kShift[i];
    if (bytes % unit == 0) return std::to_string(bytes / unit) + kSuffix[i];
  }
  return std::to_string(bytes);
}

}  // namespace kaito::api
