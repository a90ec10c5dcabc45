// model_store: where a work unit finds its preset's Hugging Face model folder on the machine, and
// how a machine without it gets it: Kaito's `model-weights-downloader` init container (`oras pull
// <registry>/kaito-<preset>:<tag> -o /workspace/weights`), but into a cache shared by the
// machine's pods.
//
//   auto dir = preset_model_dir("phi-3-mini-128k-instruct", a.model_dir, model_source::from_env(),
//                               &cancel, note);
//
// The folder is --model-dir when given; else <models_dir>/<preset>/ ($KAITO_MODELS_DIR, from
// `kaito up|join --models DIR`) when it holds config.json. Otherwise, when the machine has a model
// image template ($KAITO_MODEL_IMAGE, `--model-image`, e.g.
// "myacr.azurecr.io/kaito/kaito-{preset}:0.1.0", every "{preset}" replaced by the preset's
// name), that image is pulled into <models_dir>/<preset>/ (k8s/artifacts/oci_pull.h: an oras
// file artifact's titled files, or an image's whole file system; staged, so the folder appears
// whole or not at all), with the credentials of $KAITO_MODEL_DOCKER_CONFIG (a .dockerconfigjson,
// `--model-pull-secret`). Pods of one machine that need the same preset at once take turns on
// <models_dir>/.<preset>.lock (flock): the first pulls, the others find the folder. `note` hears
// "pulling <image> for <preset>" before a pull.
// Errors: failed_precondition naming KAITO_MODELS_DIR (not set, or no model and no image to pull)
// or --model-dir (no config.json); a pull's error naming KAITO_MODEL_IMAGE; failed_precondition
// when the pulled image has no config.json; unavailable "cancelled" when cancel is set while
// waiting or pulling.
// Thread-safety: any thread; the lock is per process and file.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "base/status.h"

namespace kaito::actors {

struct model_source {
  std::string models_dir;     // KAITO_MODELS_DIR
  std::string image;          // KAITO_MODEL_IMAGE, with {preset}; "" = never pull
  std::string docker_config;  // KAITO_MODEL_DOCKER_CONFIG; "" = anonymous
  // The three from the environment a machine gives its workers.
  static model_source from_env();
};

// The template with every "{preset}" replaced.
std::string model_image_for(const std::string& image_template, const std::string& preset);

result<std::string> preset_model_dir(const std::string& preset, const std::string& model_dir_flag,
                                     const model_source& src,
                                     const std::atomic<bool>* cancel = nullptr,
                                     const std::function<void(const std::string&)>& note = {});

}  // namespace kaito::actors
