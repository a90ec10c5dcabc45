// Pulling an image over the OCI Distribution API; see oci_pull.h.
#include "k8s/artifacts/oci_pull.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/encoding.h"
#include "k8s/artifacts/layer_extract.h"

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

constexpr const char* kTitle = "org.opencontainers.image.title";

bool gzip_tar_layer(const std::string& media_type) {
  return media_type == oci_layer_media_type ||
         media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

// Plain-tar media types; oras also labels the raw files it pushes with the OCI one, so the bytes
// decide.
bool plain_tar_type(const std::string& media_type) {
  return media_type.empty() || media_type == "application/vnd.oci.image.layer.v1.tar" ||
         media_type == "application/vnd.docker.image.rootfs.diff.tar";
}

// Moves every entry of from/ into to/ (created), replacing what is there.
status move_tree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return io_error("cannot create the folder: " + ec.message(), to.string());
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(from, ec)) entries.push_back(e.path());
  if (ec) return io_error("cannot list: " + ec.message(), from.string());
  for (const auto& e : entries) {
    fs::path dst = to / e.filename();
    fs::remove_all(dst, ec);
    fs::rename(e, dst, ec);
    if (ec) return io_error("cannot move into place: " + ec.message(), dst.string());
  }
  return {};
}

// Removes a folder when it goes out of scope.
struct scoped_dir {
  fs::path path;
  ~scoped_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

class puller {
 public:
  puller(const image_reference& ref, const registry_options& o, const pull_target& t)
      : ref_(ref), s_(ref, o, "pull"), t_(t), budget_(t.max_bytes) {}

  result<pull_result> run() {
    pull_result out;
    oci_manifest m;
    std::string reference = ref_.digest.empty() ? ref_.tag : ref_.digest;
    KAITO_TRY(s_.with_retries("pull manifest",
                              [&] { return fetch_manifest(reference, m, out.manifest_digest); }));
    if (m.index) {
      KAITO_ASSIGN_OR_RETURN(oci_descriptor d, pick_platform(m));
      KAITO_TRY(s_.with_retries("pull manifest " + d.digest,
                                [&] { return fetch_manifest(d.digest, m, out.manifest_digest); }));
      if (m.index) return invalid_argument("an image index inside an image index", d.digest);
    }
    out.annotations = m.annotations;

    scoped_dir staging{fs::path(t_.dest_dir + ".pull")};
    std::error_code ec;
    fs::remove_all(staging.path, ec);
    const fs::path tree = staging.path / "root", blob = staging.path / "blob";
    fs::create_directories(tree, ec);
    if (ec) return io_error("cannot create the folder: " + ec.message(), tree.string());
    std::vector<std::string> files;
    for (size_t i = 0; i < m.entries.size(); ++i) {
      const oci_descriptor& d = m.entries[i];
      const std::string where = "layers[" + std::to_string(i) + "]";
      KAITO_TRY(
          s_.with_retries("pull layer " + d.digest, [&] { return fetch_blob(d, blob.string()); }));
      auto title = d.annotations.find(kTitle);
      bool tar = gzip_tar_layer(d.media_type) ||
                 (plain_tar_type(d.media_type) && looks_like_tar(blob.string()));
      if (tar) {
        auto written = extract_layer(blob.string(), t_.prefix, tree.string(), budget_);
        if (!written.ok()) return written.error().with_context("layer " + d.digest);
        files.insert(files.end(), written->begin(), written->end());
      } else if (title != d.annotations.end()) {
        if (!safe_relative_path(title->second))
          return invalid_argument("file layer title \"" + title->second + "\" is not a safe path",
                                  where);
        fs::path to = tree / title->second;
        fs::create_directories(to.parent_path(), ec);
        fs::remove_all(to, ec);
        fs::rename(blob, to, ec);
        if (ec) return io_error("cannot place the file: " + ec.message(), to.string());
        files.push_back(title->second);
      } else {
        return status(status_code::unimplemented,
                      "layer media type \"" + d.media_type +
                          "\" is neither a tar nor a titled file (" + kTitle + ")",
                      where);
      }
    }
    fs::remove(blob, ec);
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
    // What survives later layers' whiteouts.
    files.erase(std::remove_if(files.begin(), files.end(),
                               [&](const std::string& f) {
                                 return !fs::is_regular_file(fs::symlink_status(tree / f, ec));
                               }),
                files.end());
    if (files.empty()) return not_found("the image has no files under /" + t_.prefix, ref_.str());
    KAITO_TRY(move_tree(tree, t_.dest_dir));
    out.files = std::move(files);
    return out;
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

  // GET a blob into `path`, its digest and size checked; the budget pays for its bytes.
  status fetch_blob(const oci_descriptor& d, const std::string& path) {
    if (d.digest.rfind("sha256:", 0) != 0)
      return status(status_code::unimplemented, "only sha256 digests are supported", d.digest);
    auto too_big = [&] {
      return status(status_code::resource_exhausted,
                    "the image is over " + std::to_string(t_.max_bytes) + " bytes", d.digest);
    };
    if (d.size >= 0 && static_cast<uint64_t>(d.size) > budget_) return too_big();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot create the file", path);
    sha256_stream hash;
    uint64_t got = 0;
    bool over = false;
    std::string head;  // the first bytes, for an error body
    http_request rq = s_.request("GET", s_.repo_url() + "/blobs/" + d.digest);
    rq.follow_redirects = true;
    rq.sink = [&](std::string_view chunk) {
      if (head.size() < 4096) head.append(chunk.substr(0, 4096 - head.size()));
      got += chunk.size();
      if (got > budget_) {
        over = true;
        return false;
      }
      hash.update(chunk);
      f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      return static_cast<bool>(f);
    };
    auto rs = s_.send(rq);
    f.close();
    if (over) return too_big();
    if (!rs.ok()) return rs.error();
    if (rs->status != 200) {
      rs->body = head;
      return http_status_error(rq, *rs);
    }
    if (!f) return io_error("cannot write the file", path);
    if (d.size >= 0 && got != static_cast<uint64_t>(d.size))
      return data_loss("blob " + d.digest + ": " + std::to_string(got) +
                       " bytes, the manifest says " + std::to_string(d.size));
    std::string digest = hash.digest();
    if (digest != d.digest) return data_loss("blob " + d.digest + ": the registry sent " + digest);
    budget_ -= got;
    return {};
  }

  const image_reference& ref_;
  registry_session s_;
  const pull_target& t_;
  uint64_t budget_;
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
    auto ann = e.find("annotations");
    if (ann != e.end() && ann->is_object())
      for (const auto& [k, v] : ann->items())
        if (v.is_string()) d.annotations[k] = v.get<std::string>();
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

result<pull_result> pull_image(const image_reference& ref, const registry_options& o,
                               const pull_target& target) {
  return puller(ref, o, target).run();
}

}  // namespace kaito::k8s::artifacts
