// A Hugging Face model folder for fine-tuning tests: the shared tiny Phi-3 (config.json,
// model.safetensors: hidden 64, 2 layers, vocab 384) with tests/data/tiny-chat's tokenizer.json
// (a 351-token byte-level BPE, made by its make_tokenizer.py) and tokenizer_config.json (Phi-3's
// chat template, bos <s>, eos </s>), in a fresh temporary folder; and the tune job on it and on
// tiny-chat/chat.jsonl (six conversations); and the adapter a run wrote, as bytes. Needs
// KAITO_SHARED_DIR and KAITO_SOURCE_DIR.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/tune_job.h"

namespace kaito::testing {

inline std::string tiny_chat_dir() {
  return std::string(KAITO_SOURCE_DIR) + "/tests/data/tiny-chat";
}

inline std::string tiny_chat_model_folder(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("kaito-tune-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path base = fs::path(KAITO_SHARED_DIR) / "fixtures/tiny-phi3/base";
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(base / f, dir / f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(fs::path(tiny_chat_dir()) / f, dir / f);
  return dir.string();
}

// The job on a fresh folder: lr 5e-3 so that a few passes visibly learn the six answers.
inline engine::tune_job tiny_chat_job(const std::string& name, int64_t steps) {
  engine::tune_job j;
  j.model_dir = tiny_chat_model_folder(name);
  j.data_paths = {tiny_chat_dir() + "/chat.jsonl"};
  j.out_dir = j.model_dir + "/adapter";
  j.lr = 5e-3;
  j.max_steps = steps;
  return j;
}

// The bytes of the adapter_model.safetensors a run wrote to `dir` (empty when there is none):
// runs that must end alike compare these.
inline std::string adapter_bytes(const std::string& dir) {
  std::ifstream f(dir + "/adapter_model.safetensors", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace kaito::testing
