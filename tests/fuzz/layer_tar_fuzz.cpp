// libFuzzer target: a pulled layer is untrusted. extract_layer on any bytes (as a file) never
// crashes or hangs, and writes only below its folder:
// every path it returns is relative without "..", everything on disk afterwards is a regular file
// or folder inside the folder, the budget only goes down, and errors are data_loss,
// resource_exhausted or invalid_argument (a ".." entry).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "k8s/artifacts/layer_extract.h"

namespace {

namespace fs = std::filesystem;

void check_extract(std::string_view bytes) {
  static const fs::path base =
      fs::temp_directory_path() / ("kaito-layer-fuzz-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(base, ec);
  fs::create_directories(base / "dest", ec);
  {
    std::ofstream f(base / "layer", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  uint64_t budget = 1 << 20;
  auto files = kaito::k8s::artifacts::extract_layer((base / "layer").string(), "",
                                                    (base / "dest").string(), budget);
  if (budget > (1 << 20)) __builtin_trap();
  if (files.ok()) {
    for (const auto& p : *files)
      if (p.empty() || p[0] == '/' || p.find("..") != std::string::npos) __builtin_trap();
  } else if (files.error().code() != kaito::status_code::data_loss &&
             files.error().code() != kaito::status_code::resource_exhausted &&
             files.error().code() != kaito::status_code::invalid_argument) {
    __builtin_trap();
  }
  for (const auto& e : fs::recursive_directory_iterator(base / "dest", ec)) {
    auto st = fs::symlink_status(e.path(), ec);
    if (!fs::is_regular_file(st) && !fs::is_directory(st)) __builtin_trap();
  }
  // Nothing next to dest but the layer file.
  for (const auto& e : fs::directory_iterator(base, ec))
    if (e.path().filename() != "dest" && e.path().filename() != "layer") __builtin_trap();
  fs::remove_all(base, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_extract(bytes);
  return 0;
}
