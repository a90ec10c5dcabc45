// A blocking stream over a connected TCP socket whose reads and writes honour deadlines, for the
// server's thread-per-connection transport (Asio's own blocking operations wait forever: they poll
// past SO_RCVTIMEO). It models Beast's SyncReadStream/SyncWriteStream and is the next layer of the
// TLS stream, so one set of deadlines bounds the handshake, the request and the response.
//
//   timed_socket ts(sock);
//   ts.arm_idle(idle, request);   // the next read waits up to `idle` for a first byte, then the
//                                 // whole request must arrive within `request` of that byte
//   ts.arm_read(request);         // reads must finish within `request` from now
//   ts.disarm_read();             // no read deadline (a handler or a watch is running)
//   ts.set_write_timeout(w);      // each write_some call may block at most `w`
//
// A read past its deadline fails with net::error::timed_out (timed_out_reading() then tells that a
// request was cut short, not an idle keep-alive); a write that cannot progress for the write
// timeout fails the same way (a dead or stalled peer). Thread-safety: one thread per socket.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>

namespace kaito::k8s {

class timed_socket {
 public:
  using clock = std::chrono::steady_clock;
  using lowest_layer_type = boost::asio::ip::tcp::socket;
  using executor_type = lowest_layer_type::executor_type;

  explicit timed_socket(lowest_layer_type& s) : sock_(s), fd_(s.native_handle()) {}

  executor_type get_executor() { return sock_.get_executor(); }
  lowest_layer_type& lowest_layer() { return sock_; }
  const lowest_layer_type& lowest_layer() const { return sock_; }

  void arm_idle(std::chrono::milliseconds idle, std::chrono::milliseconds request) {
    deadline_ = clock::now() + idle;
    after_first_byte_ = request;
    waiting_first_byte_ = true;
    timed_out_partial_ = false;
  }
  void arm_read(std::chrono::milliseconds request) {
    deadline_ = clock::now() + request;
    waiting_first_byte_ = false;
    timed_out_partial_ = false;
  }
  void disarm_read() {
    deadline_ = clock::time_point::max();
    waiting_first_byte_ = false;
  }
  void set_write_timeout(std::chrono::milliseconds w) { write_timeout_ = w; }
  // True after a read timed out with part of a request received.
  bool timed_out_reading() const { return timed_out_partial_; }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() > 0) return read_raw(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    constexpr int kMaxIov = 16;
    iov_entry iov[kMaxIov];
    int n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n < kMaxIov; ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[n++] = {b.data(), b.size()};
    }
    return write_raw(iov, n, ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  struct iov_entry {
    const void* data;
    std::size_t size;
  };
  std::size_t read_raw(void* p, std::size_t n, boost::system::error_code& ec);
  std::size_t write_raw(const iov_entry* iov, int n, boost::system::error_code& ec);

  lowest_layer_type& sock_;
  int fd_;
  clock::time_point deadline_ = clock::time_point::max();
  std::chrono::milliseconds after_first_byte_{0};
  std::chrono::milliseconds write_timeout_{30000};
  bool waiting_first_byte_ = false;
  bool timed_out_partial_ = false;
};

}  // namespace kaito::k8s
