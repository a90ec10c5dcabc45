// event_recorder: writes core/v1 Events about objects, as client-go's recorder does, with
// deterministic names so that a repeat (same object, type, reason and message) bumps `count` and
// `lastTimestamp` of the existing Event instead of creating a new one.
//
//   event_recorder rec(client, clock);
//   rec.record(workspace_json, event_type::normal, "workspaceSucceeded", "workspace succeeds");
//
// Name: "<object name>.<16 hex digits of FNV-1a over kind/ns/name/uid/type/reason/message>".
// Namespace: the object's (cluster-scoped objects such as Nodes: "default"). source.component is
// "kaito-workspace" unless another component is given.
//
// Failure: returns the failed API call's status; nothing is retried here (events are best effort;
// callers usually ignore the status).
// Thread-safety: record() may be called from any thread; the client must outlive the recorder.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "k8s/client/client.h"
#include "k8s/client/clock.h"

namespace kaito::k8s::controllers {

enum class event_type { normal, warning };

class event_recorder {
 public:
  event_recorder(client& c, std::shared_ptr<clock_source> clock,
                 std::string component = "kaito-workspace");
  event_recorder(const event_recorder&) = delete;
  event_recorder& operator=(const event_recorder&) = delete;

  status record(const json& involved, event_type type, const std::string& reason,
                const std::string& message);

  // The deterministic name of such an Event (exposed for tests).
  static std::string event_name(const json& involved, event_type type, const std::string& reason,
                                const std::string& message);

 private:
  client& c_;
  std::shared_ptr<clock_source> clock_;
  std::string component_;
};

}  // namespace kaito::k8s::controllers
