// gpu_worker; see gpu_worker.h.
#include "actors/gpu_worker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "actors/runtime_config.h"
#include "actors/self_test.h"
#include "actors/serve_unit.h"
#include "actors/work_args.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace kaito::actors {

namespace {

using namespace std::chrono_literals;

msg::tensor_bytes result_tensor(const self_test_report& r) {
  float v[4] = {r.gflops, static_cast<float>(r.memory_bytes_checked),
                static_cast<float>(r.gemm_errors + r.memory_errors),
                static_cast<float>(r.iterations)};
  return msg::make_f32_tensor(v, {4});
}

// The running unit's thread and its cancel flag; owned by the actor, joined before it dies.
struct unit_runner {
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::atomic<int64_t> grace_ms{0};  // set with cancel: how long the unit may take to end well
  std::atomic<bool> finished{true};
  std::string uid;
  void stop() {
    cancel = true;
    if (thread.joinable()) thread.join();
  }
  ~unit_runner() { stop(); }
};

struct gpu_worker_state {
  msg::machine_actor machine;
  worker_engines engines;
  uint32_t slot = 0;
  std::shared_ptr<unit_runner> runner = std::make_shared<unit_runner>();
  static inline const char* name = "gpu_worker";
};

using worker_pointer = caf::stateful_actor<gpu_worker_state>*;

void start_unit(worker_pointer self, msg::work_unit u) {
  auto& r = *self->state.runner;
  auto machine = self->state.machine;
  if (!r.finished) {
    self->send(machine, msg::work_done{u.uid, 1, "Busy", "worker already runs " + r.uid, {}});
    return;
  }
  if (r.thread.joinable()) r.thread.join();
  r.cancel = false;
  r.grace_ms = 0;
  r.finished = false;
  r.uid = u.uid;
  log_info(logger("worker"), "unit started", {{"pod", u.pod}, {"uid", u.uid}});
  unit_runner* rp = &r;  // outlives the thread: joined in stop()
  worker_engines engines = self->state.engines;
  uint32_t slot = self->state.slot;
  // Sent as this actor: the machine accepts progress and results only from the pod's worker.
  auto me = caf::actor_cast<caf::actor>(self);
  r.thread = std::thread([rp, machine, me, engines, slot, u = std::move(u)] {
    auto done = execute_work_unit(
        u, rp->cancel, [&](msg::work_progress p) { caf::send_as(me, machine, std::move(p)); },
        engines, slot, &rp->grace_ms);
    log_info(
        logger("worker"), "unit done",
        {{"uid", u.uid}, {"exit_code", std::to_string(done.exit_code)}, {"message", done.message}});
    const bool engine_failed = done.reason == kEngineFailed;
    // Free before the result goes out: the machine hands this worker its next pod as soon as the
    // result arrives, and a unit still marked running would turn that pod away as "Busy" (a
    // spurious failure and restart of the next pod). A failed engine's worker stays taken: it
    // exits below.
    if (!engine_failed) rp->finished = true;
    caf::send_as(me, machine, std::move(done));
    if (engine_failed) {
      // A device error can stick to the process (CUDA's context is lost for good): exit, and the
      // machine starts a fresh worker and re-runs the pod (restartPolicy Always). The pause lets
      // the result above reach the machine first.
      log_error(logger("worker"), "engine failed, exiting for a fresh process", {{"uid", u.uid}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::_Exit(kEngineFailedExit);
    }
  });
}

caf::behavior gpu_worker(worker_pointer self, msg::machine_actor machine, msg::worker_hello hello,
                         worker_engines engines) {
  self->state.machine = machine;
  self->state.engines = std::move(engines);
  self->state.slot = hello.slot;
  auto runner = self->state.runner;
  self->attach_functor([runner](const caf::error&) { runner->stop(); });
  self->monitor(machine);
  self->set_down_handler([=](caf::down_msg& d) {
    log_warn(logger("worker"), "machine lost, exiting", {{"reason", to_string(d.reason)}});
    self->quit(d.reason);
  });
  self->request(machine, 10s, hello)
      .then(
          [=](const msg::worker_welcome& w) {
            if (w.accepted) return;
            log_error(logger("worker"), "refused by the machine", {{"reason", w.reason}});
            self->quit(caf::exit_reason::user_shutdown);
          },
          [=](caf::error& e) {
            log_error(logger("worker"), "hello failed", {{"error", to_string(e)}});
            self->quit(e);
          });
  return {
      [=](msg::work_unit& u) { start_unit(self, std::move(u)); },
      [=](msg::cancel_work& c) {
        auto& r = *self->state.runner;
        if (r.uid != c.uid) return;
        r.grace_ms = std::max<int64_t>(c.grace_ms, 0);  // before the flag the unit reads
        r.cancel = true;
      },
  };
}

}  // namespace

msg::work_done execute_work_unit(const msg::work_unit& unit, const std::atomic<bool>& cancel,
                                 const std::function<void(msg::work_progress)>& progress,
                                 const worker_engines& engines, uint32_t slot,
                                 const std::atomic<int64_t>* grace_ms) {
  msg::work_done done;
  done.uid = unit.uid;
  auto args = parse_work_args(unit.args);
  if (!args.ok()) {
    done.exit_code = 2;
    done.reason = "InvalidArgs";
    done.message = args.error().to_string();
    return done;
  }
  uint64_t step = 0;
  if (args->task == "serve") {
    serve_unit_env env;
    env.root = unit.root;
    env.models = model_source::from_env();
    env.slot = slot;
    env.decoder = engines.decoder;
    env.grace_ms = grace_ms;
    status st = run_serve_unit(args->serve, env, cancel, [&](const std::string& text) {
      msg::work_progress m;
      m.uid = unit.uid;
      m.step = ++step;
      m.permille = 1000;
      m.text = text;
      m.ready = true;
      if (progress) progress(std::move(m));
    });
    done.exit_code = st.ok() ? 0 : 1;
    done.reason = st.ok() ? "Completed" : st.where() == "engine" ? kEngineFailed : "Error";
    done.message = st.ok() ? "stopped serving" : st.to_string();
    return done;
  }
  if (args->task == "tune") {
    tune_unit_env env;
    env.root = unit.root;
    env.models = model_source::from_env();
    env.runner = engines.tuner;
    auto r = run_tune_unit(args->tune, env, cancel, [&](const std::string& text, uint32_t pm) {
      msg::work_progress m;
      m.uid = unit.uid;
      m.step = ++step;
      m.permille = pm;
      m.text = text;
      if (progress) progress(std::move(m));
    });
    if (!r.ok()) {
      done.exit_code = 1;
      done.reason = "Error";
      done.message = r.error().to_string();
    } else if (r->cancelled) {
      done.exit_code = 143;
      done.reason = "Cancelled";
      done.message = "cancelled";
    } else {
      float v[4] = {static_cast<float>(r->steps), static_cast<float>(r->examples),
                    static_cast<float>(r->first_loss), static_cast<float>(r->last_loss)};
      done.result = msg::make_f32_tensor(v, {4});
      done.reason = "Completed";
      done.message = r->message;
    }
    return done;
  }
  auto on_progress = [&](const self_test_progress& p) {
    msg::work_progress m;
    m.uid = unit.uid;
    m.step = ++step;
    m.permille = p.permille;
    m.text = p.text;
    m.gflops = msg::wire_f32::from(p.gflops);
    if (progress) progress(std::move(m));
  };
  self_test_report r = run_self_test(args->self_test, cancel, on_progress);
  done.result = result_tensor(r);
  done.message = r.message;
  if (r.cancelled) {
    done.exit_code = 143;
    done.reason = "Cancelled";
    return done;
  }
  if (!r.ok) {
    done.exit_code = 1;
    done.reason = "Error";
    return done;
  }
  if (args->task == "serve-self-test") {
    msg::work_progress m;
    m.uid = unit.uid;
    m.step = ++step;
    m.permille = 1000;
    m.text = "serving; " + r.message;
    m.gflops = msg::wire_f32::from(r.gflops);
    m.ready = true;
    if (progress) progress(std::move(m));
    while (!cancel.load()) std::this_thread::sleep_for(20ms);
  }
  done.exit_code = 0;
  done.reason = "Completed";
  return done;
}

int run_worker_process(const worker_process_options& o) {
  auto log = logger("worker");
  runtime_config cfg;
  caf::actor_system sys{cfg};
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto machine = sys.middleman().remote_actor<msg::machine_actor>(o.machine_host, o.machine_port);
  while (!machine && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    machine = sys.middleman().remote_actor<msg::machine_actor>(o.machine_host, o.machine_port);
  }
  if (!machine) {
    log_error(log, "cannot reach the machine",
              {{"address", o.machine_host + ":" + std::to_string(o.machine_port)},
               {"error", sys.render(machine.error())}});
    return 1;
  }
  msg::worker_hello hello;
  hello.token = o.token;
  hello.slot = o.slot;
  hello.pid = static_cast<int32_t>(getpid());
  hello.device = o.device;
  auto w = sys.spawn(gpu_worker, *machine, hello, o.engines);
  sys.await_all_actors_done();
  return 0;
}

}  // namespace kaito::actors
