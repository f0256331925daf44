/* conv_depthwise.c: AVX-512 depthwise Conv plane kernel (see conv_depthwise.h). */
#define OM_VMATH_AVX512
#include "engine/conv_depthwise.h"

#include "common/om.h"
#include "engine/op.h"
#include "engine/vmath.h"

#include <immintrin.h>
#include <string.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MAXK 15

int om_dw_supported(int64_t kd, int64_t dh, int64_t dw, int64_t sw, int64_t kh, int64_t kw) {
  return kd == 1 && dh == 1 && dw == 1 && (sw == 1 || sw == 2) && kh <= MAXK && kw <= MAXK;
}

void om_dw_setup(om_dw *d, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw,
                 int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  memset(d, 0, sizeof *d);
  d->H = H; d->W = W; d->OH = OH; d->OW = OW; d->kh = kh; d->kw = kw; d->sh = sh; d->sw = sw;
  d->ph = ph; d->pw = pw;
}


/* Four output rows of 16 columns at (oy, ox): start from bias (+ the residual), end with the
 * activation and a masked store; both plane kernels below share them. */
T512 static inline __attribute__((always_inline)) void rows_init(__m512 *acc, __m512 bv, const float *sum,
                                                               __mmask16 mo, int64_t OW, int64_t oy,
                                                               int64_t ox, int nr) {
  for (int r = 0; r < 4; r++) {
    acc[r] = bv;
    if (sum && r < nr) acc[r] = _mm512_add_ps(bv, _mm512_maskz_loadu_ps(mo, sum + (oy + r) * OW + ox));
  }
}

T512 static inline __attribute__((always_inline)) void rows_store(const __m512 *acc, float *y, __mmask16 mo,
                                                                int64_t OW, int64_t oy, int64_t ox, int nr,
                                                                int act, float alpha, float beta) {
  for (int r = 0; r < nr; r++)
    _mm512_mask_storeu_ps(y + (oy + r) * OW + ox, mo, om_vm_act512(acc[r], act, alpha, beta));
}

/* Straight from x, any stride along H, 1 or 2 along W: the zero padding is the load mask (lanes whose
 * input column is outside [0, W) are not read), so there is no padded copy, whose per-row calls cost
 * more than the arithmetic on the 14x14 and 7x7 planes of mobile networks. Stride 2 loads the 32
 * columns under 16 outputs and keeps the even ones (one permute). Four output rows at a time keep
 * four independent FMA chains. */
T512 static inline __attribute__((always_inline)) void dw_body(const om_dw *d, const int64_t kw,
                                                             const int64_t sw, const float *x,
                                                             const float *w, float bias,
                                                             const float *sum, int act, float alpha,
                                                             float beta, float *y) {
  const int64_t H = d->H, W = d->W, OH = d->OH, OW = d->OW, kh = d->kh, sh = d->sh, ph = d->ph,
                pw = d->pw;
  const __m512 bv = _mm512_set1_ps(bias);
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t ox = 0; ox < OW; ox += 16) {
    int64_t n = OW - ox < 16 ? OW - ox : 16;
    __mmask16 mo = (__mmask16)((1u << n) - 1), mk[MAXK], mh[MAXK];
    for (int64_t kx = 0; kx < kw; kx++) { /* raw lanes l < sw*n with 0 <= c0 + l < W */
      int64_t c0 = ox * sw - pw + kx, lo = c0 < 0 ? -c0 : 0, hi = W - c0 < sw * n ? W - c0 : sw * n;
      uint32_t m = hi > lo ? (uint32_t)(((1ull << hi) - 1) & ~((1ull << lo) - 1)) : 0;
      mk[kx] = (__mmask16)(m & 0xFFFF);
      mh[kx] = (__mmask16)(m >> 16);
    }
    for (int64_t oy = 0; oy < OH; oy += 4) {
      int nr = (int)(OH - oy < 4 ? OH - oy : 4);
      __m512 acc[4];
      rows_init(acc, bv, sum, mo, OW, oy, ox, nr);
      for (int64_t ky = 0; ky < kh; ky++) {
        const float *wr = w + ky * kw;
        for (int r = 0; r < 4; r++) {
          int64_t iy = (oy + r) * sh - ph + ky;
          if (r >= nr || iy < 0 || iy >= H) continue;
          const float *row = x + iy * W + ox * sw - pw; /* lanes before column 0 stay masked */
          for (int64_t kx = 0; kx < kw; kx++) {
            __m512 v = _mm512_maskz_loadu_ps(mk[kx], row + kx);
            if (sw == 2)
              v = _mm512_permutex2var_ps(v, ev, _mm512_maskz_loadu_ps(mh[kx], row + kx + 16));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wr[kx]), v, acc[r]);
          }
        }
      }
      rows_store(acc, y, mo, OW, oy, ox, nr, act, alpha, beta);
    }
  }
}

/* kw and the stride fixed at compile time for the common cases: the tap loop unrolls, its masks stay
 * in registers */
T512 void om_dw_plane_avx512(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                             int act, float alpha, float beta, float *y) {
  if (d->sw == 1) {
    if (d->kw == 3) dw_body(d, 3, 1, x, w, bias, sum, act, alpha, beta, y);
    else if (d->kw == 5) dw_body(d, 5, 1, x, w, bias, sum, act, alpha, beta, y);
    else dw_body(d, d->kw, 1, x, w, bias, sum, act, alpha, beta, y);
  } else {
    if (d->kw == 3) dw_body(d, 3, 2, x, w, bias, sum, act, alpha, beta, y);
    else if (d->kw == 5) dw_body(d, 5, 2, x, w, bias, sum, act, alpha, beta, y);
    else dw_body(d, d->kw, 2, x, w, bias, sum, act, alpha, beta, y);
  }
}
