// tune_unit; see tune_unit.h.
#include "actors/tune_unit.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "actors/image_inputs.h"
#include "actors/training_config.h"
#include "engine/file_text.h"
#include "engine/sft_dataset.h"
#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/data_download.h"
#include "k8s/artifacts/docker_config.h"
#include "k8s/artifacts/image_reference.h"
#include "k8s/artifacts/oci_push.h"

namespace kaito::actors {

namespace {

namespace fs = std::filesystem;
namespace art = k8s::artifacts;

// The dataset files of a pulled image, as Kaito's dataset.py picks them: names containing json,
// parquet or csv (Kaito takes the first such file; we take them all, sorted). Arrow files, which
// Kaito also reads, are refused by name when they are all there is.
result<std::vector<std::string>> dataset_files(const std::vector<std::string>& written,
                                               const std::string& dir) {
  std::vector<std::string> files, unread;
  for (const std::string& rel : written) {
    std::string name = fs::path(rel).filename().string();
    if (name.find("json") != std::string::npos || name.find("parquet") != std::string::npos ||
        engine::is_csv_name(name))
      files.push_back((fs::path(dir) / rel).string());
    else if (name.find("arrow") != std::string::npos || name.find("csv") != std::string::npos)
      unread.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  if (files.empty() && !unread.empty())
    return status(status_code::unimplemented,
                  "Arrow datasets are not read yet (" + unread[0] +
                      "): give JSONL, JSON, Parquet or CSV (a .csv name)",
                  "tuning.input.image");
  if (files.empty())
    return invalid_argument(
        "the image's /data has no dataset file (a name with json, parquet or csv in it)",
        "tuning.input.image");
  return files;
}

std::string loss_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

}  // namespace

result<tune_unit_result> run_tune_unit(
    const tune_args& a, const tune_unit_env& env, const std::atomic<bool>& cancel,
    const std::function<void(const std::string&, uint32_t)>& on_progress) {
  auto progress = [&](const std::string& text, uint32_t permille) {
    if (on_progress) on_progress(text, permille);
  };
  tune_unit_result out;
  // 1. The model.
  KAITO_ASSIGN_OR_RETURN(std::string model_dir,
                         preset_model_dir(a.preset, a.model_dir, env.models, &cancel,
                                          [&](const std::string& text) { progress(text, 0); }));
  std::error_code ec;
  // 2. Where the adapter goes, and with which credentials.
  KAITO_ASSIGN_OR_RETURN(art::image_reference ref,
                         art::parse_image_reference(a.output_image, "--output-image"));
  art::push_options push;
  push.cancel = &cancel;
  const std::string docker_config = under_root(env.root, a.docker_config);
  KAITO_ASSIGN_OR_RETURN(auto cfg_text,
                         engine::read_text_if_present(docker_config, "--docker-config"));
  if (cfg_text) {
    KAITO_ASSIGN_OR_RETURN(push.credentials,
                           art::credentials_for(*cfg_text, ref.registry, a.docker_config));
  }
  // 3. The data.
  const std::string data_dir = under_root(env.root, a.data_dir);
  fs::create_directories(data_dir, ec);
  if (ec) return io_error("cannot create " + data_dir + ": " + ec.message(), "--data-dir");
  result<std::vector<std::string>> files = std::vector<std::string>();
  if (!a.input_image.empty()) {
    progress("pulling " + a.input_image, 0);
    std::vector<std::string> configs;
    for (const std::string& p : a.pull_secrets) configs.push_back(under_root(env.root, p));
    auto written = pull_image_data({.image = a.input_image,
                                    .field = "tuning.input.image",
                                    .docker_configs = configs,
                                    .dest_dir = data_dir},
                                   &cancel);
    files = written.ok() ? dataset_files(*written, data_dir) : written;
  } else {
    progress("downloading " + std::to_string(a.input_urls.size()) + " input file(s)", 0);
    art::download_options dl;
    dl.cancel = &cancel;
    files = art::download_urls(a.input_urls, data_dir, dl);
  }
  if (cancel) {
    out.cancelled = true;
    return out;
  }
  if (!files.ok()) return files.error();
  // 4. The job and its config.
  engine::tune_job job;
  job.model_dir = model_dir;
  job.data_paths = *files;
  job.qlora = a.method == "qlora";
  std::string results = a.results_dir;
  KAITO_ASSIGN_OR_RETURN(auto cfg_yaml, engine::read_text_if_present(
                                            under_root(env.root, a.config_file), "--config-file"));
  std::string notes;
  if (cfg_yaml) {
    auto eff = apply_training_config(*cfg_yaml, &job);
    if (!eff.ok())
      return status(eff.error().code(), eff.error().message(),
                    a.config_file + ": " + eff.error().where());
    if (!eff->output_dir.empty()) results = eff->output_dir;
    if (!eff->ignored.empty()) {
      notes = "; not applied: ";
      for (size_t i = 0; i < eff->ignored.size(); ++i) notes += (i ? ", " : "") + eff->ignored[i];
    }
  }
  job.out_dir = under_root(env.root, results);
  KAITO_TRY(engine::validate_tune_job(job));
  // 5. Training.
  progress("training " + a.method + " on " + std::to_string(files->size()) + " file(s)" + notes, 0);
  auto on_step = [&](const engine::step_info& s, int64_t total) {
    uint32_t permille = total > 0 ? static_cast<uint32_t>(s.step * 950 / total) : 0;
    progress("step " + std::to_string(s.step) + "/" + std::to_string(total) + " loss " +
                 loss_text(s.loss),
             permille);
    return !cancel.load();
  };
  auto sum = env.runner ? env.runner(job, on_step) : engine::run_tune_job(job, on_step);
  if (!sum.ok()) return sum.error();
  if (sum->stopped || cancel) {
    out.cancelled = true;
    return out;
  }
  out.steps = sum->steps;
  out.examples = sum->examples;
  out.first_loss = sum->first_loss;
  out.last_loss = sum->last_loss;
  // 6. Kaito's sentinel: the adapter is complete.
  {
    std::ofstream s(job.out_dir + "/fine_tuning_completed.txt");
    s << "Fine-Tuning completed at step " << sum->steps << "\n";
    if (!s) return io_error("cannot write fine_tuning_completed.txt", job.out_dir);
  }
  // 7. The image.
  progress("pushing the adapter to " + ref.str(), 960);
  KAITO_ASSIGN_OR_RETURN(art::adapter_image img, art::build_adapter_image(job.out_dir, a.preset));
  auto digest = art::push_image(ref, img, push);
  if (cancel) {
    out.cancelled = true;
    return out;
  }
  if (!digest.ok()) return digest.error();
  out.image = ref.str() + "@" + *digest;
  out.message = "tuned " + std::to_string(out.steps) + " steps over " +
                std::to_string(out.examples) + " examples (loss " + loss_text(out.first_loss) +
                " -> " + loss_text(out.last_loss) + "); pushed " + out.image;
  return out;
}

}  // namespace kaito::actors
