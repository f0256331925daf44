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
#define NCOL 4 /* stray columns a tile computes as column vectors */


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
  } else if ((nr > 16 && nr <= 16 + NCOL) || nr <= NCOL) {
    /* a panel of 16 + 1..4 or of 1..4 columns (N = 49 = 32 + 17, N = 196 = 6 x 32 + 4: the 7x7 and
     * 14x14 maps): the stray columns as one 8-row vector each, A's row panel times a broadcast of B,
     * instead of a vector of 16 lanes per row */
    const int full = nr > 16, nc = full ? nr - 16 : nr;
    __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0;
    const float *bc = b + (full ? 16 : 0);
    /* the 1..4 columns' products of one k: A's row panel av times B's values p[0..nc) */
#define COLS(x0, x1, x2, x3, av, p)                                                        \
  {                                                                                        \
    x0 = _mm256_fmadd_ps(av, _mm256_set1_ps((p)[0]), x0);                                  \
    if (nc > 1) x1 = _mm256_fmadd_ps(av, _mm256_set1_ps((p)[1]), x1);                      \
    if (nc > 2) x2 = _mm256_fmadd_ps(av, _mm256_set1_ps((p)[2]), x2);                      \
    if (nc > 3) x3 = _mm256_fmadd_ps(av, _mm256_set1_ps((p)[3]), x3);                      \
  }
    int64_t k = 0;
    if (full) {
#pragma GCC unroll 2
      for (; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        OM_TILE512_FMA_HALF(0) OM_TILE512_FMA_HALF(1) OM_TILE512_FMA_HALF(2) OM_TILE512_FMA_HALF(3)
        OM_TILE512_FMA_HALF(4) OM_TILE512_FMA_HALF(5) OM_TILE512_FMA_HALF(6) OM_TILE512_FMA_HALF(7)
        const __m256 av = _mm256_loadu_ps(a);
        COLS(e0, e1, e2, e3, av, bc)
        a += MR;
        b += NR;
        bc += NR;
      }
    } else {
      /* the columns alone: one chain per column would wait on the FMA latency at every k (such a
       * panel cost half a full one), so even and odd k sum apart and meet at the end */
      __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
      for (; k + 2 <= kc; k += 2) {
        const __m256 av = _mm256_loadu_ps(a), aw = _mm256_loadu_ps(a + MR);
        COLS(e0, e1, e2, e3, av, bc)
        COLS(f0, f1, f2, f3, aw, bc + NR)
        a += 2 * MR;
        bc += 2 * NR;
      }
      if (k < kc) {
        const __m256 av = _mm256_loadu_ps(a);
        COLS(e0, e1, e2, e3, av, bc)
      }
      e0 = _mm256_add_ps(e0, f0);
      e1 = _mm256_add_ps(e1, f1);
      e2 = _mm256_add_ps(e2, f2);
      e3 = _mm256_add_ps(e3, f3);
    }
#undef COLS
    /* the column vectors back into the tile's rows (lanes 16.. of c#b, or 0.. of c#a) */
    float colv[NCOL][MR], rowv[MR][16];
    _mm256_storeu_ps(colv[0], e0);
    _mm256_storeu_ps(colv[1], e1);
    _mm256_storeu_ps(colv[2], e2);
    _mm256_storeu_ps(colv[3], e3);
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < 16; j++) rowv[i][j] = j < nc ? colv[j][i] : 0.0f;
#define COLROW(i)                                                                          \
  if (full) c##i##b = _mm512_loadu_ps(rowv[i]);                                            \
  else c##i##a = _mm512_loadu_ps(rowv[i]);
    COLROW(0) COLROW(1) COLROW(2) COLROW(3) COLROW(4) COLROW(5) COLROW(6) COLROW(7)
#undef COLROW
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

T512 void om_gemv_avx512(int64_t M, int64_t K, const float *wp, const float *x, const float *init,
                         const om_gemm_epi *epi, float *y) {
  for (int64_t p0 = 0; p0 < M; p0 += OM_GEMV_ROWS, wp += K * OM_GEMV_ROWS) {
    /* four chains of 16 outputs: enough to cover the FMA latency, one line of W per k */
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float *w = wp;
#pragma GCC unroll 4
    for (int64_t k = 0; k < K; k++, w += OM_GEMV_ROWS) {
      const __m512 xv = _mm512_set1_ps(x[k]);
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w), xv, s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16), xv, s1);
      s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 32), xv, s2);
      s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 48), xv, s3);
    }
    __m512 acc[4] = {s0, s1, s2, s3};
    for (int v = 0; v < 4; v++) {
      int64_t i0 = p0 + 16 * v;
      if (i0 >= M) break;
      int n = M - i0 < 16 ? (int)(M - i0) : 16;
      __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
      __m512 a = acc[v];
      if (init) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, init + i0));
      if (epi->bias) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, epi->bias + i0));
      if (epi->act != OM_ACT_NONE) a = om_vm_act512(a, epi->act, epi->alpha, epi->beta);
      _mm512_mask_storeu_ps(y + i0, m, a);
    }
  }
}
