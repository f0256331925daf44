/* conv_winograd.c: Winograd F(4x4, 3x3) and F(2x2, 3x3) Conv (see conv_winograd.h). F(4x4)'s interpolation points 0, 1, -1,
 * 1/2, -2, inf: in a float32 simulation of a 64-channel layer their error was half that of Lavin &
 * Gray's 0, +-1, +-2 (the mixed choice of Barabasz et al., "Error analysis and improving the accuracy
 * of Winograd convolution"); F(6x6) would save more but loses too many bits in float32.
 *
 * The transforms work on rows of tiles: the 6x6 windows of a run of tiles are first gathered into
 * d[r][i][j] (r, i: window row / column, j: tile), so every transform step is an elementwise loop
 * over j that the compiler vectorizes; the body is built for AVX-512, AVX2 and portable C. The AVX-512
 * build has its own transforms: input (16 tiles in registers, read from the image with masked loads,
 * V stored pre-packed for the GEMM) and output (16 tiles in registers, stored straight into the
 * image). V and M are 36 planes a few cache lines more than a power of two apart (plane_stride).
 * F(2x2) (points 0, 1, -1, inf; 16 planes) serves maps too small for 16 tiles of 4x4 (the 7x7 stage):
 * portable transforms from the same gathered rows, and on AVX-512 its own, 16 tiles in the lanes of a
 * vector, fetched by gathers and written by scatters (f2_input / f2_output). */
#define OM_VMATH_AVX512
#include "engine/conv_winograd.h"

#include "common/om.h"
#include "engine/engine.h"
#include "engine/op.h"
#include "engine/vmath.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define L2_BUDGET ((size_t)1 << 20) /* V + M of one tile block: about one L2 */
/* Channels per GEMM: the transformed products are summed over at most WKC channels from zero before
 * they join the running total (blocked summation). Float32 rounding in these sums is what makes
 * Winograd less exact than direct convolution (the transforms themselves add little); blocks of 64
 * halve the error at 256-512 channels (bench/wino_error.py simulates it) for ~3% more time. */
#define WKC 64

int om_wino_profitable(int64_t C, int64_t K, int64_t OH, int64_t OW) {
  /* OM_WINOGRAD=0: off; =4: F(4x4) only (A/B runs of one binary) */
  const char *env = getenv("OM_WINOGRAD");
  if (env && strcmp(env, "0") == 0) return 0;
  if (C < 16 || K < 16) return 0;
  /* measured (bench/kernels, one thread): F(4x4) 2.0-2.6x faster than direct at 56x56, 28x28 and
   * 14x14 with 64-256 channels; at 7x7 (4 tiles) its transformed weights (4x the direct ones) are
   * streamed from memory for 4 tiles and it loses, but F(2x2) (16 planes, 16 tiles) still multiplies
   * 1.7x less than direct there, and its 16 GEMMs of 512 x 512 x 16 ran at ~98 GFLOP/s with their
   * 16.8 MB of weights from memory (Zen 4, two threads at once) */
  if (((OH + 3) / 4) * ((OW + 3) / 4) >= 16) return 4;
  if (env && strcmp(env, "4") == 0) return 0;
  return ((OH + 1) / 2) * ((OW + 1) / 2) >= 16 && C >= 64 && K >= 64 ? 2 : 0;
}

static int64_t rup(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Floats between the 36 planes of V (or M): whole cache lines, but never a multiple of 4 KiB, since
 * the transforms touch all 36 planes at once and planes 4 KiB apart share one L1 set (tb*C is
 * usually a power of two: 36 streams into one 12-way set measured 10x slower). */
static int64_t plane_stride(int64_t n) {
  n = rup(n, 16);
  return n % 1024 == 0 ? n + 16 : n;
}

int om_wino_setup(om_wino *w, const om_gemm_kernel *k, int m, int64_t C, int64_t K, int64_t H,
                  int64_t W, int64_t OH, int64_t OW, int64_t ph, int64_t pw, size_t *u_floats,
                  size_t *scratch_bytes, char *err) {
  memset(w, 0, sizeof *w);
  if (m != 2 && m != 4) return om_seterr(err, OM_E_INVALID, "Winograd tile size %d (2 or 4)", m);
  w->k = k;
  w->m = m;
  w->np = (m + 2) * (m + 2);
  w->C = C; w->K = K; w->H = H; w->W = W; w->OH = OH; w->OW = OW; w->ph = ph; w->pw = pw;
  w->TH = (OH + m - 1) / m;
  w->TW = (OW + m - 1) / m;
  size_t t, per, tb, v, mb, d, g, tot, ck;
  if (om_mul_size((size_t)w->TH, (size_t)w->TW, &t) || t > ((size_t)1 << 31) ||
      om_add_size((size_t)C, (size_t)K, &ck) || om_mul_size(ck, (size_t)w->np * sizeof(float), &per) ||
      C > ((int64_t)1 << 24) || K > ((int64_t)1 << 24))
    return om_seterr(err, OM_E_LIMIT, "Winograd Conv sizes overflow (%lld x %lld tiles)",
                     (long long)w->TH, (long long)w->TW);
  /* F(2x2)'s AVX-512 transforms address a plane with 32-bit gather offsets */
  if (m == 2 && (H * W >= ((int64_t)1 << 30) || OH * OW >= ((int64_t)1 << 30)))
    return om_seterr(err, OM_E_LIMIT, "Winograd F(2x2) Conv plane too large (%lld x %lld)", (long long)H,
                     (long long)W);
  w->T = (int64_t)t;
  tb = L2_BUDGET / per / (size_t)k->nr * (size_t)k->nr;
  if (tb < (size_t)k->nr) tb = (size_t)k->nr;
  if ((int64_t)tb > rup(w->T, k->nr)) tb = (size_t)rup(w->T, k->nr);
  w->TB = (int64_t)tb;
  w->nkc = (C + WKC - 1) / WKC;
  w->uchunk = om_gemm_packed_a_floats(k, K, C < WKC ? C : WKC);
  if (!w->uchunk || om_mul_size(w->uchunk, (size_t)w->nkc, &w->ustride) ||
      om_mul_size(w->ustride, (size_t)w->np, u_floats))
    return om_seterr(err, OM_E_LIMIT, "Winograd Conv weights size overflows");
  /* scratch: V [np][C][TB] | M [np][K][TB] | d, t [2][36][TW] + out [40][TB] | GEMM packing */
  w->vs = plane_stride((int64_t)tb * C);
  w->ms = plane_stride((int64_t)tb * K);
  if (om_mul_size((size_t)w->vs, (size_t)w->np * sizeof(float), &v) ||
      om_mul_size((size_t)w->ms, (size_t)w->np * sizeof(float), &mb) ||
      om_mul_size((size_t)w->TW * 72 + tb * 40, sizeof(float), &d))
    return om_seterr(err, OM_E_LIMIT, "Winograd Conv scratch size overflows");
  g = om_gemm_scratch_bytes(k, K, (int64_t)tb, C < WKC ? C : WKC, 1, 0);
  w->off_m = OM_ALIGN_UP(v, 64);
  w->off_d = w->off_m + OM_ALIGN_UP(mb, 64);
  w->off_g = w->off_d + OM_ALIGN_UP(d, 64);
  if (om_add_size(w->off_g, g, &tot))
    return om_seterr(err, OM_E_LIMIT, "Winograd Conv scratch size overflows");
  *scratch_bytes = tot;
  return OM_OK;
}

int om_wino_transform_weights(om_wino *w, const float *wt, float *u, int threads, char *err) {
  static const double G4[6][3] = {{1, 0, 0},
                                  {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                  {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                                  {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                  {1.0 / 15, -2.0 / 15, 4.0 / 15},
                                  {0, 0, 1}};
  /* F(2x2): points 0, 1, -1 (Lavin & Gray) */
  static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const int al = w->m + 2;
  const double(*G)[3] = al == 6 ? G4 : G2;
  const int64_t C = w->C, K = w->K, KC = K * C;
  /* U = G g G^T one row a of G at a time: t = G[a] g (3 values), then the al points (a, b) of that
   * row, t . G[b]; in double, rounded once. The al planes of a row as [K][C] each. */
  float *plain = om_alloc_aligned((size_t)al * (size_t)KC * sizeof(float));
  if (!plain)
    return om_seterr(err, OM_E_NOMEM, "out of memory transforming Winograd weights (%lld x %lld)",
                     (long long)K, (long long)C);
  for (int a = 0; a < al; a++) {
    /* kernels on the load's threads: each output is the same sum whatever the split */
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && KC >= 4096)
    for (int64_t i = 0; i < KC; i++) {
      const float *g = wt + i * 9;
      double t[3];
      for (int j = 0; j < 3; j++)
        t[j] = G[a][0] * (double)g[j] + G[a][1] * (double)g[3 + j] + G[a][2] * (double)g[6 + j];
      for (int b = 0; b < al; b++)
        plain[(size_t)b * (size_t)KC + (size_t)i] = (float)(t[0] * G[b][0] + t[1] * G[b][1] + t[2] * G[b][2]);
    }
    for (int b = 0; b < al; b++) {
      const int xi = a * al + b;
      const float *pb = plain + (size_t)b * (size_t)KC;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && w->nkc > 1)
      for (int64_t cb = 0; cb < w->nkc; cb++) /* one packed [K x WKC] operand per channel block */
        om_gemm_pack_a(w->k, K, C - cb * WKC < WKC ? C - cb * WKC : WKC, pb + cb * WKC, C, 1, 1.0f,
                       u + (size_t)xi * w->ustride + (size_t)cb * w->uchunk);
    }
  }
  om_free_aligned(plain);
  w->U = u;
  return OM_OK;
}

#define INL static inline __attribute__((always_inline))

/* B^T over 6 rows d[i*ds + j] -> o[k*os + j], j < n (points 0, 1, -1, 1/2, -2: see the file comment). */
INL void bt6(const float *restrict d, int64_t ds, float *restrict o, int64_t os, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float d0 = d[j], d1 = d[ds + j], d2 = d[2 * ds + j], d3 = d[3 * ds + j], d4 = d[4 * ds + j],
          d5 = d[5 * ds + j];
    o[j] = (d0 - 2.0f * d2 + d4) + 1.5f * (d3 - d1);
    o[os + j] = (d4 - d1) + 0.5f * d2 + 2.5f * d3;
    o[2 * os + j] = (d1 + d4) - 2.5f * d2 + 0.5f * d3;
    o[3 * os + j] = (d4 - d2) + 2.0f * (d3 - d1);
    o[4 * os + j] = (d4 - d2) + 0.5f * (d1 - d3);
    o[5 * os + j] = (d1 - 2.0f * d3 + d5) + 1.5f * (d4 - d2);
  }
}

/* A^T over 6 rows m[l*ms + j] -> o[a*os + j], a < 4. */
INL void at6(const float *restrict m, int64_t ms, float *restrict o, int64_t os, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float m0 = m[j], m1 = m[ms + j], m2 = m[2 * ms + j], m3 = m[3 * ms + j], m4 = m[4 * ms + j],
          m5 = m[5 * ms + j];
    float p12 = m1 + m2, d12 = m1 - m2;
    o[j] = m0 + p12 + (m3 + m4);
    o[os + j] = d12 + (0.5f * m3 - 2.0f * m4);
    o[2 * os + j] = p12 + (0.25f * m3 + 4.0f * m4);
    o[3 * os + j] = d12 + (0.125f * m3 - 8.0f * m4) + m5;
  }
}

/* F(2x2): B^T over 4 rows (points 0, 1, -1, inf) and A^T over 4 rows -> 2. */
INL void bt4(const float *restrict d, int64_t ds, float *restrict o, int64_t os, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float d0 = d[j], d1 = d[ds + j], d2 = d[2 * ds + j], d3 = d[3 * ds + j];
    o[j] = d0 - d2;
    o[os + j] = d1 + d2;
    o[2 * os + j] = d2 - d1;
    o[3 * os + j] = d1 - d3;
  }
}

INL void at4(const float *restrict m, int64_t ms, float *restrict o, int64_t os, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    float m0 = m[j], m1 = m[ms + j], m2 = m[2 * ms + j], m3 = m[3 * ms + j];
    o[j] = m0 + m1 + m2;
    o[os + j] = (m1 - m2) - m3;
  }
}

/* V[(xi*C + c)*TB + jj0 + j] for tiles (ty, tx0 + j), j < n, of channel plane xc: the al x al windows
 * (al = m + 2, m apart) gathered into d[r][i][j], then B^T along both axes. */
INL void input_tiles(const om_wino *w, const float *xc, int64_t c, int64_t ty, int64_t tx0, int64_t n,
                     int64_t jj0, float *V, float *d, float *t) {
  const int64_t H = w->H, W = w->W, m = w->m, al = m + 2;
  for (int64_t r = 0; r < al; r++) {
    int64_t iy = m * ty - w->ph + r;
    float *dr = d + r * al * n;
    if (iy < 0 || iy >= H) {
      memset(dr, 0, (size_t)(al * n) * sizeof(float));
      continue;
    }
    const float *row = xc + iy * W;
    for (int64_t j = 0; j < n; j++) {
      int64_t ix = m * (tx0 + j) - w->pw;
      if (ix >= 0 && ix + al - 1 < W) {
        for (int64_t i = 0; i < al; i++) dr[i * n + j] = row[ix + i];
      } else {
        for (int64_t i = 0; i < al; i++) dr[i * n + j] = (ix + i >= 0 && ix + i < W) ? row[ix + i] : 0.0f;
      }
    }
  }
  for (int64_t i = 0; i < al; i++) {
    if (m == 4) bt6(d + i * n, 6 * n, t + i * n, 6 * n, n);
    else bt4(d + i * n, 4 * n, t + i * n, 4 * n, n);
  }
  for (int64_t k = 0; k < al; k++) {
    if (m == 4) bt6(t + k * 6 * n, n, V + k * 6 * w->vs + c * w->TB + jj0, w->vs, n);
    else bt4(t + k * 4 * n, n, V + k * 4 * w->vs + c * w->TB + jj0, w->vs, n);
  }
}


#include <immintrin.h>
#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

T512 static inline void bt6v(const __m512 *d, __m512 *o) {
  const __m512 c2 = _mm512_set1_ps(2.0f), c15 = _mm512_set1_ps(1.5f), ch = _mm512_set1_ps(0.5f),
               c25 = _mm512_set1_ps(2.5f);
  __m512 d42 = _mm512_sub_ps(d[4], d[2]);
  o[0] = _mm512_fmadd_ps(c15, _mm512_sub_ps(d[3], d[1]), _mm512_fnmadd_ps(c2, d[2], _mm512_add_ps(d[0], d[4])));
  o[1] = _mm512_fmadd_ps(c25, d[3], _mm512_fmadd_ps(ch, d[2], _mm512_sub_ps(d[4], d[1])));
  o[2] = _mm512_fmadd_ps(ch, d[3], _mm512_fnmadd_ps(c25, d[2], _mm512_add_ps(d[1], d[4])));
  o[3] = _mm512_fmadd_ps(c2, _mm512_sub_ps(d[3], d[1]), d42);
  o[4] = _mm512_fmadd_ps(ch, _mm512_sub_ps(d[1], d[3]), d42);
  o[5] = _mm512_fmadd_ps(c15, d42, _mm512_fnmadd_ps(c2, d[3], _mm512_add_ps(d[1], d[5])));
}

/* The load masks of phases16 for the run of 16 tiles starting at column x0 of a row of W: lanes
 * inside [0, W) of the 8 vectors at x0 + 4h + 16q (index 4h + q). */
T512 static inline void phase_masks(int64_t x0, int64_t W, __mmask16 *m) {
  for (int h = 0; h < 2; h++)
    for (int q = 0; q < 4; q++) {
      int64_t o = x0 + 4 * h + 16 * q, lo = o < 0 ? -o : 0, hi = W - o;
      if (hi > 16) hi = 16;
      m[4 * h + q] = hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
    }
}

/* Phases i = 0..5 of 16 tiles from the 68 floats at row[x0 ..], zero outside the row (masks from
 * phase_masks): ph[i][j] = row[x0 + 4j + i]. The image is read in place: a zero-padded copy read back
 * right away stalled on store forwarding, half the transform's time. */
T512 static inline void phases16(const float *row, int64_t x0, const __mmask16 *m, __m512 *ph) {
  const __m512i i0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  for (int h = 0; h < 2; h++) { /* h = 1: the same from x0 + 4 gives phases 4, 5 */
    __m512 v[4];
    for (int q = 0; q < 4; q++) {
      /* masked lanes are never touched; the address is formed from integers so that a negative
       * offset (left padding) stays defined C */
      int64_t o = x0 + 4 * h + 16 * q;
      v[q] = _mm512_maskz_loadu_ps(m[4 * h + q], (const void *)((uintptr_t)row + (uintptr_t)(o * 4)));
    }
    for (int i = 0; i < (h ? 2 : 4); i++) {
      __m512i idx = _mm512_add_epi32(i0, _mm512_set1_epi32(i));
      __m512 lo = _mm512_permutex2var_ps(v[0], idx, v[1]), hi = _mm512_permutex2var_ps(v[2], idx, v[3]);
      ph[h ? 4 + i : i] = _mm512_shuffle_f32x4(lo, hi, 0x44);
    }
  }
}

/* AVX-512 twin of input_tiles: whole 16-tile chunks in registers. */
/* V is written straight in the GEMM's packed B layout (gemm.h: per block of WKC channel rows, panels
 * of nr columns, kc x nr each; npad = this block's tile count rounded up to nr), so om_gemm reads each
 * channel block as b_packed without a copy. Lane runs that cross a panel edge are stored in two masked
 * parts. */
T512 static inline void store_packed(float *vx, int64_t cbase, int64_t pstride, int64_t nr, int64_t j0,
                                     __mmask16 m, __m512 v) {
  int64_t p = j0 / nr, r = j0 % nr;
  float *dst = vx + cbase + p * pstride + r;
  if (r + 16 <= nr) {
    _mm512_mask_storeu_ps(dst, m, v);
    return;
  }
  int64_t first = nr - r; /* lanes [first, 16) go to the next panel, at its column 0 */
  __mmask16 lo = (__mmask16)(m & ((1u << first) - 1)), hi = (__mmask16)(m & ~((1u << first) - 1));
  _mm512_mask_storeu_ps(dst, lo, v);
  _mm512_mask_storeu_ps(vx + cbase + (p + 1) * pstride - first, hi, v);
}

T512 static void input_tiles_avx512(const om_wino *w, const float *xc, int64_t c, int64_t ty, int64_t tx0,
                                    int64_t n, int64_t jj0, float *V, int64_t npad) {
  const int64_t H = w->H, W = w->W, cs = w->vs, nr = w->k->nr;
  const int64_t pc = c / WKC * WKC, kc = w->C - pc < WKC ? w->C - pc : WKC;
  const int64_t cbase = pc * npad + (c - pc) * nr, pstride = nr * kc;
  const int64_t nch = (n + 15) / 16, x0 = 4 * tx0 - w->pw;
  for (int64_t q = 0; q < nch; q++) {
    __m512 d[6][6], t[6][6], col[6], o[6];
    __mmask16 lm[8];
    phase_masks(x0 + 64 * q, W, lm);
    for (int r = 0; r < 6; r++) {
      int64_t iy = 4 * ty - w->ph + r;
      if (iy < 0 || iy >= H) {
        for (int i = 0; i < 6; i++) d[r][i] = _mm512_setzero_ps();
        continue;
      }
      phases16(xc + iy * W, x0 + 64 * q, lm, d[r]);
    }
    for (int i = 0; i < 6; i++) { /* along window rows */
      for (int r = 0; r < 6; r++) col[r] = d[r][i];
      bt6v(col, o);
      for (int k = 0; k < 6; k++) t[k][i] = o[k];
    }
    int64_t left = n - 16 * q;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    for (int k = 0; k < 6; k++) { /* along window columns */
      bt6v(t[k], o);
      for (int l = 0; l < 6; l++) store_packed(V + (k * 6 + l) * cs, cbase, pstride, nr, jj0 + 16 * q, m, o[l]);
    }
  }
}


T512 static inline void at6v(const __m512 *m, __m512 *o) {
  const __m512 ch = _mm512_set1_ps(0.5f), c2 = _mm512_set1_ps(2.0f), cq = _mm512_set1_ps(0.25f),
               c4 = _mm512_set1_ps(4.0f), ce = _mm512_set1_ps(0.125f), c8 = _mm512_set1_ps(8.0f);
  __m512 p12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], p12), _mm512_add_ps(m[3], m[4]));
  o[1] = _mm512_add_ps(d12, _mm512_fnmadd_ps(c2, m[4], _mm512_mul_ps(ch, m[3])));
  o[2] = _mm512_add_ps(p12, _mm512_fmadd_ps(c4, m[4], _mm512_mul_ps(cq, m[3])));
  o[3] = _mm512_add_ps(_mm512_add_ps(d12, _mm512_fnmadd_ps(c8, m[4], _mm512_mul_ps(ce, m[3]))), m[5]);
}

/* The fused activation on one output vector; ReLU, the common case, without om_vm_act512's switch. */
T512 static inline __m512 act_out(__m512 v, int act, float alpha, float beta) {
  return act == OM_ACT_RELU ? _mm512_max_ps(v, _mm512_setzero_ps()) : om_vm_act512(v, act, alpha, beta);
}

/* AVX-512 output transform of channel kk, tiles t0 .. t0 + tb - 1: 16 tiles at a time, all in
 * registers (an intermediate buffer read back at unaligned offsets stalled on store forwarding).
 * The 4x4 outputs of 4 tiles interleave into one vector of 16 columns; 4 tiles of one tile row go
 * out as one masked store, a run that wraps to the next tile row tile by tile. Bias, the residual
 * and the activation are applied on whole vectors; the operations per value are those of at6. */
T512 static void output_tiles_avx512(const om_wino *w, const float *M, int64_t kk, int64_t t0, int64_t tb,
                                     float bias, const float *sum, int act, float alpha, float beta,
                                     float *y) {
  const int64_t ms = w->ms, OH = w->OH, OW = w->OW, TW = w->TW;
  const __m512 bv = _mm512_set1_ps(bias);
  for (int64_t g = 0; g < tb; g += 16) {
    const float *mk = M + kk * w->TB + g;
    __m512 t[6][4], o[4][4], col[6], r4[4];
    for (int k = 0; k < 6; k++) { /* along window columns (xi = 6k + l) */
      for (int l = 0; l < 6; l++) col[l] = _mm512_loadu_ps(mk + (6 * k + l) * ms);
      at6v(col, t[k]);
    }
    for (int b = 0; b < 4; b++) { /* along window rows */
      for (int k = 0; k < 6; k++) col[k] = t[k][b];
      at6v(col, r4);
      for (int a = 0; a < 4; a++) o[a][b] = r4[a];
    }
    /* tile row / column of the first tile of each run of 4: one division per group */
    int64_t nv = tb - g < 16 ? tb - g : 16, qty[4] = {(t0 + g) / TW}, qtx[4] = {(t0 + g) % TW};
    for (int q = 1; q < 4; q++) {
      qty[q] = qty[q - 1];
      qtx[q] = qtx[q - 1] + 4;
      while (qtx[q] >= TW) { qtx[q] -= TW; qty[q]++; }
    }
    for (int a = 0; a < 4; a++) {
      /* transpose [b][tile] -> [tile][b]: out[q] holds tiles 4q .. 4q+3, 4 columns each */
      __m512 abl = _mm512_unpacklo_ps(o[a][0], o[a][1]), abh = _mm512_unpackhi_ps(o[a][0], o[a][1]);
      __m512 cdl = _mm512_unpacklo_ps(o[a][2], o[a][3]), cdh = _mm512_unpackhi_ps(o[a][2], o[a][3]);
      __m512 T0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(abl), _mm512_castps_pd(cdl)));
      __m512 T1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(abl), _mm512_castps_pd(cdl)));
      __m512 T2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(abh), _mm512_castps_pd(cdh)));
      __m512 T3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(abh), _mm512_castps_pd(cdh)));
      __m512 U0 = _mm512_shuffle_f32x4(T0, T1, _MM_SHUFFLE(1, 0, 1, 0));
      __m512 U1 = _mm512_shuffle_f32x4(T2, T3, _MM_SHUFFLE(1, 0, 1, 0));
      __m512 V0 = _mm512_shuffle_f32x4(T0, T1, _MM_SHUFFLE(3, 2, 3, 2));
      __m512 V1 = _mm512_shuffle_f32x4(T2, T3, _MM_SHUFFLE(3, 2, 3, 2));
      __m512 out[4];
      out[0] = _mm512_shuffle_f32x4(U0, U1, _MM_SHUFFLE(2, 0, 2, 0));
      out[1] = _mm512_shuffle_f32x4(U0, U1, _MM_SHUFFLE(3, 1, 3, 1));
      out[2] = _mm512_shuffle_f32x4(V0, V1, _MM_SHUFFLE(2, 0, 2, 0));
      out[3] = _mm512_shuffle_f32x4(V0, V1, _MM_SHUFFLE(3, 1, 3, 1));
      for (int q = 0; q < 4 && 4 * q < nv; q++) {
        int64_t ty = qty[q], tx = qtx[q], n4 = nv - 4 * q < 4 ? nv - 4 * q : 4;
        __m512 v = _mm512_add_ps(out[q], bv);
        if (tx + n4 <= TW) { /* one tile row: 4*n4 consecutive columns */
          int64_t oy = 4 * ty + a, ox = 4 * tx, left = OW - ox;
          if (oy >= OH) continue;
          if (left > 4 * n4) left = 4 * n4;
          __mmask16 m = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
          if (sum) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, sum + oy * OW + ox));
          _mm512_mask_storeu_ps(y + oy * OW + ox, m, act_out(v, act, alpha, beta));
          continue;
        }
        for (int64_t j = 0; j < n4; j++, tx++) { /* the run wraps: tile by tile */
          if (tx == TW) { tx = 0; ty++; }
          int64_t oy = 4 * ty + a, ox = 4 * tx, left = OW - ox;
          if (oy >= OH) continue;
          if (left > 4) left = 4;
          __mmask16 m = (__mmask16)(((1u << left) - 1) << (4 * j));
          /* lanes 4j .. of v land at column ox: the vector's base is 4j floats before it (those
           * lanes are masked off; integer arithmetic keeps the address defined C) */
          uintptr_t at = (uintptr_t)(oy * OW + ox) * 4 - (uintptr_t)(16 * j);
          __m512 u = v;
          if (sum) u = _mm512_add_ps(u, _mm512_maskz_loadu_ps(m, (const void *)((uintptr_t)sum + at)));
          _mm512_mask_storeu_ps((void *)((uintptr_t)y + at), m, act_out(u, act, alpha, beta));
        }
      }
    }
  }
}

/* F(2x2) on AVX-512: 16 tiles in the lanes of a vector (on the 7x7 stage, all 16 of a channel), each
 * window value fetched by a masked gather (the tiles are 2 apart and overlap: no contiguous run to
 * load) and each output written by a masked scatter. f2_setup works out, once per run of 16 tiles,
 * the offsets of the q x q window positions in a plane and which lanes lie inside it; f2_input /
 * f2_output then do one channel. The operations per value are those of bt4 / at4 and output_tiles. */
typedef struct f2_lanes {
  __m512i off[16]; /* position (r, i) at [r * q + i]: offset in the plane, per lane */
  __mmask16 in[16]; /* lanes whose position lies inside the plane (and holds a tile) */
  __mmask16 live;   /* lanes holding a tile */
} f2_lanes;

/* Tiles t .. t + n - 1 (n <= 16): positions (2ty - dy + r, 2tx - dx + i), r, i < q, of an h x wd plane. */
T512 static void f2_setup(const om_wino *w, int64_t t, int64_t n, int64_t dy, int64_t dx, int q, int64_t h,
                          int64_t wd, f2_lanes *f) {
  int32_t ys[16], xs[16];
  for (int j = 0; j < 16; j++) {
    int64_t tt = t + (j < n ? j : 0);
    ys[j] = (int32_t)(2 * (tt / w->TW) - dy);
    xs[j] = (int32_t)(2 * (tt % w->TW) - dx);
  }
  const __m512i y = _mm512_loadu_si512(ys), x = _mm512_loadu_si512(xs), zero = _mm512_setzero_si512();
  f->live = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
  for (int r = 0; r < q; r++)
    for (int i = 0; i < q; i++) {
      __m512i yy = _mm512_add_epi32(y, _mm512_set1_epi32(r)), xx = _mm512_add_epi32(x, _mm512_set1_epi32(i));
      f->in[r * q + i] = f->live & _mm512_cmpge_epi32_mask(yy, zero) &
                         _mm512_cmplt_epi32_mask(yy, _mm512_set1_epi32((int32_t)h)) &
                         _mm512_cmpge_epi32_mask(xx, zero) &
                         _mm512_cmplt_epi32_mask(xx, _mm512_set1_epi32((int32_t)wd));
      f->off[r * q + i] = _mm512_add_epi32(_mm512_mullo_epi32(yy, _mm512_set1_epi32((int32_t)wd)), xx);
    }
}

T512 static inline void bt4v(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 *o) {
  o[0] = _mm512_sub_ps(d0, d2);
  o[1] = _mm512_add_ps(d1, d2);
  o[2] = _mm512_sub_ps(d2, d1);
  o[3] = _mm512_sub_ps(d1, d3);
}

T512 static inline void at4v(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 *o) {
  o[0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
  o[1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
}

/* Channel c's windows of the tiles in f (f2_setup over the image, q = 4), into lanes jj0.. of the
 * block's V, packed as input_tiles_avx512 writes it. */
T512 static void f2_input(const om_wino *w, const f2_lanes *f, const float *xc, int64_t c, int64_t jj0,
                          float *V, int64_t npad) {
  const int64_t cs = w->vs, nr = w->k->nr, pc = c / WKC * WKC, kc = w->C - pc < WKC ? w->C - pc : WKC;
  const int64_t cbase = pc * npad + (c - pc) * nr, pstride = nr * kc;
  __m512 d[4][4], t[4][4], o[4];
  for (int r = 0; r < 4; r++)
    for (int i = 0; i < 4; i++)
      d[r][i] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), f->in[r * 4 + i], f->off[r * 4 + i], xc, 4);
  for (int i = 0; i < 4; i++) { /* along window rows */
    bt4v(d[0][i], d[1][i], d[2][i], d[3][i], o);
    for (int k = 0; k < 4; k++) t[k][i] = o[k];
  }
  for (int k = 0; k < 4; k++) { /* along window columns */
    bt4v(t[k][0], t[k][1], t[k][2], t[k][3], o);
    for (int l = 0; l < 4; l++) store_packed(V + (k * 4 + l) * cs, cbase, pstride, nr, jj0, f->live, o[l]);
  }
}

/* Channel kk's outputs of the tiles in f (f2_setup over the output, q = 2), from lanes j0.. of the
 * block's M. */
T512 static void f2_output(const om_wino *w, const f2_lanes *f, const float *M, int64_t kk, int64_t j0,
                           float bias, const float *sum, int act, float alpha, float beta, float *y) {
  const float *mk = M + kk * w->TB + j0;
  __m512 t[4][2], o[2][2], r2[2];
  for (int k = 0; k < 4; k++) { /* along window columns */
    const float *p = mk + 4 * k * w->ms;
    at4v(_mm512_maskz_loadu_ps(f->live, p), _mm512_maskz_loadu_ps(f->live, p + w->ms),
         _mm512_maskz_loadu_ps(f->live, p + 2 * w->ms), _mm512_maskz_loadu_ps(f->live, p + 3 * w->ms), t[k]);
  }
  for (int b = 0; b < 2; b++) { /* along window rows */
    at4v(t[0][b], t[1][b], t[2][b], t[3][b], r2);
    o[0][b] = r2[0];
    o[1][b] = r2[1];
  }
  const __m512 bv = _mm512_set1_ps(bias);
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      const __mmask16 m = f->in[a * 2 + b];
      const __m512i off = f->off[a * 2 + b];
      __m512 v = _mm512_add_ps(o[a][b], bv);
      if (sum) v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, off, sum, 4));
      _mm512_mask_i32scatter_ps(y, m, off, act_out(v, act, alpha, beta), 4);
    }
}

INL void output_tiles(const om_wino *w, const float *M, int64_t kk, int64_t t0, int64_t tb,
                      float bias, const float *sum, int act, float alpha, float beta, float *y,
                      float *s, float *o) {
  const int64_t ks = w->ms, OH = w->OH, OW = w->OW, TW = w->TW, m = w->m, al = m + 2;
  for (int64_t k = 0; k < al; k++) {
    if (m == 4) at6(M + k * 6 * ks + kk * w->TB, ks, s + k * 4 * tb, tb, tb);
    else at4(M + k * 4 * ks + kk * w->TB, ks, s + k * 2 * tb, tb, tb);
  }
  for (int64_t b = 0; b < m; b++) {
    if (m == 4) at6(s + b * tb, 4 * tb, o + b * tb, 4 * tb, tb);
    else at4(s + b * tb, 2 * tb, o + b * tb, 2 * tb, tb);
  }
  for (int64_t j = 0; j < tb; j++) {
    int64_t tt = t0 + j, oy0 = tt / TW * m, ox0 = tt % TW * m;
    for (int64_t a = 0; a < m && oy0 + a < OH; a++)
      for (int64_t b = 0; b < m && ox0 + b < OW; b++) {
        int64_t idx = (oy0 + a) * OW + ox0 + b;
        float v = o[(a * m + b) * tb + j] + bias;
        if (sum) v += sum[idx];
        if (act == OM_ACT_RELU) v = v > 0.0f ? v : 0.0f;
        else if (act != OM_ACT_NONE) v = om_act_apply(act, alpha, beta, v);
        y[idx] = v;
      }
  }
}

/* One image on team thread tid of nt (nt = 1: the whole serial run). V and M (the shared slice-0
 * buffers) are filled cooperatively: input transform split over channels, the 36 GEMMs split over
 * (xi, row block), the output transform over output channels, with a barrier between phases; the
 * gather rows and GEMM packing use the thread's own slice `mine`. Every value is computed by the
 * same operations whatever nt is. */
INL void wino_body(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                   float alpha, float beta, float *y, void *scratch, char *mine, int tid, int nt,
                   int v512) {
  const int64_t C = w->C, K = w->K, TB = w->TB, TW = w->TW, T = w->T, mr = w->k->mr;
  const int64_t ihw = w->H * w->W, ohw = w->OH * w->OW;
  float *V = scratch;
  float *M = (float *)((char *)scratch + w->off_m);
  float *d = (float *)(mine + w->off_d), *t = d + 36 * TW;
  float *s = t + 36 * TW, *o = s + 24 * TB;
  const int64_t np = w->np;
  void *gs = mine + w->off_g;
  /* GEMM work items: np transforms x rb row blocks (rb > 1 only for teams larger than np) */
  const int64_t mp = (K + mr - 1) / mr, rb = nt > np ? ((nt + np - 1) / np < mp ? (nt + np - 1) / np : mp) : 1;
  const int64_t items = np * rb;
  const int64_t c0 = C * tid / nt, c1 = C * (tid + 1) / nt, k0 = K * tid / nt, k1 = K * (tid + 1) / nt;
  const int64_t it0 = items * tid / nt, it1 = items * (tid + 1) / nt;
  for (int64_t t0 = 0; t0 < T; t0 += TB) {
    int64_t tb = T - t0 < TB ? T - t0 : TB;
    int64_t ty0 = t0 / TW, ty1 = (t0 + tb - 1) / TW, npad = (tb + w->k->nr - 1) / w->k->nr * w->k->nr;
    if (v512 && w->m == 2) {
      for (int64_t g = 0; g < tb; g += 16) {
        f2_lanes f;
        f2_setup(w, t0 + g, tb - g < 16 ? tb - g : 16, w->ph, w->pw, 4, w->H, w->W, &f);
        for (int64_t c = c0; c < c1; c++) f2_input(w, &f, x + c * ihw, c, g, V, npad);
      }
    } else {
      for (int64_t c = c0; c < c1; c++)
        for (int64_t ty = ty0; ty <= ty1; ty++) {
          int64_t a = ty == ty0 ? t0 % TW : 0, e = ty == ty1 ? (t0 + tb - 1) % TW + 1 : TW;
          if (v512) input_tiles_avx512(w, x + c * ihw, c, ty, a, e - a, ty * TW + a - t0, V, npad);
          else input_tiles(w, x + c * ihw, c, ty, a, e - a, ty * TW + a - t0, V, d, t);
        }
    }
    if (nt > 1) {
#pragma omp barrier
    }
    for (int64_t it = it0; it < it1; it++) {
      int xi = (int)(it / rb);
      int64_t r = it % rb;
      for (int64_t cb = 0; cb < w->nkc; cb++) {
        om_gemm_args g = {0};
        g.M = K;
        g.N = tb;
        g.K = C - cb * WKC < WKC ? C - cb * WKC : WKC;
        g.a_packed = w->U + (size_t)xi * w->ustride + (size_t)cb * w->uchunk;
        if (v512) {
          g.b_packed = V + xi * w->vs + cb * WKC * npad; /* V's packed blocks are WKC rows */
        } else {
          g.b = V + xi * w->vs + cb * WKC * TB;
          g.b_rs = TB;
          g.b_cs = 1;
        }
        g.c = M + xi * w->ms;
        g.ldc = TB;
        g.accumulate = cb > 0;
        om_gemm_range(w->k, &g, gs, mp * r / rb * mr, mp * (r + 1) / rb * mr, 0, tb);
      }
    }
    if (nt > 1) {
#pragma omp barrier
    }
    if (v512 && w->m == 2) {
      for (int64_t g = 0; g < tb; g += 16) {
        f2_lanes f;
        f2_setup(w, t0 + g, tb - g < 16 ? tb - g : 16, 0, 0, 2, w->OH, w->OW, &f);
        for (int64_t kk = k0; kk < k1; kk++)
          f2_output(w, &f, M, kk, g, bias ? bias[kk] : 0.0f, sum ? sum + kk * ohw : NULL, act, alpha, beta,
                    y + kk * ohw);
      }
    } else {
      for (int64_t kk = k0; kk < k1; kk++) {
        float bk = bias ? bias[kk] : 0.0f;
        const float *sk = sum ? sum + kk * ohw : NULL;
        if (v512) output_tiles_avx512(w, M, kk, t0, tb, bk, sk, act, alpha, beta, y + kk * ohw);
        else output_tiles(w, M, kk, t0, tb, bk, sk, act, alpha, beta, y + kk * ohw, s, o);
      }
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
static void wino_avx512(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                        float alpha, float beta, float *y, void *scratch, char *mine, int tid, int nt) {
  wino_body(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt, 1);
}

__attribute__((target("avx2,fma")))
static void wino_avx2(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                      float alpha, float beta, float *y, void *scratch, char *mine, int tid, int nt) {
  wino_body(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt, 0);
}

static void wino_generic(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                         float alpha, float beta, float *y, void *scratch, char *mine, int tid, int nt) {
  wino_body(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt, 0);
}

static void wino_dispatch(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                          float alpha, float beta, float *y, void *scratch, char *mine, int tid, int nt) {
  if (w->k->path == OM_KERNEL_AVX512) wino_avx512(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt);
  else if (w->k->path == OM_KERNEL_AVX2) wino_avx2(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt);
  else wino_generic(w, x, bias, sum, act, alpha, beta, y, scratch, mine, tid, nt);
}

void om_wino_run(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                 float alpha, float beta, float *y, void *scratch) {
  wino_dispatch(w, x, bias, sum, act, alpha, beta, y, scratch, scratch, 0, 1);
}

void om_wino_run_par(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                     float alpha, float beta, float *y, void *scratch, om_intra team) {
  if (team.nthreads <= 1) {
    om_wino_run(w, x, bias, sum, act, alpha, beta, y, scratch);
    return;
  }
#pragma omp parallel num_threads(team.nthreads)
  {
    int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    wino_dispatch(w, x, bias, sum, act, alpha, beta, y, scratch, om_intra_slice(scratch, &team, tid), tid, nt);
  }
}
