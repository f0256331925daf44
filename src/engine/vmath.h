/* vmath.h: vectorized exp / sigmoid / SiLU for float32 activations.
 *
 * exp(x) = 2^n * p(r), n = round(x / ln2), r = x - n*ln2 (two-part ln2), p a degree-6 polynomial
 * (fitted here, see om_vm_exp512_core; ~1 ulp on [-ln2/2, ln2/2]); 2^n applied with scalef so overflow gives
 * inf and underflow 0 without integer tricks. The AVX-512 body is a static inline in this header so
 * the GEMM / conv epilogues inline it: define OM_VMATH_AVX512 before including to get it (only in
 * files that compile it under a target attribute). The array functions dispatch at run time:
 * path OM_KERNEL_AVX512 (checked against the CPU) or the scalar C fallback, which uses libm expf. */
#ifndef OM_VMATH_H
#define OM_VMATH_H

#include <stdint.h>

/* y[i] = f(x[i]); y may equal x. path: OM_KERNEL_* wanted (AUTO / unknown: the best this CPU runs). */
void om_vm_exp(float *y, const float *x, int64_t n, int path);
void om_vm_sigmoid(float *y, const float *x, int64_t n, int path);
void om_vm_silu(float *y, const float *x, int64_t n, int path); /* x * sigmoid(x) */
/* Scalar twins (libm expf, same stable formulas): the fallback path. */
float om_vm_sigmoid1(float x);
float om_vm_silu1(float x);

#ifdef OM_VMATH_AVX512
#include <immintrin.h>

#include "engine/op.h"
/* Horner's rule, c[0] the highest coefficient (n constant at every call: unrolled). */
__attribute__((target("avx512f,fma"))) static inline __m512 om_vm_horner512(__m512 x, const float *c, int n) {
  __m512 p = _mm512_set1_ps(c[0]);
  for (int i = 1; i < n; i++) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c[i]));
  return p;
}
/* exp on an argument already in [-104, 89]. The polynomial: 1 + r + r^2 q(r), q of degree 4 fitted
 * here (weighted least squares at Chebyshev nodes, numpy) for the relative error of e^r on
 * [-ln2/2, ln2/2]: 3.8e-9 before float rounding, so one FMA fewer than Cephes' degree-5 q. */
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_exp512_core(__m512 x) {
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  static const float q[5] = {1.3751407e-3f, 8.3689159e-3f, 4.1669533e-2f, 1.6666518e-1f, 4.9999988e-1f};
  __m512 p = _mm512_fmadd_ps(om_vm_horner512(r, q, 5), _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_exp512(__m512 x) {
  /* beyond these |x| the result is 0 / inf anyway; clamping keeps n in scalef's useful range */
  /* operand order keeps a NaN x (max/min return the second operand on NaN) */
  return om_vm_exp512_core(_mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x)));
}
/* e = exp(-|x|), never overflowing (sigmoid and SiLU below). */
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_exp512_negabs(__m512 x) {
  return om_vm_exp512_core(_mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_or_ps(x, _mm512_set1_ps(-0.0f))));
}
/* sigmoid = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, e = exp(-|x|): never overflows, and
 * keeps full relative accuracy far into the negative tail (1 / (1 + exp(-x)) flushes to 0 there).
 * One division with the numerator chosen per lane (a reciprocal then a product cost a quarter more). */
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_sigmoid512(__m512 x) {
  __m512 e = om_vm_exp512_negabs(x);
  __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_div_ps(_mm512_mask_mov_ps(_mm512_set1_ps(1.0f), neg, e), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
/* SiLU = x / (1 + 2^t), t = -x log2(e) = n + f, n an integer: the product's exact value (fma) and
 * log2(e)'s low part give f, a degree-5 polynomial 2^f on [-1/2, 1/2] (fitted here, Lawson-weighted
 * least squares for the relative error: 7.5e-8 before float rounding). Four operations fewer than
 * sigmoid's sign-split form (x e / (1 + e)): 3.2 vs 4.2 ns a vector on Zen 4; SiLU is 15% of
 * efficientnet_b0's time. */
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_silu512(__m512 x) {
  /* xn: x = -inf would give -inf / inf, -1e30 / inf is -0 (the limit). xc: x = +inf would make f
   * inf - inf, 88 gives 2^t ~ 0. Below x = -89 2^t overflows to inf and y = -0 (|exact y| < 1e-36).
   * Operand order keeps a NaN x. */
  const __m512 xn = _mm512_max_ps(_mm512_set1_ps(-1e30f), x);
  const __m512 xc = _mm512_min_ps(_mm512_set1_ps(88.0f), xn);
  const __m512 nl2e = _mm512_set1_ps(-1.44269504088896341f);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, nl2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fmsub_ps(xc, nl2e, n);
  f = _mm512_fmadd_ps(xc, _mm512_set1_ps(-1.92596299e-8f), f);
  static const float c[6] = {1.32764713e-3f, 9.67554096e-3f, 5.55071309e-2f, 2.40221202e-1f, 6.93146944e-1f,
                             1.00000012f};
  __m512 p = om_vm_horner512(f, c, 6);
  return _mm512_div_ps(xn, _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_scalef_ps(p, n)));
}
/* The fused epilogue activations (om_act, see op.h) on 16 floats; one copy for every AVX-512 kernel
 * (GEMM, bf16 GEMM, Winograd output transform, depthwise). */
__attribute__((target("avx512f,avx512dq,fma"))) static inline __m512 om_vm_act512(__m512 v, int act,
                                                                                 float alpha, float beta) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  switch (act) {
  case OM_ACT_RELU: return _mm512_max_ps(v, zero);
  case OM_ACT_CLIP:
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(alpha)), _mm512_set1_ps(beta));
  case OM_ACT_LEAKY_RELU: {
    __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha));
  }
  case OM_ACT_HARD_SIGMOID: {
    __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(alpha), _mm512_set1_ps(beta));
    return _mm512_max_ps(zero, _mm512_min_ps(one, t));
  }
  case OM_ACT_HARD_SWISH: {
    __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(v, _mm512_max_ps(zero, _mm512_min_ps(one, t)));
  }
  case OM_ACT_SIGMOID: return om_vm_sigmoid512(v);
  case OM_ACT_SILU: return om_vm_silu512(v);
  default: return v;
  }
}
#endif

#endif
