/* conv_depthwise.c: AVX-512 depthwise Conv plane kernel (see conv_depthwise.h). */
#define OM_VMATH_AVX512
#include "engine/conv_depthwise.h"

#include "common/om.h"
#include "engine/op.h"
#include "engine/vmath.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MAXK 15

int om_dw_supported(int64_t kd, int64_t dh, int64_t dw, int64_t sw, int64_t kh, int64_t kw) {
  return kd == 1 && dh == 1 && dw == 1 && (sw == 1 || sw == 2) && kh <= MAXK && kw <= MAXK;
}

/* Tap kx's lanes for a block of n outputs at column ox (see tap_masks): 32 bits, stride 2 using all. */
static inline uint32_t tap_bits(int64_t ox, int64_t n, int64_t S, int64_t kx, int64_t W, int64_t pw) {
  int64_t c0 = ox * S - pw + kx, l0 = c0 < 0 ? -c0 : 0, l1 = W - c0 < S * n ? W - c0 : S * n;
  return l1 > l0 ? (uint32_t)(((1ull << l1) - 1) & ~((1ull << l0) - 1)) : 0;
}

void om_dw_setup(om_dw *d, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw,
                 int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  memset(d, 0, sizeof *d);
  d->H = H; d->W = W; d->OH = OH; d->OW = OW; d->kh = kh; d->kw = kw; d->sh = sh; d->sw = sw;
  d->ph = ph; d->pw = pw;
  if (kh == kw && sh == sw && (kw == 3 || kw == 5)) /* the square kernels' tap masks (dw_sq) */
    for (int64_t b = 0; b < OM_DW_SQ_BLOCKS && b * 16 < OW; b++) {
      int64_t n = OW - b * 16 < 16 ? OW - b * 16 : 16;
      for (int64_t kx = 0; kx < kw; kx++) {
        uint32_t m = tap_bits(b * 16, n, sw, kx, W, pw);
        d->sqmask[b][kx] = (uint16_t)(m & 0xFFFF);
        d->sqmaskh[b][kx] = (uint16_t)(m >> 16);
      }
    }
  /* 7x7 planes (mobile networks' last stages) waste 9 of 16 lanes a row; flattened, the 49 outputs
   * are 4 vectors and every tap one masked load per vector */
  if (sh == 1 && sw == 1 && OH == H && OW == W && H * W <= 16 * OM_DW_FLAT_VECS &&
      kh * kw <= OM_DW_FLAT_TAPS) {
    d->flat = 1;
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t kx = 0; kx < kw; kx++) {
        int64_t t = ky * kw + kx;
        d->foff[t] = (int32_t)((ky - ph) * W + (kx - pw));
        for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
          uint32_t m = 0;
          for (int l = 0; l < 16; l++) {
            int64_t q = v * 16 + l, oy = q / W, ox = q % W, iy = oy + ky - ph, ix = ox + kx - pw;
            if (q < H * W && iy >= 0 && iy < H && ix >= 0 && ix < W) m |= 1u << l;
          }
          d->fmask[v][t] = (uint16_t)m;
        }
      }
  }
  /* stride 2 with a small output (7x7 from 14x14: mobilenet_v2's and efficientnet_b0's last stride-2
   * depthwise layers): the row kernel computes 7 of 16 lanes a row from permuted pairs of loads;
   * split into parity phases the plane is a stride-1 problem that fits four vectors */
  const int64_t PW = OW + (kw - 1) / 2, PH = OH + (kh - 1) / 2;
  const char *e = getenv("OM_DW_S2FLAT"); /* A/B runs: 0 keeps the row kernel */
  const int fits = kh * kw <= OM_DW_FLAT_TAPS && W <= 32 && PW <= 16 && PH * PW <= OM_DW_S2_PHASE &&
                   (OH - 1) * PW + OW <= 16 * OM_DW_FLAT_VECS;
  if ((!e || atoi(e) != 0) && sh == 2 && sw == 2 && !d->flat && fits) {
    d->s2flat = 1;
    d->s2pw = (int32_t)PW;
    d->s2ph = (int32_t)PH;
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t kx = 0; kx < kw; kx++)
        d->s2off[ky * kw + kx] =
            (int32_t)(((ky & 1) * 2 + (kx & 1)) * OM_DW_S2_PHASE + (ky >> 1) * PW + (kx >> 1));
    for (int px = 0; px < 2; px++)
      for (int j = 0; j < 16; j++) {
        int64_t ix = 2 * j + px - pw; /* the padded column 2j + px */
        d->s2idx[px][j] = (int32_t)(ix >= 0 && ix < W ? ix : 0);
        if (j < PW && ix >= 0 && ix < W) d->s2min[px] |= (uint16_t)(1u << j);
      }
    const int64_t L = (OH - 1) * PW + OW;
    for (int v = 0; v < OM_DW_FLAT_VECS; v++)
      for (int l = 0; l < 16; l++) {
        int64_t q = 16 * v + l;
        if (q < L) d->s2lanes[v] |= (uint16_t)(1u << l);
        if (q < L && q % PW < OW) d->s2out[v] |= (uint16_t)(1u << l);
      }
  }
}

/* Four output rows of 16 columns at (oy, ox): start from bias (+ the residual), end with the
 * activation and a masked store (dw_body, the generic row kernel). */
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

/* Lane masks of the K taps of one block of n outputs at column ox: raw lanes l < S*n whose input
 * column ox*S - pw + kx + l lies in [0, W) (lo: lanes 0-15, hi: 16-31). */
T512 static inline __attribute__((always_inline)) void tap_masks(int64_t ox, int64_t n, int64_t S,
                                                               int64_t K, int64_t W, int64_t pw,
                                                               __mmask16 *mk, __mmask16 *mh) {
  for (int64_t kx = 0; kx < K; kx++) {
    uint32_t m = tap_bits(ox, n, S, kx, W, pw);
    mk[kx] = (__mmask16)(m & 0xFFFF);
    mh[kx] = (__mmask16)(m >> 16);
  }
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
    tap_masks(ox, n, sw, kw, W, pw, mk, mh);
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

/* The activation in place over n stored floats (out of line: its switch would otherwise be unrolled
 * into every row of the square kernels' store). */
T512 static __attribute__((noinline)) void act_rows(float *y, int64_t n, int act, float alpha, float beta) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, om_vm_act512(_mm512_maskz_loadu_ps(m, y + i), act, alpha, beta));
  }
}

/* A row of zeros that dw_sq reads for input rows outside the plane (with the same column masks as a
 * real row, so only its floats [0, pw + W): wider planes take dw_body). */
#define OM_DW_SQ_MAXW 2048
static const float dw_zeros[OM_DW_SQ_MAXW + 64];

/* Square K x K kernel with the same stride S along H and W (mobile networks' 3x3 and 5x5, stride 1
 * or 2), all fixed at compile time. R output rows per pass, rows outer and 16-column blocks inner:
 * each input row under the pass is loaded once per block (K taps; stride 2: the K taps come from
 * (K+1)/2 pairs of vectors, even and odd lanes) and feeds every output row it touches, so a load
 * serves up to K FMAs instead of one, the K*K weights stay in registers, and the R accumulators are R
 * independent FMA chains. Rows above or below the plane are read from a row of zeros rather than
 * branched on, and the tap masks of a column block come from setup, so the unrolled block is little
 * more than its loads and FMAs (the bounds and mask arithmetic had been most of its instructions:
 * 20-25% of the time on efficientnet_b0's planes). */
T512 static inline __attribute__((always_inline)) void dw_sq(const om_dw *d, const int K, const int S,
                                                           const int R, const int SL, const float *x,
                                                           const float *w,
                                                           float bias, const float *sum, int act,
                                                           float alpha, float beta, float *y) {
  const int64_t H = d->H, W = d->W, OH = d->OH, OW = d->OW, ph = d->ph, pw = d->pw;
  const int NIN = (R - 1) * S + K;
  const __m512 bv = _mm512_set1_ps(bias);
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  /* none, ReLU and Clip are one clamp in the store; other activations go over the stored rows once */
  const int clamp = SL || act == OM_ACT_NONE || act == OM_ACT_RELU || act == OM_ACT_CLIP;
  const __m512 lo = _mm512_set1_ps(act == OM_ACT_CLIP ? alpha : act == OM_ACT_RELU ? 0.0f : -INFINITY);
  const __m512 hi = _mm512_set1_ps(act == OM_ACT_CLIP ? beta : INFINITY);
  __m512 wv[25];
#pragma GCC unroll 32
  for (int i = 0; i < K * K; i++) wv[i] = _mm512_set1_ps(w[i]);
  for (int64_t oy = 0; oy < OH; oy += R) {
    int nr = (int)(OH - oy < R ? OH - oy : R);
    int64_t iy0 = oy * S - ph;
    /* the pass's input rows, those above or below the plane pointing at zeros: the unrolled block
     * below then carries no per-row bounds logic (it was most of its instructions) */
    const float *rp[(8 - 1) * 2 + 5];
#pragma GCC unroll 32
    for (int j = 0; j < NIN; j++) rp[j] = iy0 + j >= 0 && iy0 + j < H ? x + (iy0 + j) * W : dw_zeros + pw;
    /* the next plane's rows as far into it as this pass has come (planes are read once from the
     * last-level cache; see maxpool2d_avx512) */
    for (int64_t i = 0; i < R * S * W; i += 16)
      _mm_prefetch((const char *)(x + H * W + oy * S * W + i), _MM_HINT_T0);
    for (int64_t ox = 0; ox < OW; ox += 16) {
      int64_t n = OW - ox < 16 ? OW - ox : 16;
      __mmask16 mo = (__mmask16)((1u << n) - 1), mk[5], mh[5];
      if (ox / 16 < OM_DW_SQ_BLOCKS) { /* made once at setup (om_dw_setup) */
#pragma GCC unroll 8
        for (int kx = 0; kx < K; kx++) {
          mk[kx] = d->sqmask[ox / 16][kx];
          mh[kx] = d->sqmaskh[ox / 16][kx];
        }
      } else {
        tap_masks(ox, n, S, K, W, pw, mk, mh);
      }
      __m512 acc[8];
#pragma GCC unroll 32
      for (int r = 0; r < R; r++) acc[r] = bv;
      if (sum) {
#pragma GCC unroll 32
        for (int r = 0; r < R; r++)
          if (r < nr) acc[r] = _mm512_add_ps(bv, _mm512_maskz_loadu_ps(mo, sum + (oy + r) * OW + ox));
      }
#pragma GCC unroll 32
      for (int j = 0; j < NIN; j++) {
        const float *row = rp[j] + ox * S - pw; /* masked lanes are not read */
        __m512 t[5];
#pragma GCC unroll 32
        for (int kx = 0; kx < K; kx++) {
          if (S == 1) {
            t[kx] = _mm512_maskz_loadu_ps(mk[kx], row + kx);
          } else if ((kx & 1) == 0) { /* the pair at column kx: even lanes here, odd for kx + 1 */
            __m512 va = _mm512_maskz_loadu_ps(mk[kx], row + kx);
            __m512 vb = _mm512_maskz_loadu_ps(mh[kx], row + kx + 16);
            t[kx] = _mm512_permutex2var_ps(va, ev, vb);
            if (kx + 1 < K) t[kx + 1] = _mm512_permutex2var_ps(va, od, vb);
          }
        }
#pragma GCC unroll 32
        for (int r = 0; r < R; r++) {
          int ky = j - r * S;
          if (ky < 0 || ky >= K) continue;
#pragma GCC unroll 32
          for (int kx = 0; kx < K; kx++) acc[r] = _mm512_fmadd_ps(wv[ky * K + kx], t[kx], acc[r]);
        }
      }
      /* a full pass stores unconditionally: a conditional store lets the compiler sink each row's
       * FMAs into its branch, one serial chain per row with every tap kept live (spills) */
      if (nr == R) {
#pragma GCC unroll 32
        for (int r = 0; r < R; r++)
          _mm512_mask_storeu_ps(y + (oy + r) * OW + ox, mo, SL ? om_vm_silu512(acc[r]) : _mm512_min_ps(_mm512_max_ps(acc[r], lo), hi));
      } else {
#pragma GCC unroll 32
        for (int r = 0; r < R; r++)
          if (r < nr)
            _mm512_mask_storeu_ps(y + (oy + r) * OW + ox, mo, SL ? om_vm_silu512(acc[r]) : _mm512_min_ps(_mm512_max_ps(acc[r], lo), hi));
      }
    }
    /* after the whole pass: loading a block right after its masked stores would stall on store
     * forwarding */
    if (!clamp) act_rows(y + oy * OW, OW * nr, act, alpha, beta);
  }
}

/* SL: SiLU (efficientnet's activation) in the store, like the clamps, rather than a pass after */
typedef void (*dw_sq_fn)(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                         int act, float alpha, float beta, float *y);
#define DW_SQ(K, S, R, SL)                                                                            \
  T512 static void dw_k##K##s##S##r##R##a##SL(const om_dw *d, const float *x, const float *w,          \
                                              float bias, const float *sum, int act, float alpha,     \
                                              float beta, float *y) {                                 \
    dw_sq(d, K, S, R, SL, x, w, bias, sum, act, alpha, beta, y);                                      \
  }
#define DW_SQ2(K, S, R) DW_SQ(K, S, R, 0) DW_SQ(K, S, R, 1)
DW_SQ2(3, 1, 8)
DW_SQ2(3, 1, 7)
DW_SQ2(3, 2, 8)
DW_SQ2(3, 2, 7)
DW_SQ2(5, 1, 8)
DW_SQ2(5, 1, 7)
DW_SQ2(5, 2, 8)
DW_SQ2(5, 2, 7)
/* [K == 5][S == 2][7 rows][SiLU] */
static const dw_sq_fn dw_sq_table[2][2][2][2] = {
    {{{dw_k3s1r8a0, dw_k3s1r8a1}, {dw_k3s1r7a0, dw_k3s1r7a1}},
     {{dw_k3s2r8a0, dw_k3s2r8a1}, {dw_k3s2r7a0, dw_k3s2r7a1}}},
    {{{dw_k5s1r8a0, dw_k5s1r8a1}, {dw_k5s1r7a0, dw_k5s1r7a1}},
     {{dw_k5s2r8a0, dw_k5s2r8a1}, {dw_k5s2r7a0, dw_k5s2r7a1}}}};

/* A flattened small plane (om_dw_setup's flat): four accumulators over the plane's 64 positions,
 * each tap one masked load per vector (the mask drops lanes whose input is padding or in another
 * row), so the 49 outputs of a 7x7 plane cost 4 vectors of FMAs a tap instead of 7 rows of 16. */
T512 static void dw_flat(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                         int act, float alpha, float beta, float *y) {
  const int64_t n = d->H * d->W, taps = d->kh * d->kw;
  __m512 acc[OM_DW_FLAT_VECS];
  __mmask16 mo[OM_DW_FLAT_VECS];
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
    int64_t r = n - 16 * v;
    mo[v] = r >= 16 ? (__mmask16)0xFFFF : r > 0 ? (__mmask16)((1u << r) - 1) : 0;
    acc[v] = _mm512_set1_ps(bias);
    if (sum) acc[v] = _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(mo[v], sum + 16 * v));
  }
  for (int64_t t = 0; t < taps; t++) {
    const __m512 wt = _mm512_set1_ps(w[t]);
    const float *src = x + d->foff[t]; /* masked lanes (outside the plane) are not read */
#pragma GCC unroll 4
    for (int v = 0; v < OM_DW_FLAT_VECS; v++)
      acc[v] = _mm512_fmadd_ps(wt, _mm512_maskz_loadu_ps(d->fmask[v][t], src + 16 * v), acc[v]);
  }
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++)
    if (mo[v]) _mm512_mask_storeu_ps(y + 16 * v, mo[v], om_vm_act512(acc[v], act, alpha, beta));
}

/* Two flattened planes at once (x, x + H*W; taps w, w + kh*kw; outputs y, y + H*W): the same sums per
 * plane as dw_flat, but eight independent accumulator chains instead of four (a 5x5 plane's chains
 * are 25 FMAs long, and one plane alone left the FMA units waiting on them). */
T512 static void dw_flat2(const om_dw *d, const float *x, const float *w, float bias0, float bias1,
                          const float *sum, int act, float alpha, float beta, float *y) {
  const int64_t n = d->H * d->W, taps = d->kh * d->kw;
  __m512 acc[2][OM_DW_FLAT_VECS];
  __mmask16 mo[OM_DW_FLAT_VECS];
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
    int64_t r = n - 16 * v;
    mo[v] = r >= 16 ? (__mmask16)0xFFFF : r > 0 ? (__mmask16)((1u << r) - 1) : 0;
    acc[0][v] = _mm512_set1_ps(bias0);
    acc[1][v] = _mm512_set1_ps(bias1);
    if (sum) {
      acc[0][v] = _mm512_add_ps(acc[0][v], _mm512_maskz_loadu_ps(mo[v], sum + 16 * v));
      acc[1][v] = _mm512_add_ps(acc[1][v], _mm512_maskz_loadu_ps(mo[v], sum + n + 16 * v));
    }
  }
  for (int64_t t = 0; t < taps; t++) {
    const __m512 w0 = _mm512_set1_ps(w[t]), w1 = _mm512_set1_ps(w[taps + t]);
    const float *src = x + d->foff[t]; /* masked lanes (outside the plane) are not read */
#pragma GCC unroll 4
    for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
      acc[0][v] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(d->fmask[v][t], src + 16 * v), acc[0][v]);
      acc[1][v] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(d->fmask[v][t], src + n + 16 * v), acc[1][v]);
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++)
    if (mo[v]) {
      _mm512_mask_storeu_ps(y + 16 * v, mo[v], om_vm_act512(acc[0][v], act, alpha, beta));
      _mm512_mask_storeu_ps(y + n + 16 * v, mo[v], om_vm_act512(acc[1][v], act, alpha, beta));
    }
}

/* The stride-2 phases of one plane (om_dw_setup's s2flat) into p (4 x OM_DW_S2_PHASE floats): padded
 * row r's even columns to phase (r & 1, 0), its odd ones to (r & 1, 1), at row r / 2; pad rows and
 * columns zero. Rows past 2 * PH are read by no output. */
T512 static inline __attribute__((always_inline)) void s2_phases(const om_dw *d, const float *x, float *p) {
  const int64_t H = d->H, W = d->W, ph = d->ph, PW = d->s2pw, PH = d->s2ph;
  const __m512i ie = _mm512_loadu_si512(d->s2idx[0]), io = _mm512_loadu_si512(d->s2idx[1]);
  const __mmask16 me = d->s2min[0], mo = d->s2min[1], mw = (__mmask16)((1u << PW) - 1);
  const __mmask16 m0 = W >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << W) - 1);
  const __mmask16 m1 = W > 16 ? (__mmask16)((1u << (W - 16)) - 1) : 0;
  const __m512 z = _mm512_setzero_ps();
  for (int64_t r = 0; r < 2 * PH; r++) {
    float *pe = p + (r & 1) * 2 * OM_DW_S2_PHASE + (r >> 1) * PW;
    const int64_t iy = r - ph;
    if (iy < 0 || iy >= H) {
      _mm512_mask_storeu_ps(pe, mw, z);
      _mm512_mask_storeu_ps(pe + OM_DW_S2_PHASE, mw, z);
      continue;
    }
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + iy * W), x1 = _mm512_maskz_loadu_ps(m1, x + iy * W + 16);
    _mm512_mask_storeu_ps(pe, mw, _mm512_maskz_permutex2var_ps(me, x0, ie, x1));
    _mm512_mask_storeu_ps(pe + OM_DW_S2_PHASE, mw, _mm512_maskz_permutex2var_ps(mo, x0, io, x1));
  }
}

/* The four vectors of a stride-2 plane, activated, stored compressed (lanes with ox >= OW dropped). */
T512 static inline __attribute__((always_inline)) void s2_store(const om_dw *d, const __m512 *acc, int act,
                                                              float alpha, float beta, float *y) {
  int64_t o = 0;
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
    const __mmask16 m = d->s2out[v];
    if (!m) break;
    const int n = __builtin_popcount(m);
    _mm512_mask_storeu_ps(y + o, (__mmask16)((1u << n) - 1),
                          _mm512_maskz_compress_ps(m, om_vm_act512(acc[v], act, alpha, beta)));
    o += n;
  }
}

/* A stride-2 small plane (s2flat, no residual): its phases on the stack, then each tap one load per
 * vector at the tap's phase and shift. */
T512 static void dw_s2flat(const om_dw *d, const float *x, const float *w, float bias, int act, float alpha,
                           float beta, float *y) {
  float p[4 * OM_DW_S2_PHASE] __attribute__((aligned(64)));
  s2_phases(d, x, p);
  const int64_t taps = d->kh * d->kw;
  __m512 acc[OM_DW_FLAT_VECS];
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++) acc[v] = _mm512_set1_ps(bias);
  for (int64_t t = 0; t < taps; t++) {
    const __m512 wt = _mm512_set1_ps(w[t]);
    const float *src = p + d->s2off[t]; /* lanes past the last output are not read */
#pragma GCC unroll 4
    for (int v = 0; v < OM_DW_FLAT_VECS; v++)
      acc[v] = _mm512_fmadd_ps(wt, _mm512_maskz_loadu_ps(d->s2lanes[v], src + 16 * v), acc[v]);
  }
  s2_store(d, acc, act, alpha, beta, y);
}

/* Two stride-2 small planes: the same sums per plane as dw_s2flat, eight accumulator chains. */
T512 static void dw_s2flat2(const om_dw *d, const float *x, const float *w, float bias0, float bias1, int act,
                            float alpha, float beta, float *y) {
  float p[2][4 * OM_DW_S2_PHASE] __attribute__((aligned(64)));
  const int64_t taps = d->kh * d->kw, ihw = d->H * d->W, ohw = d->OH * d->OW;
  s2_phases(d, x, p[0]);
  s2_phases(d, x + ihw, p[1]);
  __m512 acc[2][OM_DW_FLAT_VECS];
#pragma GCC unroll 4
  for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
    acc[0][v] = _mm512_set1_ps(bias0);
    acc[1][v] = _mm512_set1_ps(bias1);
  }
  for (int64_t t = 0; t < taps; t++) {
    const __m512 w0 = _mm512_set1_ps(w[t]), w1 = _mm512_set1_ps(w[taps + t]);
    const float *s0 = p[0] + d->s2off[t], *s1 = p[1] + d->s2off[t];
#pragma GCC unroll 4
    for (int v = 0; v < OM_DW_FLAT_VECS; v++) {
      acc[0][v] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(d->s2lanes[v], s0 + 16 * v), acc[0][v]);
      acc[1][v] = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(d->s2lanes[v], s1 + 16 * v), acc[1][v]);
    }
  }
  s2_store(d, acc[0], act, alpha, beta, y);
  s2_store(d, acc[1], act, alpha, beta, y + ohw);
}

T512 void om_dw_plane2_avx512(const om_dw *d, const float *x, const float *w, float bias0, float bias1,
                              const float *sum, int act, float alpha, float beta, float *y) {
  if (d->flat) {
    dw_flat2(d, x, w, bias0, bias1, sum, act, alpha, beta, y);
    return;
  }
  if (d->s2flat && !sum) {
    dw_s2flat2(d, x, w, bias0, bias1, act, alpha, beta, y);
    return;
  }
  const int64_t ihw = d->H * d->W, ohw = d->OH * d->OW;
  om_dw_plane_avx512(d, x, w, bias0, sum, act, alpha, beta, y);
  om_dw_plane_avx512(d, x + ihw, w + d->kh * d->kw, bias1, sum ? sum + ohw : NULL, act, alpha, beta, y + ohw);
}

/* kw and the stride fixed at compile time for the common cases: the tap loop unrolls, its masks stay
 * in registers */
T512 void om_dw_plane_avx512(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                             int act, float alpha, float beta, float *y) {
  if (d->flat) {
    dw_flat(d, x, w, bias, sum, act, alpha, beta, y);
    return;
  }
  if (d->s2flat && !sum) {
    dw_s2flat(d, x, w, bias, act, alpha, beta, y);
    return;
  }
  if (d->kh == d->kw && d->sh == d->sw && (d->kw == 3 || d->kw == 5) &&
      d->pw + d->W <= OM_DW_SQ_MAXW) {
    /* 7 rows a pass where that tiles the plane and 8 would not (the 7, 14, 28 planes) */
    int seven = d->OH % 7 == 0 && d->OH % 8 != 0;
    dw_sq_table[d->kw == 5][d->sw == 2][seven][act == OM_ACT_SILU](d, x, w, bias, sum, act, alpha, beta, y);
    return;
  }
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
