// listen_tcp; see tcp_listen.h.
#include "k8s/client/tcp_listen.h"

#include <exception>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/socket_base.hpp>

namespace kaito::k8s {

result<std::unique_ptr<boost::asio::ip::tcp::acceptor>> listen_tcp(boost::asio::io_context& io,
                                                                   const std::string& host,
                                                                   uint16_t port) {
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  try {
    tcp::endpoint ep(net::ip::make_address(host), port);
    auto acceptor = std::make_unique<tcp::acceptor>(io);
    acceptor->open(ep.protocol());
    acceptor->set_option(net::socket_base::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen(net::socket_base::max_listen_connections);
    return acceptor;
  } catch (const std::exception& e) {
    return io_error(std::string("cannot listen: ") + e.what(), host + ":" + std::to_string(port));
  }
}

}  // namespace kaito::k8s
