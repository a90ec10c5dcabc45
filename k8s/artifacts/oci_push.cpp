// Pushing an image over the OCI Distribution API; see oci_push.h.
#include "k8s/artifacts/oci_push.h"

#include <string>

#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/registry_session.h"

namespace kaito::k8s::artifacts {
namespace {

status upload_blob(registry_session& s, const oci_blob& blob) {
  http_request head = s.request("HEAD", s.repo_url() + "/blobs/" + blob.digest);
  head.follow_redirects = true;
  KAITO_ASSIGN_OR_RETURN(http_response hr, s.send(head));
  if (hr.status == 200) return {};
  if (hr.status != 404) return http_status_error(head, hr);

  http_request post = s.request("POST", s.repo_url() + "/blobs/uploads/");
  KAITO_ASSIGN_OR_RETURN(http_response pr, s.send(post));
  if (pr.status != 202) return http_status_error(post, pr);
  auto location = pr.headers.find("location");
  if (location == pr.headers.end() || location->second.empty())
    return status(status_code::failed_precondition,
                  "POST " + post.url + ": 202 without a Location header");
  std::string url = location->second;
  if (url.substr(0, 7) != "http://" && url.substr(0, 8) != "https://") url = s.base_url() + url;
  url += url.find('?') == std::string::npos ? "?" : "&";
  url += "digest=" + url_escape(blob.digest);

  http_request put = s.request("PUT", url);
  put.body = blob.bytes;
  put.headers.push_back("Content-Type: application/octet-stream");
  KAITO_ASSIGN_OR_RETURN(http_response rs, s.send(put));
  if (rs.status != 201) return http_status_error(put, rs);
  return {};
}

status put_manifest(registry_session& s, const image_reference& ref, const adapter_image& img) {
  std::string reference = ref.tag.empty() ? ref.digest : ref.tag;
  http_request put = s.request("PUT", s.repo_url() + "/manifests/" + reference);
  put.body = img.manifest;
  put.headers.push_back(std::string("Content-Type: ") + oci_manifest_media_type);
  KAITO_ASSIGN_OR_RETURN(http_response rs, s.send(put));
  if (rs.status != 201 && rs.status != 200) return http_status_error(put, rs);
  auto digest = rs.headers.find("docker-content-digest");
  if (digest != rs.headers.end() && !digest->second.empty() &&
      digest->second != img.manifest_digest)
    return data_loss("PUT " + put.url + ": the registry stored digest " + digest->second +
                     ", not " + img.manifest_digest);
  return {};
}

}  // namespace

result<std::string> push_image(const image_reference& ref, const adapter_image& img,
                               const push_options& o) {
  registry_session s(ref, o, "pull,push");
  KAITO_TRY(
      s.with_retries("push layer " + img.layer.digest, [&] { return upload_blob(s, img.layer); }));
  KAITO_TRY(s.with_retries("push config " + img.config.digest,
                           [&] { return upload_blob(s, img.config); }));
  KAITO_TRY(s.with_retries("push manifest", [&] { return put_manifest(s, ref, img); }));
  return img.manifest_digest;
}

}  // namespace kaito::k8s::artifacts
