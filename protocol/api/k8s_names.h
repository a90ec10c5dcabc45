// k8s_names: Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation) and quantity text.
//
// is_dns1123_label / is_dns1123_subdomain return the same error strings as Go's IsDNS1123Label /
// IsDNS1123Subdomain (empty vector when valid); callers join them with ", ".
// format_binary_quantity renders bytes as resource.Quantity (BinarySI) String() does: the largest
// of Ei/Pi/Ti/Gi/Mi/Ki that divides exactly ("16Gi"), else plain bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kaito::api {

std::vector<std::string> is_dns1123_label(std::string_view v);
std::vector<std::string> is_dns1123_subdomain(std::string_view v);
std::string join_messages(const std::vector<std::string>& msgs);
std::string format_binary_quantity(int64_t bytes);

}  // namespace kaito::api
