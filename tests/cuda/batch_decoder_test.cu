// batch_decoder_test: continuous batching's GPU steps (engine/cuda/batch_decoder.h) against the
// lockstep generator (engine/cuda/infer.h, itself checked against the CPU twins by infer_test)
// on a tiny random NF4 model with non-zero LoRA. Plain main (GPU hosts may lack GoogleTest);
// exit 77 without a CUDA device, 1 on a failure.
//   1. lockstep: B prompts of one length in slots 0..B-1, decoded together, give gpu_generator's
//      tokens and last logits bit for bit (the same kernels at the same rows);
//   2. alone: each prompt alone in slot 0, whole prefill, B = 1 steps: gpu_generator's at B = 1,
//      bit for bit;
//   3. staggered: the same prompts in shuffled slots, prefilled in chunks of 3 while the others
//      decode, joining and leaving at different steps, each fed the tokens of its alone run
//      (teacher forcing): every step's logits within bf16 tolerance of the alone run's (the
//      batch size changes the split plan of decode attention; a later chunk attends through the
//      cache kernel instead of the tensor-core one);
//      once with decode steps replayed as CUDA graphs (captured per batch size), once as plain
//      launches: the same logits bit for bit;
//   4. the errors callers can make, each naming its argument;
//   5. longrope: short and long sequences in one call, and a sequence crossing
//      original_max_position_embeddings re-prefilled;
//   6.-8. the paged pool, key spans, prefix caching (see each section);
//   9. a chunked prompt at head size 64: later chunks on the tensor cores over the paged keys.
// Shape: C=128, 2 layers, 4 query / 2 kv heads of 32, I=256, V=256, window 6 (cuts in), r=4.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/batch_decoder.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/infer.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/rope.h"

namespace {

using namespace kaito;
using namespace kaito::gpu;

constexpr double kLogitTol = 2e-2;  // max |a - b| / max |a| of one step's logits (bf16 paths)

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

infer_options options(int64_t max_batch, int64_t max_seq, int64_t prefill_rows) {
  infer_options o;
  o.max_batch = max_batch;
  o.max_seq = max_seq;
  o.prefill_rows = prefill_rows;
  o.gemv_measure = false;  // one kernel for every run (a measured choice could differ)
  o.gemv_kernel = nf4_gemv_kernel::register_lut;
  o.prefill_gemm_measure = false;
  return o;
}

int32_t argmax(const float* row, int64_t V) {
  return int32_t(std::max_element(row, row + V) - row);
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double ref = 0.0, err = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    ref = std::max(ref, std::fabs(double(a[i])));
    const double e = std::fabs(double(a[i]) - double(b[i]));
    err = std::isfinite(e) ? std::max(err, e) : INFINITY;
  }
  return ref > 0.0 ? err / ref : err;
}

// One prompt alone through the decoder: greedy tokens (steps of them) and each step's logits.
struct alone_run {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // logits[i]: what tokens[i] was picked from
};

bool run_alone(gpu_batch_decoder& d, const std::vector<int32_t>& prompt, int64_t steps,
               alone_run& out) {
  const int64_t V = 256;
  d.reset(0);
  std::vector<float> lg;
  if (!d.prefill(0, prompt.data(), int64_t(prompt.size()), 0, &lg).ok()) return false;
  for (int64_t i = 0; i < steps; ++i) {
    out.logits.push_back(lg);
    out.tokens.push_back(argmax(lg.data(), V));
    if (i + 1 < steps && !d.decode({0}, {out.tokens.back()}, &lg).ok()) return false;
  }
  return true;
}

}  // namespace

int main() {
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  auto cx = cuda_context::create();
  if (!cx.ok()) {
    std::printf("FAIL: %s\n", cx.error().to_string().c_str());
    return 1;
  }
  gpu_model_shape s;
  s.C = 128, s.L = 2, s.NH = 4, s.NKV = 2, s.HS = 32, s.I = 256, s.V = 256;
  s.rope.theta = 10000.0, s.rms_eps = 1e-5f, s.window = 6, s.lora_r = 4, s.lora_alpha = 8.0;
  const int64_t max_T = 32, B = 4, T = 5, steps = 6;
  auto model = gpu_model_random(**cx, s, max_T, 77, /*lora_b_zero=*/false);
  if (!model.ok()) {
    std::printf("FAIL: gpu_model_random: %s\n", model.error().to_string().c_str());
    return 1;
  }
  std::mt19937 rng(99);
  std::vector<int32_t> prompts(size_t(B * T));
  for (int32_t& t : prompts) t = int32_t(rng() % uint32_t(s.V));

  // 1. lockstep against gpu_generator
  {
    auto gen = gpu_generator::create(**cx, *model, options(B, max_T, 0));
    auto dec = gpu_batch_decoder::create(**cx, *model, options(B, max_T, T));
    if (!gen.ok() || !dec.ok()) {
      std::printf("FAIL: create: %s\n", (gen.ok() ? dec.error() : gen.error()).to_string().c_str());
      return 1;
    }
    bool ok = (*gen)->prefill(prompts.data(), B, T).ok();
    for (int64_t i = 1; i < steps && ok; ++i) ok = (*gen)->decode_step().ok();
    auto want = (*gen)->tokens();
    auto want_logits = (*gen)->last_logits();
    ok = ok && want.ok() && want_logits.ok();
    std::vector<int32_t> got(size_t(B * steps));
    std::vector<float> lg, all;
    for (int64_t b = 0; b < B && ok; ++b) {
      ok = (*dec)->prefill(b, prompts.data() + b * T, T, 0, &lg).ok();
      got[size_t(b * steps)] = argmax(lg.data(), s.V);
      all.insert(all.end(), lg.begin(), lg.end());
    }
    for (int64_t i = 1; i < steps && ok; ++i) {
      std::vector<int64_t> slots;
      std::vector<int32_t> ids;
      for (int64_t b = 0; b < B; ++b) {
        slots.push_back(b);
        ids.push_back(got[size_t(b * steps + i - 1)]);
      }
      ok = (*dec)->decode(slots, ids, &all).ok();
      for (int64_t b = 0; b < B && ok; ++b)
        got[size_t(b * steps + i)] = argmax(all.data() + b * s.V, s.V);
    }
    check(ok && got == *want, "lockstep: B=4 T=5, 6 tokens each equal gpu_generator's");
    check(ok && all == *want_logits, "lockstep: the last step's logits bit for bit");
  }

  // 2. and 3.: prompts of different lengths
  const std::vector<int64_t> lens = {5, 9, 2, 7};
  std::vector<std::vector<int32_t>> ps;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> p(static_cast<size_t>(lens[size_t(b)]));
    for (int32_t& t : p) t = int32_t(rng() % uint32_t(s.V));
    ps.push_back(p);
  }
  std::vector<alone_run> alone(static_cast<size_t>(B));
  {
    auto dec = gpu_batch_decoder::create(**cx, *model, options(1, max_T, 16));
    bool ok = dec.ok();
    for (int64_t b = 0; b < B && ok; ++b)
      ok = run_alone(**dec, ps[size_t(b)], steps, alone[size_t(b)]);
    // gpu_generator at B = 1, one prompt at a time
    bool same = ok;
    for (int64_t b = 0; b < B && same; ++b) {
      auto gen = gpu_generator::create(**cx, *model, options(1, max_T, 0));
      same = gen.ok() && (*gen)->prefill(ps[size_t(b)].data(), 1, lens[size_t(b)]).ok();
      for (int64_t i = 1; i < steps && same; ++i) same = (*gen)->decode_step().ok();
      auto toks = same ? (*gen)->tokens() : result<std::vector<int32_t>>(invalid_argument("", ""));
      auto lg = same ? (*gen)->last_logits() : result<std::vector<float>>(invalid_argument("", ""));
      same = toks.ok() && lg.ok() && *toks == alone[size_t(b)].tokens &&
             *lg == alone[size_t(b)].logits.back();
    }
    check(ok && same, "alone: each prompt's tokens and last logits equal gpu_generator's at B=1");
  }
  std::vector<float> graph_logits;  // every logit the staggered run saw, with graphs
  for (const bool graphs : {true, false}) {
    // slots: prompt b in slot 3 - b; prompt 0 starts, 1 joins at step 1 (chunks of 3: 3 steps of
    // prefill), 2 at step 2, 3 at step 4; each leaves after its `steps` tokens
    infer_options o = options(B, max_T, 3);
    o.cuda_graph = graphs;
    auto dec = gpu_batch_decoder::create(**cx, *model, o);
    bool ok = dec.ok();
    std::vector<float> seen;
    double worst = 0.0;
    std::vector<int64_t> fed(size_t(B), 0), prefilled(size_t(B), 0);
    const std::vector<int64_t> join = {0, 1, 2, 4};
    for (int64_t step = 0; ok && step < 40; ++step) {
      bool busy = false;
      std::vector<int64_t> slots, who;
      std::vector<int32_t> ids;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t P = lens[size_t(b)];
        if (step < join[size_t(b)] || fed[size_t(b)] >= steps) continue;
        busy = true;
        if (prefilled[size_t(b)] < P) {  // one chunk
          const int64_t n = std::min<int64_t>(3, P - prefilled[size_t(b)]);
          std::vector<float> lg;
          if (prefilled[size_t(b)] == 0) (*dec)->reset(3 - b);
          ok = ok &&
               (*dec)->prefill(3 - b, ps[size_t(b)].data() + prefilled[size_t(b)], n, P, &lg).ok();
          prefilled[size_t(b)] += n;
          if (ok && prefilled[size_t(b)] == P) {
            seen.insert(seen.end(), lg.begin(), lg.end());
            worst = std::max(worst, rel_diff(alone[size_t(b)].logits[0], lg));
            fed[size_t(b)] = 1;
          }
          continue;
        }
        slots.push_back(3 - b);
        who.push_back(b);
        ids.push_back(alone[size_t(b)].tokens[size_t(fed[size_t(b)] - 1)]);
      }
      if (!busy) break;
      if (slots.empty()) continue;
      std::vector<float> lg;
      ok = ok && (*dec)->decode(slots, ids, &lg).ok();
      seen.insert(seen.end(), lg.begin(), lg.end());
      for (size_t i = 0; ok && i < who.size(); ++i) {
        const int64_t b = who[i];
        const std::vector<float> row(lg.begin() + int64_t(i) * s.V,
                                     lg.begin() + int64_t(i + 1) * s.V);
        worst = std::max(worst, rel_diff(alone[size_t(b)].logits[size_t(fed[size_t(b)])], row));
        ++fed[size_t(b)];
      }
    }
    bool all_fed = true;
    for (int64_t f : fed) all_fed &= f == steps;
    char line[200];
    std::snprintf(line, sizeof line,
                  "staggered (%s): 4 answers in shuffled slots, chunked prefill, every step's "
                  "logits within %.0e of alone (max %.3e)",
                  graphs ? "graphs" : "plain launches", kLogitTol, worst);
    check(ok && all_fed && worst <= kLogitTol, line);
    if (graphs) {
      graph_logits = seen;
      check(ok && (*dec)->graphs() >= 2, "staggered: decode steps replay captured graphs (" +
                                             std::to_string(ok ? (*dec)->graphs() : 0) +
                                             " batch sizes)");
    } else {
      check(ok && seen == graph_logits,
            "staggered: plain launches give the graphs' logits bit "
            "for bit");
    }
  }

  // 5. longrope (Phi-3-128k's: other factors past original_max_position_embeddings, here 8):
  // a short and a long sequence decoded in one call, each bit for bit its alone run; a sequence
  // reaching the threshold must be prefilled again, and then decodes with the long factors as one
  // prefilled long from the start does.
  {
    gpu_model_shape sl = s;
    sl.rope.kind = rope_kind::longrope;
    sl.rope.original_max_position_embeddings = 8;
    sl.rope.max_position_embeddings = max_T;
    for (int64_t i = 0; i < sl.HS / 2; ++i) {
      sl.rope.short_factor.push_back(1.0f + 0.1f * float(i));
      sl.rope.long_factor.push_back(2.0f + 0.5f * float(i));
    }
    auto lm = gpu_model_random(**cx, sl, max_T, 78, /*lora_b_zero=*/false);
    if (!lm.ok()) {
      std::printf("FAIL: longrope model: %s\n", lm.error().to_string().c_str());
      return 1;
    }
    std::vector<int32_t> a(ps[0].begin(), ps[0].begin() + 5), b = ps[1];  // 5 short, 9 long
    const std::vector<int32_t> feed = {11, 22, 33};
    // each alone in slot 0: prefill, then the three fed tokens
    auto alone_logits = [&](const std::vector<int32_t>& prompt, std::vector<float>& out) {
      auto d = gpu_batch_decoder::create(**cx, *lm, options(1, max_T, 16));
      if (!d.ok()) return false;
      std::vector<float> lg;
      if (!(*d)->prefill(0, prompt.data(), int64_t(prompt.size()), 0, &lg).ok()) return false;
      for (int32_t t : feed) {
        if (!(*d)->decode({0}, {t}, &lg).ok()) return false;
        out.insert(out.end(), lg.begin(), lg.end());
      }
      return true;
    };
    std::vector<float> want_a, want_b;
    bool ok = alone_logits(a, want_a) && alone_logits(b, want_b);
    auto d = gpu_batch_decoder::create(**cx, *lm, options(2, max_T, 16));
    ok = ok && d.ok();
    std::vector<float> lg, got_a, got_b;
    ok = ok && (*d)->prefill(1, a.data(), 5, 0, &lg).ok() &&
         (*d)->prefill(0, b.data(), 9, 0, &lg).ok();
    for (size_t i = 0; ok && i < feed.size(); ++i) {
      ok = (*d)->decode({1, 0}, {feed[i], feed[i]}, &lg).ok();
      got_a.insert(got_a.end(), lg.begin(), lg.begin() + s.V);
      got_b.insert(got_b.end(), lg.begin() + s.V, lg.end());
    }
    check(ok && got_a == want_a && got_b == want_b,
          "longrope: a short and a long sequence in one call equal their alone runs bit for bit");
    // slot 1 holds 8 tokens: the 9th needs the long factors
    bool again = ok && (*d)->needs_reprefill(1, 9) && !(*d)->needs_reprefill(0, 13);
    again = again && (*d)->decode({1}, {44}, &lg).where() == "slots[0]";
    std::vector<int32_t> whole = a;
    whole.insert(whole.end(), feed.begin(), feed.end());
    whole.push_back(44);  // 9 tokens: as one long prompt
    (*d)->reset(1);
    again = again && (*d)->prefill(1, whole.data(), 9, 0, &lg).ok() &&
            !(*d)->needs_reprefill(1, 10) && (*d)->decode({1}, {55}, &lg).ok();
    std::vector<float> want;
    {
      auto d1 = gpu_batch_decoder::create(**cx, *lm, options(1, max_T, 16));
      std::vector<float> w;
      again = again && d1.ok() && (*d1)->prefill(0, whole.data(), 9, 0, &w).ok() &&
              (*d1)->decode({0}, {55}, &want).ok();
    }
    check(again && lg == want,
          "longrope: crossing the threshold asks for a new prefill, then decodes as a long "
          "prompt");
  }

  // 6. the paged pool: blocks of 2 positions, 12 in all, for two slots (a slot alone could take
  // 16 of max_T = 32: the pool, not the slots, bounds them). Two sequences grow block by block
  // until the pool is empty; every step's logits equal the alone runs' (blocks of 16) bit for
  // bit. A step that needs blocks the pool lacks fails naming the row and changes nothing; a
  // reset returns a slot's blocks, and a new sequence on them decodes as it does alone.
  {
    infer_options o = options(2, max_T, 16);
    o.kv_block_size = 2;
    o.kv_blocks = 12;
    auto d = gpu_batch_decoder::create(**cx, *model, o);
    auto d1 = gpu_batch_decoder::create(**cx, *model, options(1, max_T, 16));
    alone_run ax;  // ps[0] for 8 steps
    bool ok = d.ok() && d1.ok() && run_alone(**d1, ps[0], 8, ax);
    const alone_run &ay = alone[1], &az = alone[3];
    std::vector<float> lx, ly, lg;
    auto row = [&](int64_t i) {
      return std::vector<float>(lg.begin() + i * s.V, lg.begin() + (i + 1) * s.V);
    };
    ok = ok && (*d)->kv_block_size() == 2 && (*d)->kv_blocks() == 12 && (*d)->free_blocks() == 12;
    ok = ok && (*d)->prefill(1, ps[0].data(), 5, 0, &lx).ok() &&  // 3 blocks
         (*d)->prefill(0, ps[1].data(), 9, 0, &ly).ok() &&        // 5 blocks
         (*d)->free_blocks() == 4 && lx == ax.logits[0] && ly == ay.logits[0];
    const int64_t want_free[] = {4, 2, 2, 0, 0};  // x at 6..10 tokens, y at 10..14
    for (int64_t i = 1; ok && i <= 5; ++i) {
      ok = (*d)->decode({1, 0}, {ax.tokens[size_t(i - 1)], ay.tokens[size_t(i - 1)]}, &lg).ok() &&
           row(0) == ax.logits[size_t(i)] && row(1) == ay.logits[size_t(i)] &&
           (*d)->free_blocks() == want_free[i - 1];
    }
    const bool grew = ok;
    // x at 10 and y at 14 both need an 11th / 15th position: a block each, none free
    ok = ok && (*d)->blocks_needed(1, 11) == 1 && (*d)->blocks_needed(0, 15) == 1;
    const status full = ok ? (*d)->decode({1, 0}, {ax.tokens[5], ay.tokens[5]}, &lg) : status();
    ok = ok && full.code() == status_code::resource_exhausted && full.where() == "slots[0]" &&
         (*d)->length(1) == 10 && (*d)->length(0) == 14 && (*d)->free_blocks() == 0;
    const bool refused = ok;
    (*d)->reset(0);  // y's 7 blocks back
    ok = ok && (*d)->free_blocks() == 7 && (*d)->prefill(0, ps[3].data(), 7, 0, &lg).ok() &&
         lg == az.logits[0];
    ok = ok && (*d)->decode({1, 0}, {ax.tokens[5], az.tokens[0]}, &lg).ok() &&
         row(0) == ax.logits[6] && row(1) == az.logits[1];
    ok = ok && (*d)->decode({1}, {ax.tokens[6]}, &lg).ok() && lg == ax.logits[7];
    const bool reused = ok;
    // x holds 12 tokens (6 blocks), z 8 (4): 2 free; a 16-token prompt in a reset slot 0 needs 8
    (*d)->reset(0);
    std::vector<int32_t> long_prompt(16, 7);
    const status no_room = ok ? (*d)->prefill(0, long_prompt.data(), 16, 0, &lg) : status();
    ok = ok && no_room.code() == status_code::resource_exhausted && no_room.where() == "slot" &&
         (*d)->free_blocks() == 6 && (*d)->blocks_needed(0, 16) == 8;
    check(grew,
          "paged: two sequences growing block by block (blocks of 2) equal their alone runs "
          "bit for bit");
    check(refused, "paged: a step the pool cannot hold fails naming slots[0] and changes nothing");
    check(reused, "paged: a reset slot's blocks serve a new sequence; the other goes on unchanged");
    check(ok, "paged: a prompt larger than the free blocks is refused (slot), nothing taken");
  }

  // 7. key spans: the attention plans its splits for the longest row's key count rounded up to a
  // power of two (>= 512), and each span replays its own graph. A row going from 511 to 516 keys
  // crosses from span 512 to 1024: two graphs, and the same logits bit for bit as plain
  // launches (a graph replayed past its span would clamp the key count).
  {
    auto lm = gpu_model_random(**cx, s, 1024, 79, /*lora_b_zero=*/false);
    bool ok = lm.ok();
    std::vector<int32_t> prompt(510);
    for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(s.V));
    std::vector<float> seen[2];
    int64_t captured = 0;
    for (const bool graphs : {true, false}) {
      infer_options o = options(1, 1024, 512);
      o.cuda_graph = graphs;
      auto d = ok ? gpu_batch_decoder::create(**cx, *lm, o)
                  : result<std::unique_ptr<gpu_batch_decoder>>(invalid_argument("no model", ""));
      std::vector<float> lg;
      ok = ok && d.ok() && (*d)->prefill(0, prompt.data(), 510, 0, &lg).ok();
      for (int i = 0; ok && i < 6; ++i) {  // keys 511 .. 516
        ok = (*d)->decode({0}, {argmax(lg.data(), s.V)}, &lg).ok();
        seen[graphs ? 0 : 1].insert(seen[graphs ? 0 : 1].end(), lg.begin(), lg.end());
      }
      if (graphs && ok) captured = (*d)->graphs();
    }
    check(ok && captured == 2 && seen[0] == seen[1],
          "key spans: 511 to 516 keys cross span 512 -> 1024, one graph each (" +
              std::to_string(captured) + "), plain launches' logits bit for bit");
  }

  // 8. prefix caching: blocks of 2. Slot 0 holds prompt 1 (9 tokens) and its first answer token
  // (5 full blocks); a prompt of those 10 tokens and 2 more, on slot 1, attaches the 5 blocks
  // (shared with slot 0) and prefills 2 tokens: its logits and next step within 2e-2 of a fresh
  // decoder's prefill of all 12, and slot 0 goes on bit for bit as alone.
  {
    infer_options o = options(2, max_T, 16);
    o.kv_block_size = 2;
    o.kv_blocks = 16;
    auto d = gpu_batch_decoder::create(**cx, *model, o);
    auto fresh = gpu_batch_decoder::create(**cx, *model, options(1, max_T, 16));
    bool ok = d.ok() && fresh.ok();
    const alone_run& a1 = alone[1];
    std::vector<int32_t> q = ps[1];
    q.insert(q.end(), {a1.tokens[0], 17, 18});
    std::vector<float> l0, lq, want;
    ok = ok && (*d)->prefill(0, ps[1].data(), 9, 0, &l0).ok() &&
         (*d)->decode({0}, {a1.tokens[0]}, &l0).ok();
    // slot 0 holds the 5 blocks a reuse would attach (and asking attaches nothing)
    const int64_t held = ok ? (*d)->held_prefix_blocks(q.data(), 12, 0) : -1;
    ok = ok && held == 5 && (*d)->free_blocks() == 16 - 5;
    const int64_t have = ok ? (*d)->reuse_prefix(1, q.data(), 12, 0) : -1;
    ok = ok && have == 10 && (*d)->length(1) == 10 && (*d)->reused_tokens() == 10 &&
         (*d)->free_blocks() == 16 - 5;  // slot 0's 5 full blocks, shared by slot 1
    ok = ok && (*d)->prefill(1, q.data() + 10, 2, 0, &lq).ok();
    ok = ok && (*fresh)->prefill(0, q.data(), 12, 0, &want).ok();
    const double first = ok ? rel_diff(want, lq) : INFINITY;
    std::vector<float> both;
    ok = ok && (*d)->decode({0, 1}, {a1.tokens[1], 19}, &both).ok() &&
         (*fresh)->decode({0}, {19}, &want).ok();
    const double next =
        ok ? rel_diff(want, std::vector<float>(both.begin() + s.V, both.end())) : INFINITY;
    const bool slot0 = ok && std::vector<float>(both.begin(), both.begin() + s.V) == a1.logits[2];
    // an empty slot only; nothing cached for other tokens
    const std::vector<int32_t> other = {1, 2, 3, 4, 5};
    ok = ok && (*d)->reuse_prefix(1, q.data(), 12, 0) == 0;  // slot 1 is not empty
    (*d)->reset(1);
    ok = ok && (*d)->reuse_prefix(1, other.data(), 5, 0) == 0;
    char line[200];
    std::snprintf(line, sizeof line,
                  "prefix cache: 10 of 12 prompt tokens (5 held blocks) reused from a live slot, "
                  "logits within "
                  "%.0e of a full prefill (%.3e, next step %.3e), the owner unchanged",
                  kLogitTol, first, next);
    check(ok && have == 10 && first <= kLogitTol && next <= kLogitTol && slot0, line);
  }

  // 9. a chunked prompt on the tensor cores: head size 64 (the tensor-core attention's), a 48-token
  // prompt in chunks of 16 (the second and third attend over the paged keys through
  // attention_forward_paged_mma_cuda; blocks of 16 and of 5, a window of 20 across chunks) gives
  // the whole prompt's logits (one chunk through attention_forward_mma_cuda) within tolerance,
  // and the same chunks through the SIMT kernels (attention_mma off) within tolerance of both.
  {
    gpu_model_shape s64 = s;
    s64.NH = 2, s64.NKV = 1, s64.HS = 64, s64.window = 20;
    auto m64 = gpu_model_random(**cx, s64, 64, 81, /*lora_b_zero=*/false);
    bool ok = m64.ok();
    std::vector<int32_t> prompt(48);
    for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(s.V));
    auto run = [&](int64_t chunk, int64_t block_size, bool mma, std::vector<float>& lg) {
      infer_options o = options(1, 64, chunk);
      o.kv_block_size = block_size;
      o.attention_mma = mma;
      auto d = ok ? gpu_batch_decoder::create(**cx, *m64, o)
                  : result<std::unique_ptr<gpu_batch_decoder>>(invalid_argument("no model", ""));
      bool fine = d.ok();
      for (int64_t at = 0; fine && at < 48; at += chunk)
        fine =
            (*d)->prefill(0, prompt.data() + at, std::min<int64_t>(chunk, 48 - at), 48, &lg).ok();
      // and one decode step over the chunks' keys
      return fine && (*d)->decode({0}, {argmax(lg.data(), s.V)}, &lg).ok();
    };
    std::vector<float> whole, chunked, chunked5, simt;
    ok = ok && run(48, 16, true, whole) && run(16, 16, true, chunked) &&
         run(16, 5, true, chunked5) && run(16, 16, false, simt);
    const double e16 = ok ? rel_diff(whole, chunked) : INFINITY;
    const double e5 = ok ? rel_diff(whole, chunked5) : INFINITY;
    const double es = ok ? rel_diff(simt, chunked) : INFINITY;
    char line[240];
    std::snprintf(
        line, sizeof line,
        "chunked on the tensor cores: 48 tokens in chunks of 16 (blocks of 16 / 5), HS 64, "
        "window 20: the next step within %.0e of one chunk (%.3e / %.3e) and of SIMT "
        "(%.3e)",
        kLogitTol, e16, e5, es);
    check(ok && e16 <= kLogitTol && e5 <= kLogitTol && es <= kLogitTol, line);
  }

  // 10. prompt rows (prompt logprobs): a 9-token prompt in chunks of 5 and 4 with every row's
  // logits, two rows per head call (max_batch 2): row i within tolerance of a prefill of the first
  // i + 1 tokens alone, and the last row the next draw's, as a plain prefill gives it.
  {
    auto d = gpu_batch_decoder::create(**cx, *model, options(2, 16, 9));
    bool ok = d.ok();
    std::vector<int32_t> prompt(9);
    for (int32_t& t : prompt) t = int32_t(rng() % uint32_t(s.V));
    std::vector<float> rows, part;
    ok = ok && (*d)->prefill(0, prompt.data(), 5, 9, &part, true).ok() && part.size() == 5 * 256;
    rows = part;
    ok =
        ok && (*d)->prefill(0, prompt.data() + 5, 4, 9, &part, true).ok() && part.size() == 4 * 256;
    rows.insert(rows.end(), part.begin(), part.end());
    double worst = 0.0;
    for (int64_t i = 0; ok && i < 9; ++i) {
      std::vector<float> lg;
      (*d)->reset(1);
      ok = (*d)->prefill(1, prompt.data(), i + 1, 9, &lg).ok();
      const std::vector<float> row(rows.begin() + i * 256, rows.begin() + (i + 1) * 256);
      worst = std::max(worst, ok ? rel_diff(lg, row) : INFINITY);
    }
    char line[200];
    std::snprintf(line, sizeof line,
                  "prompt rows: 9 tokens in chunks of 5 and 4, every row within %.0e of that "
                  "prefix's prefill (%.3e)",
                  kLogitTol, worst);
    check(ok && worst <= kLogitTol, line);
  }

  // 4. errors
  {
    auto dec = gpu_batch_decoder::create(**cx, *model, options(2, 8, 4));
    bool ok = dec.ok();
    std::vector<float> lg;
    const std::vector<int32_t> five = {1, 2, 3, 4, 5}, bad = {1, 256};
    auto field = [&](const status& st) { return st.ok() ? std::string("ok") : st.where(); };
    ok = ok && field((*dec)->prefill(0, five.data(), 5, 0, &lg)) == "n";      // > prefill_rows
    ok = ok && field((*dec)->prefill(2, five.data(), 1, 0, &lg)) == "slot";   // no slot 2
    ok = ok && field((*dec)->prefill(0, bad.data(), 2, 0, &lg)) == "ids[1]";  // outside V
    ok = ok && field((*dec)->decode({0}, {1}, &lg)) == "slots[0]";            // empty slot
    ok = ok && (*dec)->prefill(0, five.data(), 4, 0, &lg).ok();
    ok = ok && field((*dec)->decode({0, 0}, {1, 1}, &lg)) == "slots[1]";  // twice
    ok = ok && field((*dec)->decode({0}, {1, 2}, &lg)) == "ids";
    ok = ok && (*dec)->prefill(0, five.data(), 3, 0, &lg).ok();     // 7 of 8
    ok = ok && (*dec)->decode({0}, {1}, &lg).ok();                  // 8 of 8
    ok = ok && field((*dec)->decode({0}, {1}, &lg)) == "slots[0]";  // full
    ok = ok && field((*dec)->prefill(0, five.data(), 1, 0, &lg)) == "n";
    check(ok, "errors name their argument (n, slot, ids[1], slots[0] empty/twice/full, ids)");
  }
  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
