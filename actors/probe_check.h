// probe_check: one check of a container probe, as the kubelet's prober makes it (blocking; the
// machine actor runs it on a detached actor of its own).
//
//   probe_outcome o = run_probe_check(spec, "127.0.0.1", /*port_offset=*/slot);
//   o.ok, o.output   // "HTTP probe failed with statuscode: 500"
//
// httpGet: GET <scheme>://<host>:<port + offset><path> with the probe's headers (User-Agent
// kube-probe/1.32 and Accept */* unless given), at most timeoutSeconds, never through a proxy,
// https not verified, redirects not followed; success is a status in [200, 400). The output of a
// failure names the status or the transport error ("Get \"http://127.0.0.1:5000/health\":
// Couldn't connect to server"). tcpSocket: a TCP connect within timeoutSeconds ("dial tcp
// 127.0.0.1:5000: connection refused"). The probe's host, when set, replaces the pod's address.
// Any other action fails, naming it. Thread-safety: any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "protocol/messages/machine.h"

namespace kaito::actors {

struct probe_outcome {
  bool ok = false;
  std::string output;  // why it failed; for a success, the HTTP status or "connected"
};

// cancel (optional): once true, a check in progress ends at once as a failure ("cancelled"), so
// a machine shutting down never waits out a long timeoutSeconds.
probe_outcome run_probe_check(const msg::probe_spec& p, const std::string& pod_host,
                              int32_t port_offset, const std::atomic<bool>* cancel = nullptr);

}  // namespace kaito::actors
