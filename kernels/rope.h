// Rotary position embedding (HF apply_rotary_pos_emb with rotate_half: the NeoX/Llama halves
// convention) and the inverse frequencies of HF modeling_rope_utils (default, longrope/su, llama3).
//
// Frequencies (host, pure; fp32 like HF's torch code; D = RD = the rotary dims, i in [0, D/2)):
//   default:  inv_freq[i] = 1 / theta^(float(2i) / D)        (_compute_default_rope_parameters)
//   longrope: inv_freq[i] = 1 / (ext[i] * theta^(float(2i) / D)), ext = long_factor when
//             seq_len > original_max_position_embeddings, else short_factor; seq_len is
//             max(position_id) + 1 of the current forward (longrope_frequency_update).
//             attention factor = sqrt(1 + ln(factor) / ln(original_max)) unless given, with
//             factor = max_position_embeddings / original_max (Phi-3-128k: 32 -> 1.1902380714);
//             it multiplies cos and sin at every length, short factors included. "su" = old name.
//   llama3:   default inv_freq, then per frequency with wavelen = 2*pi / inv_freq:
//             wavelen < orig / high_ff: keep;  wavelen > orig / low_ff: inv / factor;
//             else smooth = (orig / wavelen - low_ff) / (high_ff - low_ff) and
//             inv = (1 - smooth) * inv / factor + smooth * inv   (_compute_llama3_parameters).
//             Attention factor 1.
// Tables (per token; pos (N) int32 position ids, so packed sequences may restart at 0):
//   cos[n, j] = cos(pos[n] * inv_freq[j mod D/2]) * attention_factor; sin likewise; (N, D) fp32.
//   (HF: freqs = inv_freq x pos in fp32, emb = cat(freqs, freqs), cos = emb.cos() * scaling.)
// Rotation of the first RD dims, x = inp[n, h, :], H = RD/2, j < H (out may equal inp: in place
// allowed):
//   out[j]     = x[j]     * cos[n,j]     - x[j + H] * sin[n,j]
//   out[j + H] = x[j + H] * cos[n,j + H] + x[j]     * sin[n,j + H]
//   out[d]     = x[d]   for RD <= d < HS (partial rotary: HF's q_pass / k_pass, concatenated back)
// Backward is the transpose (rotation by -angle); dinp is overwritten (=), in place allowed:
//   dinp[j]     = dout[j]     * cos[n,j]     + dout[j + H] * sin[n,j + H]
//   dinp[j + H] = dout[j + H] * cos[n,j + H] - dout[j]     * sin[n,j]
//   dinp[d]     = dout[d] for RD <= d < HS
// Shapes (legend: N = B*T, NH heads of this tensor (NH for q, NKV for k), HS head dim, RD the
// rotary dims: even, 2 <= RD <= HS; RD = HS unless the model has partial_rotary_factor < 1, as
// Phi-4-mini's 0.75):
//   inp, out, dout, dinp: (N, NH, HS) row-major, HS contiguous; cos, sin: (N, RD).
// Forward saves nothing (backward reuses cos/sin).
// CPU twin: fp32 (HF's dtype). CUDA twin: bf16 data, the same fp32 cos/sin tables; one thread per
// dim pair (j < HS/2): pair (j, j + RD/2) rotates for j < RD/2, the others carry two pass-through
// dims each (RD + 2k, RD + 2k + 1, k = j - RD/2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace kaito {

enum class rope_kind { default_rope, longrope, llama3 };

struct rope_params {
  rope_kind kind = rope_kind::default_rope;
  double theta = 10000.0;  // rope_theta
  int64_t head_dim = 0;    // RD: the rotary dims (the head dim unless partial rotary)
  // longrope / su: RD/2 factors each (precondition: the engine validates config.json; the
  // count is KAITO_CHECKed here); original_max_position_embeddings; attention_factor
  // (< 0 means "not given": computed from max_position_embeddings / original_max).
  std::vector<float> short_factor, long_factor;
  int64_t original_max_position_embeddings = 0;
  int64_t max_position_embeddings = 0;
  double attention_factor = -1.0;
  // llama3
  double factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
};

// HF's default longrope attention factor: sqrt(1 + ln(factor)/ln(original_max)) for factor > 1,
// else 1.
double rope_longrope_attention_factor(double factor, int64_t original_max_position_embeddings);
// The factor cos and sin are multiplied by (1 for default and llama3).
double rope_attention_factor(const rope_params& p);
// inv_freq (RD/2 = p.head_dim/2) for a forward whose largest position id is seq_len - 1 (matters
// for longrope only).
std::vector<float> rope_inv_freq(const rope_params& p, int64_t seq_len);

// cos, sin: (N, RD) (=). inv_freq: (RD/2).
void rope_cos_sin_cpu(float* cos, float* sin, const int32_t* pos, const float* inv_freq,
                      float attention_factor, int64_t N, int64_t RD);
void rope_forward_cpu(float* out, const float* inp, const float* cos, const float* sin, int64_t N,
                      int64_t NH, int64_t HS, int64_t RD);
void rope_backward_cpu(float* dinp, const float* dout, const float* cos, const float* sin,
                       int64_t N, int64_t NH, int64_t HS, int64_t RD);

#if KAITO_WITH_CUDA
// cos, sin are the CPU-built fp32 tables copied to the device; out may equal inp.
void rope_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const float* cos,
                       const float* sin, int64_t N, int64_t NH, int64_t HS, int64_t RD);
void rope_backward_cuda(cuda_context& cx, bf16* dinp, const bf16* dout, const float* cos,
                        const float* sin, int64_t N, int64_t NH, int64_t HS, int64_t RD);
#endif

}  // namespace kaito
