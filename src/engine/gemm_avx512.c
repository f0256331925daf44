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
  __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
  __m512 c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b;
  const float *src = init ? init : c;
  int64_t lds = init ? ldi : ldc;
  int ld = init != NULL || load_c;
#define LOADROW(i)                                                                         \
  if (ld && (i) < mr) {                                                                    \
    c##i##a = _mm512_maskz_loadu_ps(m0, src + (i) * lds);                                  \
    c##i##b = _mm512_maskz_loadu_ps(m1, src + (i) * lds + 16);                             \
  } else {                                                                                 \
    c##i##a = _mm512_setzero_ps();                                                         \
    c##i##b = _mm512_setzero_ps();                                                         \
  }
  LOADROW(0) LOADROW(1) LOADROW(2) LOADROW(3) LOADROW(4) LOADROW(5) LOADROW(6) LOADROW(7)
#undef LOADROW

#define FMAROW(i) OM_TILE512_FMA(i)
  if (nr > 16) {
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
      FMAROW(0) FMAROW(1) FMAROW(2) FMAROW(3) FMAROW(4) FMAROW(5) FMAROW(6) FMAROW(7)
      a += MR;
      b += NR;
    }
  } else {
    /* a tail panel of <= 16 columns (N = 196 = 6 x 32 + 4): half the FMAs, 8 chains still cover
     * the FMA latency */
#define FMAHALF(i) OM_TILE512_FMA_HALF(i)
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_loadu_ps(b);
      FMAHALF(0) FMAHALF(1) FMAHALF(2) FMAHALF(3) FMAHALF(4) FMAHALF(5) FMAHALF(6) FMAHALF(7)
      a += MR;
      b += NR;
    }
#undef FMAHALF
  }
#undef FMAROW

#define STOREROW(i)                                                                        \
  if ((i) < mr) {                                                                          \
    OM_TILE512_EPI(i, epi, row0)                                                           \
    _mm512_mask_storeu_ps(c + (i) * ldc, m0, c##i##a);                                     \
    _mm512_mask_storeu_ps(c + (i) * ldc + 16, m1, c##i##b);                                \
  }
  STOREROW(0) STOREROW(1) STOREROW(2) STOREROW(3) STOREROW(4) STOREROW(5) STOREROW(6) STOREROW(7)
#undef STOREROW
}
