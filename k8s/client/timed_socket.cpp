// Deadline-bounded reads and writes on a connected socket; see timed_socket.h.
#include "k8s/client/timed_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace kaito::k8s {

namespace {

// Milliseconds to wait until `deadline` for poll(): -1 for none, 0 when it has passed.
int poll_ms(timed_socket::clock::time_point deadline) {
  if (deadline == timed_socket::clock::time_point::max()) return -1;
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - timed_socket::clock::now())
          .count();
  return static_cast<int>(std::clamp<long long>(left + 1, 0, 24 * 3600 * 1000));
}

boost::system::error_code errno_code(int e) {
  return {e, boost::system::system_category()};
}

}  // namespace

std::size_t timed_socket::read_raw(void* p, std::size_t n, boost::system::error_code& ec) {
  for (;;) {
    ssize_t k = ::recv(fd_, p, n, MSG_DONTWAIT);
    if (k > 0) {
      if (waiting_first_byte_) {
        waiting_first_byte_ = false;
        deadline_ = clock::now() + after_first_byte_;
      }
      ec = {};
      return static_cast<std::size_t>(k);
    }
    if (k == 0) {
      ec = boost::asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = errno_code(errno);
      return 0;
    }
    int ms = poll_ms(deadline_);
    if (ms == 0) {
      timed_out_partial_ = !waiting_first_byte_;
      ec = boost::asio::error::timed_out;
      return 0;
    }
    pollfd pfd{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&pfd, 1, ms) < 0 && errno != EINTR) {
      ec = errno_code(errno);
      return 0;
    }
  }
}

std::size_t timed_socket::write_raw(const iov_entry* iov, int n, boost::system::error_code& ec) {
  if (n == 0) {
    ec = {};
    return 0;
  }
  iovec v[16];
  for (int i = 0; i < n; ++i) v[i] = {const_cast<void*>(iov[i].data), iov[i].size};
  msghdr msg{};
  msg.msg_iov = v;
  msg.msg_iovlen = static_cast<size_t>(n);
  auto deadline = clock::now() + write_timeout_;
  for (;;) {
    ssize_t k = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k >= 0) {
      ec = {};
      return static_cast<std::size_t>(k);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = errno_code(errno);
      return 0;
    }
    int ms = poll_ms(deadline);
    if (ms == 0) {
      ec = boost::asio::error::timed_out;
      return 0;
    }
    pollfd pfd{fd_, POLLOUT, 0};
    if (::poll(&pfd, 1, ms) < 0 && errno != EINTR) {
      ec = errno_code(errno);
      return 0;
    }
  }
}

}  // namespace kaito::k8s
