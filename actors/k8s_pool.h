// k8s_pool: a small fixed set of threads for blocking work (every k8s client call is synchronous
// HTTP), so that CAF's cooperative scheduler threads never wait on the network. Jobs post their
// results back to actors with caf::anon_send.
//
//   k8s_pool pool(4);
//   pool.submit([h = self_handle] { auto r = reconcile(...); caf::anon_send(h, done_atom, ...); });
//   pool.shutdown();   // drops queued jobs, waits for running ones (also in the destructor)
//
// Jobs run in submission order per thread (FIFO queue); nothing is ordered across threads.
// Thread-safety: submit/queued from any thread; shutdown from one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kaito::actors {

class k8s_pool {
 public:
  explicit k8s_pool(size_t threads);
  ~k8s_pool();
  k8s_pool(const k8s_pool&) = delete;
  k8s_pool& operator=(const k8s_pool&) = delete;

  // Queues a job; ignored after shutdown().
  void submit(std::function<void()> job);
  void shutdown();
  size_t queued() const;

 private:
  void loop();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// How a keyed reconcile actor runs its blocking call: the pool in production, a hand-stepped
// queue in tests.
using blocking_executor = std::function<void(std::function<void()>)>;

}  // namespace kaito::actors
