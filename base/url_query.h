// url_query: percent-decoding and query strings (RFC 3986 escapes; in a query, application/
// x-www-form-urlencoded's '+' is a space), as Go's net/url reads them for the API server and as
// the inference server reads its GET parameters.
//
//   std::map<std::string, std::string> q;
//   KAITO_TRY(parse_query("limit=20&after=msg_1", q));  // q["limit"] == "20"
//
// A repeated key keeps its last value; a part without '=' has the value ""; empty keys are
// skipped. A malformed escape ("%2", "%zz") is invalid_argument naming the query.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito {

// Decodes %XX escapes (and '+' as a space when plus_is_space) into out; false on a malformed
// escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out);

// Splits "a=1&b=2" (no '?') into out, decoded.
status parse_query(std::string_view query, std::map<std::string, std::string>& out);

}  // namespace kaito
