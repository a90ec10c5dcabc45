// restart_backoff (contract: actors/restart_backoff.h).
#include "actors/restart_backoff.h"

#include <algorithm>

namespace kaito::actors {

void restart_backoff::started(const std::string& id, clock::time_point now) {
  entry& e = entries_[id];
  e.started = now;
  e.running = true;
}

restart_backoff::millis restart_backoff::died(const std::string& id, clock::time_point now) {
  entry& e = entries_[id];
  if (e.running && now - e.started >= healthy_after_) e.deaths = 0;  // it had been healthy
  e.running = false;
  if (e.deaths < UINT32_MAX) ++e.deaths;
  // base * 2^deaths without overflow: stop doubling once past the cap
  millis d = base_;
  for (uint32_t i = 0; i < e.deaths && d < cap_; ++i) d *= 2;
  return std::min(d, cap_);
}

uint32_t restart_backoff::deaths(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? 0 : it->second.deaths;
}

}  // namespace kaito::actors
