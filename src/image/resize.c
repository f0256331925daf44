/* resize.c: resampling that reproduces Pillow 9.x exactly on 8-bit images.
 *
 * BILINEAR/BICUBIC follow libImaging/Resample.c: separable, horizontal pass first (into an 8-bit
 * intermediate clipped to 0..255), then vertical; a pass is skipped when that dimension does not
 * change; support = filter support * max(scale, 1) (antialiasing when reducing); per-output
 * coefficients normalised to sum 1 in double, then fixed point with PRECISION_BITS = 32-8-2 and
 * rounded half away from zero; accumulators start at 1/2 and are clipped to 0..255.
 * NEAREST follows Pillow's affine scale path: source index = (int) of a double that starts at
 * scale/2 and grows by scale per pixel (accumulated, as Pillow does).
 * Only the requested output window is computed: each output pixel depends only on its own index,
 * so cropping first gives the very same pixels. */
#include "image/image_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double filter_bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

static double filter_bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

typedef struct {
  double (*f)(double);
  double scale, filterscale, support;
  int ksize;
} axis_filter;

static void axis_init(axis_filter *a, int in, int out, int interp) {
  a->f = interp == OM_INTERP_BICUBIC ? filter_bicubic : filter_bilinear;
  double base = interp == OM_INTERP_BICUBIC ? 2.0 : 1.0;
  a->scale = a->filterscale = (double)in / out;
  if (a->filterscale < 1.0) a->filterscale = 1.0;
  a->support = base * a->filterscale;
  a->ksize = (int)ceil(a->support) * 2 + 1;
}

/* First source index and count of taps for output index xx (Pillow's rounding and clamping). */
static void axis_bounds(const axis_filter *a, int in, int xx, int *xmin, int *xcnt) {
  double center = (xx + 0.5) * a->scale;
  int lo = (int)(center - a->support + 0.5);
  if (lo < 0) lo = 0;
  int hi = (int)(center + a->support + 0.5);
  if (hi > in) hi = in;
  *xmin = lo;
  *xcnt = hi - lo;
}

/* Fixed-point coefficients for outputs [o0, o1): k is (o1-o0) x ksize, bounds (o1-o0) x 2. */
static void axis_coeffs(const axis_filter *a, int in, int o0, int o1, int32_t *k, int *bounds,
                        double *tmp) {
  for (int xx = o0; xx < o1; xx++) {
    int xmin, xcnt;
    axis_bounds(a, in, xx, &xmin, &xcnt);
    double center = (xx + 0.5) * a->scale, ss = 1.0 / a->filterscale, ww = 0.0;
    for (int x = 0; x < xcnt; x++) {
      tmp[x] = a->f((x + xmin - center + 0.5) * ss);
      ww += tmp[x];
    }
    int32_t *kr = k + (size_t)(xx - o0) * a->ksize;
    for (int x = 0; x < a->ksize; x++) {
      double v = x < xcnt ? (ww != 0.0 ? tmp[x] / ww : tmp[x]) : 0.0;
      kr[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                    : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * (xx - o0)] = xmin;
    bounds[2 * (xx - o0) + 1] = xcnt;
  }
}

static inline uint8_t clip8(int32_t v) {
  if (v < 0) return 0;
  v >>= PRECISION_BITS;
  return v > 255 ? 255 : (uint8_t)v;
}

/* Source rows [yf, yl) that the vertical pass reads for outputs [y0, y1). */
static void row_span(int h, int rh, int interp, int y0, int y1, int *yf, int *yl) {
  if (rh == h) {
    *yf = y0;
    *yl = y1;
    return;
  }
  axis_filter ay;
  axis_init(&ay, h, rh, interp);
  int a, n, b, m;
  axis_bounds(&ay, h, y0, &a, &n);
  axis_bounds(&ay, h, y1 - 1, &b, &m);
  *yf = a;
  *yl = b + m;
}

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t om_resample_scratch_size(int w, int h, int c, int rw, int rh, int interp, int x0, int y0,
                                int x1, int y1) {
  size_t nx = (size_t)(x1 - x0), ny = (size_t)(y1 - y0), total = 0, t;
  if (interp == OM_INTERP_NEAREST) {
    if (om_mul_size(nx + ny, sizeof(int), &total)) return 0;
    return total + 16;
  }
  axis_filter ax, ay;
  axis_init(&ax, w, rw, interp);
  axis_init(&ay, h, rh, interp);
  int yf, yl;
  row_span(h, rh, interp, y0, y1, &yf, &yl);
  size_t parts[6], nxp = (nx + 15) & ~(size_t)15;
  if (om_mul_size(nx, (size_t)ax.ksize * sizeof(int32_t), &parts[0]) ||
      om_mul_size(ny, (size_t)ay.ksize * sizeof(int32_t), &parts[1]) ||
      om_mul_size(nx + ny, 2 * sizeof(int), &parts[2]) ||
      om_mul_size((size_t)(ax.ksize > ay.ksize ? ax.ksize : ay.ksize), sizeof(double), &parts[3]) ||
      om_mul_size((size_t)(yl - yf), nx, &t) || om_mul_size(t, (size_t)c, &parts[4]) ||
      om_mul_size(nxp, ((size_t)ax.ksize + 2) * sizeof(int32_t), &parts[5])) /* hpass_rgb512's tables */
    return 0;
  for (int i = 0; i < 6; i++)
    if (om_add_size(total, up16(parts[i]), &total)) return 0;
  return total;
}

/* Source index of outputs [o0, o1). Pillow accumulates the position in a double (v += scale);
 * that is reproduced for ordinary sizes; a window far into a huge output (offset > 1<<16) uses
 * the product instead of a loop over all preceding pixels. */
static void nearest_table(int in, int out, int o0, int o1, int *t) {
  double a = (double)in / out, v = a * 0.5;
  int start = 0;
  if (o0 > (1 << 16)) {
    start = o0;
    v = a * 0.5 + a * o0;
  }
  for (int x = start; x < o1; x++, v += a) {
    if (x < o0) continue;
    int i = v < 0.0 ? 0 : (int)v;
    t[x - o0] = i >= in ? in - 1 : i;
  }
}

static void resample_nearest(const uint8_t *src, int w, int h, int c, int rw, int rh, int x0,
                             int y0, int x1, int y1, uint8_t *dst, int *tab) {
  nearest_table(w, rw, x0, x1, tab);
  nearest_table(h, rh, y0, y1, tab + (x1 - x0));
  const int *xt = tab, *yt = tab + (x1 - x0);
  size_t nx = (size_t)(x1 - x0);
  for (int y = y0; y < y1; y++) {
    const uint8_t *sr = src + (size_t)yt[y - y0] * w * c;
    uint8_t *dr = dst + (size_t)(y - y0) * nx * c;
    for (size_t x = 0; x < nx; x++) memcpy(dr + x * c, sr + (size_t)xt[x] * c, (size_t)c);
  }
}

/* Horizontal pass, RGB: outputs [xa, xb) of one row, one loop over the taps for all three channels. */
static void hrow_rgb(const uint8_t *sr, uint8_t *tr, size_t xa, size_t xb, const int32_t *kx, int ksize,
                     const int *bx) {
  for (size_t x = xa; x < xb; x++) {
    const int32_t *k = kx + x * (size_t)ksize;
    const uint8_t *sp = sr + (size_t)bx[2 * x] * 3;
    int n = bx[2 * x + 1];
    int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
    for (int j = 0; j < n; j++, sp += 3) {
      s0 += sp[0] * k[j];
      s1 += sp[1] * k[j];
      s2 += sp[2] * k[j];
    }
    tr[x * 3] = clip8(s0);
    tr[x * 3 + 1] = clip8(s1);
    tr[x * 3 + 2] = clip8(s2);
  }
}

#define T512R __attribute__((target("avx512f,avx512bw")))

/* The same row, 16 outputs a step (x86-64 with AVX-512BW): per tap, one 32-bit gather fetches R, G, B
 * (and one byte more) of every lane's source pixel; the products and int32 sums are hrow_rgb's, so the
 * bytes are identical (an integer sum does not depend on its order, and the lanes past a pixel's own
 * tap count gather nothing and add zero). kt: the coefficients transposed, kt[j * nxp + x]; off: 3 *
 * first source pixel; cnt: taps (0 past nx). Every gather reads one byte past the pixel, so the caller
 * keeps the image's last row (whose last pixel ends the buffer) on hrow_rgb. */
T512R static void hrow_rgb512(const uint8_t *sr, uint8_t *tr, size_t nx, const int32_t *kt, size_t nxp,
                              const int32_t *off, const int32_t *cnt) {
  const __m512i half = _mm512_set1_epi32(1 << (PRECISION_BITS - 1)), ff = _mm512_set1_epi32(0xFF);
  const __m512i zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255), three = _mm512_set1_epi32(3);
  /* 4-byte lanes (R, G, B, 0) to 3-byte pixels: within each 128-bit lane, then the lanes' 12 bytes together */
  const __m512i pick = _mm512_set4_epi32(-1, 0x0E0D0C0A, 0x09080605, 0x04020100);
  const __m512i join = _mm512_set_epi32(15, 15, 15, 15, 14, 13, 12, 10, 9, 8, 6, 5, 4, 2, 1, 0);
  for (size_t x = 0; x < nx; x += 16) {
    __m512i o = _mm512_loadu_si512(off + x), n = _mm512_loadu_si512(cnt + x);
    __m512i s0 = half, s1 = half, s2 = half;
    for (int j = 0;; j++) {
      __mmask16 m = _mm512_cmpgt_epi32_mask(n, _mm512_set1_epi32(j));
      if (!m) break;
      __m512i v = _mm512_mask_i32gather_epi32(zero, m, o, sr, 1);
      __m512i k = _mm512_loadu_si512(kt + (size_t)j * nxp + x);
      s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(_mm512_and_si512(v, ff), k));
      s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(_mm512_and_si512(_mm512_srli_epi32(v, 8), ff), k));
      s2 = _mm512_add_epi32(s2, _mm512_mullo_epi32(_mm512_and_si512(_mm512_srli_epi32(v, 16), ff), k));
      o = _mm512_add_epi32(o, three);
    }
    /* clip8: negative -> 0, else >> PRECISION_BITS, at most 255 */
    s0 = _mm512_min_epi32(_mm512_srli_epi32(_mm512_max_epi32(s0, zero), PRECISION_BITS), top);
    s1 = _mm512_min_epi32(_mm512_srli_epi32(_mm512_max_epi32(s1, zero), PRECISION_BITS), top);
    s2 = _mm512_min_epi32(_mm512_srli_epi32(_mm512_max_epi32(s2, zero), PRECISION_BITS), top);
    __m512i px = _mm512_or_si512(s0, _mm512_or_si512(_mm512_slli_epi32(s1, 8), _mm512_slli_epi32(s2, 16)));
    px = _mm512_permutexvar_epi32(join, _mm512_shuffle_epi8(px, pick));
    size_t left = nx - x < 16 ? nx - x : 16;
    _mm512_mask_storeu_epi8(tr + x * 3, (__mmask64)((1ULL << (3 * left)) - 1), px);
  }
}

static int have_avx512bw(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
  return 0;
#endif
}

void om_resample_window(const uint8_t *src, int w, int h, int c, int rw, int rh, int interp, int x0,
                        int y0, int x1, int y1, uint8_t *dst, void *scratch) {
  om_resample_window_path(src, w, h, c, rw, rh, interp, x0, y0, x1, y1, dst, scratch, have_avx512bw());
}

void om_resample_window_path(const uint8_t *src, int w, int h, int c, int rw, int rh, int interp,
                             int x0, int y0, int x1, int y1, uint8_t *dst, void *scratch, int simd) {
  if (interp == OM_INTERP_NEAREST) {
    if (rw == w && rh == h) interp = OM_INTERP_BILINEAR; /* Pillow copies: both passes skip */
    else {
      resample_nearest(src, w, h, c, rw, rh, x0, y0, x1, y1, dst, scratch);
      return;
    }
  }
  const int need_h = rw != w, need_v = rh != h;
  const size_t nx = (size_t)(x1 - x0), ny = (size_t)(y1 - y0);
  axis_filter ax, ay;
  axis_init(&ax, w, rw, interp);
  axis_init(&ay, h, rh, interp);
  int yf, yl;
  row_span(h, rh, interp, y0, y1, &yf, &yl);
  uint8_t *p = scratch;
  int32_t *kx = (int32_t *)p;
  p += up16(nx * (size_t)ax.ksize * sizeof(int32_t));
  int32_t *ky = (int32_t *)p;
  p += up16(ny * (size_t)ay.ksize * sizeof(int32_t));
  int *bx = (int *)p, *by = bx + 2 * nx;
  p += up16((nx + ny) * 2 * sizeof(int));
  double *dt = (double *)p;
  p += up16((size_t)(ax.ksize > ay.ksize ? ax.ksize : ay.ksize) * sizeof(double));
  const size_t nxp = (nx + 15) & ~(size_t)15;
  int32_t *kt = (int32_t *)p, *koff = kt + nxp * (size_t)ax.ksize, *kcnt = koff + nxp;
  p += up16(nxp * ((size_t)ax.ksize + 2) * sizeof(int32_t));
  uint8_t *tmp = p;

  /* Horizontal pass over the source rows the vertical pass needs: tmp is (yl-yf) x nx x c. */
  const uint8_t *hsrc; /* row yf of the horizontally resampled (or untouched) image, column x0 */
  size_t hstride;
  if (need_h) {
    axis_coeffs(&ax, w, x0, x1, kx, bx, dt);
    /* the gathers take int32 byte offsets into a row */
    const int rgb512 = c == 3 && simd && (int64_t)w * 3 < INT32_MAX - 64;
    if (rgb512)
      for (size_t x = 0; x < nxp; x++) {
        for (int j = 0; j < ax.ksize; j++) kt[(size_t)j * nxp + x] = x < nx ? kx[x * (size_t)ax.ksize + j] : 0;
        koff[x] = x < nx ? 3 * bx[2 * x] : 0;
        kcnt[x] = x < nx ? bx[2 * x + 1] : 0;
      }
    for (int y = yf; y < yl; y++) {
      const uint8_t *sr = src + (size_t)y * w * c;
      uint8_t *tr = tmp + (size_t)(y - yf) * nx * c;
      if (c == 3) {
        if (rgb512 && y < h - 1) hrow_rgb512(sr, tr, nx, kt, nxp, koff, kcnt);
        else hrow_rgb(sr, tr, 0, nx, kx, ax.ksize, bx);
        continue;
      }
      for (size_t x = 0; x < nx; x++) {
        const int32_t *k = kx + x * (size_t)ax.ksize;
        const uint8_t *sp = sr + (size_t)bx[2 * x] * c;
        int n = bx[2 * x + 1];
        for (int ch = 0; ch < c; ch++) {
          int32_t ss = 1 << (PRECISION_BITS - 1);
          for (int j = 0; j < n; j++) ss += sp[(size_t)j * c + ch] * k[j];
          tr[x * c + ch] = clip8(ss);
        }
      }
    }
    hsrc = tmp;
    hstride = nx * c;
  } else {
    hsrc = src + ((size_t)yf * w + x0) * c;
    hstride = (size_t)w * c;
  }

  if (!need_v) {
    for (size_t y = 0; y < ny; y++) memcpy(dst + y * nx * c, hsrc + y * hstride, nx * c);
    return;
  }
  axis_coeffs(&ay, h, y0, y1, ky, by, dt);
  for (size_t y = 0; y < ny; y++) {
    const int32_t *k = ky + y * (size_t)ay.ksize;
    const uint8_t *sr = hsrc + (size_t)(by[2 * y] - yf) * hstride;
    int n = by[2 * y + 1];
    uint8_t *dr = dst + y * nx * c;
    /* taps outer, pixels inner: each source row is read in order and the inner loop vectorizes;
     * integer sums, so the order changes nothing (partial sums stay far inside int32) */
    enum { CHUNK = 512 };
    for (size_t i0 = 0; i0 < nx * c; i0 += CHUNK) {
      size_t m = nx * c - i0 < CHUNK ? nx * c - i0 : CHUNK;
      int32_t acc[CHUNK];
      for (size_t i = 0; i < m; i++) acc[i] = 1 << (PRECISION_BITS - 1);
      for (int j = 0; j < n; j++) {
        const uint8_t *s = sr + (size_t)j * hstride + i0;
        const int32_t kj = k[j];
        for (size_t i = 0; i < m; i++) acc[i] += s[i] * kj;
      }
      for (size_t i = 0; i < m; i++) dr[i0 + i] = clip8(acc[i]);
    }
  }
}
