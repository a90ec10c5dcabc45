// model_store; see model_store.h.
#include "actors/model_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "actors/image_inputs.h"

namespace kaito::actors {
namespace {

namespace fs = std::filesystem;

constexpr const char* kImageVar = "KAITO_MODEL_IMAGE";

bool has_model(const std::string& dir) {
  std::error_code ec;
  return fs::exists(dir + "/config.json", ec);
}

// An exclusive flock on a file, released at scope exit.
class file_lock {
 public:
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  // Waits for the lock, looking at *cancel every 100 ms.
  status acquire(const std::string& path, const std::atomic<bool>* cancel) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return io_error("cannot open the lock file", path);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) return io_error("cannot lock", path);
      if (cancel && cancel->load()) return status(status_code::unavailable, "cancelled");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return {};
  }

 private:
  int fd_ = -1;
};

result<std::string> pull_model(const std::string& preset, const std::string& dir,
                               const model_source& src, const std::atomic<bool>* cancel,
                               const std::function<void(const std::string&)>& note) {
  std::error_code ec;
  fs::create_directories(src.models_dir, ec);
  if (ec)
    return io_error("cannot create " + src.models_dir + ": " + ec.message(), "KAITO_MODELS_DIR");
  file_lock lock;
  KAITO_TRY(lock.acquire(src.models_dir + "/." + preset + ".lock", cancel));
  if (has_model(dir)) return dir;  // another pod pulled it while we waited
  const std::string image = model_image_for(src.image, preset);
  if (note) note("pulling " + image + " for " + preset);
  std::vector<std::string> configs;
  if (!src.docker_config.empty()) configs.push_back(src.docker_config);
  KAITO_TRY(pull_image_data({.image = image,
                             .field = kImageVar,
                             .docker_configs = configs,
                             .dest_dir = dir,
                             .prefix = "",
                             .max_bytes = 4ull << 40},
                            cancel)
                .take_status());
  if (!has_model(dir))
    return status(status_code::failed_precondition,
                  image +
                      " has no config.json (want a Hugging Face folder: config.json, "
                      "*.safetensors, tokenizer.json, tokenizer_config.json)",
                  kImageVar);
  return dir;
}

}  // namespace

model_source model_source::from_env() {
  model_source s;
  if (const char* v = std::getenv("KAITO_MODELS_DIR")) s.models_dir = v;
  if (const char* v = std::getenv(kImageVar)) s.image = v;
  if (const char* v = std::getenv("KAITO_MODEL_DOCKER_CONFIG")) s.docker_config = v;
  return s;
}

std::string model_image_for(const std::string& image_template, const std::string& preset) {
  std::string out;
  const std::string key = "{preset}";
  size_t at = 0;
  while (true) {
    size_t hit = image_template.find(key, at);
    out += image_template.substr(at, hit == std::string::npos ? std::string::npos : hit - at);
    if (hit == std::string::npos) break;
    out += preset;
    at = hit + key.size();
  }
  return out;
}

result<std::string> preset_model_dir(const std::string& preset, const std::string& model_dir_flag,
                                     const model_source& src, const std::atomic<bool>* cancel,
                                     const std::function<void(const std::string&)>& note) {
  if (!model_dir_flag.empty()) {
    if (has_model(model_dir_flag)) return model_dir_flag;
    return status(status_code::failed_precondition,
                  "no Hugging Face model for preset " + preset + " at " + model_dir_flag +
                      " (want config.json, *.safetensors, tokenizer.json, tokenizer_config.json)",
                  "--model-dir");
  }
  if (src.models_dir.empty())
    return status(status_code::failed_precondition,
                  "no model folder for preset " + preset +
                      ": start the machine with --models DIR (DIR/" + preset +
                      "/ a Hugging Face folder, or --model-image to pull it there)",
                  "KAITO_MODELS_DIR");
  const std::string dir = src.models_dir + "/" + preset;
  if (has_model(dir)) return dir;
  if (src.image.empty())
    return status(status_code::failed_precondition,
                  "no Hugging Face model for preset " + preset + " at " + dir +
                      " (want config.json, *.safetensors, tokenizer.json, "
                      "tokenizer_config.json; or start the machine with --model-image to pull it)",
                  "KAITO_MODELS_DIR");
  return pull_model(preset, dir, src, cancel, note);
}

}  // namespace kaito::actors
