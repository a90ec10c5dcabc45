// listen_tcp: a listening socket for the servers' accept loops (API server, inference server):
// host:port (port 0: any free port), SO_REUSEADDR, the system's backlog. io_error naming
// "host:port" when the address does not parse or the port cannot be bound.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/status.h"

namespace kaito::k8s {

result<std::unique_ptr<boost::asio::ip::tcp::acceptor>> listen_tcp(boost::asio::io_context& io,
                                                                   const std::string& host,
                                                                   uint16_t port);

}  // namespace kaito::k8s
