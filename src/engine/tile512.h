/* tile512.h: the 8-row x 32-column accumulator tile (c0a, c0b ... c7a, c7b) that the AVX-512
 * micro-kernels share (gemm_avx512.c, gemm_bf16.c, conv_direct.c): the rank-1 update of row i from
 * A's broadcast a[i] and B's vectors b0, b1 (or b0 alone for a tile with no column past 16), and the
 * epilogue, the row's bias then the fused activation. Macros, so the kernels cannot drift apart; each
 * keeps its own loads and stores (plain masked, or compressed into NCHW). Include after vmath.h with
 * OM_VMATH_AVX512 defined. */
#ifndef OM_TILE512_H
#define OM_TILE512_H

#define OM_TILE512_EPI(i, epi, row0)                                                       \
  if (epi) {                                                                               \
    if ((epi)->bias) {                                                                     \
      __m512 bv_ = _mm512_set1_ps((epi)->bias[(row0) + (i)]);                              \
      c##i##a = _mm512_add_ps(c##i##a, bv_);                                               \
      c##i##b = _mm512_add_ps(c##i##b, bv_);                                               \
    }                                                                                      \
    if ((epi)->act != OM_ACT_NONE) {                                                       \
      c##i##a = om_vm_act512(c##i##a, (epi)->act, (epi)->alpha, (epi)->beta);              \
      c##i##b = om_vm_act512(c##i##b, (epi)->act, (epi)->alpha, (epi)->beta);              \
    }                                                                                      \
  }

#define OM_TILE512_FMA(i)                                                                  \
  {                                                                                        \
    __m512 av_ = _mm512_set1_ps(a[(i)]);                                                   \
    c##i##a = _mm512_fmadd_ps(av_, b0, c##i##a);                                           \
    c##i##b = _mm512_fmadd_ps(av_, b1, c##i##b);                                           \
  }
#define OM_TILE512_FMA_HALF(i) c##i##a = _mm512_fmadd_ps(_mm512_set1_ps(a[(i)]), b0, c##i##a);

#endif
