// vexp: the exponentials of the CPU twins' softmax, cross-entropy and SiLU rows, 16 lanes at a
// time.
//
//   exp_shifted_cpu(out, in, shift, n)   out[i] = exp(in[i] - shift)   (=, in place allowed)
//   exp_negated_cpu(out, in, n)          out[i] = exp(-in[i])          (=, in place allowed)
//   sum_exp_shifted_cpu(in, shift, n)    sum_i exp(in[i] - shift): fp32 exponentials, fp64 sum
//                                        (16 lane sums added in a fixed order: the result does
//                                        not depend on threads, only on n and the data)
//   max_cpu(in, n)                       max_i in[i] (-inf for n == 0; NaN entries are skipped)
//   exp_sum_flushed_cpu(out, in, shift, n)
//                                        out[i] = exp(in[i] - shift), but 0 where in[i] - shift
//                                        < -87 (near FLT_MIN: no denormals, each of which
//                                        costs the CPU a microcode assist; sampling's softmax over
//                                        a vocabulary mostly at -inf after top_k ran ~3x slower
//                                        with them); returns sum_i out[i] in fp64 as
//                                        sum_exp_shifted_cpu adds it (=, in place allowed)
//
// With AVX-512F (checked at run time; the file needs no special flags): exp(x) = 2^k * p(r),
// k = round(x log2 e), r = x - k ln 2 (ln 2 split in two), p the Cephes expf polynomial, 2^k
// applied by VSCALEFPS; within 2 ulp of glibc's expf over the whole range (tests/kernels/
// vexp_test.cpp), exp(0) == 1 exactly, overflow to +inf past 88.72, gradual underflow to 0
// below -87.3, NaN in -> NaN out, -inf -> 0. Without AVX-512: std::exp, bit-equal to glibc.
#pragma once

#include <cstdint>

namespace kaito {

void exp_shifted_cpu(float* out, const float* in, float shift, int64_t n);
void exp_negated_cpu(float* out, const float* in, int64_t n);
double sum_exp_shifted_cpu(const float* in, float shift, int64_t n);
double exp_sum_flushed_cpu(float* out, const float* in, float shift, int64_t n);
float max_cpu(const float* in, int64_t n);

}  // namespace kaito
