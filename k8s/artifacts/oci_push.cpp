// Pushing an image over the OCI Distribution API; see oci_push.h.
#include "k8s/artifacts/oci_push.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "k8s/artifacts/curl_session.h"
#include "k8s/artifacts/registry_auth.h"

namespace kaito::k8s::artifacts {
namespace {

bool transient(const status& s) {
  return s.code() == status_code::unavailable || s.code() == status_code::deadline_exceeded;
}

class pusher {
 public:
  pusher(const image_reference& ref, const push_options& o) : ref_(ref), o_(o) {
    bool http = o.plain_http || registry_is_loopback(ref.registry);
    base_ = (http ? "http://" : "https://") + ref.registry;
    repo_url_ = base_ + "/v2/" + ref.repository;
  }

  // Runs one step, again while it fails transiently, up to o.attempts times.
  status with_retries(const std::string& step, const std::function<status()>& fn) {
    status last;
    for (int attempt = 1; attempt <= std::max(1, o_.attempts); ++attempt) {
      if (is_cancelled(o_.cancel)) return status(status_code::unavailable, step + ": cancelled");
      last = fn();
      if (last.ok() || !transient(last) || is_cancelled(o_.cancel)) break;
      if (attempt < o_.attempts && !sleep_unless_cancelled(o_.retry_delay, o_.cancel))
        return status(status_code::unavailable, step + ": cancelled");
    }
    if (last.ok()) return last;
    return last.with_context(step);
  }

  status upload_blob(const oci_blob& blob) {
    http_request head = request("HEAD", repo_url_ + "/blobs/" + blob.digest);
    head.follow_redirects = true;
    KAITO_ASSIGN_OR_RETURN(http_response hr, send(head));
    if (hr.status == 200) return {};
    if (hr.status != 404) return http_status_error(head, hr);

    http_request post = request("POST", repo_url_ + "/blobs/uploads/");
    KAITO_ASSIGN_OR_RETURN(http_response pr, send(post));
    if (pr.status != 202) return http_status_error(post, pr);
    auto location = pr.headers.find("location");
    if (location == pr.headers.end() || location->second.empty())
      return status(status_code::failed_precondition,
                    "POST " + post.url + ": 202 without a Location header");
    std::string url = location->second;
    if (url.substr(0, 7) != "http://" && url.substr(0, 8) != "https://") url = base_ + url;
    url += url.find('?') == std::string::npos ? "?" : "&";
    url += "digest=" + url_escape(blob.digest);

    http_request put = request("PUT", url);
    put.body = blob.bytes;
    put.headers.push_back("Content-Type: application/octet-stream");
    KAITO_ASSIGN_OR_RETURN(http_response rs, send(put));
    if (rs.status != 201) return http_status_error(put, rs);
    return {};
  }

  status put_manifest(const adapter_image& img) {
    std::string reference = ref_.tag.empty() ? ref_.digest : ref_.tag;
    http_request put = request("PUT", repo_url_ + "/manifests/" + reference);
    put.body = img.manifest;
    put.headers.push_back(std::string("Content-Type: ") + oci_manifest_media_type);
    KAITO_ASSIGN_OR_RETURN(http_response rs, send(put));
    if (rs.status != 201 && rs.status != 200) return http_status_error(put, rs);
    auto digest = rs.headers.find("docker-content-digest");
    if (digest != rs.headers.end() && !digest->second.empty() &&
        digest->second != img.manifest_digest)
      return data_loss("PUT " + put.url + ": the registry stored digest " + digest->second +
                       ", not " + img.manifest_digest);
    return {};
  }

 private:
  http_request request(std::string method, std::string url) const {
    http_request rq;
    rq.method = std::move(method);
    rq.url = std::move(url);
    rq.ca_file = o_.ca_file;
    rq.timeout = o_.timeout;
    rq.cancel = o_.cancel;
    return rq;
  }

  // One request; a 401 is answered from its challenge (again if a token expired) and the request
  // sent once more. A second 401 is the answer.
  result<http_response> send(http_request rq) {
    std::vector<std::string> base_headers = rq.headers;
    if (!authorization_.empty()) rq.headers.push_back("Authorization: " + authorization_);
    KAITO_ASSIGN_OR_RETURN(http_response rs, http_perform(rq));
    if (rs.status != 401) return rs;
    auto header = rs.headers.find("www-authenticate");
    if (header == rs.headers.end()) return rs;
    KAITO_ASSIGN_OR_RETURN(auth_challenge challenge, parse_www_authenticate(header->second));
    token_request_options to{o_.ca_file, o_.timeout, o_.cancel};
    auto auth = authorization_for(challenge, o_.credentials, ref_.registry,
                                  "repository:" + ref_.repository + ":pull,push", to);
    if (!auth.ok()) {
      // No way to answer: report the registry's 401, with why.
      status s = http_status_error(rq, rs);
      return status(s.code(), s.message() + " (" + auth.error().message() + ")");
    }
    authorization_ = *auth;
    rq.headers = base_headers;
    rq.headers.push_back("Authorization: " + authorization_);
    return http_perform(rq);
  }

  const image_reference& ref_;
  const push_options& o_;
  std::string base_, repo_url_;
  std::string authorization_;  // "Basic ..." / "Bearer ..." once a challenge was answered
};

}  // namespace

result<std::string> push_image(const image_reference& ref, const adapter_image& img,
                               const push_options& o) {
  pusher p(ref, o);
  KAITO_TRY(
      p.with_retries("push layer " + img.layer.digest, [&] { return p.upload_blob(img.layer); }));
  KAITO_TRY(p.with_retries("push config " + img.config.digest,
                           [&] { return p.upload_blob(img.config); }));
  KAITO_TRY(p.with_retries("push manifest", [&] { return p.put_manifest(img); }));
  return img.manifest_digest;
}

}  // namespace kaito::k8s::artifacts
