// Worker child processes; see worker_process.h.
#include "actors/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

extern char** environ;

namespace kaito::actors {

result<pid_t> start_child_process(const child_spec& spec) {
  if (access(spec.binary.c_str(), X_OK) != 0)
    return io_error(std::string("not executable: ") + std::strerror(errno), spec.binary);
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    bool replaced = false;
    for (const auto& x : spec.env)
      replaced |= kv.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0;
    if (!replaced) env_strings.push_back(std::move(kv));
  }
  for (const auto& x : spec.env) env_strings.push_back(x);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings;
  argv_strings.push_back(spec.binary);
  for (const auto& a : spec.args) argv_strings.push_back(a);
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  // A close-on-exec pipe: EOF tells the parent the child got as far as exec (so its death signal
  // is armed before this returns); 4 bytes are the errno of a failed exec.
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno), spec.binary);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(sync[0]);
    close(sync[1]);
    return io_error(std::string("fork: ") + std::strerror(e), spec.binary);
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died between fork and prctl
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (dup2(sync[1], 3) != 3) _exit(127);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    if (syscall(SYS_close_range, 4u, UINT_MAX, 0u) != 0)
      for (int fd = 4; fd < 1024; ++fd) close(fd);
    execve(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!write(3, &e, sizeof e);
    _exit(127);
  }
  close(sync[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(sync[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(sync[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    waitpid(pid, nullptr, 0);
    return io_error(std::string("exec: ") + std::strerror(child_errno), spec.binary);
  }
  return pid;
}

std::optional<int> poll_child_exit(pid_t pid) {
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return 0;  // ECHILD: not ours any more
  return st;
}

std::string describe_wait_status(int st) {
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  return "status " + std::to_string(st);
}

int exit_code_of(int st) {
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 1;
}

void stop_child_process(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll_child_exit(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
}

std::string self_executable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace kaito::actors
