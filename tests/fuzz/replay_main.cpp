// Replays a libFuzzer corpus without libFuzzer: every regular file under each argument (a file or
// a directory, searched recursively) is fed once to LLVMFuzzerTestOneInput. Built under gcc as a
// CTest so that CI exercises every fuzz target's checked-in corpus on every run. A crash, a
// sanitizer report or a hang (CTest timeout) fails the test.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
int replay_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return 1;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int files = 0, errors = 0;
  for (int i = 1; i < argc; ++i) {
    fs::path root(argv[i]);
    if (fs::is_directory(root)) {
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        errors += replay_file(e.path());
        ++files;
      }
    } else {
      errors += replay_file(root);
      ++files;
    }
  }
  if (files == 0) {
    std::fprintf(stderr, "replay: no corpus files found\n");
    return 1;
  }
  std::printf("replayed %d corpus files\n", files);
  return errors == 0 ? 0 : 1;
}
