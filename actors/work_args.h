// work_args: a work unit's flags (the Pod's container args, "--flag=value" or "--flag value"),
// parsed into the task a gpu_worker runs.
//
//   --task=self-test|serve-self-test   the device burn-in (actors/self_test.h's flags:
//                                      --duration-seconds, --gemm-size, --gemm-m/n/k, --memory-mib)
//   --task=tune                        a Kaito tuning Job's work (actors/tune_unit.h):
//     --preset=NAME            the model (required): <model dir> = --model-dir, else
//                              $KAITO_MODELS_DIR/NAME (actors/model_store.h)
//     --method=qlora|lora      default qlora
//     --input-url=URL          repeatable: tuning.input.urls
//     --input-image=REF        tuning.input.image (its /data goes to --data-dir); exactly one of
//                              --input-url and --input-image
//     --pull-secret=PATH       repeatable: a .dockerconfigjson for pulling --input-image (the
//                              projected source.imagePullSecrets)
//     --output-image=REF       required: tuning.output.image (the adapter is pushed there)
//     --docker-config=PATH     push credentials (default /root/.docker/config.json, the
//                              projected imagePushSecret; absent: push anonymously)
//     --config-file=PATH       Kaito's training_config.yaml (default
//                              /mnt/config/training_config.yaml; absent: the method's defaults)
//     --data-dir=PATH          default /mnt/data      --results-dir=PATH  default /mnt/results
//     --model-dir=PATH         a folder on the machine instead of $KAITO_MODELS_DIR/<preset>
//     --input-volume, --output-volume: unimplemented, naming the tuning field
//   --task=serve                       an inference pod's work (actors/serve_unit.h):
//     --preset=NAME            the model (required), as for tune; also the served model name
//     --port=N                 1..65535, default 5000 (the worker listens on N + its slot)
//     --model-dir=PATH         as for tune
//     --adapter-image=NAME=REF repeatable: inference.adapters[].source (name, image), pulled
//                              into /mnt/adapter/NAME; NAME a DNS-1123 name, once
//     --runtime=vllm|transformers  what Kaito's runtime makes of the adapters (annotation
//                              kaito.sh/runtime): vllm serves each as a LoRA module, the model
//                              NAME (--lora-modules); transformers (the default) merges them
//                              into the base at their strengths
//     --adapter-strength=NAME=S inference.adapters[].strength, a number in [0, 1] (default 1);
//                              the transformers runtime's only
//     --pull-secret=PATH       repeatable, as for tune: credentials for the adapter images
//     --chat-template=NAME     a preset's template (presets/chat_templates/NAME.jinja, compiled
//                              in) for a model folder whose tokenizer_config.json has none
//     --tool-call-parser=NAME  the model's tool call format for tool_choice "auto" (hermes,
//                              llama3_json, mistral, none; protocol/api/tool_call_parser.h);
//                              absent: detected from the chat template
//     --disable-rate-limit=true|false  Kaito's --kaito-disable-rate-limit: no 429 when more
//                              requests wait than max-num-seqs (actors/queue_guard.h)
//     --config-file=PATH       Kaito's inference_config.yaml (default
//                              /mnt/config/inference_config.yaml; absent: the defaults;
//                              actors/inference_config.h)
//     --adapter-volume=NAME    unimplemented, naming inference.adapters
// The other paths are container paths, resolved under the unit's root (work_unit.root). A
// flag a task does not take, an unknown flag, a missing value or a bad number is
// invalid_argument naming the flag.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "actors/self_test.h"
#include "base/status.h"

namespace kaito::actors {

struct tune_args {
  std::string preset, method = "qlora";
  std::vector<std::string> input_urls;
  std::string input_image;                // "" = input_urls
  std::vector<std::string> pull_secrets;  // docker config files for input_image
  std::string output_image;
  std::string docker_config = "/root/.docker/config.json";
  std::string config_file = "/mnt/config/training_config.yaml";
  std::string data_dir = "/mnt/data", results_dir = "/mnt/results";
  std::string model_dir;  // "" = $KAITO_MODELS_DIR/<preset>
};

struct adapter_source {
  std::string name, image;
  float strength = 1.0f;
};

struct serve_args {
  std::string preset;
  int64_t port = 5000;
  std::string model_dir;                  // "" = $KAITO_MODELS_DIR/<preset>
  std::vector<adapter_source> adapters;   // in flag order (the merge's order)
  std::vector<std::string> pull_secrets;  // docker config files for the adapter images
  std::vector<std::pair<std::string, float>> strengths;  // as given; folded into adapters
  std::string config_file = "/mnt/config/inference_config.yaml";
  std::string chat_template;     // a builtin_chat_template name, "" = none
  std::string tool_call_parser;  // "" = detected from the chat template
  bool rate_limit = true;        // false: --disable-rate-limit=true (queue_guard.h)
  // "vllm": the adapters are LoRA modules requested by name; "transformers": merged.
  std::string runtime = "transformers";
};

struct work_args {
  std::string task;  // "self-test" | "serve-self-test" | "tune" | "serve"
  self_test_options self_test;
  tune_args tune;
  serve_args serve;
};
result<work_args> parse_work_args(const std::vector<std::string>& args);

}  // namespace kaito::actors
