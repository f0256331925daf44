/* tile512.h: the 8-row x 32-column accumulator tile (c0a, c0b ... c7a, c7b) that the AVX-512
 * micro-kernels share (gemm_avx512.c, gemm_bf16.c, conv_direct.c): the rank-1 update of row i from
 * A's broadcast a[i] and B's vectors b0, b1 (or b0 alone for a tile with no column past 16), the
 * running total added after the products, and the epilogue, the row's bias then the fused activation. Macros, so the kernels cannot drift apart; each
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

/* Declares the tile (c0a .. c7b), zeroed, and the column masks m0, m1 of an nr-wide tile; notes what
 * OM_TILE512_ADD_SRC adds after the products: init (ldi apart; a residual), or C itself (load_c: a
 * later K block), or nothing. Every K block is summed from zero before it meets the running total
 * (blocked summation: the float32 error grows with the block length, not with K). */
#define OM_TILE512_BEGIN(nr, mr, init, ldi, c, ldc, load_c)                                \
  __mmask16 m0 = (nr) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nr)) - 1);           \
  __mmask16 m1 = (nr) >= 32   ? (__mmask16)0xFFFF                                          \
                 : (nr) > 16 ? (__mmask16)((1u << ((nr) - 16)) - 1)                        \
                             : (__mmask16)0;                                               \
  const float *src_ = (init) ? (init) : (load_c) ? (c) : NULL;                             \
  const int64_t lds_ = (init) ? (ldi) : (ldc);                                             \
  __m512 c0a = _mm512_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, \
         c3a = c0a, c3b = c0a, c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a, c6a = c0a,      \
         c6b = c0a, c7a = c0a, c7b = c0a;

/* The running total (see OM_TILE512_BEGIN) added to rows < mr after the products. */
#define OM_TILE512_ADD_SRC(mr)                                                             \
  if (src_) {                                                                              \
    OM_TILE512_ADD_(0, mr) OM_TILE512_ADD_(1, mr) OM_TILE512_ADD_(2, mr)                   \
    OM_TILE512_ADD_(3, mr) OM_TILE512_ADD_(4, mr) OM_TILE512_ADD_(5, mr)                   \
    OM_TILE512_ADD_(6, mr) OM_TILE512_ADD_(7, mr)                                          \
  }
#define OM_TILE512_ADD_(i, mr)                                                             \
  if ((i) < (mr)) {                                                                        \
    c##i##a = _mm512_add_ps(c##i##a, _mm512_maskz_loadu_ps(m0, src_ + (i) * lds_));        \
    c##i##b = _mm512_add_ps(c##i##b, _mm512_maskz_loadu_ps(m1, src_ + (i) * lds_ + 16));   \
  }

/* Epilogue and masked store of rows < mr into c (ldc apart). */
#define OM_TILE512_STORE(c, ldc, mr, epi, row0)                                            \
  OM_TILE512_STORE_(0, c, ldc, mr, epi, row0) OM_TILE512_STORE_(1, c, ldc, mr, epi, row0)  \
  OM_TILE512_STORE_(2, c, ldc, mr, epi, row0) OM_TILE512_STORE_(3, c, ldc, mr, epi, row0)  \
  OM_TILE512_STORE_(4, c, ldc, mr, epi, row0) OM_TILE512_STORE_(5, c, ldc, mr, epi, row0)  \
  OM_TILE512_STORE_(6, c, ldc, mr, epi, row0) OM_TILE512_STORE_(7, c, ldc, mr, epi, row0)
#define OM_TILE512_STORE_(i, c, ldc, mr, epi, row0)                                        \
  if ((i) < (mr)) {                                                                        \
    OM_TILE512_EPI(i, epi, row0)                                                           \
    _mm512_mask_storeu_ps((c) + (i) * (ldc), m0, c##i##a);                                 \
    _mm512_mask_storeu_ps((c) + (i) * (ldc) + 16, m1, c##i##b);                            \
  }

#define OM_TILE512_FMA(i)                                                                  \
  {                                                                                        \
    __m512 av_ = _mm512_set1_ps(a[(i)]);                                                   \
    c##i##a = _mm512_fmadd_ps(av_, b0, c##i##a);                                           \
    c##i##b = _mm512_fmadd_ps(av_, b1, c##i##b);                                           \
  }
#define OM_TILE512_FMA_HALF(i) c##i##a = _mm512_fmadd_ps(_mm512_set1_ps(a[(i)]), b0, c##i##a);

#endif
