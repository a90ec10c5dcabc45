// sampling_bench: the host cost of choosing one token (engine/sampling.h) at Phi-3's vocabulary
// (32064), the work a server does per answer per step after the logits reach the host. Never run
// by ctest. One table: setting, distribution, ours (us per token, engine::sample_token), peer (us,
// the same processors with top_p as transformers' TopPLogitsWarper writes it: a stable sort of
// the whole vocabulary, then the cumulative sum), peer / ours.
//   distributions: "peaked" (logits ~ N(0, 3) / temperature 0.7: a few hundred tokens hold most
//   of the mass, as a trained model's next token often does) and "flat" (N(0, 0.5): the top_p cut
//   falls deep in the vocabulary, the selection's worst case).
// Then the host's ceiling for serving: engine::batch_generator over a decoder that answers every
// step at once with fixed logits (no model: what is left is the scheduler and the draws), B = 1
// and 16 answers of 64 tokens with temperature 0.7 and top_p 0.9: tokens/s with the draws on the
// CPU kernels' worker pool (ours, kernels/parallel_for.h) and one by one (peer: one thread), and
// the ratio. A GPU step faster than B tokens at this rate waits for the host.
// Last, response_format json_object's token filter (engine/token_filter.h): us per mask over a
// synthetic 32064-piece vocabulary in three states of an answer, and that over a top_p draw.
//   usage: kaito_sampling_bench [reps]   (default 200 tokens per row, best of 3 runs)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/json_schema.h"
#include "engine/model_config.h"
#include "engine/sampling.h"
#include "engine/sequence_decoder.h"
#include "engine/token_filter.h"
#include "kernels/sgemm_threads.h"

namespace {

using namespace kaito;
using namespace kaito::engine;
using clock_type = std::chrono::steady_clock;

// transformers' TopPLogitsWarper on a distribution: stable ascending sort of every token,
// cumulative sum, drop while <= 1 - top_p (the most likely stays), renormalize.
void hf_top_p(std::vector<double>& prob, double top_p) {
  std::vector<size_t> order(prob.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prob[a] < prob[b]; });
  double cum = 0.0;
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    cum += prob[order[i]];
    if (cum <= 1.0 - top_p) prob[order[i]] = 0.0;
  }
  double s = 0.0;
  for (double x : prob) s += x;
  for (double& x : prob) x /= s;
}

// The peer: our processors without top_p, then HF's top_p, then the same draw (greedy: argmax).
int32_t peer_token(const std::vector<float>& logits, const sampling_params& p, uint64_t step) {
  if (p.temperature <= 0.0)  // greedy: torch.argmax
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  sampling_params rest = p;
  rest.top_p = 1.0;
  std::vector<double> prob = sampling_distribution(logits, rest, {});
  if (p.top_p < 1.0) hf_top_p(prob, p.top_p);
  return draw_token(prob, p.seed, step);
}

// Best of 3 runs of `reps` tokens, us per token; `sum` keeps the results alive.
double us_per_token(int reps, const std::function<int32_t(uint64_t)>& draw, int64_t& sum) {
  double best = 1e30;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = clock_type::now();
    for (int i = 0; i < reps; ++i) sum += draw(uint64_t(i));
    best = std::min(best, std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return 1e6 * best / reps;
}

// A sequence_decoder with no model: every prefill and decode returns the same logits at once.
class fixed_logits_decoder final : public sequence_decoder {
 public:
  fixed_logits_decoder(std::vector<float> logits, int64_t slots)
      : logits_(std::move(logits)), slots_(slots) {}
  int64_t slots() const override { return slots_; }
  int64_t max_len() const override { return 4096; }
  int64_t max_prefill() const override { return 0; }
  int64_t kv_bytes_per_token() const override { return 0; }
  bool kv_preallocated() const override { return true; }
  void reset(int64_t) override {}
  status prefill(int64_t, const int32_t*, int64_t, int64_t, std::vector<float>* logits) override {
    if (logits != nullptr) *logits = logits_;
    return {};
  }
  bool needs_reprefill(int64_t, int64_t) const override { return false; }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>&,
                std::vector<float>* logits) override {
    logits->resize(slots.size() * logits_.size());
    for (size_t b = 0; b < slots.size(); ++b)
      std::copy(logits_.begin(), logits_.end(), logits->begin() + b * logits_.size());
    return {};
  }

 private:
  std::vector<float> logits_;
  int64_t slots_;
};

// Tokens/s of B concurrent 64-token answers through batch_generator on fixed logits.
double serving_tok_s(const std::vector<float>& logits, int64_t B) {
  model_config c;
  c.vocab_size = static_cast<int64_t>(logits.size());
  c.max_position_embeddings = 4096;
  batch_generator g(c, std::make_unique<fixed_logits_decoder>(logits, B), {.max_batch = B});
  const int64_t tokens = 64;
  const auto t0 = clock_type::now();
  std::vector<std::thread> threads;
  for (int64_t b = 0; b < B; ++b)
    threads.emplace_back([&, b] {
      generate_options o;
      o.max_new_tokens = tokens;
      o.sampling.temperature = 0.7;
      o.sampling.top_p = 0.9;
      o.sampling.seed = uint64_t(b);
      (void)g.generate({1, 2, 3}, o);
    });
  for (auto& t : threads) t.join();
  return double(B * tokens) / std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const int64_t V = 32064;
  struct setting {
    const char* name;
    double temperature, top_p;
    int64_t top_k;
  };
  const setting settings[] = {{"greedy", 0.0, 1.0, 0},
                              {"temperature 0.7", 0.7, 1.0, 0},
                              {"top_k 50", 0.7, 1.0, 50},
                              {"top_p 0.9", 0.7, 0.9, 0},
                              {"top_p 0.95, top_k 50", 0.7, 0.95, 50}};
  std::printf("%-22s %-7s %12s %12s %9s\n", "setting", "logits", "ours us/tok", "peer us/tok",
              "peer/ours");
  int64_t sum = 0;
  for (const float spread : {3.0f, 0.5f}) {
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0.0f, spread);
    std::vector<float> logits(static_cast<size_t>(V));
    for (float& x : logits) x = n(rng);
    for (const setting& s : settings) {
      sampling_params p;
      p.temperature = s.temperature;
      p.top_p = s.top_p;
      p.top_k = s.top_k;
      p.seed = 5;
      int64_t ours_sum = 0, peer_sum = 0;
      const double ours = us_per_token(
          reps, [&](uint64_t i) { return sample_token(logits, p, {}, i); }, ours_sum);
      const double peer = us_per_token(
          reps, [&](uint64_t i) { return peer_token(logits, p, i); }, peer_sum);
      std::printf("%-22s %-7s %12.1f %12.1f %9.2f%s\n", s.name, spread > 1.0f ? "peaked" : "flat",
                  ours, peer, peer / ours, ours_sum == peer_sum ? "" : "  (different tokens)");
      sum += ours_sum;
    }
  }
  std::printf("(token id checksum %lld)\n", static_cast<long long>(sum));

  std::mt19937 rng(2);
  std::normal_distribution<float> n(0.0f, 3.0f);
  std::vector<float> logits(static_cast<size_t>(V));
  for (float& x : logits) x = n(rng);
  std::printf("\n%-34s %10s %10s %9s\n", "serving host ceiling (top_p 0.9)", "ours tok/s",
              "peer tok/s", "ours/peer");
  for (const int64_t B : {int64_t(1), int64_t(16)}) {
    double ours = 0, peer = 0;
    for (int run = 0; run < 3; ++run) {
      sgemm_set_threads(0);  // the configured pool
      ours = std::max(ours, serving_tok_s(logits, B));
      sgemm_set_threads(1);
      peer = std::max(peer, serving_tok_s(logits, B));
    }
    sgemm_set_threads(0);
    std::printf("B=%-32lld %10.1f %10.1f %9.2f\n", static_cast<long long>(B), ours, peer,
                ours / peer);
  }
  std::printf("(worker pool: %d threads)\n", sgemm_threads());

  // The JSON token filters' pass over the vocabulary before each draw (response_format
  // json_object and json_schema), in a few states of an answer, against the top_p 0.9 draw it
  // precedes; on two synthetic vocabularies of V pieces: "punctuation-heavy" (1-8 bytes of
  // letters, digits, spaces and JSON's punctuation: ~17% of the pieces hold '"' or '\\', the
  // worst case inside a string) and "word-like" (a BPE vocabulary's shape: words of 2-9 letters,
  // half with a leading space, and 0.5% punctuation pieces holding a quote).
  auto punctuation = std::make_shared<vocab_bytes>();
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789  {}[]:,\"\\.-e";
  std::mt19937 vr(3);
  for (int64_t i = 0; i < V; ++i) {
    std::string piece(1 + vr() % 8, ' ');
    for (char& c : piece) c = alphabet[vr() % std::strlen(alphabet)];
    punctuation->text.push_back(piece);
  }
  auto words = std::make_shared<vocab_bytes>();
  for (const char* c = " {}[]:,-.0123456789abcdefghijklmnopqrstuvwxyz\""; *c; ++c)
    words->text.push_back(std::string(1, *c));  // every JSON byte alone (the states need them)
  const char* quoted[] = {"\"", "\",", "\":", "\"}", "\"]", " \"", "\")", ".\"", "=\"", "\\n"};
  while (static_cast<int64_t>(words->text.size()) < V) {
    std::string piece = vr() % 2 ? " " : "";
    if (vr() % 200 == 0) {
      piece += quoted[vr() % 10];
    } else {
      for (int64_t k = 2 + vr() % 8; k > 0; --k) piece += static_cast<char>('a' + vr() % 26);
    }
    words->text.push_back(piece);
  }
  for (auto* v : {punctuation.get(), words.get()}) {
    v->special.assign(v->text.size(), false);
    v->index();
  }
  sampling_params top_p;
  top_p.temperature = 0.7, top_p.top_p = 0.9, top_p.seed = 5;
  int64_t draw_sum = 0;
  const double draw = us_per_token(
      reps, [&](uint64_t i) { return sample_token(logits, top_p, {}, i); }, draw_sum);
  // Each filter driven through the states' characters (single-character pieces), then timed.
  auto rows = [&](const std::string& title, const std::shared_ptr<vocab_bytes>& vocab,
                  const std::vector<const char*>& states, auto make) {
    std::printf("\n%-34s %10s %10s %8s\n", title.c_str(), "mask us", "mask/draw", "allowed");
    for (const char* state : states) {
      auto f = make(vocab);
      for (const char* c = state; *c; ++c) {
        const auto it = std::find(vocab->text.begin(), vocab->text.end(), std::string(1, *c));
        if (it != vocab->text.end()) f->advance(static_cast<int32_t>(it - vocab->text.begin()));
      }
      int64_t allowed = 0;
      const double mask = us_per_token(
          reps,
          [&](uint64_t) {
            std::vector<float> l = logits;
            f->mask(l);
            return static_cast<int32_t>(
                std::count_if(l.begin(), l.end(), [](float x) { return x > -INFINITY; }));
          },
          allowed);
      std::vector<float> l = logits;
      f->mask(l);
      std::printf("after %-28s %10.1f %10.2f %8lld\n", (std::string("\"") + state + "\"").c_str(),
                  mask, mask / draw,
                  static_cast<long long>(
                      std::count_if(l.begin(), l.end(), [](float x) { return x > -INFINITY; })));
    }
  };
  // json_schema: a pydantic-like object (a bounded string, an integer range, an enum array, an
  // optional anyOf)
  auto schema = json_schema::parse(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":40},"age":{"type":"integer","minimum":0,"maximum":150},
      "tags":{"type":"array","items":{"enum":["a","b","c"]}},
      "email":{"anyOf":[{"type":"string"},{"type":"null"}]}},
      "required":["name","age"],"additionalProperties":false})",
                                   "schema");
  if (!schema.ok()) return 1;
  for (const auto& [name, vocab] :
       {std::pair{"punctuation-heavy", punctuation}, std::pair{"word-like", words}}) {
    rows(std::string("json_object, ") + name, vocab,
         {"", "{\"name\": \"Ada", "{\"a\": [1, 2.5, {\"b\": tr"}, [&](const auto& v) {
           return std::make_unique<json_token_filter>(v, std::vector<int32_t>{2});
         });
    rows(std::string("json_schema, ") + name, vocab,
         {"", "{\"name\": \"Ada", "{\"name\": \"Ada\", \"age\": 4",
          "{\"name\":\"A\",\"age\":1,\"tags\":["},
         [&](const auto& v) {
           return std::make_unique<schema_token_filter>(v, std::vector<int32_t>{2}, *schema);
         });
  }
  return 0;
}
