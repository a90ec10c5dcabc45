// The keyed reconcile actor (workspace_actor.h) on CAF's deterministic test_coordinator under
// GoogleTest (no DSL macros): triggers coalesce into one pending run, errors retry after the
// backoff, requeue_after fires after its delay, a replaced timer does not fire, stats are sent.
// The blocking executor is a hand-stepped job list, so every step is explicit.
#include "actors/workspace_actor.h"

#include <deque>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "actors/supervisor_atoms.h"
#include "caf/all.hpp"
#include "caf/scheduler/test_coordinator.hpp"

namespace {

using namespace std::chrono_literals;
using kaito::actors::reconcile_outcome;

struct stats_seen {
  int messages = 0;
  std::string key;
  uint64_t reconciles = 0, errors = 0, requeues = 0, coalesced = 0;
};

caf::behavior stats_sink(caf::event_based_actor*, std::shared_ptr<stats_seen> seen) {
  return {[=](kaito::actors::stats_atom, const std::string& key, uint64_t reconciles, uint64_t,
              uint64_t errors, uint64_t requeues, uint64_t coalesced, uint64_t,
              const std::string&) {
    ++seen->messages;
    seen->key = key;
    seen->reconciles = reconciles;
    seen->errors = errors;
    seen->requeues = requeues;
    seen->coalesced = coalesced;
  }};
}

class reconcile_actor_test : public testing::Test {
 protected:
  reconcile_actor_test() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    sink_ = sys_->spawn(stats_sink, seen_);
    kaito::actors::reconcile_actor_config c;
    c.kind = "workspace";
    c.key = "default/ws";
    c.backoff = {.base = 100ms, .max = 1000ms};
    c.stats = sink_;
    c.reconcile = [this] {
      ++calls_;
      reconcile_outcome o = outcomes_.empty() ? reconcile_outcome{} : outcomes_.front();
      if (!outcomes_.empty()) outcomes_.pop_front();
      return o;
    };
    c.executor = [this](std::function<void()> job) { jobs_.push_back(std::move(job)); };
    actor_ = kaito::actors::spawn_reconcile_actor(*sys_, c);
    sched_->run();
  }
  ~reconcile_actor_test() override {
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink_, caf::exit_reason::user_shutdown);
    sched_->run();
    actor_ = nullptr;
    sink_ = nullptr;
    sched_->run();
  }
  void trigger() { caf::anon_send(actor_, kaito::actors::reconcile_atom::value); }
  // Runs every queued blocking job, then delivers the results.
  size_t run_jobs() {
    auto jobs = std::move(jobs_);
    jobs_.clear();
    for (auto& j : jobs) j();
    sched_->run();
    return jobs.size();
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<stats_seen> seen_ = std::make_shared<stats_seen>();
  caf::actor sink_;
  caf::actor actor_;
  std::vector<std::function<void()>> jobs_;
  std::deque<reconcile_outcome> outcomes_;
  int calls_ = 0;
};

TEST_F(reconcile_actor_test, triggers_during_a_run_coalesce_into_one_more_run) {
  for (int i = 0; i < 5; ++i) trigger();
  sched_->run();
  ASSERT_EQ(jobs_.size(), 1u) << "one run at a time";
  trigger();
  trigger();
  sched_->run();
  EXPECT_EQ(jobs_.size(), 1u);
  EXPECT_EQ(run_jobs(), 1u);
  EXPECT_EQ(jobs_.size(), 1u) << "exactly one pending run follows";
  EXPECT_EQ(run_jobs(), 1u);
  EXPECT_TRUE(jobs_.empty());
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(seen_->messages, 2);
  EXPECT_EQ(seen_->key, "workspace default/ws");
  EXPECT_EQ(seen_->reconciles, 2u);
  EXPECT_EQ(seen_->coalesced, 5u);
  EXPECT_FALSE(sched_->has_pending_timeout());
}

TEST_F(reconcile_actor_test, an_error_is_retried_after_the_backoff_and_then_doubles) {
  outcomes_ = {{false, "conflict", 0ms}, {false, "conflict", 0ms}, {true, "", 0ms}};
  trigger();
  sched_->run();
  EXPECT_EQ(run_jobs(), 1u);
  EXPECT_TRUE(jobs_.empty());
  sched_->advance_time(caf::timespan{99ms});
  sched_->run();
  EXPECT_TRUE(jobs_.empty()) << "retried before the backoff";
  sched_->advance_time(caf::timespan{1ms});
  sched_->run();
  ASSERT_EQ(jobs_.size(), 1u);
  EXPECT_EQ(run_jobs(), 1u);
  sched_->advance_time(caf::timespan{199ms});
  sched_->run();
  EXPECT_TRUE(jobs_.empty()) << "the second backoff must be 200 ms";
  sched_->advance_time(caf::timespan{1ms});
  sched_->run();
  EXPECT_EQ(run_jobs(), 1u);
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(seen_->errors, 2u);
  sched_->advance_time(caf::timespan{10s});
  sched_->run();
  EXPECT_TRUE(jobs_.empty()) << "a success must not be retried";
}

TEST_F(reconcile_actor_test, requeue_after_runs_again_after_the_delay_and_events_replace_it) {
  outcomes_ = {{true, "", 5000ms}, {true, "", 0ms}, {true, "", 0ms}};
  trigger();
  sched_->run();
  run_jobs();
  EXPECT_EQ(seen_->requeues, 1u);
  sched_->advance_time(caf::timespan{4999ms});
  sched_->run();
  EXPECT_TRUE(jobs_.empty());
  sched_->advance_time(caf::timespan{1ms});
  sched_->run();
  EXPECT_EQ(run_jobs(), 1u);
  // A requeue timer replaced by a newer run's outcome never fires.
  outcomes_ = {{true, "", 1000ms}, {true, "", 0ms}};
  trigger();
  sched_->run();
  run_jobs();
  trigger();
  sched_->run();
  run_jobs();
  sched_->advance_time(caf::timespan{2s});
  sched_->run();
  EXPECT_TRUE(jobs_.empty()) << "a replaced requeue timer fired";
  EXPECT_EQ(calls_, 4);
}

}  // namespace
