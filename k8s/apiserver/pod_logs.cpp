// The pods/log subresource. Container output lives in files the local runtime writes:
//   $KAITO_HOME/logs/<namespace>/<pod>/<container>.log
// container: required when the pod has several containers (400 naming them, as the real server);
// tailLines=N: the last N lines; follow=true: stream new lines until the client leaves, the pod is
// deleted or finishes (phase Succeeded/Failed) and the file has been read to its end, or the
// container restarts (its file is moved away: the kubelet's stream ends with the container);
// previous=true: the previous container's log, <container>.previous.log, which the runtime keeps
// when it restarts a container (400 when there is none, as the kubelet's answer).
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"

namespace kaito::k8s::apiserver {

namespace {

std::string tail(const std::string& text, int64_t n) {
  if (n < 0) return text;
  if (n == 0) return "";
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  int64_t lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++lines == n) break;
    --pos;
  }
  return text.substr(pos);
}

bool pod_finished(const json& pod) {
  if (!pod.contains("status") || !pod["status"].is_object()) return false;
  std::string phase = pod["status"].value("phase", std::string());
  return phase == "Succeeded" || phase == "Failed";
}

}  // namespace

api_response handle_pod_log(api_context& ctx, const object_request& o) {
  auto pod = ctx.db.get(o.key());
  if (!pod.ok()) return not_found_error("", "pods", o.r.name);
  std::vector<std::string> names;
  if ((*pod).contains("spec") && (*pod)["spec"].is_object() &&
      (*pod)["spec"].contains("containers") && (*pod)["spec"]["containers"].is_array())
    for (const auto& c : (*pod)["spec"]["containers"])
      if (c.is_object() && c.contains("name") && c["name"].is_string()) names.push_back(c["name"]);
  std::string container = query_value(o.req, "container");
  if (container.empty()) {
    if (names.size() != 1) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : " ") + n;
      return bad_request("a container name must be specified for pod " + o.r.name +
                         ", choose one of: [" + list + "]");
    }
    container = names[0];
  }
  if (std::find(names.begin(), names.end(), container) == names.end())
    return bad_request("container " + container + " is not valid for pod " + o.r.name);
  int64_t tail_lines = -1;
  if (std::string t = query_value(o.req, "tailLines"); !t.empty()) {
    try {
      tail_lines = std::stoll(t);
    } catch (...) {
      return bad_request("invalid tailLines: " + t);
    }
  }
  const bool previous = query_flag(o.req, "previous");
  std::string path = ctx.opts.home + "/logs/" + o.r.ns + "/" + o.r.name + "/" + container +
                     (previous ? ".previous.log" : ".log");
  std::ifstream in(path, std::ios::binary);
  if (!in && previous)
    return bad_request("previous terminated container \"" + container + "\" in pod \"" + o.r.name +
                       "\" not found");
  if (!in)
    return bad_request("container \"" + container + "\" in pod \"" + o.r.name +
                       "\" is waiting to start: ContainerCreating");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = tail(ss.str(), tail_lines);
  api_response resp;
  resp.content_type = "text/plain";
  if (previous || !query_flag(o.req, "follow")) {  // a previous container's log is complete
    resp.body = std::move(text);
    return resp;
  }
  store* db = &ctx.db;
  std::atomic<bool>* stopping = &ctx.stopping;
  object_key key = o.key();
  auto offset = static_cast<std::streamoff>(ss.str().size());
  struct stat first {};
  const ino_t inode = ::stat(path.c_str(), &first) == 0 ? first.st_ino : 0;
  resp.stream = [db, stopping, key, path, text, offset, inode](stream_writer& out) mutable {
    if (!text.empty() && !out.write(text)) return;
    while (!stopping->load()) {
      struct stat now_st {};
      if (::stat(path.c_str(), &now_st) != 0 || now_st.st_ino != inode)
        return;  // the container restarted: its log was moved away
      std::ifstream f(path, std::ios::binary);
      f.seekg(offset);
      std::stringstream more;
      if (f) more << f.rdbuf();
      std::string chunk = more.str();
      if (!chunk.empty()) {
        offset += static_cast<std::streamoff>(chunk.size());
        if (!out.write(chunk)) return;
        continue;
      }
      auto pod = db->get(key);
      if (!pod.ok() || pod_finished(*pod)) return;
      if (!out.wait(-1, 200)) return;
    }
  };
  return resp;
}

}  // namespace kaito::k8s::apiserver
