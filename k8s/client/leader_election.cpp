// Lease-based leader election; see leader_election.h.
#include "k8s/client/leader_election.h"

#include <cstdint>
#include <ctime>

#include "k8s/client/api_error.h"

namespace kaito::k8s {

namespace {
const resource_ref kLeases{"coordination.k8s.io", "v1", "leases", true};
}

std::string micro_time_now() {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

leader_elector::leader_elector(client& c, leader_election_config cfg,
                               std::shared_ptr<clock_source> clock)
    : c_(c), cfg_(std::move(cfg)), clock_(std::move(clock)) {}

leader_elector::~leader_elector() {
  stop();
}

std::string leader_elector::leader() const {
  std::lock_guard<std::mutex> l(mu_);
  return observed_holder_;
}

result<bool> leader_elector::try_acquire_or_renew() {
  const int64_t duration_s = std::max<int64_t>(1, (cfg_.lease_duration.count() + 999) / 1000);
  std::string now = micro_time_now();
  json spec = {{"holderIdentity", cfg_.identity},
               {"leaseDurationSeconds", duration_s},
               {"acquireTime", now},
               {"renewTime", now},
               {"leaseTransitions", 0}};
  auto got = c_.get(kLeases, cfg_.lease_namespace, cfg_.lease_name);
  if (!got.ok()) {
    if (got.error().code() != status_code::not_found) return got.error();
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", cfg_.lease_name}, {"namespace", cfg_.lease_namespace}}},
                  {"spec", spec}};
    auto created = c_.create(kLeases, cfg_.lease_namespace, lease);
    if (!created.ok()) {
      if (created.error().code() == status_code::already_exists) return false;
      return created.error();
    }
    std::lock_guard<std::mutex> l(mu_);
    observed_holder_ = cfg_.identity;
    observed_renew_ = now;
    observed_at_ = clock_->now();
    return true;
  }
  json lease = std::move(*got);
  if (!lease.is_object()) return status(status_code::data_loss, "a Lease is not an object");
  json old = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  std::string holder = string_field(old, "holderIdentity");
  std::string renew = string_field(old, "renewTime");
  auto int_field = [&](const char* k, int64_t dflt) {
    auto it = old.find(k);
    return it != old.end() && it->is_number_integer() ? it->get<int64_t>() : dflt;
  };
  int64_t transitions = int_field("leaseTransitions", 0);
  int64_t old_duration_s = int_field("leaseDurationSeconds", duration_s);
  clock_time t = clock_->now();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (holder != observed_holder_ || renew != observed_renew_) {
      observed_holder_ = holder;
      observed_renew_ = renew;
      observed_at_ = t;
    }
    bool expired = t >= observed_at_ + std::chrono::seconds(old_duration_s);
    if (!holder.empty() && holder != cfg_.identity && !expired) return false;
  }
  if (holder == cfg_.identity) {
    std::string acquired = string_field(old, "acquireTime");
    spec["acquireTime"] = acquired.empty() ? now : acquired;
    spec["leaseTransitions"] = transitions;
  } else {
    spec["leaseTransitions"] = transitions + 1;
  }
  lease["spec"] = spec;  // metadata.resourceVersion from the read: optimistic concurrency
  auto updated = c_.update(kLeases, cfg_.lease_namespace, lease);
  if (!updated.ok()) {
    if (updated.error().code() == status_code::conflict) return false;
    return updated.error();
  }
  std::lock_guard<std::mutex> l(mu_);
  observed_holder_ = cfg_.identity;
  observed_renew_ = now;
  observed_at_ = clock_->now();
  return true;
}

void leader_elector::set_leading(bool on) {
  if (leading_ == on) return;
  leading_ = on;
  if (on && cfg_.on_started_leading) cfg_.on_started_leading();
  if (!on && cfg_.on_stopped_leading) cfg_.on_stopped_leading();
}

void leader_elector::loop() {
  std::string last_leader;
  while (true) {
    auto r = try_acquire_or_renew();
    clock_time t = clock_->now();
    if (r.ok() && *r) {
      last_renew_ok_ = t;
      set_leading(true);
    } else if (leading_ && (r.ok() || t >= last_renew_ok_ + cfg_.renew_deadline)) {
      set_leading(false);  // someone else holds it, or renewing failed past the deadline
    }
    std::string now_leader = leader();
    if (now_leader != last_leader && !now_leader.empty()) {
      last_leader = now_leader;
      if (cfg_.on_new_leader) cfg_.on_new_leader(now_leader);
    }
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, cfg_.retry_period, [&] { return stopping_; })) break;
  }
  if (leading_ && cfg_.release_on_stop) {
    if (auto got = c_.get(kLeases, cfg_.lease_namespace, cfg_.lease_name); got.ok()) {
      json lease = std::move(*got);
      if (lease.is_object() && string_field(lease["spec"], "holderIdentity") == cfg_.identity) {
        lease["spec"]["holderIdentity"] = "";
        lease["spec"]["leaseDurationSeconds"] = 1;
        (void)c_.update(kLeases, cfg_.lease_namespace, lease);
      }
    }
  }
  set_leading(false);
}

void leader_elector::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void leader_elector::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kaito::k8s
