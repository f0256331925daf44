/* gemm_avx2.c: the AVX2+FMA SGEMM micro-kernel, 6 rows x 16 columns (12 ymm accumulators).
 * Partial tiles go through a small local tile so the core always works on a full 6x16 block.
 * Compiled with a target attribute; only called when om_gemm_path_supported(OM_KERNEL_AVX2). */
#include "engine/gemm.h"

#include "engine/op.h"

#include <immintrin.h>
#include <string.h>

#define T256 __attribute__((target("avx2,fma")))
#define MR 6
#define NR 16

T256 static inline __m256 act256(__m256 v, int act, float alpha, float beta) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  switch (act) {
  case OM_ACT_RELU: return _mm256_max_ps(v, zero);
  case OM_ACT_CLIP:
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(alpha)), _mm256_set1_ps(beta));
  case OM_ACT_LEAKY_RELU: {
    __m256 neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
    return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(alpha)), neg);
  }
  case OM_ACT_HARD_SIGMOID: {
    __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(alpha), _mm256_set1_ps(beta));
    return _mm256_max_ps(zero, _mm256_min_ps(one, t));
  }
  case OM_ACT_HARD_SWISH: {
    __m256 t = _mm256_fmadd_ps(v, _mm256_set1_ps(1.0f / 6.0f), _mm256_set1_ps(0.5f));
    return _mm256_mul_ps(v, _mm256_max_ps(zero, _mm256_min_ps(one, t)));
  }
  default: return v;
  }
}

/* Full 6x16 tile; src (ld lds), when not NULL, is the running total added after the products
 * (blocked summation, gemm.h); bias6 NULL or 6 values. */
T256 static void core(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                      const float *src, int64_t lds, const float *bias6, int act, float al,
                      float be) {
  __m256 c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b;
  c0a = c0b = c1a = c1b = c2a = c2b = c3a = c3b = c4a = c4b = c5a = c5b = _mm256_setzero_ps();
#define FMAROW(i)                                                                          \
  {                                                                                        \
    __m256 av = _mm256_broadcast_ss(a + (i));                                              \
    c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                            \
    c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                                            \
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; k++) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    FMAROW(0) FMAROW(1) FMAROW(2) FMAROW(3) FMAROW(4) FMAROW(5)
    a += MR;
    b += NR;
  }
#undef FMAROW
#define STOREROW(i)                                                                        \
  {                                                                                        \
    if (src) {                                                                             \
      c##i##a = _mm256_add_ps(c##i##a, _mm256_loadu_ps(src + (i) * lds));                  \
      c##i##b = _mm256_add_ps(c##i##b, _mm256_loadu_ps(src + (i) * lds + 8));              \
    }                                                                                      \
    if (bias6) {                                                                           \
      __m256 bv = _mm256_set1_ps(bias6[i]);                                                \
      c##i##a = _mm256_add_ps(c##i##a, bv);                                                \
      c##i##b = _mm256_add_ps(c##i##b, bv);                                                \
    }                                                                                      \
    if (act != OM_ACT_NONE) {                                                              \
      c##i##a = act256(c##i##a, act, al, be);                                              \
      c##i##b = act256(c##i##b, act, al, be);                                              \
    }                                                                                      \
    _mm256_storeu_ps(c + (i) * ldc, c##i##a);                                              \
    _mm256_storeu_ps(c + (i) * ldc + 8, c##i##b);                                          \
  }
  STOREROW(0) STOREROW(1) STOREROW(2) STOREROW(3) STOREROW(4) STOREROW(5)
#undef STOREROW
}

T256 void om_gemm_ukr_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           int mr, int nr, const float *init, int64_t ldi, int load_c,
                           const om_gemm_epi *epi, int64_t row0) {
  int act = epi ? epi->act : OM_ACT_NONE;
  float al = epi ? epi->alpha : 0.0f, be = epi ? epi->beta : 0.0f;
  int vact = (act == OM_ACT_SIGMOID || act == OM_ACT_SILU) ? OM_ACT_NONE : act;
  const float *src = init ? init : load_c ? c : NULL;
  int64_t lds = init ? ldi : ldc;
  if (mr == MR && nr == NR) {
    core(kc, a, b, c, ldc, src, lds, epi && epi->bias ? epi->bias + row0 : NULL, vact, al, be);
  } else {
    float tile[MR * NR], bias6[MR] = {0};
    memset(tile, 0, sizeof tile);
    for (int i = 0; i < mr; i++) {
      if (src) memcpy(tile + i * NR, src + i * lds, (size_t)nr * sizeof(float));
      if (epi && epi->bias) bias6[i] = epi->bias[row0 + i];
    }
    core(kc, a, b, tile, NR, src ? tile : NULL, NR, epi && epi->bias ? bias6 : NULL, vact, al, be);
    for (int i = 0; i < mr; i++) memcpy(c + i * ldc, tile + i * NR, (size_t)nr * sizeof(float));
  }
  if (vact != act)
    for (int i = 0; i < mr; i++) om_gemm_act_inplace(c + i * ldc, nr, act, al, be);
}
