// data_url: Kaito's data-source URL check (validateDataSourceURL in api/v1beta1/
// workspace_validation.go), which keeps tuning jobs from fetching internal endpoints.
//
// Refused, with Kaito's messages:
//   not parseable as a request URI, or no host      -> "invalid data source URL"
//   scheme other than http/https (any case)         -> "data source URL must use HTTP or HTTPS"
//   localhost, *.localhost, metadata.google.internal, metadata.google, instance-data.ec2.internal
//                                                   -> "data source URL must not target a local or
//                                                       metadata endpoint"
//   IP literal (IPv4, [IPv6] with optional %zone) that is loopback (127/8, ::1), private (10/8,
//   172.16/12, 192.168/16, fc00::/7), link-local unicast (169.254/16 incl. 169.254.169.254,
//   fe80::/10) or link-local multicast (224.0.0/24, ff02::/16); IPv4-mapped IPv6 counts as IPv4
//                                                   -> "data source URL must not target a
//                                                       loopback, private, or link-local address"
// Host names are not resolved (as in Kaito).
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "base/status.h"

namespace kaito::api {

// ok, or invalid_argument carrying Kaito's message.
status validate_data_source_url(std::string_view url);

}  // namespace kaito::api
