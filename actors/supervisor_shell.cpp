// The supervisor's `kaito shell` requests (see supervisor_actor.cpp for the rest of its
// behaviour): token check, read commands from a snapshot, worker lists gathered from every ready
// machine with a timeout, kill through the machine, drain/restart on the k8s pool.
#include <algorithm>

#include "actors/supervisor_actions.h"
#include "actors/supervisor_state.h"
#include "actors/token.h"

namespace kaito::actors::detail {

// --- shell -------------------------------------------------------------------------------------

shell_snapshot snapshot(self_ptr self) {
  auto& st = self->state;
  shell_snapshot s;
  s.workspaces = st.rt->cache("workspace").list();
  s.jobs = st.rt->cache("job").list();
  s.statefulsets = st.rt->cache("statefulset").list();
  s.pods = st.rt->cache("pod").list();
  s.nodes = st.rt->cache("node").list();
  auto t = now();
  for (const auto* m : st.registry.all()) {
    machine_row row;
    row.name = m->name;
    row.ready = m->ready;
    row.instance_type = m->instance_type;
    row.slots = m->resources.slots;
    row.busy_slots = m->busy_slots;
    row.gpus = m->resources.gpus;
    row.cpu_cores = m->resources.cpu_cores;
    row.memory_bytes = m->resources.memory_bytes;
    row.heartbeat_age_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t - m->last_heartbeat).count();
    row.running_pods = static_cast<uint32_t>(m->running_pod_uids.size());
    row.reason = m->lost_reason;
    s.machines.push_back(row);
  }
  s.stats = st.stats;
  s.logs = st.logs.all();
  s.workers = st.last_workers;
  return s;
}

struct gather {
  std::vector<std::string> argv;
  shell_snapshot snap;
  size_t remaining = 0;
  caf::response_promise rp;
};

void finish_gather(self_ptr self, const std::shared_ptr<gather>& g) {
  if (--g->remaining > 0) return;
  std::sort(g->snap.workers.begin(), g->snap.workers.end(),
            [](const auto& a, const auto& b) { return a.machine < b.machine; });
  self->state.last_workers = g->snap.workers;
  g->rp.deliver(run_shell_read(g->argv, g->snap));
}

caf::result<msg::shell_reply> on_shell(self_ptr self, const msg::shell_request& req) {
  auto& st = self->state;
  if (!token_equal(req.token, st.rt->opts.token)) {
    log_warn(slog(), "shell refused", {{"reason", "invalid token"}});
    return text_reply(1, "refused: invalid token\n");
  }
  auto kind = classify_shell_command(req.argv);
  switch (kind) {
    case shell_command_kind::help:
    case shell_command_kind::read:
    case shell_command_kind::unknown:
      return run_shell_read(req.argv, snapshot(self));
    case shell_command_kind::read_workers: {
      auto g = std::make_shared<gather>();
      g->argv = req.argv;
      g->snap = snapshot(self);
      g->snap.workers.clear();
      g->rp = self->make_response_promise();
      std::vector<std::pair<std::string, msg::machine_actor>> ready;
      for (const auto& [name, link] : st.links)
        if (st.registry.is_ready(name)) ready.emplace_back(name, link.handle);
      g->remaining = ready.size() + 1;
      for (const auto& [name, handle] : ready) {
        auto machine = name;
        self->request(handle, 3s, msg::list_workers{})
            .then(
                [=](msg::worker_list& wl) {
                  g->snap.workers.push_back(std::move(wl));
                  finish_gather(self, g);
                },
                [=](caf::error&) {
                  g->snap.unanswered.push_back(machine);
                  finish_gather(self, g);
                });
      }
      finish_gather(self, g);  // the +1: answers at once when no machine is admitted
      return caf::delegated<msg::shell_reply>{};
    }
    case shell_command_kind::kill: {
      if (req.argv.size() != 2) return text_reply(2, "usage: kill <worker-id>\n");
      auto id = req.argv[1];
      auto slash = id.rfind('/');
      auto link = st.links.find(slash == std::string::npos ? id : id.substr(0, slash));
      if (link == st.links.end())
        return text_reply(1, "no admitted machine for worker " + id + "\n");
      auto rp = self->make_response_promise();
      self->request(link->second.handle, 5s, msg::kill_worker{id})
          .then(
              [=](msg::command_reply& r) mutable {
                rp.deliver(text_reply(r.ok ? 0 : 1, r.message + "\n"));
              },
              [=](caf::error& e) mutable {
                rp.deliver(text_reply(1, "kill " + id + ": " + caf::to_string(e) + "\n"));
              });
      return caf::delegated<msg::shell_reply>{};
    }
    case shell_command_kind::drain:
    case shell_command_kind::restart: {
      if (req.argv.size() != 2) return text_reply(2, "usage: " + req.argv[0] + " <name>\n");
      auto* rt = st.rt;
      std::string arg = req.argv[1];
      std::function<msg::shell_reply()> fn;
      if (kind == shell_command_kind::drain) {
        fn = [rt, arg] {
          auto r = drain_machine(*rt->client, rt->events.get(), arg);
          return r.ok() ? text_reply(0, *r) : text_reply(1, r.error().to_string() + "\n");
        };
      } else {
        auto snap = snapshot(self);
        const json* ws = find_workspace(snap, arg);
        if (ws == nullptr) return text_reply(1, "workspace \"" + arg + "\" not found\n");
        std::string ns = (*ws)["metadata"].value("namespace", "");
        std::string name = (*ws)["metadata"].value("name", "");
        fn = [rt, ns, name] {
          auto r = restart_workspace(*rt->client, ns, name);
          return r.ok() ? text_reply(0, *r) : text_reply(1, r.error().to_string() + "\n");
        };
      }
      run_blocking(self, std::move(fn), self->make_response_promise());
      return caf::delegated<msg::shell_reply>{};
    }
  }
  return text_reply(2, "unknown command\n");
}

}  // namespace kaito::actors::detail
