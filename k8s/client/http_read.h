// read_http_request: one HTTP/1.1 request off a keep-alive server connection, with timed_socket's
// deadlines: the first byte within `idle` (unless bytes of it are already buffered), then the
// whole request within `request`; "Expect: 100-continue" answered before the body; the body
// limit is the parser's. The servers (API server, inference server) map the outcome to their own
// error bodies: timed_out_partial -> 408, too_large -> 413, malformed -> 400; closed and
// timed_out_idle end the connection quietly. `error`, when given, receives Beast's error (what
// was malformed).
// Thread-safety: one thread per connection.
#pragma once

#include <chrono>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "k8s/client/timed_socket.h"

namespace kaito::k8s {

enum class http_read { ok, closed, timed_out_idle, timed_out_partial, too_large, malformed };

template <class Stream>
http_read read_http_request(
    Stream& s, timed_socket& ts, boost::beast::flat_buffer& buf,
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    std::chrono::milliseconds idle, std::chrono::milliseconds request,
    boost::beast::error_code* error = nullptr) {
  namespace http = boost::beast::http;
  if (buf.size() > 0)
    ts.arm_read(request);
  else
    ts.arm_idle(idle, request);
  boost::beast::error_code ec;
  http::read_header(s, buf, parser, ec);
  if (!ec && !parser.is_done()) {
    // curl and others wait for this before sending a large body.
    if (boost::beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      http::write(s, cont, ec);
    }
    if (!ec) http::read(s, buf, parser, ec);
  }
  ts.disarm_read();
  if (error) *error = ec;
  if (!ec) return http_read::ok;
  if (ec == boost::asio::error::timed_out)
    return ts.timed_out_reading() ? http_read::timed_out_partial : http_read::timed_out_idle;
  if (ec == http::error::body_limit) return http_read::too_large;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message)
    return http_read::malformed;
  return http_read::closed;
}

}  // namespace kaito::k8s
