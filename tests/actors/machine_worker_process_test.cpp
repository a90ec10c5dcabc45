// Worker child processes with /bin/sh as the child: exit codes and signals as Kubernetes reports
// them, the environment, the unblocked signal mask, and PR_SET_PDEATHSIG.
#include "actors/worker_process.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kaito::actors::child_spec;
using kaito::actors::poll_child_exit;
using kaito::actors::start_child_process;

int wait_exit(pid_t pid, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto st = poll_child_exit(pid)) return *st;
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  return -1;
}

TEST(worker_process, exit_codes_and_signals) {
  auto pid = start_child_process({"/bin/sh", {"-c", "exit 3"}, {}});
  ASSERT_TRUE(pid.ok()) << pid.error().to_string();
  int st = wait_exit(*pid);
  EXPECT_EQ(kaito::actors::describe_wait_status(st), "exit code 3");
  EXPECT_EQ(kaito::actors::exit_code_of(st), 3);

  pid = start_child_process({"/bin/sh", {"-c", "exec sleep 30"}, {}});
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(poll_child_exit(*pid).has_value());
  kill(*pid, SIGKILL);
  st = wait_exit(*pid);
  EXPECT_EQ(kaito::actors::describe_wait_status(st), "signal 9");
  EXPECT_EQ(kaito::actors::exit_code_of(st), 137);
}

TEST(worker_process, environment_is_passed_and_overridden) {
  setenv("KAITO_WP_TEST", "old", 1);
  auto pid =
      start_child_process({"/bin/sh",
                           {"-c", "test \"$KAITO_WP_TEST\" = new && test \"$KAITO_WP_2\" = x"},
                           {"KAITO_WP_TEST=new", "KAITO_WP_2=x"}});
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(kaito::actors::exit_code_of(wait_exit(*pid)), 0);
}

TEST(worker_process, a_missing_binary_is_an_error_naming_it) {
  auto pid = start_child_process({"/nonexistent/kaito", {}, {}});
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.error().where(), "/nonexistent/kaito");
}

// kaito join blocks SIGTERM for sigwait; its workers must still die of a plain SIGTERM.
TEST(worker_process, the_child_does_not_inherit_blocked_signals) {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  auto pid = start_child_process({"/bin/sh", {"-c", "kill -TERM $$; sleep 5; exit 7"}, {}});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(kaito::actors::describe_wait_status(wait_exit(*pid)), "signal 15");
}

TEST(worker_process, children_die_with_the_thread_that_started_them) {
  pid_t child = 0;
  std::thread t([&] {
    auto pid = start_child_process({"/bin/sh", {"-c", "exec sleep 30"}, {}});
    if (pid.ok()) child = *pid;
  });
  t.join();
  ASSERT_GT(child, 0);
  EXPECT_EQ(kaito::actors::describe_wait_status(wait_exit(child, 3s)), "signal 9");
}

TEST(worker_process, stop_terminates_then_kills) {
  auto pid = start_child_process({"/bin/sh", {"-c", "trap '' TERM; exec sleep 30"}, {}});
  ASSERT_TRUE(pid.ok());
  std::this_thread::sleep_for(100ms);  // let the shell install its trap
  auto t0 = std::chrono::steady_clock::now();
  kaito::actors::stop_child_process(*pid, 200ms);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(kill(*pid, 0), -1);  // reaped
}

}  // namespace
