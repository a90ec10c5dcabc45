// image_inputs; see image_inputs.h.
#include "actors/image_inputs.h"

#include <filesystem>

#include "engine/file_text.h"
#include "k8s/artifacts/docker_config.h"
#include "k8s/artifacts/image_reference.h"
#include "k8s/artifacts/oci_pull.h"

namespace kaito::actors {

namespace art = k8s::artifacts;

std::string under_root(const std::string& root, const std::string& container_path) {
  if (root.empty()) return container_path;
  return (std::filesystem::path(root) / std::filesystem::path(container_path).relative_path())
      .string();
}

result<std::vector<std::string>> pull_image_data(const image_input& in,
                                                 const std::atomic<bool>* cancel) {
  auto named = [&](const status& s) {
    std::string where = in.field + (s.where().empty() ? "" : ": " + s.where());
    return status(s.code(), s.message(), where);
  };
  auto ref = art::parse_image_reference(in.image, in.field);
  if (!ref.ok()) return ref.error();
  art::registry_options o;
  o.cancel = cancel;
  for (const std::string& path : in.docker_configs) {
    auto text = engine::read_text(path);
    if (!text.ok()) return named(engine::in_file(text.error(), path));
    auto creds = art::credentials_for(*text, ref->registry, path);
    if (!creds.ok()) return named(creds.error());
    if (!creds->empty()) {
      o.credentials = *creds;
      break;
    }
  }
  auto pulled = art::pull_image(
      *ref, o, {.dest_dir = in.dest_dir, .prefix = in.prefix, .max_bytes = in.max_bytes});
  if (!pulled.ok()) return named(pulled.error());
  return pulled->files;
}

}  // namespace kaito::actors
