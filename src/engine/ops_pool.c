/* ops_pool.c: MaxPool, AveragePool (1-D/2-D/3-D; strides, pads, auto_pad, dilations, ceil_mode,
 * count_include_pad), GlobalAveragePool and GlobalMaxPool, float32. X is (N, C, *in), Y is
 * (N, C, *out); 1-D and 2-D run as 3-D with leading spatial sizes of 1. MaxPool's optional Indices
 * output is refused. Output sizes follow the ONNX spec: with ceil_mode the last window must start
 * inside the input or the left padding. */
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "engine/op_util.h"

#include <float.h>
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

enum { POOL_MAX, POOL_AVG, POOL_GMAX, POOL_GAVG };

typedef struct pool_params {
  int kind, include_pad;
  int simd; /* AVX-512 plan: 2-D MaxPool with stride 1 or 2 along W (maxpool2d_avx512), and
             * GlobalAveragePool (plane_sum_avx512) */
  int64_t NC, in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
} pool_params;

/* 2-D (or depth-1-window) MaxPool without dilation: maxpool2d below. */
static int pool_fast2d(const pool_params *c) {
  return c->kind == POOL_MAX && c->k[0] == 1 && c->s[0] == 1 && c->pb[0] == 0 && c->pe[0] == 0 &&
         c->d[1] == 1 && c->d[2] == 1;
}

/* maxpool2d's -inf-padded row: the padded input row, ceil_mode's overhang, and 48 floats for the
 * 16-wide loads of the last (masked) output vector in maxpool2d_avx512 */
static int64_t pool_row_len(const pool_params *c) {
  return c->in[2] + c->pb[2] + c->pe[2] + c->k[2] + c->s[2] * c->out[2] + 48;
}

/* Input rows [*y0, *y1) under output row oy (clipped to the image). */
static void window_rows(const pool_params *c, int64_t oy, int64_t *y0, int64_t *y1) {
  int64_t a = oy * c->s[1] - c->pb[1], b = a + c->k[1];
  *y0 = a < 0 ? 0 : a;
  *y1 = b > c->in[1] ? c->in[1] : b;
}

static int pool_common(om_prep *p, int kind, char *err) {
  const om_tensor *X = p->in[0];
  if (!om_tensor_present(X)) return om_seterr(err, OM_E_INVALID, "input X is missing");
  if (X->dtype != OM_DT_FLOAT)
    return om_seterr(err, OM_E_UNSUPPORTED, "input X has dtype %s; only float32 is supported",
                     om_dtype_name(X->dtype));
  if (X->ndim < 3 || X->ndim > 5)
    return om_seterr(err, OM_E_UNSUPPORTED, "input X has %d dims; pooling supports 3 to 5", X->ndim);
  if (p->nout > 1 && p->node && p->node->nout > 1 && p->node->outputs[1] && p->node->outputs[1][0])
    return om_seterr(err, OM_E_UNSUPPORTED, "the Indices output of MaxPool is not supported");
  int ns = X->ndim - 2, rc;
  pool_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for pooling parameters");
  c->kind = kind;
  c->NC = X->dims[0] * X->dims[1];
  for (int i = 0; i < 3; i++) {
    c->in[i] = c->out[i] = c->k[i] = c->s[i] = c->d[i] = 1;
    c->pb[i] = c->pe[i] = 0;
  }
  for (int i = 0; i < ns; i++) c->in[3 - ns + i] = X->dims[2 + i];
  if (kind == POOL_MAX || kind == POOL_AVG) {
    int64_t ks[3], st[3], dl[3], pads[6];
    const int64_t *kv;
    if (om_attr_ints(p, "kernel_shape", &kv) < 0)
      return om_seterr(err, OM_E_INVALID, "attribute kernel_shape is required");
    if ((rc = om_attr_ints_fixed(p, "kernel_shape", ns, ks, 1, 1, err)) ||
        (rc = om_attr_ints_fixed(p, "strides", ns, st, 1, 1, err)) ||
        (rc = om_attr_ints_fixed(p, "dilations", ns, dl, 1, 1, err)) ||
        (rc = om_attr_ints_fixed(p, "pads", 2 * ns, pads, 0, 0, err)))
      return rc;
    if (om_attr_int(p, "storage_order", 0) != 0 && kind == POOL_MAX)
      return om_seterr(err, OM_E_UNSUPPORTED, "storage_order 1 is not supported");
    int ceil_mode = om_attr_int(p, "ceil_mode", 0) != 0;
    c->include_pad = om_attr_int(p, "count_include_pad", 0) != 0;
    const char *ap = om_attr_string(p, "auto_pad", "NOTSET");
    int su = strcmp(ap, "SAME_UPPER") == 0, sl = strcmp(ap, "SAME_LOWER") == 0;
    int valid = strcmp(ap, "VALID") == 0;
    if (!su && !sl && !valid && strcmp(ap, "NOTSET") != 0)
      return om_seterr(err, OM_E_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
    for (int i = 0; i < ns; i++) {
      int j = 3 - ns + i;
      c->k[j] = ks[i]; c->s[j] = st[i]; c->d[j] = dl[i];
      c->pb[j] = valid ? 0 : pads[i];
      c->pe[j] = valid ? 0 : pads[ns + i];
      int64_t ext = (ks[i] - 1) * dl[i] + 1, in = c->in[j];
      if (su || sl) {
        c->out[j] = (in + st[i] - 1) / st[i];
        int64_t tot = (c->out[j] - 1) * st[i] + ext - in;
        if (tot < 0) tot = 0;
        c->pb[j] = su ? tot / 2 : tot - tot / 2;
        c->pe[j] = tot - c->pb[j];
      } else {
        int64_t span = in + c->pb[j] + c->pe[j] - ext;
        if (span < 0)
          return om_seterr(err, OM_E_INVALID, "kernel extent %lld is larger than the padded input %lld",
                           (long long)ext, (long long)(in + c->pb[j] + c->pe[j]));
        c->out[j] = (ceil_mode ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
        if (ceil_mode && (c->out[j] - 1) * st[i] >= in + c->pb[j]) c->out[j]--;
      }
    }
  } else {
    for (int i = 0; i < 3; i++) c->k[i] = c->in[i];
    c->simd = kind == POOL_GAVG && p->kernel_path == OM_KERNEL_AVX512 &&
              om_gemm_path_supported(OM_KERNEL_AVX512);
  }
  /* 2-D MaxPool without dilation goes through maxpool2d (a row of -inf-padded maxima per plane) */
  if (pool_fast2d(c)) {
    p->scratch_bytes = 2 * (size_t)pool_row_len(c) * sizeof(float); /* two rows: maxpool2d_avx512 */
    c->simd = p->kernel_path == OM_KERNEL_AVX512 && om_gemm_path_supported(OM_KERNEL_AVX512) &&
              (c->s[2] == 1 || c->s[2] == 2);
  }
  om_tensor *Y = &p->out[0];
  Y->dtype = OM_DT_FLOAT;
  Y->ndim = X->ndim;
  Y->dims[0] = X->dims[0];
  Y->dims[1] = X->dims[1];
  for (int i = 0; i < ns; i++) Y->dims[2 + i] = c->out[3 - ns + i];
  p->params = c;
  return OM_OK;
}

static int maxpool_prepare(om_prep *p, char *err) { return pool_common(p, POOL_MAX, err); }
static int avgpool_prepare(om_prep *p, char *err) { return pool_common(p, POOL_AVG, err); }
static int gmax_prepare(om_prep *p, char *err) { return pool_common(p, POOL_GMAX, err); }
static int gavg_prepare(om_prep *p, char *err) { return pool_common(p, POOL_GAVG, err); }

static void pool_planes(const pool_params *c, const float *x, float *y, int64_t q0, int64_t q1,
                        float *tmp);

/* Sum of n floats in double, in four interleaved partial sums (the squeeze-excite blocks of
 * EfficientNet average 17 planes sets per image; one serial double chain made that 12% of the run).
 * Exact enough that the order does not matter for float results; fixed, so results are the same on
 * every run. */
static double plane_sum(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; i++) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}

/* plane_sum's AVX-512 twin: 32 floats a step into four 8-wide double sums (a different order, so
 * a float result may differ from the portable one in its last bit, and never between runs). The
 * scalar chains ran at about one float per cycle: 0.47 ms of efficientnet_b0's 13 per image. */
T512 static double plane_sum_avx512(const float *x, int64_t n) {
  __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(a)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
    s2 = _mm512_add_pd(s2, _mm512_cvtps_pd(_mm512_castps512_ps256(b)));
    s3 = _mm512_add_pd(s3, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1))));
  }
  for (; i < n; i += 8) {
    __mmask8 m = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

static void pool_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                     void *scratch) {
  const pool_params *c = params;
  const float *x = in[0].data;
  float *y = out[0].data;
  const int64_t ihw = c->in[0] * c->in[1] * c->in[2], ohw = c->out[0] * c->out[1] * c->out[2];
  if (c->kind == POOL_GMAX || c->kind == POOL_GAVG) {
    for (int64_t q = 0; q < c->NC; q++) {
      const float *xs = x + q * ihw;
      if (c->kind == POOL_GAVG) {
        y[q] = (float)((c->simd ? plane_sum_avx512 : plane_sum)(xs, ihw) / (double)ihw);
      } else {
        float m = -FLT_MAX;
        for (int64_t i = 0; i < ihw; i++) m = xs[i] > m ? xs[i] : m;
        y[q] = m;
      }
    }
    return;
  }
  /* planes are independent: split them over the team when there is enough work */
  om_intra team = om_intra_get();
  int64_t ksz = c->k[0] * c->k[1] * c->k[2];
  if (team.nthreads > 1 && c->NC > 1 && (double)c->NC * (double)ohw * (double)ksz >= 65536.0) {
#pragma omp parallel num_threads(team.nthreads)
    {
      int t = omp_get_thread_num(), n = omp_get_num_threads();
      pool_planes(c, x, y, c->NC * t / n, c->NC * (t + 1) / n, om_intra_slice(scratch, &team, t));
    }
  } else {
    pool_planes(c, x, y, 0, c->NC, scratch);
  }
}

/* 2-D MaxPool of one plane (dilation 1): per output row, the elementwise max of its window's input
 * rows into a -inf-padded row (a vectorizable pass), then the max over each window of that row.
 * Max is exact in any order, so this equals the generic loop bit for bit (NaN is skipped alike). */
static void maxpool2d(const pool_params *c, const float *xs, float *ys, float *row) {
  const int64_t W = c->in[2], kw = c->k[2], sw = c->s[2], OH = c->out[1], OW = c->out[2];
  const int64_t len = pool_row_len(c);
  for (int64_t i = 0; i < len; i++) row[i] = -FLT_MAX;
  float *r = row + c->pb[2];
  for (int64_t oy = 0; oy < OH; oy++) {
    int64_t y0, y1;
    window_rows(c, oy, &y0, &y1);
    /* from -inf, so a NaN is skipped wherever it is, as in the generic loop */
    for (int64_t x = 0; x < W; x++) r[x] = -FLT_MAX;
    for (int64_t iy = y0; iy < y1; iy++) {
      const float *in = xs + iy * W;
      for (int64_t x = 0; x < W; x++) r[x] = in[x] > r[x] ? in[x] : r[x];
    }
    float *o = ys + oy * OW;
    for (int64_t ox = 0; ox < OW; ox++) {
      const float *w = row + ox * sw;
      float m = -FLT_MAX;
      for (int64_t t = 0; t < kw; t++) m = w[t] > m ? w[t] : m;
      o[ox] = m;
    }
  }
}

/* Column maxima of input columns [x0, x0 + 16) (x0 >= 0; lanes past W are -inf) over rows [y0, y1);
 * never NaN (vmaxps returns its second operand when the first is NaN: NaN is skipped). */
T512 static inline __m512 colmax16(const float *xs, int64_t W, int64_t x0, int64_t y0, int64_t y1) {
  const __m512 ninf = _mm512_set1_ps(-FLT_MAX);
  int64_t n = W - x0;
  __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
  __m512 v = ninf;
  if (m)
    for (int64_t iy = y0; iy < y1; iy++) v = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, m, xs + iy * W + x0), v);
  return v;
}

/* Column maxima of the input rows under output row oy into r (the -inf-padded row's interior). */
T512 static inline void maxpool_rows512(const pool_params *c, const float *xs, int64_t oy, float *r) {
  const int64_t W = c->in[2];
  int64_t y0, y1;
  window_rows(c, oy, &y0, &y1);
  for (int64_t x = 0; x < W; x += 16) {
    __mmask16 m = W - x >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (W - x)) - 1);
    _mm512_mask_storeu_ps(r + x, m, colmax16(xs, W, x, y0, y1));
  }
}

/* The 3-wide stride-2 window (squeezenet's and the resnets' MaxPools) straight from registers: per 16
 * outputs the column maxima of 32 + 1 padded columns (the next block's first vector is this block's
 * last), even lanes, odd lanes and the even lanes one further, no row buffer at all. Left pads up to
 * 15 columns: the first vector is the columns from 0 shifted up by pb lanes, -inf below. */
T512 static void maxpool2d_k3s2_avx512(const pool_params *c, const float *xs, float *ys) {
  const int64_t W = c->in[2], OH = c->out[1], OW = c->out[2], pb = c->pb[2], H = c->in[1];
  const __m512 ninf = _mm512_set1_ps(-FLT_MAX);
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i nx = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  int32_t shi[16];
  for (int l = 0; l < 16; l++) shi[l] = l >= pb ? (int32_t)(l - pb) : 0;
  const __m512i sh = _mm512_loadu_si512(shi);
  const __mmask16 keep = (__mmask16)(0xFFFFu << pb);
  const int64_t pf_rows = (H + OH - 1) / OH;
  for (int64_t oy = 0; oy < OH; oy++) {
    int64_t y0, y1;
    window_rows(c, oy, &y0, &y1);
    for (int64_t i = 0; i < pf_rows * W; i += 16) /* the next plane, as in maxpool2d_avx512 */
      _mm_prefetch((const char *)(xs + H * W + oy * pf_rows * W + i), _MM_HINT_T0);
    /* padded column p is image column p - pb; a = padded [0, 16) */
    __m512 a = _mm512_mask_permutexvar_ps(ninf, keep, sh, colmax16(xs, W, 0, y0, y1));
    float *o = ys + oy * OW;
    for (int64_t ox = 0; ox < OW; ox += 16) {
      int64_t p0 = 2 * ox - pb; /* image column of padded column 2 * ox */
      __m512 b = colmax16(xs, W, p0 + 16, y0, y1), cn = colmax16(xs, W, p0 + 32, y0, y1);
      __m512 e = _mm512_permutex2var_ps(a, ev, b), od_ = _mm512_permutex2var_ps(a, od, b);
      __m512 e2 = _mm512_permutex2var_ps(e, nx, cn);
      __m512 v = _mm512_max_ps(e2, _mm512_max_ps(od_, e)); /* column maxima: no NaN left */
      __mmask16 m = OW - ox >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (OW - ox)) - 1);
      _mm512_mask_storeu_ps(o + ox, m, v);
      a = cn;
    }
  }
}

void om_maxpool_k3s2_plane(const float *x, int64_t H, int64_t W, float *y, int64_t OH, int64_t OW,
                           int64_t pt, int64_t pl) {
  pool_params c;
  memset(&c, 0, sizeof c);
  c.kind = POOL_MAX;
  c.simd = 1;
  c.NC = 1;
  c.in[0] = c.out[0] = c.k[0] = c.s[0] = c.d[0] = c.d[1] = c.d[2] = 1;
  c.in[1] = H;
  c.in[2] = W;
  c.out[1] = OH;
  c.out[2] = OW;
  c.k[1] = c.k[2] = 3;
  c.s[1] = c.s[2] = 2;
  c.pb[1] = pt;
  c.pb[2] = pl;
  maxpool2d_k3s2_avx512(&c, x, y);
}

/* maxpool2d with 16-wide vectors (stride 1 or 2 along W): the same maxima, so the same bits
 * (vmaxps returns its second operand when the first is NaN: NaN is skipped as in the loops above).
 * The portable loop is its reference twin (tests run both through OMPREDICT_KERNEL).
 * Two row buffers, one output row apart: the window loads of row oy read column maxima stored a whole
 * row of work earlier, not the stores just before them (a load spanning two recent stores cannot be
 * forwarded from them and waits for both to reach the cache). */
T512 static void maxpool2d_avx512(const pool_params *c, const float *xs, float *ys, float *rows) {
  const int64_t W = c->in[2], kw = c->k[2], sw = c->s[2], OH = c->out[1], OW = c->out[2];
  const int64_t len = pool_row_len(c);
  const __m512 ninf = _mm512_set1_ps(-FLT_MAX);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t i = 0; i < 2 * len; i++) rows[i] = -FLT_MAX;
  const int64_t H = c->in[1], pf_rows = (H + OH - 1) / OH; /* input rows per output row */
  maxpool_rows512(c, xs, 0, rows + c->pb[2]);
  for (int64_t oy = 0; oy < OH; oy++) {
    float *row = rows + (oy & 1) * len;
    /* the next plane's rows, as far into it as this plane has come: planes are read once, from
     * the last level cache, and 3 or more row streams a plane defeat the hardware prefetcher */
    for (int64_t i = 0; i < pf_rows * W; i += 16)
      _mm_prefetch((const char *)(xs + H * W + oy * pf_rows * W + i), _MM_HINT_T0);
    if (oy + 1 < OH) maxpool_rows512(c, xs, oy + 1, rows + ((oy + 1) & 1) * len + c->pb[2]);
    float *o = ys + oy * OW;
    for (int64_t ox = 0; ox < OW; ox += 16) {
      __mmask16 m = OW - ox >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (OW - ox)) - 1);
      const float *w = row + ox * sw;
      __m512 v = ninf;
      for (int64_t t = 0; t < kw; t++) {
        __m512 a = _mm512_loadu_ps(w + t);
        if (sw == 2) a = _mm512_permutex2var_ps(a, even, _mm512_loadu_ps(w + t + 16));
        v = _mm512_max_ps(a, v);
      }
      _mm512_mask_storeu_ps(o + ox, m, v);
    }
  }
}

/* Windowed pooling of planes [q0, q1) (q = n*C + c); tmp: the prepare-time scratch. */
static void pool_planes(const pool_params *c, const float *x, float *y, int64_t q0, int64_t q1,
                        float *tmp) {
  const int64_t ihw = c->in[0] * c->in[1] * c->in[2], ohw = c->out[0] * c->out[1] * c->out[2];
  if (pool_fast2d(c)) {
    for (int64_t q = q0; q < q1; q++)
      for (int64_t z = 0; z < c->in[0]; z++) /* k[0] == 1: each depth slice on its own */
        if (c->simd && c->k[2] == 3 && c->s[2] == 2 && c->pb[2] < 16)
          maxpool2d_k3s2_avx512(c, x + q * ihw + z * c->in[1] * c->in[2],
                                y + q * ohw + z * c->out[1] * c->out[2]);
        else
          (c->simd ? maxpool2d_avx512 : maxpool2d)(c, x + q * ihw + z * c->in[1] * c->in[2],
                                                    y + q * ohw + z * c->out[1] * c->out[2], tmp);
    return;
  }
  for (int64_t q = q0; q < q1; q++) {
    const float *xs = x + q * ihw;
    float *ys = y + q * ohw;
    for (int64_t oz = 0; oz < c->out[0]; oz++)
      for (int64_t oy = 0; oy < c->out[1]; oy++)
        for (int64_t ox = 0; ox < c->out[2]; ox++) {
          int64_t z0 = oz * c->s[0] - c->pb[0], y0 = oy * c->s[1] - c->pb[1], x0 = ox * c->s[2] - c->pb[2];
          float m = -FLT_MAX;
          float s = 0.0f;
          int64_t cnt = 0, padcnt = 1;
          for (int a = 0; a < 3; a++) {
            /* with count_include_pad, window cells inside the padded extent count; ceil_mode's
             * overhang past the end padding does not */
            int64_t st = (a == 0 ? oz : a == 1 ? oy : ox) * c->s[a] - c->pb[a], n = 0;
            for (int64_t t = 0; t < c->k[a]; t++) {
              int64_t i = st + t * c->d[a];
              if (i >= -c->pb[a] && i < c->in[a] + c->pe[a]) n++;
            }
            padcnt *= n;
          }
          for (int64_t kz = 0; kz < c->k[0]; kz++) {
            int64_t iz = z0 + kz * c->d[0];
            if (iz < 0 || iz >= c->in[0]) continue;
            for (int64_t ky = 0; ky < c->k[1]; ky++) {
              int64_t iy = y0 + ky * c->d[1];
              if (iy < 0 || iy >= c->in[1]) continue;
              const float *row = xs + (iz * c->in[1] + iy) * c->in[2];
              for (int64_t kx = 0; kx < c->k[2]; kx++) {
                int64_t ix = x0 + kx * c->d[2];
                if (ix < 0 || ix >= c->in[2]) continue;
                float v = row[ix];
                m = v > m ? v : m;
                s += v;
                cnt++;
              }
            }
          }
          float *o = ys + (oz * c->out[1] + oy) * c->out[2] + ox;
          if (c->kind == POOL_MAX) *o = m;
          else *o = c->include_pad ? s / (float)padcnt : cnt ? s / (float)cnt : 0.0f;
        }
  }
}

const om_op om_ops_pool[] = {
  {"MaxPool", 1, 99, maxpool_prepare, pool_run},
  {"AveragePool", 1, 99, avgpool_prepare, pool_run},
  {"GlobalMaxPool", 1, 99, gmax_prepare, pool_run},
  {"GlobalAveragePool", 1, 99, gavg_prepare, pool_run},
  {0},
};
