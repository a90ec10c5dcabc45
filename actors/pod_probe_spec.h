// pod_probe_spec: a Pod container's startupProbe / livenessProbe / readinessProbe (core/v1 Probe
// JSON) as the msg::probe_spec the machine runs (plain functions, no I/O).
//
//   container_probes c = probes_of(pod["spec"]["containers"][0]);
//   run.liveness_probe = c.liveness;  c.not_run: what the machine will not run, and why
//
// httpGet (path, port, host, scheme, httpHeaders) and tcpSocket (port, host) are carried; a named
// port is resolved against the container's ports. The timing fields default as the API's
// (initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
// failureThreshold 3); a liveness or startup probe's terminationGracePeriodSeconds is the grace of
// the stop its failure causes (else the pod's). A probe that cannot be run here (exec or grpc:
// kaito's node agent runs `kaito worker` processes, not images with their own commands; a named
// port the container does not declare; an unreadable port) is left out (action "") and named in
// not_run
// ("livenessProbe: exec probes are not run by kaito's machines"), for a Warning Event.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/messages/machine.h"

namespace kaito::actors {

struct container_probes {
  msg::probe_spec startup, liveness, readiness;
  std::vector<std::string> not_run;
};

container_probes probes_of(const nlohmann::json& container);

}  // namespace kaito::actors
