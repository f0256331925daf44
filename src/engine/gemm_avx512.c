/* gemm_avx512.c: the AVX-512 SGEMM micro-kernel, 8 rows x 32 columns (16 zmm accumulators, two B
 * vectors per k, A broadcast from memory). Compiled with a target attribute so the rest of the
 * binary stays portable; only called when om_gemm_path_supported(OM_KERNEL_AVX512). */
#define OM_VMATH_AVX512
#include "engine/gemm.h"

#include "engine/op.h"
#include "engine/vmath.h"
#include "engine/tile512.h"

#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MR 8
#define NR 32


T512 void om_gemm_ukr_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                             int mr, int nr, const float *init, int64_t ldi, int load_c,
                             const om_gemm_epi *epi, int64_t row0) {
  OM_TILE512_BEGIN(nr, mr, init, ldi, c, ldc, load_c)

#define FMAROW(i) OM_TILE512_FMA(i)
  if (mr <= 4) {
    /* few rows (Gemm heads: M = 1, a matrix-vector product bound by streaming B): only the live
     * rows' FMAs, in the same order, so results match the full tile's bit for bit */
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
      FMAROW(0)
      if (mr > 1) { FMAROW(1) }
      if (mr > 2) { FMAROW(2) }
      if (mr > 3) { FMAROW(3) }
      a += MR;
      b += NR;
    }
  } else if (nr > 16) {
    /* the next A micro-panel, which the driver's next call reads in its column-panels-outer order
     * (long K: the large 1x1 layers, whose weights outgrow the caches and stream from memory) */
    const int64_t pf = MR * kc;
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
      if ((k & 1) == 0) _mm_prefetch((const char *)(a + pf), _MM_HINT_T0);
      FMAROW(0) FMAROW(1) FMAROW(2) FMAROW(3) FMAROW(4) FMAROW(5) FMAROW(6) FMAROW(7)
      a += MR;
      b += NR;
    }
  } else {
    /* a tail panel of <= 16 columns (N = 196 = 6 x 32 + 4): half the FMAs, 8 chains still cover
     * the FMA latency */
#define FMAHALF(i) OM_TILE512_FMA_HALF(i)
    const int64_t pf = MR * kc;
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_loadu_ps(b);
      if ((k & 1) == 0) _mm_prefetch((const char *)(a + pf), _MM_HINT_T0);
      FMAHALF(0) FMAHALF(1) FMAHALF(2) FMAHALF(3) FMAHALF(4) FMAHALF(5) FMAHALF(6) FMAHALF(7)
      a += MR;
      b += NR;
    }
#undef FMAHALF
  }
#undef FMAROW

  OM_TILE512_ADD_SRC(mr)
  OM_TILE512_STORE(c, ldc, mr, epi, row0)
}
