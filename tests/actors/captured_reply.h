// captured_reply: an http_reply that keeps what a route wrote (status, content type, body; a
// stream's chunks appended to the body), for calling the inference routes in process.
#pragma once

#include <string>

#include "actors/http_server.h"

namespace kaito::testing {

struct captured_reply final : actors::http_reply {
  bool start_stream(int s, const std::string& type) override {
    status = s;
    content_type = type;
    return true;
  }
  bool write_chunk(const std::string& data) override {
    body += data;
    return true;
  }
};

}  // namespace kaito::testing
