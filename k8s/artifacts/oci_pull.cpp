// Pulling an image over the OCI Distribution API; see oci_pull.h.
#include "k8s/artifacts/oci_pull.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/encoding.h"

namespace kaito::k8s::artifacts {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr uint64_t kMaxManifestBytes = 4ull << 20;

// j[key] when it is a string, else "".
std::string text_member(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Checks bytes against a "sha256:<hex>" digest.
status verify_digest(std::string_view what, const std::string& digest, std::string_view bytes) {
  if (digest.rfind("sha256:", 0) != 0)
    return status(status_code::unimplemented, "only sha256 digests are supported", digest);
  std::string got = sha256_digest(bytes);
  if (got != digest)
    return data_loss(std::string(what) + " " + digest + ": the registry sent " + got);
  return {};
}

bool tar_layer(const std::string& media_type) {
  return media_type == oci_layer_media_type ||
         media_type == "application/vnd.oci.image.layer.v1.tar" ||
         media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip" || media_type.empty();
}

// Applies one layer's files onto the image's (whiteouts as in the OCI image spec).
void apply_layer(std::map<std::string, std::string>& files,
                 std::map<std::string, std::string>&& layer) {
  auto remove_under = [&](const std::string& dir_prefix) {
    for (auto it = files.lower_bound(dir_prefix);
         it != files.end() && it->first.compare(0, dir_prefix.size(), dir_prefix) == 0;)
      it = files.erase(it);
  };
  auto split = [](const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return std::pair<std::string, std::string>("", path);
    return std::pair(path.substr(0, slash + 1), path.substr(slash + 1));
  };
  for (const auto& [path, bytes] : layer) {
    auto [dir, base] = split(path);
    if (base == ".wh..wh..opq") {
      remove_under(dir);
    } else if (base.rfind(".wh.", 0) == 0) {
      std::string target = dir + base.substr(4);
      files.erase(target);
      remove_under(target + "/");
    }
  }
  for (auto& [path, bytes] : layer)
    if (split(path).second.rfind(".wh.", 0) != 0) files[path] = std::move(bytes);
}

class puller {
 public:
  puller(const image_reference& ref, const registry_options& o, uint64_t max_bytes)
      : ref_(ref), s_(ref, o, "pull"), max_bytes_(max_bytes) {}

  result<pulled_image> run() {
    pulled_image img;
    oci_manifest m;
    std::string reference = ref_.digest.empty() ? ref_.tag : ref_.digest;
    KAITO_TRY(s_.with_retries("pull manifest",
                              [&] { return fetch_manifest(reference, m, img.manifest_digest); }));
    if (m.index) {
      KAITO_ASSIGN_OR_RETURN(oci_descriptor d, pick_platform(m));
      KAITO_TRY(s_.with_retries("pull manifest " + d.digest,
                                [&] { return fetch_manifest(d.digest, m, img.manifest_digest); }));
      if (m.index) return invalid_argument("an image index inside an image index", d.digest);
    }
    img.annotations = m.annotations;
    for (size_t i = 0; i < m.entries.size(); ++i) {
      const oci_descriptor& d = m.entries[i];
      if (!tar_layer(d.media_type))
        return status(status_code::unimplemented,
                      "layer media type " + d.media_type + " is not supported",
                      "layers[" + std::to_string(i) + "]");
      std::string blob;
      KAITO_TRY(s_.with_retries("pull layer " + d.digest, [&] { return fetch_blob(d, blob); }));
      used_ += blob.size();
      auto files = read_layer_files(blob, remaining());
      if (!files.ok()) return files.error().with_context("layer " + d.digest);
      for (const auto& [path, bytes] : *files) used_ += bytes.size();
      apply_layer(img.files, std::move(*files));
    }
    return img;
  }

 private:
  // GET a manifest (by tag or digest); a digest reference is verified.
  status fetch_manifest(const std::string& reference, oci_manifest& out, std::string& digest) {
    http_request rq = s_.request("GET", s_.repo_url() + "/manifests/" + reference);
    rq.headers.push_back(std::string("Accept: ") + oci_manifest_media_type + ", " + kOciIndex +
                         ", " + kDockerManifest + ", " + kDockerList);
    rq.max_body = kMaxManifestBytes;
    KAITO_ASSIGN_OR_RETURN(http_response rs, s_.send(rq));
    if (rs.status != 200) return http_status_error(rq, rs);
    if (reference.find(':') != std::string::npos) {  // a digest (tags have no ':')
      KAITO_TRY(verify_digest("manifest", reference, rs.body));
      digest = reference;
    } else {
      digest = sha256_digest(rs.body);
    }
    auto ct = rs.headers.find("content-type");
    auto m = parse_manifest(rs.body, ct == rs.headers.end() ? "" : ct->second);
    if (!m.ok()) return m.error().with_context("GET " + rq.url);
    out = std::move(*m);
    return {};
  }

  status fetch_blob(const oci_descriptor& d, std::string& out) {
    auto too_big = [&] {
      return status(status_code::resource_exhausted,
                    "the image is over " + std::to_string(max_bytes_) + " bytes", d.digest);
    };
    if (d.size >= 0 && static_cast<uint64_t>(d.size) > remaining()) return too_big();
    http_request rq = s_.request("GET", s_.repo_url() + "/blobs/" + d.digest);
    rq.follow_redirects = true;
    rq.max_body = remaining();
    auto rs = s_.send(rq);
    if (!rs.ok())
      return rs.error().code() == status_code::resource_exhausted ? too_big() : rs.error();
    if (rs->status != 200) return http_status_error(rq, *rs);
    if (d.size >= 0 && rs->body.size() != static_cast<uint64_t>(d.size))
      return data_loss("blob " + d.digest + ": " + std::to_string(rs->body.size()) +
                       " bytes, the manifest says " + std::to_string(d.size));
    KAITO_TRY(verify_digest("blob", d.digest, rs->body));
    out = std::move(rs->body);
    return {};
  }

  uint64_t remaining() const { return used_ >= max_bytes_ ? 0 : max_bytes_ - used_; }

  const image_reference& ref_;
  registry_session s_;
  uint64_t max_bytes_, used_ = 0;
};

}  // namespace

result<oci_manifest> parse_manifest(std::string_view body, std::string_view content_type) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("manifest: not a JSON object");
  oci_manifest m;
  m.media_type = text_member(j, "mediaType");
  if (m.media_type.empty())
    m.media_type = std::string(content_type.substr(0, content_type.find(';')));
  m.index = m.media_type == kOciIndex || m.media_type == kDockerList ||
            (m.media_type.empty() && j.contains("manifests") && !j.contains("layers"));
  const std::string list_key = m.index ? "manifests" : "layers";
  auto list = j.find(list_key);
  if (list == j.end() || !list->is_array())
    return invalid_argument("manifest: " + list_key + ": not an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    std::string where = list_key + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return invalid_argument("manifest: " + where + ": not an object");
    oci_descriptor d;
    d.media_type = text_member(e, "mediaType");
    d.digest = text_member(e, "digest");
    if (d.digest.empty()) return invalid_argument("manifest: " + where + ".digest: not a string");
    auto size = e.find("size");
    if (size != e.end()) {
      if (!size->is_number_unsigned() || size->get<uint64_t>() > (1ull << 62))
        return invalid_argument("manifest: " + where + ".size: not a size");
      d.size = size->get<int64_t>();
    }
    if (m.index) {
      json p = e.contains("platform") ? e["platform"] : json();
      m.platforms.push_back(text_member(p, "os") + "/" + text_member(p, "architecture"));
    }
    m.entries.push_back(std::move(d));
  }
  if (m.index && m.entries.empty()) return invalid_argument("manifest: manifests: empty");
  auto ann = j.find("annotations");
  if (ann != j.end() && ann->is_object())
    for (const auto& [k, v] : ann->items())
      if (v.is_string()) m.annotations[k] = v.get<std::string>();
  return m;
}

result<oci_descriptor> pick_platform(const oci_manifest& index) {
  for (size_t i = 0; i < index.entries.size() && i < index.platforms.size(); ++i)
    if (index.platforms[i] == "linux/amd64") return index.entries[i];
  if (index.entries.size() == 1) return index.entries[0];
  std::string seen;
  for (const std::string& p : index.platforms) seen += (seen.empty() ? "" : ", ") + p;
  return not_found("the image index has no linux/amd64 image (it has " + seen + ")");
}

result<pulled_image> pull_image(const image_reference& ref, const registry_options& o,
                                uint64_t max_bytes) {
  return puller(ref, o, max_bytes).run();
}

result<std::vector<std::string>> write_image_dir(const pulled_image& img, std::string_view prefix,
                                                 const std::string& dest_dir) {
  std::vector<std::pair<std::string, const std::string*>> todo;
  for (const auto& [path, bytes] : img.files) {
    if (path.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rel = path.substr(prefix.size());
    for (const auto& part : fs::path(rel))
      if (part == "." || part == ".." || part.empty())
        return invalid_argument("image file path has a \".\" or \"..\" component", path);
    if (rel.empty()) continue;
    todo.emplace_back(rel, &bytes);
  }
  if (todo.empty())
    return not_found("the image has no files under /" + std::string(prefix), dest_dir);
  std::vector<std::string> written;
  std::error_code ec;
  for (const auto& [rel, bytes] : todo) {
    fs::path out = fs::path(dest_dir) / rel;
    fs::create_directories(out.parent_path(), ec);
    if (ec) return io_error("cannot create the folder: " + ec.message(), out.parent_path());
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    f.close();
    if (!f) return io_error("cannot write the file", out.string());
    written.push_back(rel);
  }
  return written;
}

}  // namespace kaito::k8s::artifacts
