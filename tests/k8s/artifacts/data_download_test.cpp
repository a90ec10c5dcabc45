// data_download against a real HTTP peer (python3 http_peer.py on 127.0.0.1): success, 404,
// retries, redirects, empty bodies, max_bytes, duplicate names, refused schemes, cancellation.
#include "k8s/artifacts/data_download.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/k8s/artifacts/peers.h"

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;
using testing::child_process;
using testing::read_file;
using testing::temp_dir;
using testing::write_file;

const char* python = "/usr/bin/python3";

class DataDownload : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(python)) GTEST_SKIP() << "no " << python;
    write_file(served_.path + "/train.jsonl", "{\"messages\":[]}\n");
    write_file(served_.path + "/eval.parquet", "PAR1....PAR1");
    port_ = testing::free_port();
    peer_ = std::make_unique<child_process>(
        std::vector<std::string>{python, KAITO_SOURCE_DIR "/tests/k8s/artifacts/http_peer.py",
                                 std::to_string(port_), served_.path},
        served_.path + "/peer.log");
    ASSERT_TRUE(testing::wait_for_port(port_, std::chrono::seconds(10)))
        << read_file(served_.path + "/peer.log");
    opts_.retry_delay = std::chrono::milliseconds(20);
    opts_.timeout = std::chrono::seconds(30);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int count(const std::string& key) {
    temp_dir d;
    auto r = download_urls({url("/count/" + key)}, d.path, opts_);
    return r.ok() ? std::stoi(read_file(d.path + "/" + key)) : -1;
  }
  // Nothing but the finished files in out_ (no .part left behind).
  std::vector<std::string> files_in_out() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(out_.path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  temp_dir served_, out_;
  int port_ = 0;
  std::unique_ptr<child_process> peer_;
  download_options opts_;
};

TEST_F(DataDownload, Success) {
  auto r =
      download_urls({url("/files/train.jsonl?sig=abc&se=2025#frag"), url("/files/eval.parquet")},
                    out_.path + "/data", opts_);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0], out_.path + "/data/train.jsonl");
  EXPECT_EQ((*r)[1], out_.path + "/data/eval.parquet");
  EXPECT_EQ(read_file((*r)[0]), "{\"messages\":[]}\n");
  EXPECT_EQ(read_file((*r)[1]), "PAR1....PAR1");
  EXPECT_FALSE(fs::exists(out_.path + "/data/train.jsonl.part"));
}

TEST_F(DataDownload, NotFoundNamesTheUrlAndStatus) {
  auto r = download_urls({url("/files/train.jsonl"), url("/missing/gone.jsonl")}, out_.path, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::not_found);
  EXPECT_EQ(r.error().where(), "input.urls[1]");
  EXPECT_NE(r.error().message().find(url("/missing/gone.jsonl")), std::string::npos);
  EXPECT_NE(r.error().message().find("404"), std::string::npos) << r.error().message();
  EXPECT_EQ(count("gone.jsonl"), 3);  // Kaito's script tries every failure 3 times
  EXPECT_EQ(files_in_out(), std::vector<std::string>{"train.jsonl"});
}

TEST_F(DataDownload, RetriesUntilSuccess) {
  auto r = download_urls({url("/flaky/2/k1/train.jsonl")}, out_.path, opts_);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(read_file(out_.path + "/train.jsonl"), "{\"messages\":[]}\n");
  EXPECT_EQ(count("k1"), 3);

  auto fail = download_urls({url("/flaky/5/k2/eval.parquet")}, out_.path, opts_);
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().code(), status_code::unavailable);
  EXPECT_NE(fail.error().message().find("500"), std::string::npos) << fail.error().message();
  EXPECT_NE(fail.error().message().find("after 3 attempts"), std::string::npos);
  EXPECT_FALSE(fs::exists(out_.path + "/eval.parquet"));
  EXPECT_FALSE(fs::exists(out_.path + "/eval.parquet.part"));
}

TEST_F(DataDownload, FollowsRedirectsKeepingTheName) {
  auto r = download_urls({url("/redirect/eval.parquet")}, out_.path, opts_);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(read_file(out_.path + "/eval.parquet"), "PAR1....PAR1");

  auto ftp = download_urls({url("/redirect-ftp/x.bin")}, out_.path, opts_);
  ASSERT_FALSE(ftp.ok());
  EXPECT_EQ(ftp.error().where(), "input.urls[0]");
  EXPECT_FALSE(fs::exists(out_.path + "/x.bin"));
}

TEST_F(DataDownload, EmptyBodyFails) {
  auto r = download_urls({url("/empty/nothing.jsonl")}, out_.path, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::failed_precondition);
  EXPECT_NE(r.error().message().find("empty"), std::string::npos);
  EXPECT_TRUE(files_in_out().empty());
}

TEST_F(DataDownload, MaxBytes) {
  opts_.max_bytes = 1000;
  auto r = download_urls({url("/big/1000/ok.bin")}, out_.path, opts_);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(fs::file_size(out_.path + "/ok.bin"), 1000u);
  auto big = download_urls({url("/big/200000/big.bin")}, out_.path, opts_);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), status_code::resource_exhausted);
  EXPECT_EQ(big.error().where(), "input.urls[0]");
  EXPECT_NE(big.error().message().find(url("/big/200000/big.bin")), std::string::npos);
  EXPECT_EQ(count("big.bin"), 1);  // not retried
  EXPECT_EQ(files_in_out(), std::vector<std::string>{"ok.bin"});
}

TEST_F(DataDownload, DuplicateNamesRefusedBeforeFetching) {
  auto r = download_urls(
      {url("/files/train.jsonl"), url("/files/eval.parquet"), url("/missing/train.jsonl?v=2")},
      out_.path, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::invalid_argument);
  EXPECT_EQ(r.error().where(), "input.urls[2]");
  EXPECT_NE(r.error().message().find("input.urls[0]"), std::string::npos);
  EXPECT_TRUE(files_in_out().empty());
  EXPECT_EQ(count("train.jsonl"), 0);
}

TEST_F(DataDownload, RefusedSchemes) {
  for (const char* bad :
       {"ftp://127.0.0.1/x.jsonl", "file:///etc/passwd", "gopher://h/x", "/local/path.jsonl"}) {
    auto r = download_urls({url("/files/train.jsonl"), bad}, out_.path, opts_);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), status_code::invalid_argument) << bad;
    EXPECT_EQ(r.error().where(), "input.urls[1]");
  }
  EXPECT_TRUE(files_in_out().empty());
}

TEST_F(DataDownload, ConnectionRefusedAndCancel) {
  int closed = testing::free_port();
  auto r =
      download_urls({"http://127.0.0.1:" + std::to_string(closed) + "/x.jsonl"}, out_.path, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::unavailable);
  EXPECT_EQ(r.error().where(), "input.urls[0]");

  std::atomic<bool> cancel{false};
  opts_.cancel = &cancel;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  auto slow = download_urls({url("/slow/late.txt")}, out_.path, opts_);
  stopper.join();
  ASSERT_FALSE(slow.ok());
  EXPECT_NE(slow.error().message().find("cancelled"), std::string::npos) << slow.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(files_in_out().empty());
}

TEST(UrlFileName, Table) {
  const std::pair<std::string, std::string> good[] = {
      {"https://h.io/datasets/train.parquet", "train.parquet"},
      {"https://h.io/a/b.jsonl?sv=2024&sig=x%2F", "b.jsonl"},
      {"http://h.io/a/b.jsonl#part", "b.jsonl"},
      {"http://h.io/a/b.jsonl?x=1#y", "b.jsonl"},
      {"HTTPS://h.io/x%20y.csv", "x%20y.csv"},
      {"http://127.0.0.1:8000/f", "f"},
  };
  for (const auto& [u, name] : good) {
    auto r = url_file_name(u, "input.urls[0]");
    ASSERT_TRUE(r.ok()) << u << ": " << r.error().to_string();
    EXPECT_EQ(*r, name);
  }
  for (const char* bad :
       {"https://h.io", "https://h.io/", "https://h.io/dir/", "https://h.io/.", "https://h.io/a/..",
        "https://h.io?x=/a.json", "http:///x.json", "ftp://h.io/a.json", "h.io/a.json", ""}) {
    auto r = url_file_name(bad, "input.urls[3]");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().where(), "input.urls[3]");
  }
}

}  // namespace
}  // namespace kaito::k8s::artifacts
