// ring_all_reducer: the ring actor (one per rank) and the blocking facade; see ring_all_reduce.h.
//
// Per all_reduce (op), the rank actor walks this state machine:
//
//   idle --ring_reduce--> RS step 0 .. RS step W-2 --> AG step 0 .. AG step W-2 --> idle (reply)
//
// At reduce-scatter step s a rank sends chunk (r - s) mod W to its right neighbour and adds the
// chunk (r - s - 1) mod W arriving from its left; at all-gather step s it sends chunk
// (r + 1 - s) mod W and copies chunk (r - s) mod W. Pieces that arrive for a later step or op
// (the left neighbour may run ahead) wait in a stash keyed by (op, phase, step); CAF delivers
// messages between two actors in order, so a key's pieces arrive in order.
#include "actors/ring_all_reduce.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "protocol/messages/collective.h"

namespace kaito::actors {

namespace {

using ring_next_atom = caf::atom_constant<caf::atom("ringnext")>;
using msg::ring_chunk;
using msg::ring_join;
using msg::ring_reduce;
using msg::ring_roster;
using msg::tensor_bytes;

struct ring_state {
  static inline const char* name = "ring_rank";
  std::string group;
  uint32_t rank = 0;
  uint32_t world = 1;
  size_t piece_floats = 1u << 20;
  // coordinator (rank 0)
  std::vector<std::string> hosts;
  std::vector<uint16_t> ports;
  std::vector<bool> joined;
  std::vector<caf::response_promise> waiters;
  std::vector<uint8_t> blob;
  // the ring
  caf::actor next;
  std::string failed;     // non-empty: the ring is broken
  std::string next_lost;  // the right neighbour went away after this rank's last send of an op
  // the op in flight
  bool active = false;
  uint64_t op = 0;
  uint32_t phase = 0;
  uint32_t step = 0;
  size_t pieces = 0;  // received for (op, phase, step)
  std::vector<float> buf;
  caf::response_promise rp;
  std::map<std::tuple<uint64_t, uint32_t, uint32_t>, std::vector<ring_chunk>> stash;
};

using ring_actor_ptr = caf::stateful_actor<ring_state>*;

uint32_t mod(int64_t a, uint32_t w) {
  return static_cast<uint32_t>(((a % w) + w) % w);
}

std::pair<size_t, size_t> bounds(size_t n, uint32_t world, uint32_t c) {
  return {n * c / world, n * (c + 1) / world};
}

// The chunk a rank sends at the current step, and the one it receives (header comment).
uint32_t send_chunk(const ring_state& s) {
  return s.phase == 0 ? mod(int64_t{s.rank} - s.step, s.world)
                      : mod(int64_t{s.rank} + 1 - s.step, s.world);
}
uint32_t recv_chunk(const ring_state& s) {
  return s.phase == 0 ? mod(int64_t{s.rank} - s.step - 1, s.world)
                      : mod(int64_t{s.rank} - s.step, s.world);
}

size_t pieces_for(size_t floats, size_t piece) {
  return floats == 0 ? 1 : (floats + piece - 1) / piece;
}

void fail(ring_actor_ptr self, const std::string& why) {
  auto& s = self->state;
  if (s.failed.empty()) s.failed = why;
  if (s.active) {
    s.active = false;
    s.rp.deliver(caf::make_error(caf::sec::runtime_error, s.failed));
  }
}

void send_current(ring_actor_ptr self) {
  auto& s = self->state;
  const uint32_t c = send_chunk(s);
  auto [lo, hi] = bounds(s.buf.size(), s.world, c);
  size_t n = pieces_for(hi - lo, s.piece_floats);
  for (size_t p = 0; p < n; ++p) {
    size_t a = lo + p * s.piece_floats;
    size_t b = std::min(hi, a + s.piece_floats);
    ring_chunk m;
    m.op = s.op;
    m.phase = s.phase;
    m.step = s.step;
    m.from_rank = s.rank;
    m.offset = a;
    m.data = msg::make_f32_tensor(s.buf.data() + a, {static_cast<int64_t>(b - a)});
    self->send(s.next, std::move(m));
  }
}

// Applies one piece of the current step; returns false (and fails the op) when it is malformed.
bool apply(ring_actor_ptr self, const ring_chunk& m) {
  auto& s = self->state;
  const uint32_t c = recv_chunk(s);
  auto [lo, hi] = bounds(s.buf.size(), s.world, c);
  auto where = "rank " + std::to_string(m.from_rank) + " op " + std::to_string(m.op) + " phase " +
               std::to_string(m.phase) + " step " + std::to_string(m.step);
  if (m.data.dtype != "f32" || !msg::tensor_bytes_error(m.data).empty()) {
    fail(self, where + ": malformed chunk (" + msg::tensor_bytes_error(m.data) + ")");
    return false;
  }
  size_t n = m.data.data.size() / sizeof(float);
  if (m.offset < lo || m.offset + n > hi) {
    fail(self, where + ": chunk [" + std::to_string(m.offset) + ", +" + std::to_string(n) +
                   ") outside [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
    return false;
  }
  float* dst = s.buf.data() + m.offset;
  if (s.phase == 0) {
    std::vector<float> in(n);
    if (n) std::memcpy(in.data(), m.data.data.data(), n * sizeof(float));
    for (size_t i = 0; i < n; ++i) dst[i] += in[i];
  } else if (n) {
    std::memcpy(dst, m.data.data.data(), n * sizeof(float));
  }
  ++s.pieces;
  return true;
}

size_t expected_pieces(const ring_state& s) {
  const uint32_t c = recv_chunk(s);
  auto [lo, hi] = bounds(s.buf.size(), s.world, c);
  return pieces_for(hi - lo, s.piece_floats);
}

// Moves past every step whose pieces are all in, sending the next step's chunk; replies at the end.
void advance(ring_actor_ptr self) {
  auto& s = self->state;
  while (s.active && s.pieces == expected_pieces(s)) {
    s.pieces = 0;
    if (++s.step == s.world - 1) {
      s.step = 0;
      if (++s.phase == 2) {
        s.active = false;
        s.rp.deliver(msg::make_f32_tensor(s.buf.data(), {static_cast<int64_t>(s.buf.size())}));
        s.buf.clear();
        if (!s.next_lost.empty() && s.failed.empty()) s.failed = s.next_lost;
        return;
      }
    }
    send_current(self);
    auto it = s.stash.find({s.op, s.phase, s.step});
    if (it != s.stash.end()) {
      auto pieces = std::move(it->second);
      s.stash.erase(it);
      for (const auto& m : pieces)
        if (!apply(self, m)) return;
    }
  }
}

caf::behavior ring_rank(ring_actor_ptr self, std::string group, uint32_t rank, uint32_t world,
                        size_t piece_floats, std::vector<uint8_t> blob) {
  auto& s = self->state;
  s.group = std::move(group);
  s.rank = rank;
  s.world = world;
  s.piece_floats = std::max<size_t>(piece_floats, 1);
  s.hosts.resize(world);
  s.ports.resize(world);
  s.joined.assign(world, false);
  s.blob = std::move(blob);
  self->set_down_handler([=](caf::down_msg& d) {
    auto& s = self->state;
    if (d.source != s.next.address()) return;
    std::string why = "rank " + std::to_string((s.rank + 1) % s.world) +
                      " (right neighbour) lost: " + self->system().render(d.reason);
    // In the last all-gather step this rank has sent everything it owes the right neighbour and
    // only waits for its left one: let the op finish, fail the ones after it.
    if (s.active && s.phase == 1 && s.step + 2 == s.world)
      s.next_lost = why;
    else
      fail(self, why);
  });
  return {
      [=](ring_join& j) -> caf::result<ring_roster> {
        auto& s = self->state;
        if (j.version != msg::wire_version || j.group != s.group || j.world != s.world ||
            j.rank >= s.world || s.joined[j.rank])
          return caf::make_error(caf::sec::runtime_error,
                                 "ring_join refused: rank " + std::to_string(j.rank) + " world " +
                                     std::to_string(j.world) + " group \"" + j.group +
                                     "\" (want world " + std::to_string(s.world) + " group \"" +
                                     s.group + "\", each rank once)");
        s.joined[j.rank] = true;
        s.hosts[j.rank] = j.host;
        s.ports[j.rank] = j.port;
        auto rp = self->make_response_promise();
        s.waiters.push_back(rp);
        if (std::all_of(s.joined.begin(), s.joined.end(), [](bool b) { return b; })) {
          ring_roster r{s.hosts, s.ports, s.blob};
          for (auto& w : s.waiters) w.deliver(r);
          s.waiters.clear();
        }
        return caf::delegated<ring_roster>{};
      },
      [=](ring_next_atom, caf::actor next) {
        self->state.next = next;
        self->monitor(next);
      },
      [=](ring_reduce& r) -> caf::result<tensor_bytes> {
        auto& s = self->state;
        if (!s.failed.empty()) return caf::make_error(caf::sec::runtime_error, s.failed);
        if (s.active) return caf::make_error(caf::sec::runtime_error, "all_reduce already running");
        if (s.world == 1) return std::move(r.data);
        s.buf = msg::f32_values(r.data);
        s.active = true;
        s.op = r.op;
        s.phase = 0;
        s.step = 0;
        s.pieces = 0;
        s.rp = self->make_response_promise();
        send_current(self);
        auto it = s.stash.find({s.op, 0u, 0u});
        if (it != s.stash.end()) {
          auto pieces = std::move(it->second);
          s.stash.erase(it);
          for (const auto& m : pieces)
            if (!apply(self, m)) return caf::delegated<tensor_bytes>{};
        }
        advance(self);
        return caf::delegated<tensor_bytes>{};
      },
      [=](ring_chunk& m) {
        auto& s = self->state;
        if (!s.failed.empty()) return;
        if (!s.active || m.op != s.op || m.phase != s.phase || m.step != s.step) {
          s.stash[{m.op, m.phase, m.step}].push_back(std::move(m));
          return;
        }
        if (apply(self, m)) advance(self);
      },
  };
}

template <class F>
auto retry_until(std::chrono::steady_clock::time_point deadline, F&& f) -> decltype(f()) {
  for (;;) {
    auto r = f();
    if (r || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

status ring_all_reducer::start() {
  if (o_.world == 0 || o_.rank >= o_.world)
    return invalid_argument(
        "rank " + std::to_string(o_.rank) + " outside world " + std::to_string(o_.world), "rank");
  actor_ = sys_.spawn(ring_rank, o_.group, o_.rank, o_.world, o_.chunk_bytes / sizeof(float),
                      o_.rank == 0 ? o_.bootstrap_blob : std::vector<uint8_t>());
  uint16_t want = o_.rank == 0 ? o_.coordinator_port : 0;
  auto port = sys_.middleman().publish(actor_, want, o_.bind_host.c_str(), true);
  if (!port)
    return status(status_code::unavailable, "cannot publish ring rank " + std::to_string(o_.rank) +
                                                " on " + o_.bind_host + ":" + std::to_string(want) +
                                                ": " + sys_.render(port.error()));
  port_ = *port;
  return {};
}

status ring_all_reducer::form() {
  auto deadline = std::chrono::steady_clock::now() + o_.timeout;
  ring_join j;
  j.group = o_.group;
  j.rank = o_.rank;
  j.world = o_.world;
  j.host = o_.advertise_host.empty() ? o_.bind_host : o_.advertise_host;
  j.port = port_;
  caf::actor coordinator = actor_;
  std::string coord = o_.coordinator_host + ":" + std::to_string(o_.coordinator_port);
  if (o_.rank != 0) {
    auto r = retry_until(deadline, [&] {
      return sys_.middleman().remote_actor(o_.coordinator_host, o_.coordinator_port);
    });
    if (!r)
      return status(status_code::unavailable,
                    "ring coordinator " + coord + " unreachable: " + sys_.render(r.error()));
    coordinator = *r;
  }
  ring_roster roster;
  status st;
  {
    caf::scoped_actor self{sys_};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    self->request(coordinator, std::max(left, std::chrono::milliseconds(1)), j)
        .receive([&](ring_roster& r) { roster = std::move(r); },
                 [&](caf::error& e) {
                   st = status(status_code::deadline_exceeded,
                               "joining ring " + o_.group + " at " + coord + ": " + sys_.render(e));
                 });
  }
  if (!st.ok()) return st;
  if (roster.hosts.size() != o_.world || roster.ports.size() != o_.world)
    return data_loss("ring roster has " + std::to_string(roster.hosts.size()) + " ranks, want " +
                     std::to_string(o_.world));
  blob_ = std::move(roster.blob);
  if (o_.world > 1) {
    uint32_t n = (o_.rank + 1) % o_.world;
    auto r = retry_until(
        deadline, [&] { return sys_.middleman().remote_actor(roster.hosts[n], roster.ports[n]); });
    if (!r)
      return status(status_code::unavailable, "ring rank " + std::to_string(n) + " at " +
                                                  roster.hosts[n] + ":" +
                                                  std::to_string(roster.ports[n]) +
                                                  " unreachable: " + sys_.render(r.error()));
    caf::anon_send(actor_, ring_next_atom::value, *r);
  }
  formed_ = true;
  // Barrier: one tiny all-reduce around the ring. It completes on a rank only after every rank
  // connected to its right neighbour, so no rank returns from join() (and possibly exits) while
  // another still has to connect to it.
  float one = 1.0f;
  if (auto st = all_reduce_sum(&one, 1); !st.ok()) return st.with_context("ring barrier");
  if (one != static_cast<float>(o_.world))
    return data_loss("ring barrier summed to " + std::to_string(one) + ", want " +
                     std::to_string(o_.world));
  return {};
}

result<std::unique_ptr<ring_all_reducer>> ring_all_reducer::listen(caf::actor_system& sys,
                                                                   const ring_options& o) {
  std::unique_ptr<ring_all_reducer> r(new ring_all_reducer(sys, o));
  KAITO_TRY(r->start());
  return r;
}

status ring_all_reducer::wait_formed() {
  return formed_ ? status() : form();
}

result<std::unique_ptr<ring_all_reducer>> ring_all_reducer::join(caf::actor_system& sys,
                                                                 const ring_options& o) {
  KAITO_ASSIGN_OR_RETURN(auto r, listen(sys, o));
  KAITO_TRY(r->form());
  return r;
}

ring_all_reducer::~ring_all_reducer() {
  if (actor_) {
    if (port_) (void)sys_.middleman().unpublish(actor_, port_);
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  }
}

status ring_all_reducer::all_reduce_sum(float* data, size_t count) {
  if (!broken_.ok()) return broken_;
  if (!formed_) return status(status_code::failed_precondition, "ring not formed");
  if (o_.world == 1) return {};
  ring_reduce req;
  req.op = next_op_++;
  req.data = msg::make_f32_tensor(data, {static_cast<int64_t>(count)});
  status st;
  caf::scoped_actor self{sys_};
  self->request(actor_, o_.timeout, std::move(req))
      .receive(
          [&](tensor_bytes& t) {
            if (t.data.size() != count * sizeof(float)) {
              st = data_loss("all_reduce returned " + std::to_string(t.data.size()) + " bytes");
              return;
            }
            if (count) std::memcpy(data, t.data.data(), count * sizeof(float));
          },
          [&](caf::error& e) {
            st = status(e == caf::sec::request_timeout ? status_code::deadline_exceeded
                                                       : status_code::unavailable,
                        "all_reduce op " + std::to_string(next_op_ - 1) + " on rank " +
                            std::to_string(o_.rank) + ": " + sys_.render(e));
          });
  if (!st.ok()) broken_ = st;
  return st;
}

}  // namespace kaito::actors
