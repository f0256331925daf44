/* conv_direct.c: 2-D Conv by shifted rows of padded phase planes (see conv_direct.h). The AVX-512
 * micro-kernel mirrors gemm_avx512.c's 8 x 32 register tile; what differs is where B comes from (32
 * grid columns at off[k] in the padded image instead of a packed panel) and how C is addressed (the
 * valid lanes of a tile, compressed into the NCHW output). */
#define OM_VMATH_AVX512
#include "engine/conv_direct.h"

#include "common/om.h"
#include "engine/engine.h"
#include "engine/op.h"
#include "engine/op_util.h"
#include "engine/vmath.h"
#include "engine/tile512.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define MR 8
#define NR 32
#define TR_KC 256 /* transposed tiles: K block; a 32-channel weight panel (32 KB) and the tile's image
                     lines (about 9 KB at 7x7) share a 48 KB L1; 128 measured no faster */

/* Output size of one dimension; 0 when the kernel does not fit. */
static int64_t out_len(int64_t padded, int64_t k, int64_t dil, int64_t s) {
  int64_t ext = (k - 1) * dil + 1;
  return padded < ext ? 0 : (padded - ext) / s + 1;
}

int om_cdir_supported(int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                      int64_t dh, int64_t dw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  if (!om_gemm_path_supported(OM_KERNEL_AVX512)) return 0;
  if (C < 1 || H < 1 || W < 1 || kh < 1 || kw < 1 || dh < 1 || dw < 1 || pt < 0 || pb < 0 || pl < 0 ||
      pr < 0 || sh < 1 || sh > 2 || sw < 1 || sw > 2 || H > (1 << 20) || W > (1 << 20) || kh > 64 ||
      kw > 64 || dh > 64 || dw > 64 || pt > 64 || pb > 64 || pl > 64 || pr > 64)
    return 0;
  int64_t Hp = H + pt + pb, Wp = W + pl + pr, Wq = (Wp + sw - 1) / sw, Hq = (Hp + sh - 1) / sh;
  int64_t OH = out_len(Hp, kh, dh, sh), OW = out_len(Wp, kw, dw, sw);
  if (OH < 1 || OW < 1) return 0;
  /* the grid computes Wq - OW junk columns per row: past a third of it, im2col does less work */
  if (3 * (Wq - OW) > Wq) return 0;
  double plane = (double)C * (double)(sh * sw) * (double)Hq * (double)Wq + (double)Wq + 64.0;
  return plane < 2147483647.0 - 64.0;
}

int om_cdir_setup(om_cdir *d, int64_t C, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pb, int64_t pl,
                  int64_t pr, size_t *scratch_bytes, size_t *index_ints, char *err) {
  if (!om_cdir_supported(C, H, W, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr))
    return om_seterr(err, OM_E_UNSUPPORTED, "shifted-row Conv does not apply to this shape");
  memset(d, 0, sizeof *d);
  d->C = C; d->M = M; d->H = H; d->W = W;
  d->sh = sh; d->sw = sw; d->pt = pt; d->pl = pl;
  d->py = kh > 1 ? sh : 1; /* a 1-tall kernel only ever reads phase row 0 */
  d->px = kw > 1 ? sw : 1;
  int64_t Hp = H + pt + pb, Wp = W + pl + pr;
  d->Hq = (Hp + sh - 1) / sh;
  d->Wq = (Wp + sw - 1) / sw;
  d->OH = out_len(Hp, kh, dh, sh);
  d->OW = out_len(Wp, kw, dw, sw);
  d->K = C * kh * kw;
  d->grid = d->OH * d->Wq;
  d->tiles = (d->grid + NR - 1) / NR;
  const int64_t plane = d->Hq * d->Wq;
  /* Small images: 32-wide grid tiles waste lanes (7x7: 49 of 64), so the tile turns around: 32 output
   * channels in the vector, R pixels broadcast, any R valid pixels per tile, partial sums in a
   * [pixel][channel] buffer, transposed into NCHW once at the end. */
  const int64_t ohw = d->OH * d->OW, mpad = (M + NR - 1) / NR * NR;
  double grid_use = (double)ohw / (double)(d->tiles * NR) * (double)M / (double)((M + MR - 1) / MR * MR);
  d->R = ohw % 8 && ohw % 7 == 0 ? 7 : 8;
  double tr_use = (double)ohw / (double)((ohw + d->R - 1) / d->R * d->R) * (double)M / (double)mpad;
  const char *env = getenv("OM_CONV_DIRECT"); /* "grid": never transposed (A/B runs) */
  d->zc = kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
  d->tr = ohw <= 1024 && tr_use > grid_use + 0.04 && !(env && strcmp(env, "grid") == 0) && !d->zc;
  d->ptiles = (ohw + d->R - 1) / d->R;
  d->ldt = mpad;
  /* grid: K blocks of equal size near OM_GEMM_KC (576 = 3 x 192 rather than 256 + 256 + 64), so no
   * block pays the tile's load/store for a few k */
  int64_t nb = (d->K + OM_GEMM_KC - 1) / OM_GEMM_KC;
  d->kcb = (d->K + nb - 1) / nb;
  /* Valid lanes read inside the planes; the junk lanes of a tile (ox >= OW) read up to Wq further.
   * Loads are masked to the grid, so that is all the slack needed. */
  d->plane_floats = d->zc ? 0 : OM_ALIGN_UP((size_t)(C * d->py * d->px * plane + d->Wq + 64), 16);
  *scratch_bytes = (d->plane_floats + (d->tr ? (size_t)(ohw * mpad) : 0)) * sizeof(float);
  *index_ints = (size_t)(d->K + (d->tr ? ohw : 2 * d->tiles));
  return OM_OK;
}

void om_cdir_index(om_cdir *d, int32_t *mem, int64_t kh, int64_t kw, int64_t dh, int64_t dw) {
  const int64_t plane = d->Hq * d->Wq, Wq = d->Wq, OH = d->OH, OW = d->OW, sh = d->sh, sw = d->sw;
  int32_t *off = mem;
  for (int64_t c = 0, k = 0; c < d->C; c++)
    for (int64_t y = 0; y < kh; y++)
      for (int64_t x = 0; x < kw; x++) {
        int64_t qy = y * dh % sh, qx = x * dw % sw;
        off[k++] = (int32_t)(((c * d->py + qy) * d->px + qx) * plane + (y * dh / sh) * Wq + x * dw / sw);
      }
  d->off = off;
  mem += d->K;
  if (d->tr) {
    for (int64_t p = 0; p < OH * OW; p++) mem[p] = (int32_t)(p / OW * Wq + p % OW);
    d->pix = mem;
    return;
  }
  uint32_t *valid = (uint32_t *)mem;
  int32_t *dst = mem + d->tiles;
  for (int64_t jt = 0; jt < d->tiles; jt++) {
    int64_t p0 = jt * NR, oy = p0 / Wq, ox = p0 % Wq;
    dst[jt] = (int32_t)(oy * OW + (ox < OW ? ox : OW));
    uint32_t v = 0;
    for (int l = 0; l < NR; l++) {
      if (oy < OH && ox < OW) v |= 1u << l;
      if (++ox == Wq) {
        ox = 0;
        oy++;
      }
    }
    valid[jt] = v;
  }
  d->tvalid = valid;
  d->tdst = dst;
}

size_t om_cdir_weight_floats(const om_cdir *d) {
  /* tr: K rows of ldt channels; grid: K rows of the MR-padded channel count */
  return (size_t)(d->K * (d->tr ? d->ldt : (d->M + MR - 1) / MR * MR));
}

void om_cdir_pack_weights(const om_cdir *d, const float *w, float *dst) {
  om_cdir_pack_weights_par(d, w, dst, 1);
}

void om_cdir_pack_weights_par(const om_cdir *d, const float *w, float *dst, int threads) {
  if (!d->tr) { /* A panels of MR rows per K block of kcb, as om_gemm_pack_a lays them out: block pc
                   holds mpad x kc floats, the panel of rows ir.. kc x MR of them at ir * kc */
    const int64_t mpad = (d->M + MR - 1) / MR * MR;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && d->M * d->K >= 65536)
    for (int64_t ir = 0; ir < mpad; ir += MR)
      for (int64_t pc = 0; pc < d->K; pc += d->kcb) {
        int64_t kc = d->K - pc < d->kcb ? d->K - pc : d->kcb;
        float *o = dst + pc * mpad + ir * kc;
        for (int64_t kk = 0; kk < kc; kk++)
          for (int64_t i = 0; i < MR; i++)
            *o++ = ir + i < d->M ? w[(ir + i) * d->K + pc + kk] : 0.0f;
      }
    return;
  }
  /* K blocks of TR_KC, in each the 32-channel panels, in each kc rows of 32 (zero past M) */
  for (int64_t pc = 0; pc < d->K; pc += TR_KC) {
    int64_t kc = d->K - pc < TR_KC ? d->K - pc : TR_KC;
    for (int64_t jm = 0; jm < d->ldt; jm += NR)
      for (int64_t kk = 0; kk < kc; kk++)
        for (int64_t j = 0; j < NR; j++)
          *dst++ = jm + j < d->M ? w[(jm + j) * d->K + pc + kk] : 0.0f;
  }
}

/* Masked loads never touch memory outside the row; stride 2 takes the even lanes of two loads with
 * one permute. (Short runs, the 7x7 and 14x14 outputs of the im2col packer, no longer go through
 * memcpy; the phase planes' stride-2 rows were a scalar loop.) */
T512 void om_row_gather512(float *o, const float *src, int64_t ix, int64_t run, int64_t sw, int64_t W) {
  int64_t lo = ix >= 0 ? 0 : (-ix + sw - 1) / sw;
  int64_t hi = ix >= W ? 0 : (W - 1 - ix) / sw + 1;
  if (hi > run) hi = run;
  if (lo > hi) lo = hi;
  const __m512 z = _mm512_setzero_ps();
  for (int64_t t = 0; t < lo; t += 16) {
    int64_t n = lo - t < 16 ? lo - t : 16;
    _mm512_mask_storeu_ps(o + t, (__mmask16)((1u << n) - 1), z);
  }
  for (int64_t t = hi; t < run; t += 16) {
    int64_t n = run - t < 16 ? run - t : 16;
    _mm512_mask_storeu_ps(o + t, (__mmask16)((1u << n) - 1), z);
  }
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t t = lo; t < hi; t += 16) {
    int64_t n = hi - t < 16 ? hi - t : 16;
    __mmask16 m = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const float *q = src + ix + t * sw;
    if (sw == 1) {
      _mm512_mask_storeu_ps(o + t, m, _mm512_maskz_loadu_ps(m, q));
    } else { /* elements q[0 .. 2n-2] */
      int64_t e = 2 * n - 1;
      __mmask16 ma = e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << e) - 1);
      __mmask16 mb = e > 16 ? (__mmask16)((1u << (e - 16)) - 1) : 0;
      __m512 a = _mm512_maskz_loadu_ps(ma, q), b = _mm512_maskz_loadu_ps(mb, q + 16);
      _mm512_mask_storeu_ps(o + t, m, _mm512_permutex2var_ps(a, ev, b));
    }
  }
}

/* Channels [c0, c1) of x into the zero-padded phase planes of xp. */
static void fill_planes(const om_cdir *d, const float *x, float *xp, int64_t c0, int64_t c1) {
  const int64_t H = d->H, W = d->W, Hq = d->Hq, Wq = d->Wq, sh = d->sh, sw = d->sw;
  for (int64_t c = c0; c < c1; c++)
    for (int64_t qy = 0; qy < d->py; qy++)
      for (int64_t qx = 0; qx < d->px; qx++) {
        float *p = xp + ((c * d->py + qy) * d->px + qx) * Hq * Wq;
        const float *s = x + c * H * W;
        for (int64_t i = 0; i < Hq; i++, p += Wq) {
          int64_t r = qy + sh * i - d->pt;
          if (r < 0 || r >= H) memset(p, 0, (size_t)Wq * sizeof(float));
          else om_row_gather512(p, s + r * W, qx - d->pl, Wq, sw, W);
        }
      }
}

/* One 8 x 32 tile: rows row0.., grid columns at xb (+ off[k] per k); valid: lanes kept; inside: lanes
 * on the grid (the others are not loaded). pfb: also prefetch the next tile's lines at every off[k]
 * (the callers set it on a tile's first row panel): a tile reads K lines scattered over the planes,
 * too many streams for the hardware prefetcher, so each k would wait on L2 (measured: resnet18 and
 * resnet50 +3%, mobilenet_v2 +2% images/s). c / init point at the tile's first valid output of row
 * row0 (rows ldc apart, valid lanes contiguous). */
T512 static void ukr(int64_t kc, const float *a, const float *xb, const int32_t *off, float *c,
                     int64_t ldc, int mr, uint32_t valid, uint32_t inside, const float *init,
                     int load_c, const om_gemm_epi *epi, int64_t row0, int pfb) {
  const __mmask16 l0 = (__mmask16)(inside & 0xFFFFu), l1 = (__mmask16)(inside >> 16);
  const __mmask16 v0 = (__mmask16)(valid & 0xFFFFu), v1 = (__mmask16)(valid >> 16);
  const int n0 = __builtin_popcount(v0), n1 = __builtin_popcount(v1);
  const __mmask16 s0 = (__mmask16)((1u << n0) - 1), s1 = (__mmask16)((1u << n1) - 1);
  __m512 c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b;
  const float *src = init ? init : c;
  int ld = init != NULL || load_c; /* the running total, added after the products (gemm.h) */
  c0a = c0b = c1a = c1b = c2a = c2b = c3a = c3b = _mm512_setzero_ps();
  c4a = c4b = c5a = c5b = c6a = c6b = c7a = c7b = _mm512_setzero_ps();
#define FMAROW(i) OM_TILE512_FMA(i)
  if (v1) {
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      const float *bp = xb + off[k];
      __m512 b0 = _mm512_maskz_loadu_ps(l0, bp), b1 = _mm512_maskz_loadu_ps(l1, bp + 16);
      if (pfb) {
        _mm_prefetch((const char *)(bp + 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 48), _MM_HINT_T0);
      }
      FMAROW(0) FMAROW(1) FMAROW(2) FMAROW(3) FMAROW(4) FMAROW(5) FMAROW(6) FMAROW(7)
      a += MR;
    }
  } else { /* no valid lane in the upper half (the grid's last tile): half the FMAs */
#define FMAHALF(i) OM_TILE512_FMA_HALF(i)
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 b0 = _mm512_maskz_loadu_ps(l0, xb + off[k]);
      FMAHALF(0) FMAHALF(1) FMAHALF(2) FMAHALF(3) FMAHALF(4) FMAHALF(5) FMAHALF(6) FMAHALF(7)
      a += MR;
    }
#undef FMAHALF
  }
#undef FMAROW
#define STOREROW(i)                                                                        \
  if ((i) < mr) {                                                                          \
    if (ld) {                                                                              \
      c##i##a = _mm512_add_ps(c##i##a, _mm512_maskz_expand_ps(v0, _mm512_maskz_loadu_ps(s0, src + (i) * ldc))); \
      c##i##b = _mm512_add_ps(c##i##b, _mm512_maskz_expand_ps(v1, _mm512_maskz_loadu_ps(s1, src + (i) * ldc + n0))); \
    }                                                                                      \
    OM_TILE512_EPI(i, epi, row0)                                                           \
    _mm512_mask_storeu_ps(c + (i) * ldc, s0, _mm512_maskz_compress_ps(v0, c##i##a));       \
    _mm512_mask_storeu_ps(c + (i) * ldc + n0, s1, _mm512_maskz_compress_ps(v1, c##i##b));  \
  }
  STOREROW(0) STOREROW(1) STOREROW(2) STOREROW(3) STOREROW(4) STOREROW(5) STOREROW(6) STOREROW(7)
#undef STOREROW
}

/* Tiles [t0, t1) x output rows [i0, i1) (i0 a multiple of MR) over the padded image xp. */
static void cdir_range(const om_cdir *d, const float *xp, const float *a, const om_gemm_epi *epi,
                       const float *sum, float *y, int64_t t0, int64_t t1, int64_t i0, int64_t i1) {

  const int64_t M = d->M, K = d->K, ohw = d->OH * d->OW;
  const int64_t mpad = (M + MR - 1) / MR * MR;
  if (i1 > M) i1 = M;
  for (int64_t pc = 0; pc < K; pc += d->kcb) {
    int64_t kc = K - pc < d->kcb ? K - pc : d->kcb;
    int last = pc + kc >= K;
    const float *ablk = a + pc * mpad;
    for (int64_t jt = t0; jt < t1; jt++) {
      int64_t p0 = jt * NR, dst = d->tdst[jt];
      uint32_t valid = d->tvalid[jt], inside = d->grid - p0 >= NR ? 0xFFFFFFFFu : (1u << (d->grid - p0)) - 1;
      if (!valid) continue;
      for (int64_t ir = i0; ir < i1; ir += MR) {
        int mr = (int)(i1 - ir < MR ? i1 - ir : MR);
        const float *init = pc == 0 && sum ? sum + ir * ohw + dst : NULL;
        ukr(kc, ablk + ir * kc, xp + p0, d->off + pc, y + ir * ohw + dst, ohw, mr, valid, inside, init,
            pc > 0, last ? epi : NULL, ir, ir == i0);
      }
    }
  }
}


/* zc only: the outputs at flattened pixels [p0, p1) of channels [m0, m1) (m0 a multiple of MR) into
 * y[m - m0][p - p0], rows ldy apart; no residual. What a band of a fused chain needs (conv_chain.c):
 * the tiles start at p0, wherever the grid's own tiles would. */
void om_cdir_rows(const om_cdir *d, const float *x, const float *a, const om_gemm_epi *epi, int64_t p0,
                  int64_t p1, int64_t m0, int64_t m1, float *y, int64_t ldy) {
  const int64_t M = d->M, K = d->K, mpad = (M + MR - 1) / MR * MR;
  if (m1 > M) m1 = M;
  for (int64_t pc = 0; pc < K; pc += d->kcb) {
    int64_t kc = K - pc < d->kcb ? K - pc : d->kcb;
    int last = pc + kc >= K;
    const float *ablk = a + pc * mpad;
    for (int64_t p = p0; p < p1; p += NR) {
      uint32_t v = p1 - p >= NR ? 0xFFFFFFFFu : (1u << (p1 - p)) - 1;
      for (int64_t ir = m0; ir < m1; ir += MR) {
        int mr = (int)(m1 - ir < MR ? m1 - ir : MR);
        ukr(kc, ablk + ir * kc, x + p, d->off + pc, y + (ir - m0) * ldy + (p - p0), ldy, mr, v, v, NULL,
            pc > 0, last ? epi : NULL, ir, 0);
      }
    }
  }
}

/* Transposed tile: R pixels (q[i]: the phase planes at pixel i's grid position) x 32 output channels
 * of the panel w (kc x 32, gemm.h's packed B layout); t: the [pixel][channel] buffer at the tile's
 * first pixel and channel. Rows >= r are computed on a repeated pointer and not stored. */
T512 static inline __attribute__((always_inline)) void ukr_t_body(const int R, int64_t kc, const float *w,
                                                                const float *const *q,
                                                                const int32_t *off, float *t,
                                                                int64_t ldt, int r, __mmask16 m0,
                                                                __mmask16 m1, int load) {
  __m512 acc[8][2];
  const float *p[8];
#pragma GCC unroll 8
  for (int i = 0; i < R; i++) {
    p[i] = q[i];
    acc[i][0] = _mm512_setzero_ps();
    acc[i][1] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; k++) {
    const int64_t o = off[k];
    __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
      __m512 x = _mm512_set1_ps(p[i][o]);
      acc[i][0] = _mm512_fmadd_ps(x, w0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, w1, acc[i][1]);
    }
    w += NR;
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; i++)
    if (i < r) {
      if (load) { /* the running total, added after the block's products (gemm.h) */
        acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, t + i * ldt));
        acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, t + i * ldt + 16));
      }
      _mm512_mask_storeu_ps(t + i * ldt, m0, acc[i][0]);
      _mm512_mask_storeu_ps(t + i * ldt + 16, m1, acc[i][1]);
    }
}

T512 static void ukr_t8(int64_t kc, const float *w, const float *const *q, const int32_t *off, float *t,
                        int64_t ldt, int r, __mmask16 m0, __mmask16 m1, int load) {
  ukr_t_body(8, kc, w, q, off, t, ldt, r, m0, m1, load);
}

T512 static void ukr_t7(int64_t kc, const float *w, const float *const *q, const int32_t *off, float *t,
                        int64_t ldt, int r, __mmask16 m0, __mmask16 m1, int load) {
  ukr_t_body(7, kc, w, q, off, t, ldt, r, m0, m1, load);
}

/* Pixel tiles [t0, t1) x channel panels [j0, j1) (multiples of 32) into T[pixel][channel]. */
static void tr_range(const om_cdir *d, const float *xp, const float *wb, float *T, int64_t t0, int64_t t1,
                     int64_t j0, int64_t j1) {
  const int64_t M = d->M, K = d->K, ohw = d->OH * d->OW, R = d->R;
  if (j1 > M) j1 = M;
  for (int64_t pc = 0; pc < K; pc += TR_KC) {
    int64_t kc = K - pc < TR_KC ? K - pc : TR_KC;
    const float *bblk = wb + pc * d->ldt;
    for (int64_t jm = j0; jm < j1; jm += NR) {
      int nm = (int)(M - jm < NR ? M - jm : NR);
      __mmask16 m0 = nm >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nm) - 1);
      __mmask16 m1 = nm >= 32 ? (__mmask16)0xFFFF : nm > 16 ? (__mmask16)((1u << (nm - 16)) - 1) : 0;
      for (int64_t tt = t0; tt < t1; tt++) {
        int64_t p0 = tt * R;
        int r = (int)(ohw - p0 < R ? ohw - p0 : R);
        const float *q[8];
        for (int i = 0; i < 8; i++) q[i] = xp + d->pix[p0 + (i < r ? i : r - 1)];
        if (R == 7) ukr_t7(kc, bblk + jm * kc, q, d->off + pc, T + p0 * d->ldt + jm, d->ldt, r, m0, m1, pc > 0);
        else ukr_t8(kc, bblk + jm * kc, q, d->off + pc, T + p0 * d->ldt + jm, d->ldt, r, m0, m1, pc > 0);
      }
    }
  }
}

/* Output channels [m0, m1): y[m][p] = act(T[p][m] + bias[m] + sum[m][p]), in blocks of 16 pixels so
 * the 16 rows of T being read stay in L1 while every channel is written (a plain transpose walks T
 * with a stride of ldt floats and misses the cache on every element). */
T512 static void tr_store(const om_cdir *d, const float *T, const om_gemm_epi *epi, const float *sum,
                          float *y, int64_t m0, int64_t m1) {
  const int64_t ohw = d->OH * d->OW, ldt = d->ldt;
  for (int64_t p0 = 0; p0 < ohw; p0 += 16) {
    int n = (int)(ohw - p0 < 16 ? ohw - p0 : 16);
    __mmask16 mk = (__mmask16)((1u << n) - 1);
    const float *t = T + p0 * ldt;
    for (int64_t m = m0; m < m1; m++) {
      float col[16] = {0};
      for (int i = 0; i < n; i++) col[i] = t[i * ldt + m];
      __m512 v = _mm512_loadu_ps(col);
      if (epi->bias) v = _mm512_add_ps(v, _mm512_set1_ps(epi->bias[m]));
      if (sum) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, sum + m * ohw + p0));
      if (epi->act != OM_ACT_NONE) v = om_vm_act512(v, epi->act, epi->alpha, epi->beta);
      _mm512_mask_storeu_ps(y + m * ohw + p0, mk, v);
    }
  }
}

/* Channels [c0, c1) of the image into the phase planes (team slice 0, shared by the team); slack:
 * also zero the read slack after them. zc: nothing to copy, the image is read in place. */
static void fill_slice(const om_cdir *d, const float *x, float *planes, int64_t c0, int64_t c1, int slack) {
  if (d->zc) return;
  fill_planes(d, x, planes, c0, c1);
  if (slack) {
    const size_t used = (size_t)(d->C * d->py * d->px * d->Hq * d->Wq);
    memset(planes + used, 0, (d->plane_floats - used) * sizeof(float));
  }
}

/* Inside a team's parallel region: thread t of n copies its share of the channels into the shared
 * planes, and all wait until every share is there. */
static void fill_team(const om_cdir *d, const float *x, float *planes, int t, int n) {
  if (d->zc) return;
  fill_slice(d, x, planes, d->C * t / n, d->C * (t + 1) / n, t == 0);
#pragma omp barrier
}

/* Team size for one image: serial when the Conv is too small to pay for a parallel region. */
static int team_size(const om_cdir *d, om_intra team) {
  return (double)d->M * (double)(d->OH * d->OW) * (double)d->K < 262144.0 ? 1 : team.nthreads;
}

void om_cdir_run(const om_cdir *d, const float *x, const float *a, const float *bias, const float *sum,
                 int act, float alpha, float beta, float *y, void *scratch, om_intra team) {
  float *planes = scratch;
  const float *xp = d->zc ? x : planes;
  om_gemm_epi epi = {bias, act, alpha, beta};
  const int64_t mp = (d->M + MR - 1) / MR;
  int nt = team_size(d, team);
  /* transposed mode: [pixel][channel] partial sums after the planes */
  float *T = d->tr ? (float *)scratch + d->plane_floats : NULL;
  const int64_t jp = (d->M + NR - 1) / NR;
  if (nt <= 1) {
    fill_slice(d, x, planes, 0, d->C, 1);
    if (d->tr) {
      tr_range(d, xp, a, T, 0, d->ptiles, 0, d->M);
      tr_store(d, T, &epi, sum, y, 0, d->M);
    } else {
      cdir_range(d, xp, a, &epi, sum, y, 0, d->tiles, 0, d->M);
    }
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    fill_team(d, x, planes, t, n);
    if (d->tr) {
      /* split the channel panels while each thread gets one, else the pixel tiles */
      if (jp >= n)
        tr_range(d, xp, a, T, 0, d->ptiles, jp * t / n * NR, jp * (t + 1) / n * NR);
      else
        tr_range(d, xp, a, T, d->ptiles * t / n, d->ptiles * (t + 1) / n, 0, d->M);
#pragma omp barrier
      tr_store(d, T, &epi, sum, y, d->M * t / n, d->M * (t + 1) / n);
    } else if (d->tiles >= 2 * n || mp < n)
      /* split the tiles while each thread gets two or more, else the output channels */
      cdir_range(d, xp, a, &epi, sum, y, d->tiles * t / n, d->tiles * (t + 1) / n, 0, d->M);
    else
      cdir_range(d, xp, a, &epi, sum, y, 0, d->tiles, mp * t / n * MR, mp * (t + 1) / n * MR);
  }
}

/* ---- Conv + 3x3 stride-2 MaxPool in row bands (om_cdir_run_pool) ---- */

#define POOL_BAND_BYTES (192 * 1024) /* a band's Conv rows: well inside L2 next to the planes' lines */

size_t om_cdir_pool_bands(const om_cdir *d, om_cdir_pool *q) {
  q->R = q->cap = 0;
  if (d->tr || q->POH < 1 || q->POW < 1 || q->pt < 0 || q->pt > 2 || q->pl < 0 || q->pl > 2) return 0;
  const double row = (double)d->M * (double)d->OW * sizeof(float);
  int64_t cap = (int64_t)(POOL_BAND_BYTES / row);
  if (cap < 3) cap = 3;
  q->R = (cap - 3) / 2 + 1;
  if (q->R > q->POH) q->R = q->POH;
  q->cap = 2 * (q->R - 1) + 3;
  return (size_t)(d->M * q->cap * d->OW) * sizeof(float) + 64;
}

/* Conv rows [r0, r1) into buf (channel m at buf + m * ldb, row r at (r - b0) * OW): the grid tiles
 * over those rows, valid lanes compressed as in cdir_range (a tile's valid lanes are consecutive
 * outputs in row-major order), K blocks outer as there. */
static void band_rows(const om_cdir *d, const float *xp, const float *a, const om_gemm_epi *epi,
                      int64_t r0, int64_t r1, int64_t b0, float *buf, int64_t ldb) {
  const int64_t M = d->M, K = d->K, Wq = d->Wq, OW = d->OW, mpad = (M + MR - 1) / MR * MR;
  const int64_t g0 = r0 * Wq, g1 = r1 * Wq;
  for (int64_t pc = 0; pc < K; pc += d->kcb) {
    int64_t kc = K - pc < d->kcb ? K - pc : d->kcb;
    int last = pc + kc >= K;
    const float *ablk = a + pc * mpad;
    for (int64_t p = g0; p < g1; p += NR) {
      uint32_t valid = 0;
      int64_t dst = -1, oy = p / Wq, ox = p % Wq; /* of lane l, stepped along (no division per lane) */
      for (int l = 0; l < NR && p + l < g1; l++) {
        if (ox < OW) {
          valid |= 1u << l;
          if (dst < 0) dst = (oy - b0) * OW + ox;
        }
        if (++ox == Wq) {
          ox = 0;
          oy++;
        }
      }
      if (!valid) continue;
      uint32_t inside = d->grid - p >= NR ? 0xFFFFFFFFu : (1u << (d->grid - p)) - 1;
      for (int64_t ir = 0; ir < M; ir += MR) {
        int mr = (int)(M - ir < MR ? M - ir : MR);
        ukr(kc, ablk + ir * kc, xp + p, d->off + pc, buf + ir * ldb + dst, ldb, mr, valid, inside, NULL,
            pc > 0, last ? epi : NULL, ir, ir == 0);
      }
    }
  }
}

/* Pooled rows [i0, i1) of every channel, in bands of q->R, through the buffer buf. */
static void pool_range(const om_cdir *d, const om_cdir_pool *q, const float *xp, const float *a,
                       const om_gemm_epi *epi, float *y, float *buf, int64_t i0, int64_t i1) {
  const int64_t M = d->M, OW = d->OW, OH = d->OH, ldb = q->cap * OW, pohw = q->POH * q->POW;
  int64_t b0 = 0, b1 = 0; /* Conv rows in the buffer, from its top */
  for (int64_t j0 = i0; j0 < i1; j0 += q->R) {
    int64_t j1 = i1 - j0 < q->R ? i1 : j0 + q->R;
    int64_t r0 = 2 * j0 - q->pt, r1 = 2 * (j1 - 1) - q->pt + 3;
    if (r0 < 0) r0 = 0;
    if (r1 > OH) r1 = OH;
    int64_t have = 0;
    if (b1 > r0 && b0 <= r0) { /* the rows this band shares with the last: to the top */
      have = b1 - r0;
      for (int64_t m = 0; m < M; m++)
        memmove(buf + m * ldb, buf + m * ldb + (r0 - b0) * OW, (size_t)(have * OW) * sizeof(float));
    }
    if (r0 + have < r1) band_rows(d, xp, a, epi, r0 + have, r1, r0, buf, ldb);
    b0 = r0;
    b1 = r1;
    /* the band's windows: pooled row j starts at Conv row 2j - pt, buffer row 2j - pt - r0 */
    const int64_t top = r0 - (2 * j0 - q->pt);
    for (int64_t m = 0; m < M; m++)
      om_maxpool_k3s2_plane(buf + m * ldb, r1 - r0, OW, y + m * pohw + j0 * q->POW, j1 - j0, q->POW, top,
                            q->pl);
  }
}

void om_cdir_run_pool(const om_cdir *d, const om_cdir_pool *q, const float *x, const float *a,
                      const float *bias, int act, float alpha, float beta, float *y, void *scratch,
                      size_t buf_off, om_intra team) {
  float *planes = scratch;
  const float *xp = d->zc ? x : planes;
  om_gemm_epi epi = {bias, act, alpha, beta};
  int nt = team_size(d, team);
  if (nt > q->POH) nt = (int)q->POH;
  if (nt <= 1) {
    fill_slice(d, x, planes, 0, d->C, 1);
    pool_range(d, q, xp, a, &epi, y, (float *)((char *)scratch + buf_off), 0, q->POH);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    fill_team(d, x, planes, t, n);
    /* pooled rows split over the team, each thread with its own band buffer (its first band computes
     * the row it shares with the thread before: the same values) */
    pool_range(d, q, xp, a, &epi, y, (float *)((char *)om_intra_slice(scratch, &team, t) + buf_off),
               q->POH * t / n, q->POH * (t + 1) / n);
  }
}
