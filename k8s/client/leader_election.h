// Lease-based leader election (coordination.k8s.io/v1 Lease), as client-go's leaderelection:
// every retry_period a candidate reads the Lease; it takes it when it is free or expired (no
// renewal observed for leaseDurationSeconds, measured on the candidate's own clock since it last
// saw the record change), and the leader renews renewTime. Writes carry the read resourceVersion,
// so two candidates racing for an expired lease cannot both win (one gets 409). A leader that
// fails to renew for renew_deadline steps down (on_stopped_leading) and competes again.
//
//   leader_elector le(c, {.lease_namespace = "kaito-workspace", .lease_name = "kaito",
//                         .identity = hostname, .on_started_leading = [&] { ... }});
//   le.start(); ... le.stop();     // stop(): steps down; releases the lease if release_on_stop
//
// Thread-safety: start/stop from one thread; is_leader/leader from any. Callbacks run on the
// elector's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "k8s/client/client.h"
#include "k8s/client/clock.h"

namespace kaito::k8s {

struct leader_election_config {
  std::string lease_namespace = "default";
  std::string lease_name;
  std::string identity;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  bool release_on_stop = false;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

class leader_elector {
 public:
  leader_elector(client& c, leader_election_config cfg,
                 std::shared_ptr<clock_source> clock = real_clock::instance());
  ~leader_elector();
  leader_elector(const leader_elector&) = delete;
  leader_elector& operator=(const leader_elector&) = delete;

  void start();
  void stop();
  bool is_leader() const { return leading_; }
  std::string leader() const;  // the holder last observed

  // One attempt (the loop's body; public for tests): true when this candidate holds the lease
  // afterwards.
  result<bool> try_acquire_or_renew();

 private:
  void loop();
  void set_leading(bool on);

  client& c_;
  leader_election_config cfg_;
  std::shared_ptr<clock_source> clock_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> leading_{false};
  std::string observed_holder_;
  std::string observed_renew_;
  clock_time observed_at_{};
  clock_time last_renew_ok_{};
};

// RFC 3339 with microseconds, as Kubernetes MicroTime: 2026-01-02T03:04:05.000006Z.
std::string micro_time_now();

}  // namespace kaito::k8s
