// NF4 4-bit NormalFloat quantization exactly as bitsandbytes (csrc/kernels.cu kQuantizeBlockwise
// and kDequantizeBlockwise with NF4; functional.py quantize_4bit / dequantize_4bit / QuantState).
//
// Quantize a weight W (OC, C), flattened row-major into n = OC*C elements:
//   blocks of 64 consecutive elements (a block may span rows; the last block may be partial);
//   absmax[b] = max_i |w_i| over the block (fp32, fmaxf: NaN inputs ignored);
//   x_i = w_i * (1.0f / absmax[b])      reciprocal then multiply, as the CUDA kernel;
//   q_i = #{k : x_i > t_k}              t = bnb's 15 threshold constants below, so a value equal
//                                       to a threshold gets the LOWER code; NaN gets code 0;
//   packed[j] = (q[2j] << 4) | q[2j+1]  even element in the HIGH nibble; ceil(n/2) bytes.
// An all-zero block: 0 * (1/0) = NaN -> code 0, so it packs to 0x00 and dequantizes to
// -1 * 0 = -0.0 (bnb's CPU backend clamps absmax and gives code 7 = +0.0 instead).
// For odd n the missing last element reads as 0: code 7 in the low nibble (0 if all-zero block).
// Dequantize: w_i = nf4_code[q_i] * absmax[i / 64] in fp32 (rounded to bf16 by _bf16 variants).
//
// Double quantization (bnb compress_statistics=True, transformers bnb_4bit_use_double_quant):
//   offset = mean(absmax): an fp32 value; the sum is fp64 here while torch sums in fp32, so the
//            last ulp may differ from a bnb-made file. The offset is stored: read it from the file.
//   qabsmax, nested_absmax = quantize_blockwise(absmax - offset, code8, blocksize 256):
//            per 256-block nested_absmax = max|a|; q = the code8 entry bnb's binary search
//            (dQuantize<0>) picks for a * (1/nested_absmax); code8 = create_dynamic_map(signed).
//   absmax[b] = code8[qabsmax[b]] * nested_absmax[b / 256] + offset  (two fp32 roundings, no FMA)
//
// Checkpoint layout (Linear4bit state dict, QuantState.as_dict(packed=True)), for a prefix <p>:
//   <p>.weight                                U8  [ceil(n/2), 1]        packed
//   <p>.weight.absmax                         F32 [nblocks] (no DQ)  |  U8 [nblocks] (DQ: qabsmax)
//   <p>.weight.quant_map                      F32 [16]                  nf4_code
//   <p>.weight.nested_absmax                  F32 [ceil(nblocks/256)]   (DQ only)
//   <p>.weight.nested_quant_map               F32 [256]                 code8 (DQ only)
//   <p>.weight.quant_state.bitsandbytes__nf4  U8  [len]  utf-8 JSON, see nf4_quant_state_json().
// Reading/writing those tensors from safetensors is the engine's; nf4_quant_state holds them.
//
// Shapes: n elements, nblocks = ceil(n/64), nnested = ceil(nblocks/256). CPU twin: fp32, exact.
// CUDA twin: dequantize to bf16 (fp32 multiply, round to nearest even), same bytes in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/dtype.h"

namespace kaito {

inline constexpr int64_t nf4_block_size = 64;
inline constexpr int64_t nf4_nested_block_size = 256;

// bitsandbytes get_4bit_type("nf4") / nf4_dequantization_lut, index = 4-bit code.
inline constexpr float nf4_code[16] = {-1.0f,
                                       -0.6961928009986877f,
                                       -0.5250730514526367f,
                                       -0.39491748809814453f,
                                       -0.28444138169288635f,
                                       -0.18477343022823334f,
                                       -0.09105003625154495f,
                                       0.0f,
                                       0.07958029955625534f,
                                       0.16093020141124725f,
                                       0.24611230194568634f,
                                       0.33791524171829224f,
                                       0.44070982933044434f,
                                       0.5626170039176941f,
                                       0.7229568362236023f,
                                       1.0f};

// dQuantizeNF4's decision-tree constants, sorted, parsed as fp32 literals exactly as nvcc parses
// the kernel source. Each is the exact midpoint of two codes rounded to fp32; where that midpoint
// is a tie between two floats (k = 0, 8, 12, 14) the constant is 1 ulp away from fp32
// (code[k]+code[k+1])/2, so these literals, not recomputed midpoints, decide ties
// (reference/qlora.md §1.3 says "equal": that check rounded through double). Pinned by the tests.
inline constexpr float nf4_thresholds[15] = {
    -0.8480964004993439f,  -0.6106329262256622f,  -0.4599952697753906f,   -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f,   0.2035212516784668f,   0.2920137718319893f,    0.3893125355243683f,
    0.5016634166240692f,   0.6427869200706482f,   0.8614784181118011f};

// One full 64-element block of packed codes: byte j holds elements 2j (high nibble) and 2j+1 (low).
struct nf4_block {
  uint8_t qs[nf4_block_size / 2];
};
static_assert(sizeof(nf4_block) == 32, "an NF4 block packs 64 codes into 32 bytes");
static_assert(sizeof(float) == 4, "absmax and code tables are IEEE binary32");

// The quant state of one quantized weight, field for field the checkpoint tensors above.
struct nf4_quant_state {
  std::vector<int64_t> shape;           // original [OC, C]                       json "shape"
  dtype orig_dtype = dtype::bf16;       // original weight dtype                  json "dtype"
  int64_t blocksize = nf4_block_size;   // only 64 is supported                   json "blocksize"
  std::vector<uint8_t> packed;          // <p>.weight, ceil(n/2) bytes
  std::vector<float> quant_map;         // <p>.weight.quant_map, 16 values (nf4_code)
  bool nested = false;                  // double quantization present
  std::vector<float> absmax;            // <p>.weight.absmax F32 [nblocks]   (nested == false)
  std::vector<uint8_t> qabsmax;         // <p>.weight.absmax U8 [nblocks]    (nested == true)
  std::vector<float> nested_absmax;     // <p>.weight.nested_absmax [nnested]
  std::vector<float> nested_quant_map;  // <p>.weight.nested_quant_map [256]
  int64_t nested_blocksize = nf4_nested_block_size;  //                     json "nested_blocksize"
  float nested_offset = 0.0f;                        //                     json "nested_offset"

  int64_t numel() const;  // product of shape
};

// --- element level (CPU twins; the reference for kernels/cuda/nf4.cu) ---------------------------
// The code of one already-scaled value x in [-1, 1] (ties to the lower code, NaN -> 0).
uint8_t nf4_quantize_value(float x);
// packed: ceil(n/2) bytes (=); absmax: ceil(n/64) floats (=).
void nf4_quantize_cpu(uint8_t* packed, float* absmax, const float* w, int64_t n);
// out: n floats (=), out[i] = nf4_code[q_i] * absmax[i/64].
void nf4_dequantize_cpu(float* out, const uint8_t* packed, const float* absmax, int64_t n);
void nf4_dequantize_bf16_cpu(bf16* out, const uint8_t* packed, const float* absmax, int64_t n);

// bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted
// values, built with torch.linspace's scalar formula in fp32. torch's vectorised linspace may round
// some midpoints 1 ulp differently, so quantizing a checkpoint's absmax must use the file's
// nested_quant_map; this map is for weights kaito quantizes itself.
void dynamic_map_signed(float* code8);
// quantize_blockwise with an 8-bit code (kQuantizeBlockwise General8bit).
// q: n codes (=); absmax: ceil(n / blocksize) floats (=).
void quantize_blockwise_8bit_cpu(uint8_t* q, float* absmax, const float* x, const float* code8,
                                 int64_t n, int64_t blocksize);
// out[i] = code8[q[i]] * absmax[i / blocksize] (=).
void dequantize_blockwise_8bit_cpu(float* out, const uint8_t* q, const float* absmax,
                                   const float* code8, int64_t n, int64_t blocksize);
// DQ absmax reconstruction: absmax[b] = code8[qabsmax[b]] * nested_absmax[b/256] + offset (=).
void nf4_absmax_dequantize_cpu(float* absmax, const uint8_t* qabsmax, const float* code8,
                               const float* nested_absmax, float offset, int64_t nblocks);

// --- weight level --------------------------------------------------------------------------------
// Quantizes w (shape product elements, row-major) into a full state, with DQ when double_quant.
nf4_quant_state nf4_quantize_weight(const float* w, const std::vector<int64_t>& shape,
                                    dtype orig_dtype, bool double_quant);
// Checks every field's size against shape (a state read from a file): invalid_argument naming
// the field ("absmax", "nested_quant_map", ...) on a mismatch.
status nf4_validate(const nf4_quant_state& qs);
// The absmax to dequantize with: qs.absmax, or the DQ reconstruction. Requires nf4_validate ok.
std::vector<float> nf4_effective_absmax(const nf4_quant_state& qs);
// out: numel floats. Validates first; out is untouched on error.
status nf4_dequantize_weight(const nf4_quant_state& qs, float* out);

// The quant_state.bitsandbytes__nf4 blob exactly as bnb writes it (python json.dumps of the
// non-tensor fields in QuantState.as_dict order, ", " and ": " separators, floats as python repr):
//   {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [OC, C],
//    "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123...}
// (the nested_* keys only when nested). Parsing it back is the engine's (nlohmann_json).
std::string nf4_quant_state_json(const nf4_quant_state& qs);
// bnb's dtype string for a torch dtype: "bfloat16", "float16", "float32" (others: "").
const char* nf4_torch_dtype_name(dtype t);

// The fused decode GEMV's two kernels (nf4_gemv_cuda below), named for flags and reports.
enum class nf4_gemv_kernel { scaled_lut, register_lut };
const char* nf4_gemv_kernel_name(nf4_gemv_kernel k);

#if KAITO_WITH_CUDA
// Device twins. packed: ceil(n/2) bytes, absmax: ceil(n/64) fp32; out: n bf16 (=).
void nf4_dequantize_cuda(cuda_context& cx, bf16* out, const uint8_t* packed, const float* absmax,
                         int64_t n);
// Quantization on the device (kernels/cuda/nf4_quantize.cu), bit-identical to nf4_quantize_cpu
// and quantize_blockwise_8bit_cpu (=): fp32 w / x in device memory, same outputs and sizes.
void nf4_quantize_cuda(cuda_context& cx, uint8_t* packed, float* absmax, const float* w, int64_t n);
void quantize_blockwise_8bit_cuda(cuda_context& cx, uint8_t* q, float* absmax, const float* x,
                                  const float* code8, int64_t n, int64_t blocksize);
// DQ absmax reconstruction on the device (=), same formula as the CPU twin.
void nf4_absmax_dequantize_cuda(cuda_context& cx, float* absmax, const uint8_t* qabsmax,
                                const float* code8, const float* nested_absmax, float offset,
                                int64_t nblocks);
// Fused decode GEMV (kernels/cuda/nf4_gemv.cu): out(B, OC) = x(B, C) · dequant(W)ᵀ (=), W (OC, C)
// packed NF4 with fp32 absmax, 1 <= B <= 16; bf16 products on the tensor cores, fp32
// accumulation. Each weight byte is read once per call (scaled_lut: once per 8 batch rows).
// Requires C % 128 == 0 and 16-byte aligned packed and x.
// CPU twin: nf4_dequantize_cpu then gemm_forward_cpu. Two kernels (both within bf16 tolerance of
// the twin; decide between them by measurement, engine/cuda/gemv_choice.h):
//   scaled_lut    each element as bf16(code * absmax), exactly nf4_dequantize's values;
//   register_lut  bf16(code) from byte permutes, absmax applied to per-block fp32 partial sums.
void nf4_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                   const float* absmax, int64_t B, int64_t C, int64_t OC,
                   nf4_gemv_kernel kernel = nf4_gemv_kernel::scaled_lut);
// The same reading the double-quantized absmax directly (nf4_absmax_dequantize formula per block).
void nf4_dq_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                      const uint8_t* qabsmax, const float* code8, const float* nested_absmax,
                      float offset, int64_t B, int64_t C, int64_t OC,
                      nf4_gemv_kernel kernel = nf4_gemv_kernel::scaled_lut);
// Prefill/training forward: out(N, OC) = inp(N, C) · dequant(W)ᵀ (=): W dequantized to bf16 in
// cx's arena scratch (OC*C*2 bytes), then gemm_forward_cuda (cuBLASLt). CPU twin as above.
void nf4_gemm_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const uint8_t* packed,
                           const float* absmax, int64_t N, int64_t C, int64_t OC);
// The same product fused (kernels/cuda/nf4_gemm_mma.cu): weight tiles dequantized per k-step in
// registers into mma.sync bf16 fragments, fp32 accumulation, no scratch (=). Preconditions, checked
// on the host (invalid_argument recorded in cx, nothing launched): C % 64 == 0, OC % 128 == 0,
// 0 <= N <= 65535*128, inp and packed 16-byte aligned, out and absmax 4-byte aligned.
void nf4_gemm_mma_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const uint8_t* packed,
                               const float* absmax, int64_t N, int64_t C, int64_t OC);
// Its backward-input form: dinp(N, C) = dout(N, OC) · dequant(W) (=), the weight tile dequantized
// once per k-step into shared memory (ldmatrix.trans). CPU twin: nf4_gemm_backward_inp_cpu.
// Preconditions as above with C % 128 == 0 and OC % 64 == 0 (dout and packed 16-byte aligned).
void nf4_gemm_mma_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout,
                                    const uint8_t* packed, const float* absmax, int64_t N,
                                    int64_t C, int64_t OC);
// Those preconditions as a status (ok, or the invalid_argument the launcher would record), for
// callers that fall back to the dequantize + cuBLASLt path when they do not hold (gpu_model).
status nf4_gemm_mma_forward_check(const bf16* out, const bf16* inp, const uint8_t* packed,
                                  const float* absmax, int64_t N, int64_t C, int64_t OC);
status nf4_gemm_mma_backward_inp_check(const bf16* dinp, const bf16* dout, const uint8_t* packed,
                                       const float* absmax, int64_t N, int64_t C, int64_t OC);
// Backward through the frozen weight: dinp(N, C) = dout(N, OC) · dequant(W) (=), dequantized to
// arena scratch, then gemm_backward_inp_cuda. CPU twin: nf4_gemm_backward_inp_cpu (nf4_gemm.h).
void nf4_gemm_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout,
                                const uint8_t* packed, const float* absmax, int64_t N, int64_t C,
                                int64_t OC);
#endif

}  // namespace kaito
