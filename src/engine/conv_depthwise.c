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

int om_dw_setup(om_dw *d, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw,
                int64_t sh, int64_t sw, int64_t ph, int64_t pw, size_t *scratch_bytes, char *err) {
  memset(d, 0, sizeof *d);
  d->H = H; d->W = W; d->OH = OH; d->OW = OW; d->kh = kh; d->kw = kw; d->sh = sh; d->sw = sw;
  d->ph = ph; d->pw = pw;
  /* padded rows needed: up to the last row any output reads */
  d->PH = (OH - 1) * sh + kh;
  /* columns read: ox*sw + kx for ox < round_up(OW, 16) (whole vectors), kx < kw */
  int64_t owv = (OW + 15) / 16 * 16;
  if (sw == 1) {
    d->rowlen = owv + kw + 16;
  } else {
    d->half = (owv + (kw + 1) / 2 + 31) / 16 * 16; /* even columns 2j, then odd columns 2j + 1 */
    d->rowlen = 2 * d->half;
  }
  size_t n; /* PH padded rows + one linear row for the stride-2 split */
  if (d->PH > ((int64_t)1 << 31) || d->rowlen > ((int64_t)1 << 31) ||
      om_mul_size((size_t)d->PH + 1, (size_t)d->rowlen, &n) || om_mul_size(n, sizeof(float), &n))
    return om_seterr(err, OM_E_LIMIT, "depthwise Conv padded plane size overflows");
  *scratch_bytes = n;
  return OM_OK;
}


/* Padded copy of x into s: row r holds input row r - ph (zeros outside), column c input column
 * c - pw; stride 2 stores column c at (c & 1) * half + c / 2, split 32 columns at a time with two
 * permutes from a linear padded row built in tmp (2 * half floats). */
T512 static void pad_plane(const om_dw *d, const float *x, float *s, float *tmp) {
  const int64_t W = d->W, L = d->rowlen, half = d->half;
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
  for (int64_t r = 0; r < d->PH; r++) {
    float *row = s + r * L;
    int64_t iy = r - d->ph;
    if (iy < 0 || iy >= d->H) {
      memset(row, 0, (size_t)L * sizeof(float));
      continue;
    }
    const float *src = x + iy * W;
    float *lin = d->sw == 1 ? row : tmp;
    int64_t n = W;
    if (d->pw + n > L) n = L - d->pw;
    if (n < 0) n = 0;
    memset(lin, 0, (size_t)(d->pw < L ? d->pw : L) * sizeof(float));
    if (n > 0) memcpy(lin + d->pw, src, (size_t)n * sizeof(float));
    if (d->pw + n < L) memset(lin + d->pw + n, 0, (size_t)(L - d->pw - n) * sizeof(float));
    if (d->sw == 2) /* half is a multiple of 16 (setup), so whole vectors fill both halves */
      for (int64_t j = 0; j < half; j += 16) {
        __m512 a = _mm512_loadu_ps(tmp + 2 * j), b = _mm512_loadu_ps(tmp + 2 * j + 16);
        _mm512_storeu_ps(row + j, _mm512_permutex2var_ps(a, ev, b));
        _mm512_storeu_ps(row + half + j, _mm512_permutex2var_ps(a, od, b));
      }
  }
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

/* Stride 1 along both axes, straight from x: the zero padding is the load mask (lanes whose input
 * column is outside [0, W) are not read), so there is no padded copy, whose per-row calls cost more
 * than the arithmetic on the 14x14 and 7x7 planes of mobile networks. Four output rows at a time
 * keep four independent FMA chains. */
T512 static inline __attribute__((always_inline)) void dw_s1_body(const om_dw *d, const int64_t kw,
                                                                const float *x, const float *w,
                                                                float bias, const float *sum, int act,
                                                                float alpha, float beta, float *y) {
  const int64_t H = d->H, W = d->W, OH = d->OH, OW = d->OW, kh = d->kh, ph = d->ph, pw = d->pw;
  const __m512 bv = _mm512_set1_ps(bias);
  for (int64_t ox = 0; ox < OW; ox += 16) {
    int64_t n = OW - ox < 16 ? OW - ox : 16;
    __mmask16 mo = (__mmask16)((1u << n) - 1), mk[MAXK];
    for (int64_t kx = 0; kx < kw; kx++) { /* lanes l < n with 0 <= ox + l - pw + kx < W */
      int64_t c0 = ox - pw + kx, lo = c0 < 0 ? -c0 : 0, hi = W - c0 < n ? W - c0 : n;
      mk[kx] = hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
    }
    for (int64_t oy = 0; oy < OH; oy += 4) {
      int nr = (int)(OH - oy < 4 ? OH - oy : 4);
      __m512 acc[4];
      rows_init(acc, bv, sum, mo, OW, oy, ox, nr);
      for (int64_t ky = 0; ky < kh; ky++) {
        const float *wr = w + ky * kw;
        for (int r = 0; r < 4; r++) {
          int64_t iy = oy + r - ph + ky;
          if (r >= nr || iy < 0 || iy >= H) continue;
          const float *row = x + iy * W + ox - pw; /* column ox - pw: lanes before 0 stay masked */
          for (int64_t kx = 0; kx < kw; kx++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wr[kx]), _mm512_maskz_loadu_ps(mk[kx], row + kx), acc[r]);
        }
      }
      rows_store(acc, y, mo, OW, oy, ox, nr, act, alpha, beta);
    }
  }
}

/* kw fixed at compile time for the common 3 and 5: the tap loop unrolls, its masks stay in registers */
T512 static void dw_plane_s1(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                             int act, float alpha, float beta, float *y) {
  if (d->kw == 3) dw_s1_body(d, 3, x, w, bias, sum, act, alpha, beta, y);
  else if (d->kw == 5) dw_s1_body(d, 5, x, w, bias, sum, act, alpha, beta, y);
  else dw_s1_body(d, d->kw, x, w, bias, sum, act, alpha, beta, y);
}

T512 void om_dw_plane_avx512(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                             int act, float alpha, float beta, float *y, float *scratch) {
  if (d->sh == 1 && d->sw == 1) {
    dw_plane_s1(d, x, w, bias, sum, act, alpha, beta, y);
    return;
  }
  pad_plane(d, x, scratch, scratch + d->PH * d->rowlen);
  const int64_t OH = d->OH, OW = d->OW, L = d->rowlen, kh = d->kh, kw = d->kw;
  int64_t koff[MAXK]; /* column offset of tap kx in a padded row */
  for (int64_t kx = 0; kx < kw; kx++) koff[kx] = d->sw == 1 ? kx : (kx & 1) * d->half + (kx >> 1);
  const __m512 bv = _mm512_set1_ps(bias);
  for (int64_t ox = 0; ox < OW; ox += 16) {
    int64_t n = OW - ox < 16 ? OW - ox : 16;
    __mmask16 mo = (__mmask16)((1u << n) - 1);
    for (int64_t oy = 0; oy < OH; oy += 4) { /* four output rows: four independent FMA chains */
      int nr = (int)(OH - oy < 4 ? OH - oy : 4);
      __m512 acc[4];
      rows_init(acc, bv, sum, mo, OW, oy, ox, nr);
      for (int64_t ky = 0; ky < kh; ky++) {
        const float *wr = w + ky * kw;
        for (int r = 0; r < nr; r++) {
          const float *row = scratch + ((oy + r) * d->sh + ky) * L + ox;
          for (int64_t kx = 0; kx < kw; kx++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wr[kx]), _mm512_loadu_ps(row + koff[kx]), acc[r]);
        }
      }
      rows_store(acc, y, mo, OW, oy, ox, nr, act, alpha, beta);
    }
  }
}
