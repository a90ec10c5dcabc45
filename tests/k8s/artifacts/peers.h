// Test helpers for tests/k8s/artifacts: the real peers the artifact layer talks to, started on
// 127.0.0.1 by the test itself (docker-registry, python3 http_peer.py), and the files around them.
//   temp_dir          a fresh directory under /tmp, removed with its contents at scope exit
//   child_process     fork+exec of argv with stdout/stderr into a log file; SIGTERM + wait at exit
//   free_port()       a port the kernel just handed out on 127.0.0.1 (bound, then released)
//   wait_for_port()   polls a TCP connect until it succeeds or the time runs out
//   run_command()     /bin/sh -c cmd; its stdout and exit status
//   write_file(), read_file()
//   registry_peer     /usr/bin/docker-registry on a free port, optionally with htpasswd auth
//   htpasswd_line()   a bcrypt htpasswd line for kaito:secret, "" when no tool can make one
//   layer_files()     a layer's bytes unpacked with extract_layer: path -> contents
// Everything returns plain values and reports trouble through GoogleTest's ADD_FAILURE.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "k8s/artifacts/layer_extract.h"

namespace kaito::k8s::artifacts::testing {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/kaito-artifacts-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    ADD_FAILURE() << "cannot bind a port";
  close(fd);
  return ntohs(addr.sin_port);
}

inline bool wait_for_port(int port, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (up) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~child_process() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

 private:
  pid_t pid_ = -1;
};

struct command_result {
  int exit_code = -1;
  std::string out;
};

inline command_result run_command(const std::string& cmd) {
  command_result r;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A bcrypt htpasswd line for kaito:secret (cost 4: the registry checks it on every request), from
// whichever tool this machine has; "" when none.
inline std::string htpasswd_line() {
  const char* tries[] = {
      "/usr/bin/python3 -W ignore -c 'import crypt,sys; print(\"kaito:\"+crypt.crypt(\"secret\", "
      "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' 2>/dev/null",
      "python3 -W ignore -c 'import crypt,sys; print(\"kaito:\"+crypt.crypt(\"secret\", "
      "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' 2>/dev/null",
      "python3 -c 'import bcrypt; print(\"kaito:\"+bcrypt.hashpw(b\"secret\", "
      "bcrypt.gensalt(4)).decode())' 2>/dev/null",
      "htpasswd -Bbn -C 4 kaito secret 2>/dev/null",
  };
  for (const char* cmd : tries) {
    auto r = run_command(cmd);
    if (r.exit_code == 0 && r.out.rfind("kaito:$2", 0) == 0)
      return r.out.substr(0, r.out.find('\n'));
  }
  return "";
}

inline constexpr const char* registry_bin = "/usr/bin/docker-registry";
inline constexpr const char* skopeo_bin = "/usr/bin/skopeo";

// docker-registry serving <dir>/storage on 127.0.0.1:port; with htpasswd auth when `htpasswd` is
// not empty. Stopped (SIGTERM) when destroyed.
struct registry_peer {
  int port = 0;
  std::string dir;
  std::unique_ptr<child_process> process;

  // ADD_FAILUREs and returns false when it does not come up.
  bool start(const std::string& dir_, const std::string& htpasswd = "") {
    dir = dir_;
    port = free_port();
    std::string config =
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n  filesystem:\n    rootdirectory: " +
        dir + "/storage\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port) +
        "\n  secret: kaito-test\n";
    if (!htpasswd.empty()) {
      write_file(dir + "/htpasswd", htpasswd + "\n");
      config += "auth:\n  htpasswd:\n    realm: kaito-test\n    path: " + dir + "/htpasswd\n";
    }
    write_file(dir + "/config.yml", config);
    process = std::make_unique<child_process>(
        std::vector<std::string>{registry_bin, "serve", dir + "/config.yml"},
        dir + "/registry.log");
    if (wait_for_port(port, std::chrono::seconds(20))) return true;
    ADD_FAILURE() << "docker-registry did not start: " << read_file(dir + "/registry.log");
    return false;
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
  // skopeo with HOME in the registry's folder (its auth file stays there).
  command_result skopeo(const std::string& args) const {
    return run_command("HOME=" + dir + " " + skopeo_bin + " " + args + " 2>&1");
  }
};

// Every regular file the layer holds (any prefix), through extract_layer in a temp folder.
inline result<std::map<std::string, std::string>> layer_files(const std::string& bytes,
                                                              uint64_t limit) {
  temp_dir d;
  write_file(d.path + "/layer", bytes);
  std::filesystem::create_directories(d.path + "/out");
  auto written = extract_layer(d.path + "/layer", "", d.path + "/out", limit);
  if (!written.ok()) return written.error();
  std::map<std::string, std::string> files;
  for (const std::string& rel : *written) files[rel] = read_file(d.path + "/out/" + rel);
  return files;
}

}  // namespace kaito::k8s::artifacts::testing
