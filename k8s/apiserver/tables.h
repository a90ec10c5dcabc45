// Server-built Tables (Accept: application/json;as=Table;g=meta.k8s.io;v=v1), as kubectl get prints
// them. Custom resources: a Name column, then the CRD version's additionalPrinterColumns (JSONPath
// subset below; `date` columns become ages like `5m`), or just Age when there are none. Built-ins
// get the familiar columns (pods: Ready Status Restarts Age [IP Node]; services; jobs; ...).
//
// JSONPath subset: optional `{...}` wrapper, `.field`, `['field']`, `[N]`, `[*]`,
// `[?(@.a.b=="v")]` / `!=`; several matches are joined with ",".
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/apiserver/resources.h"

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

inline constexpr const char* kTableContentType = "application/json;as=Table;v=v1;g=meta.k8s.io";

// True when the Accept header asks for a meta.k8s.io Table.
bool wants_table(const std::string& accept);

// Kubernetes' HumanDuration: 45s, 2m10s, 45m, 3h20m, 5d, 2y10d.
std::string human_duration(int64_t seconds);
// RFC 3339 "2026-11-28T18:25:19Z" (fractions and offsets accepted); nullopt when malformed.
std::optional<std::time_t> parse_rfc3339(const std::string& s);
std::string format_rfc3339(std::time_t t);

// All values the path selects (empty when nothing matches or the path is malformed).
std::vector<json> json_path(const json& obj, const std::string& path);

json build_table(const resource_def& def, const std::string& version,
                 const std::vector<const json*>& objs, const std::string& list_rv,
                 bool include_column_definitions, std::time_t now);

}  // namespace kaito::k8s::apiserver
