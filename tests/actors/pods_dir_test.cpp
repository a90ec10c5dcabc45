// pods_dir: a machine's pods folder is created 0700, what a killed earlier run left is removed
// (and nothing else: the lock file stays), and a second machine on the same folder is refused
// until the first lets go.
#include "actors/pods_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace kaito::actors {
namespace {

namespace fs = std::filesystem;

TEST(PodsDir, ClaimClearsStaleEntriesAndExcludesASecondMachine) {
  fs::path dir = fs::temp_directory_path() / ("kaito-pods-dir-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  // What a machine killed with -9 leaves: pod folders with files, a loose file.
  fs::create_directories(dir / "3f1c-uid-a" / "mnt" / "results");
  std::ofstream(dir / "3f1c-uid-a" / "mnt" / "results" / "adapter_model.safetensors") << "x";
  fs::create_directories(dir / "uid-b");
  std::ofstream(dir / "stray") << "y";

  {
    auto first = claim_pods_dir(dir.string());
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    EXPECT_TRUE(first->held());
    EXPECT_EQ(first->removed.size(), 3u);
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
    EXPECT_EQ(left, std::vector<std::string>{".lock"});
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    fs::create_directories(dir / "live-pod");  // the first machine's pod, running
    auto second = claim_pods_dir(dir.string());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), status_code::failed_precondition);
    EXPECT_EQ(second.error().where(), "pods_dir");
    EXPECT_TRUE(fs::exists(dir / "live-pod"));  // a refused claim removes nothing

    pods_dir_claim moved = std::move(*first);  // the lock travels with the claim
    EXPECT_TRUE(moved.held());
    EXPECT_FALSE(claim_pods_dir(dir.string()).ok());
  }
  // Let go: the next machine gets it and clears the dead one's pod.
  auto next = claim_pods_dir(dir.string());
  ASSERT_TRUE(next.ok()) << next.error().to_string();
  EXPECT_EQ(next->removed, std::vector<std::string>{"live-pod"});
  fs::remove_all(dir);
}

TEST(PodsDir, AFileWhereTheFolderShouldBeIsAnError) {
  fs::path file = fs::temp_directory_path() / ("kaito-pods-file-" + std::to_string(::getpid()));
  std::ofstream(file) << "not a folder";
  auto r = claim_pods_dir(file.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::io_error);
  EXPECT_EQ(r.error().where(), "pods_dir");
  fs::remove(file);
}

}  // namespace
}  // namespace kaito::actors
