// Failing reconciles. (1) The keyed reconcile actors (workspace_actor.h) on CAF's deterministic
// test_coordinator with controller-runtime's base delay (5 ms): a key that keeps failing is
// retried after 5, 10, 20, 40, 80 ms, then every 80 ms (the cap); an event meanwhile runs it at
// once without resetting the backoff; a success resets it; a reconciler that throws (a
// std::exception or anything else) is an error like any other and the actor keeps serving; and
// another key is reconciled at once on every trigger while the first one backs off.
// (2) The supervisor (start_supervisor) against the embedded API server in-process: a tuning
// Workspace whose Job name is taken by a Job it does not own fails to reconcile (a retryable
// failed_precondition) and is retried at the capped rate while another Workspace gets its Job;
// once the foreign Job is gone it reconciles, its error is cleared and the retries stop (a stale
// cache may still cost either Workspace a retried Conflict now and then).
#include <deque>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "actors/runtime_config.h"
#include "actors/supervisor.h"
#include "actors/supervisor_atoms.h"
#include "actors/workspace_actor.h"
#include "caf/all.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "tests/k8s/controllers/controllers_fixture.h"

namespace {

using namespace std::chrono_literals;
using kaito::actors::reconcile_outcome;

// --- (1) deterministic: the reconcile actors -----------------------------------------------------

struct key_stats {
  uint64_t reconciles = 0, successes = 0, errors = 0;
  std::string last_error;
};

caf::behavior stats_sink(caf::event_based_actor*,
                         std::shared_ptr<std::map<std::string, key_stats>> seen) {
  return {[=](kaito::actors::stats_atom, const std::string& key, uint64_t reconciles,
              uint64_t successes, uint64_t errors, uint64_t, uint64_t, uint64_t,
              const std::string& last) {
    (*seen)[key] = {reconciles, successes, errors, last};
  }};
}

// What a reconcile does: return an outcome or throw.
using step = std::function<reconcile_outcome()>;
step fail(const std::string& why) {
  return [why] { return reconcile_outcome{false, why, 0ms}; };
}
step succeed() {
  return [] { return reconcile_outcome{}; };
}

class reconcile_failure_test : public testing::Test {
 protected:
  reconcile_failure_test() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    sink_ = sys_->spawn(stats_sink, seen_);
  }
  ~reconcile_failure_test() override {
    for (auto& [key, a] : actors_) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink_, caf::exit_reason::user_shutdown);
    sched_->run();
    actors_.clear();
    sink_ = nullptr;
    sched_->run();
  }
  // A reconcile actor for `key` with backoff 5 ms .. 80 ms whose runs follow script_[key]
  // (succeeding once it is empty).
  void spawn(const std::string& key) {
    kaito::actors::reconcile_actor_config c;
    c.kind = "workspace";
    c.key = key;
    c.backoff = {.base = 5ms, .max = 80ms};
    c.stats = sink_;
    c.reconcile = [this, key] {
      ++calls_[key];
      auto& s = script_[key];
      if (s.empty()) return reconcile_outcome{};
      auto next = s.front();
      s.pop_front();
      return next();
    };
    c.executor = [this, key](std::function<void()> job) {
      jobs_.emplace_back(key, std::move(job));
    };
    actors_[key] = kaito::actors::spawn_reconcile_actor(*sys_, c);
    sched_->run();
  }
  void trigger(const std::string& key) {
    caf::anon_send(actors_[key], kaito::actors::reconcile_atom::value);
    sched_->run();
  }
  // Runs the queued blocking jobs (of `key` only, when given), then delivers their results.
  // Returns how many ran.
  size_t run_jobs(const std::string& key = "") {
    std::vector<std::pair<std::string, std::function<void()>>> keep, run;
    for (auto& j : jobs_) (key.empty() || j.first == key ? run : keep).push_back(std::move(j));
    jobs_ = std::move(keep);
    for (auto& j : run) j.second();
    sched_->run();
    return run.size();
  }
  bool queued(const std::string& key) const {
    for (const auto& j : jobs_)
      if (j.first == key) return true;
    return false;
  }
  // Advances the clock by `d` in 1 ms steps; returns the ms at which a run of `key` was queued
  // (-1: none within d).
  long ms_until_run(const std::string& key, std::chrono::milliseconds d) {
    for (long ms = 1; ms <= d.count(); ++ms) {
      sched_->advance_time(caf::timespan{1ms});
      sched_->run();
      if (queued(key)) return ms;
    }
    return -1;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<std::map<std::string, key_stats>> seen_ =
      std::make_shared<std::map<std::string, key_stats>>();
  caf::actor sink_;
  std::map<std::string, caf::actor> actors_;
  std::map<std::string, std::deque<step>> script_;
  std::map<std::string, int> calls_;
  std::vector<std::pair<std::string, std::function<void()>>> jobs_;
};

TEST_F(reconcile_failure_test, retries_double_to_the_cap_and_a_success_resets_them) {
  spawn("default/a");
  for (int i = 0; i < 7; ++i) script_["default/a"].push_back(fail("conflict"));
  trigger("default/a");
  std::vector<long> delays;
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(run_jobs(), 1u) << "failure " << i + 1;
    delays.push_back(ms_until_run("default/a", 200ms));
  }
  EXPECT_EQ(delays, (std::vector<long>{5, 10, 20, 40, 80, 80, 80}));
  EXPECT_EQ((*seen_)["workspace default/a"].errors, 7u);
  EXPECT_EQ((*seen_)["workspace default/a"].last_error, "conflict");
  ASSERT_EQ(run_jobs(), 1u);  // the 8th run succeeds: no retry, the error is cleared
  EXPECT_EQ(ms_until_run("default/a", 1000ms), -1) << "a success was retried";
  EXPECT_EQ((*seen_)["workspace default/a"].successes, 1u);
  EXPECT_EQ((*seen_)["workspace default/a"].last_error, "");
  script_["default/a"] = {fail("again"), fail("again")};
  trigger("default/a");
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ(ms_until_run("default/a", 200ms), 5) << "the backoff did not restart after a success";
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ(ms_until_run("default/a", 200ms), 10);
  EXPECT_EQ(calls_["default/a"], 10);
}

TEST_F(reconcile_failure_test, an_event_during_the_backoff_runs_now_and_keeps_the_backoff) {
  spawn("default/a");
  script_["default/a"] = {fail("e"), fail("e"), fail("e"), fail("e")};
  trigger("default/a");
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ(ms_until_run("default/a", 200ms), 5);
  ASSERT_EQ(run_jobs(), 1u);  // second failure: the retry is armed for 10 ms
  sched_->advance_time(caf::timespan{3ms});
  trigger("default/a");  // an informer event: runs at once, as controller-runtime's Add
  ASSERT_TRUE(queued("default/a"));
  ASSERT_EQ(run_jobs(), 1u);  // third failure: 20 ms, counted from this run
  EXPECT_EQ(ms_until_run("default/a", 200ms), 20) << "an event reset or shortened the backoff";
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ(ms_until_run("default/a", 200ms), 40);
}

TEST_F(reconcile_failure_test, a_throwing_reconciler_is_an_error_and_the_actor_keeps_serving) {
  spawn("default/a");
  script_["default/a"] = {[]() -> reconcile_outcome { throw std::runtime_error("boom"); },
                          []() -> reconcile_outcome { throw 42; }, succeed()};
  trigger("default/a");
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ((*seen_)["workspace default/a"].last_error, "exception: boom");
  EXPECT_EQ(ms_until_run("default/a", 200ms), 5);
  ASSERT_NO_THROW(run_jobs()) << "a non-std exception escaped to the executor's thread";
  EXPECT_EQ((*seen_)["workspace default/a"].errors, 2u);
  EXPECT_EQ((*seen_)["workspace default/a"].last_error, "exception: unknown");
  EXPECT_EQ(ms_until_run("default/a", 200ms), 10);
  ASSERT_EQ(run_jobs(), 1u);
  EXPECT_EQ((*seen_)["workspace default/a"].last_error, "");
  EXPECT_EQ(calls_["default/a"], 3);
}

TEST_F(reconcile_failure_test, other_keys_are_reconciled_at_once_while_one_backs_off) {
  spawn("default/bad");
  spawn("default/good");
  for (int i = 0; i < 20; ++i) script_["default/bad"].push_back(fail("conflict"));
  trigger("default/bad");
  ASSERT_EQ(run_jobs("default/bad"), 1u);
  // Drive "bad" to the cap while "good" gets an event every 7 ms.
  int bad_runs = 1;
  for (int ms = 1; ms <= 300; ++ms) {
    sched_->advance_time(caf::timespan{1ms});
    sched_->run();
    if (ms % 7 == 0) {
      trigger("default/good");
      ASSERT_TRUE(queued("default/good")) << "good was not started at once (ms " << ms << ")";
      ASSERT_EQ(run_jobs("default/good"), 1u);
    }
    if (queued("default/bad")) bad_runs += static_cast<int>(run_jobs("default/bad"));
  }
  // bad: 1 + retries at 5, 15, 35, 75, 155, 235 ms (then every 80 ms).
  EXPECT_EQ(bad_runs, 7);
  EXPECT_EQ(calls_["default/good"], 300 / 7);
  EXPECT_EQ((*seen_)["workspace default/good"].errors, 0u);
  EXPECT_EQ((*seen_)["workspace default/good"].successes, uint64_t(300 / 7));
  EXPECT_EQ((*seen_)["workspace default/bad"].errors, 7u);
}

// --- (2) real time: the supervisor against the embedded API server -------------------------------

namespace ctl = kaito::k8s::controllers;
using kaito::k8s::json;

template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

class supervisor_failure_test : public ctl::testing::ControllersTest {
 protected:
  void TearDown() override {
    if (sup_) sup_->stop();
    sup_.reset();
    sys_.reset();
    ControllersTest::TearDown();
  }
  void start() {
    auto cfg = kaito::k8s::load_kubeconfig(srv_->kubeconfig_path());
    ASSERT_TRUE(cfg.ok());
    auto c = kaito::k8s::client::connect(*cfg);
    ASSERT_TRUE(c.ok());
    sys_ = std::make_unique<caf::actor_system>(rtcfg_);
    kaito::actors::supervisor_options o;
    o.client = std::shared_ptr<kaito::k8s::client>(std::move(*c));
    o.presets = catalog_.get();
    o.token = "failure-test-token";
    o.identity = "failure-test";
    o.node_timeout = std::chrono::hours(1);  // the test Nodes have no machine behind them
    o.reconcile_backoff = {.base = 20ms, .max = 100ms};
    auto s = kaito::actors::start_supervisor(*sys_, o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    sup_ = std::move(*s);
  }
  // The supervisor's counters for Workspace `ws` (from the shell's describe): {runs, errors}
  // and the last error ("" when the last run succeeded). {-1, -1} before its first run.
  struct counts {
    long runs = -1, errors = -1;
    std::string last;
  };
  counts reconcile_counts(const std::string& ws) {
    caf::scoped_actor self{*sys_};
    std::string text;
    self->request(
            sup_->actor(), 5s,
            kaito::msg::shell_request{.token = "failure-test-token", .argv = {"describe", ws}})
        .receive([&](const kaito::msg::shell_reply& r) { text = r.text; },
                 [&](const caf::error&) {});
    counts c;
    auto at = text.find("Reconciles:");
    if (at == std::string::npos) return c;
    std::istringstream in(text.substr(at + 11));
    char paren = 0;
    in >> c.runs >> paren >> c.errors;
    auto last = text.find(", last: ", at);
    if (last != std::string::npos) {
      auto end = text.find(")\n", last);
      c.last = text.substr(last + 8, end - last - 8);
    }
    return c;
  }
  json foreign_job(const std::string& name) {
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec",
             {{"template",
               {{"spec",
                 {{"restartPolicy", "Never"},
                  {"nodeSelector", {{"nowhere", "true"}}},  // its pod stays Pending
                  {"containers", json::array({{{"name", "main"}, {"image", "busybox"}}})}}}}}}}};
  }

  kaito::actors::runtime_config rtcfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<kaito::actors::supervisor_handle> sup_;
};

TEST_F(supervisor_failure_test, a_failing_workspace_is_retried_at_the_capped_rate_others_proceed) {
  add_machine("m-1", "Standard_NC6s_v3");
  add_machine("m-2", "Standard_NC6s_v3");
  auto made = c_->create(ctl::resources::kJobs, "default", foreign_job("blocked"));
  ASSERT_TRUE(made.ok()) << made.error().to_string();
  start();
  ASSERT_TRUE(eventually([&] { return sup_->leading(); }, 10s));
  create_ws(ctl::testing::tuning_workspace("blocked", "Standard_NC6s_v3"));
  create_ws(ctl::testing::tuning_workspace("free", "Standard_NC6s_v3"));
  // The other Workspace proceeds: its Job is created while "blocked" keeps failing.
  ASSERT_TRUE(eventually([&] { return exists(ctl::resources::kJobs, "free"); }, 20s));
  ASSERT_TRUE(eventually([&] { return reconcile_counts("blocked").errors >= 3; }, 20s))
      << "blocked: " << reconcile_counts("blocked").errors << " errors";
  EXPECT_NE(reconcile_counts("blocked").last.find("not owned by the Workspace"), std::string::npos)
      << reconcile_counts("blocked").last;
  // (A stale cache may cost "free" a retried Conflict; its latest run succeeded.)
  EXPECT_TRUE(eventually([&] { return reconcile_counts("free").last.empty(); }, 5s))
      << reconcile_counts("free").last;
  // Past the first doublings (20, 40, 80 ms) it retries every 100 ms: not faster (the backoff
  // holds), not slower (capped; uncapped it would have reached 1.6 s by now).
  std::this_thread::sleep_for(500ms);
  auto t0 = std::chrono::steady_clock::now();
  long e0 = reconcile_counts("blocked").errors;
  std::this_thread::sleep_for(2s);
  long e1 = reconcile_counts("blocked").errors;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LE(e1 - e0, static_cast<long>(secs * 10) + 4) << "retried faster than every 100 ms";
  EXPECT_GE(e1 - e0, static_cast<long>(secs * 10 / 3)) << "retries slowed past the 100 ms cap";
  // Unblocked: the next retry creates the Workspace's own Job; the error is cleared, no retries.
  auto del = c_->remove(ctl::resources::kJobs, "default", "blocked");
  ASSERT_TRUE(del.ok()) << del.error().to_string();
  ASSERT_TRUE(eventually(
      [&] {
        json j = get(ctl::resources::kJobs, "blocked");
        return j.is_object() && j["metadata"].contains("ownerReferences");
      },
      10s));
  ASSERT_TRUE(eventually([&] { return reconcile_counts("blocked").last.empty(); }, 5s));
  // No more retries at the 100 ms rate (a stale cache may still cost a retried Conflict).
  long settled = reconcile_counts("blocked").errors;
  std::this_thread::sleep_for(1s);
  EXPECT_LE(reconcile_counts("blocked").errors, settled + 2) << "retries went on after the success";
  EXPECT_TRUE(eventually([&] { return reconcile_counts("blocked").last.empty(); }, 5s));
  EXPECT_TRUE(eventually([&] { return reconcile_counts("free").last.empty(); }, 5s));
}

}  // namespace
