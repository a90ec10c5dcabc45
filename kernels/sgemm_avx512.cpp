// Packed AVX-512 SGEMM (contract: kernels/sgemm_avx512.h). Every function that uses AVX-512 is
// marked KAITO_AVX512 (target attribute), so this file needs no special compiler flags and the
// rest of the binary stays runnable on CPUs without AVX-512; callers check
// sgemm_avx512_available() first.
#include "kernels/sgemm_avx512.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/sgemm_threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kaito {

#if defined(__x86_64__)

#define KAITO_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

namespace {

constexpr int MR = 14;       // rows per microkernel (broadcasts of packed A)
constexpr int NR = 32;       // columns per microkernel (two zmm of packed B)
constexpr int64_t KC = 256;  // depth of a packed block
constexpr int64_t MC = 36 * MR;
constexpr int64_t KA = KC + 16;  // row stride of a packed A panel
constexpr int64_t PA = MR * KA;  // floats per packed A panel
constexpr int64_t NC = 16 * NR;
constexpr int64_t kPrefetchB = 8 * NR;                  // floats ahead in packed B
constexpr int64_t kWholeA = int64_t(1) << 21;           // floats (8 MiB) of packed A per thread
constexpr int64_t kParallelMin = int64_t(1) << 22;      // M*N*K below this: one thread
constexpr int64_t kParallelMinGemv = int64_t(1) << 16;  // N*K below this: one thread

struct problem {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float beta;
  float* c;
  int64_t ldc;
};

// Per-thread 64-byte aligned packing buffers, grown on demand, freed at thread exit.
struct scratch {
  float* buf[2] = {nullptr, nullptr};
  size_t cap[2] = {0, 0};
  ~scratch() {
    std::free(buf[0]);
    std::free(buf[1]);
  }
  float* get(int which, size_t n) {
    if (cap[which] < n) {
      std::free(buf[which]);
      buf[which] = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
      cap[which] = n;
    }
    return buf[which];
  }
};
thread_local scratch t_scratch;

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}
inline __mmask16 lanes(int64_t n) {  // first n (clamped to [0,16]) lanes
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// In-register 16x16 transpose: r[i][j] -> r[j][i].
KAITO_AVX512 __attribute__((always_inline)) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {  // r[4i+j] lane L = column 4L+j of rows 4i..4i+3
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[j + 4] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    t[j + 8] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[j + 12] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
  }
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    r[j + 4] = _mm512_shuffle_f32x4(t[j + 4], t[12 + j], 0x88);
    r[j + 12] = _mm512_shuffle_f32x4(t[j + 4], t[12 + j], 0xdd);
  }
}

// Loads `rows` (<= 16) source rows src + r*ld, `nk` (<= 16) floats each (zeros elsewhere),
// transposes, and stores output row kk (kk < nk) under mask `store` at dst + kk*dst_stride.
KAITO_AVX512 void transpose_tile(const float* src, int64_t ld, int rows, int nk, float* dst,
                                 int64_t dst_stride, __mmask16 store) {
  __m512 r[16];
  const __mmask16 km = lanes(nk);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld) : _mm512_setzero_ps();
  transpose16(r);
  for (int kk = 0; kk < nk; ++kk) _mm512_mask_storeu_ps(dst + kk * dst_stride, store, r[kk]);
}

// transpose_tile for a full 16x16 tile stored whole (the common case), fully unrolled.
KAITO_AVX512 inline void transpose_full(const float* src, int64_t ld, float* dst,
                                        int64_t dst_stride) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
  transpose16(r);
#pragma GCC unroll 16
  for (int kk = 0; kk < 16; ++kk) _mm512_storeu_ps(dst + kk * dst_stride, r[kk]);
}

// Packs op(a)[i0:i0+mc, k0:k0+kc] into ceil(mc/MR) panels of PA floats, layout [MR][KA]: row i
// of a panel holds its kc values at i*KA (rows past mc in the last panel are left unset: the
// microkernel for R rows reads R). KA = KC + 16 keeps the 14 rows in distinct L1 sets.
KAITO_AVX512 void pack_a(const problem& p, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                         float* ap) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = int(min64(MR, mc - ir));
    float* dst = ap + (ir / MR) * PA;
    if (!p.ta) {  // op(a)[i,k] = a[i*lda + k]: rows are contiguous in k, copy them
      for (int i = 0; i < rows; ++i) {
        const float* src = p.a + (i0 + ir + i) * p.lda + k0;
        float* d = dst + i * KA;
        int64_t k = 0;
        for (; k + 16 <= kc; k += 16) _mm512_storeu_ps(d + k, _mm512_loadu_ps(src + k));
        if (k < kc) {
          const __mmask16 m = lanes(kc - k);
          _mm512_mask_storeu_ps(d + k, m, _mm512_maskz_loadu_ps(m, src + k));
        }
      }
    } else {  // op(a)[i,k] = a[k*lda + i]: transpose 16(k) x rows(i) tiles
      const float* src = p.a + k0 * p.lda + i0 + ir;
      for (int64_t k = 0; k < kc; k += 16) {
        const int nk = int(min64(16, kc - k));
        transpose_tile(src + k * p.lda, p.lda, nk, rows, dst + k, KA, lanes(nk));
      }
    }
  }
}

// Packs op(b)[k0:k0+kc, j0:j0+nc] into ceil(nc/NR) panels of NR*kc floats, layout [k][NR],
// columns past nc zero-filled.
KAITO_AVX512 void pack_b(const problem& p, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                         float* bp) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = min64(NR, nc - jr);
    float* dst = bp + jr * kc;
    if (p.tb) {  // op(b)[k,j] = b[j*ldb + k]: transpose 16x16 tiles of the rows j
      for (int h = 0; h < 2; ++h) {
        const int rows = int(min64(16, cols - 16 * h));
        const float* src = p.b + (j0 + jr + 16 * h) * p.ldb + k0;
        for (int64_t k = 0; k < kc; k += 16) {
          if (rows <= 0) {
            for (int64_t kk = k; kk < min64(k + 16, kc); ++kk)
              _mm512_store_ps(dst + kk * NR + 16 * h, _mm512_setzero_ps());
          } else if (rows == 16 && k + 16 <= kc) {
            transpose_full(src + k, p.ldb, dst + k * NR + 16 * h, NR);
          } else {
            transpose_tile(src + k, p.ldb, rows, int(min64(16, kc - k)), dst + k * NR + 16 * h, NR,
                           __mmask16(0xFFFF));
          }
        }
      }
    } else {  // op(b)[k,j] = b[k*ldb + j]: each k holds 32 contiguous columns
      const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
      const float* src = p.b + k0 * p.ldb + j0 + jr;
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * p.ldb;
        _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
      }
    }
  }
}

// Prefetches (to L2) the source lines of the next op(b) block while the current one is being
// multiplied, so its packing finds the (usually DRAM-resident) weights in cache. The
// microkernel issues one line every 4th k step: a burst would stall on the fill buffers.
struct b_prefetch {
  const float* base = nullptr;
  int64_t ld = 0, rows = 0, row_lines = 0, r = 0, l = 0;

  void start(const problem& p, int64_t jc, int64_t nc, int64_t pc, int64_t kc) {
    base = p.tb ? p.b + jc * p.ldb + pc : p.b + pc * p.ldb + jc;
    ld = p.ldb;
    rows = p.tb ? nc : kc;
    row_lines = ((p.tb ? kc : nc) + 15) / 16 + 1;  // + 1: rows need not start on a line
    r = l = 0;
  }
  void one() {
    if (r == rows) return;
    _mm_prefetch(reinterpret_cast<const char*>(base + r * ld + l * 16), _MM_HINT_T1);
    if (++l == row_lines) l = 0, ++r;
  }
};

// c[R x (masked) 32] = alpha * ap · bp + beta * c over kc (beta == 0: c is not read); issues up
// to min(pf_lines, kc / 4) of pf's prefetches along the way.
template <int R>
KAITO_AVX512 void micro(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                        float alpha, float beta, __mmask16 m0, __mmask16 m1, b_prefetch* pf,
                        int64_t pf_lines) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    _mm_prefetch(reinterpret_cast<const char*>(bp + kPrefetchB), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + kPrefetchB + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(ap[i * KA]);
      acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
    }
    ap += 1;
    bp += NR;
    if ((k & 3) == 3 && pf_lines > 0) {
      pf->one();
      --pf_lines;
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_mul_ps(acc0[i], va));
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_mul_ps(acc1[i], va));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      float* ci = c + i * ldc;
      const __m512 o0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, ci), vb);
      const __m512 o1 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m1, ci + 16), vb);
      _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(acc0[i], va, o0));
      _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(acc1[i], va, o1));
    }
  }
}

using micro_fn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float,
                          __mmask16, __mmask16, b_prefetch*, int64_t);
const micro_fn k_micro[MR + 1] = {nullptr,   micro<1>,  micro<2>,  micro<3>,  micro<4>,
                                  micro<5>,  micro<6>,  micro<7>,  micro<8>,  micro<9>,
                                  micro<10>, micro<11>, micro<12>, micro<13>, micro<14>};

// Packed A of one MC block [ic, ic+mc): all of K when it fits kWholeA floats (then packed once
// and reused for every column range of that block), else one KC block at a time.
struct a_pack {
  float* ap = nullptr;
  int64_t block = 0;  // floats per KC block
  bool whole = false;
  int64_t ic = -1;  // the MC block packed (whole only)
};

a_pack a_pack_for(const problem& p, int64_t mc_max) {
  a_pack A;
  A.block = (mc_max + MR - 1) / MR * PA;
  const int64_t k_blocks = (p.K + KC - 1) / KC;
  A.whole = A.block * k_blocks <= kWholeA;
  A.ap = t_scratch.get(0, size_t(A.whole ? A.block * k_blocks : A.block));
  return A;
}

KAITO_AVX512 void pack_a_whole(const problem& p, a_pack& A, int64_t ic, int64_t mc) {
  if (!A.whole || A.ic == ic) return;
  for (int64_t pc = 0; pc < p.K; pc += KC)
    pack_a(p, ic, mc, pc, min64(KC, p.K - pc), A.ap + (pc / KC) * A.block);
  A.ic = ic;
}

// c[ic:ic+mc, n_begin:n_end] on the calling thread (A packed by pack_a_whole when A.whole).
// While the last K block runs it prefetches op(b)'s columns [pf_n, pf_n + pf_nc) (the range this
// thread most likely does next; pf_nc == 0: none).
KAITO_AVX512 void gemm_cols(const problem& p, a_pack& A, int64_t ic, int64_t mc, int64_t n_begin,
                            int64_t n_end, int64_t pf_n, int64_t pf_nc) {
  float* bp = t_scratch.get(1, size_t(KC * NC));
  for (int64_t jc = n_begin; jc < n_end; jc += NC) {
    const int64_t nc = min64(NC, n_end - jc);
    for (int64_t pc = 0; pc < p.K; pc += KC) {
      const int64_t kc = min64(KC, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      const float* apc = A.ap + (A.whole ? (pc / KC) * A.block : 0);
      if (!A.whole) pack_a(p, ic, mc, pc, kc, A.ap);
      pack_b(p, jc, nc, pc, kc, bp);
      b_prefetch pf;  // the B block after this one
      if (pc + KC < p.K)
        pf.start(p, jc, nc, pc + KC, min64(KC, p.K - pc - KC));
      else if (jc + NC < n_end)
        pf.start(p, jc + NC, min64(NC, n_end - jc - NC), 0, min64(KC, p.K));
      else if (pf_nc > 0)
        pf.start(p, pf_n, min64(NC, pf_nc), 0, min64(KC, p.K));
      const int64_t calls = (mc + MR - 1) / MR * ((nc + NR - 1) / NR);
      const int64_t per_call = (pf.rows * pf.row_lines + calls - 1) / calls;
      for (int64_t ir = 0; ir < mc; ir += MR) {
        const micro_fn fn = k_micro[min64(MR, mc - ir)];
        float* crow = p.c + (ic + ir) * p.ldc + jc;
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = nc - jr;
          fn(kc, apc + (ir / MR) * PA, bp + jr * kc, crow + jr, p.ldc, p.alpha, beta, lanes(cols),
             lanes(cols - 16), &pf, per_call);
          for (int64_t n = per_call - kc / 4; n > 0; --n) pf.one();  // what did not fit
        }
      }
    }
  }
}

// One row: c(1,N) = alpha * x(1,K) · op(b) + beta * c, x contiguous.
KAITO_AVX512 void gemv_rows(const problem& p, const float* x, int64_t j_begin, int64_t j_end) {
  const int64_t K = p.K;
  if (p.tb) {  // c[j] = alpha * dot(x, b[j, :]): eight rows of b (eight streams) at a time
    for (int64_t j = j_begin; j < j_end; j += 8) {
      const int nj = int(min64(8, j_end - j));
      __m512 acc[8];
      const float* br[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        acc[r] = _mm512_setzero_ps();
        br[r] = p.b + (j + (r < nj ? r : 0)) * p.ldb;
      }
      int64_t k = 0;
      for (; k + 16 <= K; k += 16) {
        const __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r)
          acc[r] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(br[r] + k), acc[r]);
      }
      if (k < K) {
        const __mmask16 m = lanes(K - k);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r)
          acc[r] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, br[r] + k), acc[r]);
      }
      for (int r = 0; r < nj; ++r) {
        const float s = p.alpha * _mm512_reduce_add_ps(acc[r]);
        float& cj = p.c[j + r];
        cj = p.beta == 0.0f ? s : s + p.beta * cj;
      }
    }
    return;
  }
  // c[j0:j0+128] += x[k] * b[k, j0:j0+128]: eight zmm of columns per sweep over k
  for (int64_t j0 = j_begin; j0 < j_end; j0 += 128) {
    __mmask16 m[8];
    __m512 acc[8];
    for (int v = 0; v < 8; ++v) {
      m[v] = lanes(j_end - j0 - 16 * v);
      acc[v] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < K; ++k) {
      const __m512 xv = _mm512_set1_ps(x[k]);
      const float* bk = p.b + k * p.ldb + j0;
      for (int v = 0; v < 8; ++v)
        acc[v] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m[v], bk + 16 * v), acc[v]);
    }
    const __m512 va = _mm512_set1_ps(p.alpha), vb = _mm512_set1_ps(p.beta);
    for (int v = 0; v < 8; ++v) {
      float* cj = p.c + j0 + 16 * v;
      __m512 r = _mm512_mul_ps(acc[v], va);
      if (p.beta != 0.0f) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[v], cj), vb, r);
      _mm512_mask_storeu_ps(cj, m[v], r);
    }
  }
}

struct job {
  const problem* p;
  const float* x;  // gemv: op(a)'s one row, contiguous
  int parts;
  bool split_n;
  // Work is shared out dynamically (sgemm_parallel may skip a late worker's piece): the threads
  // take chunks in order from `next`. split_n: column chunks of `chunk` (a multiple of NR) over
  // (MC block, chunk) pairs; else row chunks of `chunk` (a multiple of MR); gemv: `chunk` columns.
  int64_t chunk = 0, chunks = 0, m_blocks = 0;
  std::atomic<int64_t> next{0};
};

void run_gemm_part(void* ctx, int) {  // chunks taken from `next`, whoever runs
  job& j = *static_cast<job*>(ctx);
  const problem& p = *j.p;
  if (!j.split_n) {  // row chunks of whole MR panels, each with all of N
    for (int64_t c = j.next.fetch_add(1); c < j.chunks; c = j.next.fetch_add(1)) {
      const int64_t b = c * j.chunk, e = min64(p.M, b + j.chunk);
      a_pack A = a_pack_for(p, min64(MC, e - b));
      for (int64_t ic = b; ic < e; ic += MC) {
        const int64_t mc = min64(MC, e - ic);
        pack_a_whole(p, A, ic, mc);
        gemm_cols(p, A, ic, mc, 0, p.N, 0, 0);
      }
    }
    return;
  }
  a_pack A = a_pack_for(p, min64(MC, p.M));
  const int64_t total = j.chunks * j.m_blocks;
  for (int64_t c = j.next.fetch_add(1); c < total; c = j.next.fetch_add(1)) {
    const int64_t ic = (c / j.chunks) * MC, mc = min64(MC, p.M - ic);
    const int64_t n0 = (c % j.chunks) * j.chunk, n1 = min64(p.N, n0 + j.chunk);
    const int64_t guess = j.next.load(std::memory_order_relaxed);  // our likely next chunk
    int64_t pf_n = 0, pf_nc = 0;
    if (guess < total && guess / j.chunks == c / j.chunks) {
      pf_n = (guess % j.chunks) * j.chunk;
      pf_nc = min64(p.N, pf_n + j.chunk) - pf_n;
    }
    pack_a_whole(p, A, ic, mc);
    gemm_cols(p, A, ic, mc, n0, n1, pf_n, pf_nc);
  }
}

void run_gemv_part(void* ctx, int) {  // chunks of `chunk` columns taken in order from `next`
  job& j = *static_cast<job*>(ctx);
  for (int64_t c = j.next.fetch_add(1); c < j.chunks; c = j.next.fetch_add(1))
    gemv_rows(*j.p, j.x, c * j.chunk, min64(j.p->N, (c + 1) * j.chunk));
}

int parts_for(int64_t work, int64_t units, int64_t min_work) {
  if (work < min_work) return 1;
  const int64_t n = min64(sgemm_threads(), units);
  return n < 1 ? 1 : int(n);
}

}  // namespace

bool sgemm_avx512_available() {
  static const bool ok = [] {
    __builtin_cpu_init();
    const char* env = std::getenv("KAITO_SGEMM");
    if (env && std::strcmp(env, "blas") == 0) return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
  }();
  return ok;
}

void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const problem p{trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc};
  const int64_t work = M * N * K;
  if (M == 1) {
    const float* x = a;
    if (trans_a && lda != 1) {  // op(a)'s row is a column of a: gather it once
      float* g = t_scratch.get(0, size_t(K));
      for (int64_t k = 0; k < K; ++k) g[k] = a[k * lda];
      x = g;
    }
    const int64_t unit = trans_b ? 8 : 128;  // gemv_rows' column step
    job j{&p, x, parts_for(work, (N + unit - 1) / unit, kParallelMinGemv), true};
    // about 8 chunks per thread (whole units), so a thread slowed by other load takes fewer
    const int64_t units = (N + unit - 1) / unit, per = units / (8 * j.parts);
    j.chunk = (per < 1 ? 1 : per) * unit;
    j.chunks = (N + j.chunk - 1) / j.chunk;
    sgemm_parallel(j.parts, run_gemv_part, &j);
    return;
  }
  const int64_t n_panels = (N + NR - 1) / NR, m_panels = (M + MR - 1) / MR;
  // Split N while every thread gets >= 2 column panels; narrow N splits M instead.
  const int threads = sgemm_threads();
  const bool split_n = n_panels >= 2 * threads || n_panels >= m_panels;
  job j{&p, nullptr, parts_for(work, split_n ? n_panels : m_panels, kParallelMin), split_n};
  if (split_n) {
    // chunks of 4 panels (128 columns), fewer when that leaves a thread without two of them;
    // when A is too deep to pack whole (each chunk repacks it), one chunk per thread
    const int64_t a_floats = (min64(MC, M) + MR - 1) / MR * PA * ((K + KC - 1) / KC);
    const int64_t panels = j.parts == 1 || a_floats > kWholeA ? (n_panels + j.parts - 1) / j.parts
                                                              : min64(4, n_panels / (2 * j.parts));
    j.chunk = (panels < 1 ? 1 : panels) * NR;
    j.chunks = (N + j.chunk - 1) / j.chunk;
    j.m_blocks = (M + MC - 1) / MC;
  } else {  // about 4 row chunks per thread
    const int64_t panels = (m_panels + 4 * j.parts - 1) / (4 * j.parts);
    j.chunk = panels * MR;
    j.chunks = (M + j.chunk - 1) / j.chunk;
  }
  sgemm_parallel(j.parts, run_gemm_part, &j);
}

#else  // !__x86_64__

bool sgemm_avx512_available() {
  return false;
}
void sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                  int64_t, float, float*, int64_t) {}

#endif

}  // namespace kaito
