/* ops_conv.c: Conv and ConvTranspose (float32, 1-D/2-D/3-D, groups, strides, dilations, pads,
 * auto_pad) with the planner's fused epilogue (om_act, om_act_alpha, om_act_beta, om_sum).
 *
 * Shapes: X is (N, C, *in), W is (M, C/group, *k) for Conv and (C, M/group, *k) for ConvTranspose,
 * Y is (N, M, *out). 1-D and 2-D are run as 3-D with leading spatial sizes of 1.
 * Conv strategies, chosen at prepare:
 *   - 1x1, stride 1, no pad: per group Y[Mg, HW] = W[Mg, Cg] * X[Cg, HW] straight from NCHW.
 *   - general: implicit im2col: the GEMM's B packer gathers patches from the image directly into
 *     packed panels, so no K x HW column buffer is ever materialized.
 *   - depthwise (Cg == 1): AVX-512 plane kernel over a padded copy (conv_depthwise.c) where it
 *     applies, else direct loops over rows (vectorizable inner loop over output columns).
 *   - 2-D stride 1 or 2 (constant weights, AVX-512): shifted rows of padded phase planes of the image
 *     (conv_direct.c): the GEMM micro-kernel's tile with B read from there, nothing packed; also
 *     a 1x1 stride-1 Conv with at most 128 output channels per group, reading the image in place.
 *     OM_CONV_DIRECT=0 turns it off (A/B runs).
 *   - depthwise after a 1x1 Conv whose output is 2 MB or more (the planner's fuse_chain, om_pre):
 *     both in row bands (conv_chain.c), the 1x1's output never written whole.
 *   - 3x3 stride 1 (2-D, group 1, constant weights, SIMD paths): Winograd F(4x4, 3x3), or F(2x2, 3x3)
 *     on small maps, in fp32 where om_wino_profitable says so (conv_winograd.c), unless the plan
 *     options turn it off (--no-winograd); the REF path always stays direct. Precision bf16 keeps
 *     it too (F(2x2) except on AMX): it saves more than bf16 products give (one thread, Zen 4:
 *     resnet18 1.46x, resnet50 1.18x faster than bf16 direct) and adds no bf16 rounding.
 * Constant weights are packed into the GEMM layout at prepare. ConvTranspose: col = W^T X by GEMM,
 * then col2im scatter-add (simple and correct; speed is secondary there). */
#include "engine/conv_chain.h"
#include "engine/conv_depthwise.h"
#include "engine/conv_direct.h"
#include "engine/conv_winograd.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "engine/op_util.h"
#include "engine/vmath.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { CONV_GEMM_1X1, CONV_IM2COL, CONV_DEPTHWISE, CONV_TRANSPOSE, CONV_WINOGRAD, CONV_DIRECT, CONV_GEMV };

typedef struct conv_params {
  int kind;
  const om_gemm_kernel *k;
  int64_t N, C, D, H, W;          /* input batch, channels, spatial (3-D promoted) */
  int64_t M, OD, OH, OW;          /* output channels and spatial */
  int64_t group, Cg, Mg;
  int64_t kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw; /* pads: begin side */
  int64_t Kg;                     /* GEMM depth: Cg*kd*kh*kw (Conv) or Mg*kd*kh*kw (transpose) */
  const float *wpacked;           /* Conv: per group packed A, wstride floats apart; or NULL */
  size_t wstride;
  int act;
  float alpha, beta;
  int has_sum;
  om_wino wino;                   /* CONV_WINOGRAD */
  om_cdir cdir;                   /* CONV_DIRECT (shifted rows, conv_direct.c) */
  int dw_fast;                    /* CONV_DEPTHWISE through conv_depthwise.c (AVX-512) */
  om_dw dwk;
  const uint16_t *wbf16;          /* precision bf16: per group packed bf16 A (gemm_bf16.c), or NULL */
  size_t wbf16_stride;
  int in_scale;                   /* om_in_scale: X's channel c times input 4's value (CONV_GEMM_1X1) */
  int64_t scale_nstride;          /* that input's stride between images: C, or 0 when shared */
  size_t wsc_off;                 /* CONV_DIRECT with in_scale: the scaled weights' scratch offset */
  int pre;                        /* om_pre: a 1x1 Conv in front (inputs 5, 6), run in bands */
  om_chain chain;
  const float *wpre;              /* its packed weights */
  int pre_act;
  float pre_alpha, pre_beta;
  int64_t pre_C;                  /* its input channels */
  int pool;                       /* om_pool (plan.c fuse_pool): a 3x3 stride-2 MaxPool after it */
  int pool_band;                  /* ... run in row bands (om_cdir_run_pool); else the whole Conv
                                     output in scratch, then pooled */
  om_cdir_pool cpool;
  size_t pool_off;                /* scratch offset of the band buffer / the whole output */
} conv_params;

/* ---- implicit im2col: B[k, j] with k = ((c*kd + z)*kh + y)*kw + x, j = (oz*OH + oy)*OW + ox ---- */
typedef struct im2col_ctx {
  const conv_params *p;
  const float *x; /* first input channel of the group, image n */
} im2col_ctx;

static inline __attribute__((always_inline)) void pack_body(const void *vctx, int64_t k0, int64_t kc,
                                                            int64_t j0, int64_t nc, int nr, float *dst,
                                                            int v512) {
  const im2col_ctx *ctx = vctx;
  const conv_params *p = ctx->p;
  const int64_t D = p->D, H = p->H, W = p->W, OH = p->OH, OW = p->OW;
  const int64_t ksz = p->kd * p->kh * p->kw;
  for (int64_t kk = 0; kk < kc; kk++) {
    int64_t k = k0 + kk;
    int64_t c = k / ksz, r = k % ksz;
    int64_t kz = r / (p->kh * p->kw), ky = (r / p->kw) % p->kh, kx = r % p->kw;
    const float *xc = ctx->x + c * D * H * W;
    int64_t ox = j0 % OW, oy = (j0 / OW) % OH, oz = j0 / (OW * OH);
    float *d = dst + kk * nr; /* panel 0, row kk */
    int lane = 0;
    int64_t left = nc;
    while (left > 0) {
      int64_t run = OW - ox;
      if (run > nr - lane) run = nr - lane;
      if (run > left) run = left;
      int64_t iz = oz * p->sd - p->pd + kz * p->dd, iy = oy * p->sh - p->ph + ky * p->dh;
      if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
        memset(d + lane, 0, (size_t)run * sizeof(float));
      } else {
        const float *src = xc + (iz * H + iy) * W;
        int64_t ix = ox * p->sw - p->pw + kx * p->dw;
        float *o = d + lane;
        if (v512 && p->sw <= 2) {
          om_row_gather512(o, src, ix, run, p->sw, W);
        } else if (p->sw == 1 && ix >= 0 && ix + run <= W) {
          memcpy(o, src + ix, (size_t)run * sizeof(float));
        } else {
          for (int64_t t = 0; t < run; t++, ix += p->sw) o[t] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
        }
      }
      lane += (int)run;
      left -= run;
      ox += run;
      if (ox == OW) {
        ox = 0;
        if (++oy == OH) { oy = 0; oz++; }
      }
      if (lane == nr) {
        lane = 0;
        d += kc * nr; /* same row kk of the next panel */
      }
    }
    if (lane) memset(d + lane, 0, (size_t)(nr - lane) * sizeof(float));
  }
}

static void pack_im2col(const void *vctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                        float *dst) {
  pack_body(vctx, k0, kc, j0, nc, nr, dst, 0);
}

static void pack_im2col_avx512(const void *vctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                               float *dst) {
  pack_body(vctx, k0, kc, j0, nc, nr, dst, 1);
}

/* ---- 1x1 GEMM's B with the planner's per-channel input scale (om_in_scale) ---- */
typedef struct scaled_ctx {
  const float *x;     /* image n's first channel: B[k, j] = x[k*hw + j] * s[k] */
  const float *s;
  int64_t hw;
} scaled_ctx;

/* One packed row: d[j] = src[j] * sc for j < w, zeros up to nr (16 lanes at a time on AVX-512). */
static void scaled_row(float *d, const float *src, float sc, int64_t w, int nr) {
  for (int64_t j = 0; j < w; j++) d[j] = src[j] * sc;
  for (int64_t j = w; j < nr; j++) d[j] = 0.0f;
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
static void scaled_row512(float *d, const float *src, float sc, int64_t w, int nr) {
  const __m512 v = _mm512_set1_ps(sc);
  for (int64_t j = 0; j < nr; j += 16) {
    int64_t n = w - j;
    __mmask16 mk = n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
    _mm512_storeu_ps(d + j, _mm512_maskz_mul_ps(mk, _mm512_maskz_loadu_ps(mk, src + j), v));
  }
}

/* gemm.h's packed panel layout, like om_gemm_packb_strided; each product is the one float multiply
 * the fused Mul did, so the GEMM sees the same B. */
static inline __attribute__((always_inline)) void pack_scaled_body(const void *vctx, int64_t k0, int64_t kc,
                                                                 int64_t j0, int64_t nc, int nr, float *dst,
                                                                 int simd) {
  const scaled_ctx *m = vctx;
  for (int64_t q = 0; q < nc; q += nr) {
    int64_t w = nc - q < nr ? nc - q : nr;
    for (int64_t kk = 0; kk < kc; kk++) {
      const float *src = m->x + (k0 + kk) * m->hw + j0 + q;
      (simd ? scaled_row512 : scaled_row)(dst + kk * nr, src, m->s[k0 + kk], w, nr);
    }
    dst += kc * nr;
  }
}

static void pack_scaled(const void *vctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                        float *dst) {
  pack_scaled_body(vctx, k0, kc, j0, nc, nr, dst, 0);
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
static void pack_scaled_avx512(const void *vctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                               float *dst) { /* the body and its rows inline here */
  pack_scaled_body(vctx, k0, kc, j0, nc, nr, dst, 1);
}

/* ---- activation over a row (vectorizable for the common ones) ---- */
static void act_row(float *y, int64_t n, int act, float a, float b, int path) {
  switch (act) {
  case OM_ACT_NONE: return;
  case OM_ACT_SIGMOID: om_vm_sigmoid(y, y, n, path); return;
  case OM_ACT_SILU: om_vm_silu(y, y, n, path); return;
  case OM_ACT_RELU:
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    return;
  case OM_ACT_CLIP:
    for (int64_t i = 0; i < n; i++) {
      float v = y[i] < a ? a : y[i];
      y[i] = v > b ? b : v;
    }
    return;
  default:
    for (int64_t i = 0; i < n; i++) y[i] = om_act_apply(act, a, b, y[i]);
  }
}

/* ---- depthwise: one output channel plane; generic C, and the same body built for AVX-512 ---- */
#define DW_BODY                                                                               \
  const int64_t H = p->H, W = p->W, OH = p->OH, OW = p->OW;                                  \
  for (int64_t oz = 0; oz < p->OD; oz++)                                                      \
    for (int64_t oy = 0; oy < OH; oy++) {                                                     \
      float *yr = y + (oz * OH + oy) * OW;                                                    \
      for (int64_t ox = 0; ox < OW; ox++) yr[ox] = bias + (sum ? sum[(oz * OH + oy) * OW + ox] : 0.0f); \
      for (int64_t kz = 0; kz < p->kd; kz++) {                                                \
        int64_t iz = oz * p->sd - p->pd + kz * p->dd;                                         \
        if (iz < 0 || iz >= p->D) continue;                                                   \
        for (int64_t ky = 0; ky < p->kh; ky++) {                                              \
          int64_t iy = oy * p->sh - p->ph + ky * p->dh;                                       \
          if (iy < 0 || iy >= H) continue;                                                    \
          const float *xr = x + (iz * H + iy) * W;                                            \
          for (int64_t kx = 0; kx < p->kw; kx++) {                                            \
            float wv = w[(kz * p->kh + ky) * p->kw + kx];                                     \
            int64_t off = kx * p->dw - p->pw; /* ix = ox*sw + off */                          \
            int64_t lo = off < 0 ? (-off + p->sw - 1) / p->sw : 0;                            \
            int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / p->sw + 1;                     \
            if (hi > OW) hi = OW;                                                             \
            if (p->sw == 1) {                                                                 \
              const float *xs = xr + off;                                                     \
              for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xs[ox];                     \
            } else {                                                                          \
              for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * p->sw + off];       \
            }                                                                                 \
          }                                                                                   \
        }                                                                                     \
      }                                                                                       \
      act_row(yr, OW, p->act, p->alpha, p->beta, p->k->path);                                             \
    }

static void dw_plane(const conv_params *p, const float *x, const float *w, float bias,
                     const float *sum, float *y) {
  DW_BODY
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
static void dw_plane_avx512(const conv_params *p, const float *x, const float *w, float bias,
                            const float *sum, float *y) {
  DW_BODY
}

__attribute__((target("avx2,fma")))
static void dw_plane_avx2(const conv_params *p, const float *x, const float *w, float bias,
                          const float *sum, float *y) {
  DW_BODY
}

/* ---- attribute parsing shared by Conv and ConvTranspose ---- */
static int read_fusion(om_prep *p, conv_params *c, int64_t ndim, const int64_t *ydims, char *err) {
  return om_read_fusion(p, (int)ndim, ydims, &c->act, &c->alpha, &c->beta, &c->has_sum, err);
}

/* Spatial geometry common to both ops: promotes to 3-D, reads kernel/stride/dilation/pads. */
typedef struct geom {
  int ns;                                  /* spatial dims, 1..3 */
  int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} geom;

static int read_geom(om_prep *p, const om_tensor *X, const om_tensor *Wt, geom *g, char *err) {
  int ns = X->ndim - 2;
  g->ns = ns;
  int64_t ks[3], st[3], dl[3], pads[6];
  int rc;
  if ((rc = om_attr_ints_fixed(p, "strides", ns, st, 1, 1, err)) ||
      (rc = om_attr_ints_fixed(p, "dilations", ns, dl, 1, 1, err)) ||
      (rc = om_attr_ints_fixed(p, "pads", 2 * ns, pads, 0, 0, err)) ||
      (rc = om_attr_ints_fixed(p, "kernel_shape", ns, ks, 0, 1, err)))
    return rc;
  for (int i = 0; i < ns; i++) {
    if (ks[i] == 0) ks[i] = Wt->dims[2 + i];
    if (ks[i] != Wt->dims[2 + i])
      return om_seterr(err, OM_E_INVALID, "kernel_shape[%d] = %lld but the weight has %lld", i,
                       (long long)ks[i], (long long)Wt->dims[2 + i]);
  }
  /* right-align into 3-D */
  for (int i = 0; i < 3; i++) {
    g->in[i] = 1; g->k[i] = 1; g->s[i] = 1; g->d[i] = 1; g->pb[i] = 0; g->pe[i] = 0;
  }
  for (int i = 0; i < ns; i++) {
    int j = 3 - ns + i;
    g->in[j] = X->dims[2 + i];
    g->k[j] = ks[i]; g->s[j] = st[i]; g->d[j] = dl[i];
    g->pb[j] = pads[i]; g->pe[j] = pads[ns + i];
  }
  return OM_OK;
}

static int conv_prepare_conv(om_prep *p, char *err) {
  const om_tensor *X = p->in[0], *Wt = p->nin > 1 ? p->in[1] : NULL;
  const om_tensor *B = p->nin > 2 ? p->in[2] : NULL;
  int rc;
  if ((rc = om_check_float(X, "X", err)) || (rc = om_check_float(Wt, "W", err))) return rc;
  /* om_pre (the planner's fuse_chain): X feeds a 1x1 Conv (weights input 5, bias input 6) whose
   * output this depthwise Conv reads: shapes below are those of that output (xv) */
  om_tensor xv;
  const om_tensor *W1 = NULL, *B1 = NULL;
  int pre = om_attr_int(p, "om_pre", 0) != 0;
  if (pre) {
    W1 = p->nin > 5 ? p->in[5] : NULL;
    B1 = p->nin > 6 ? p->in[6] : NULL;
    if ((rc = om_check_float(W1, "om_pre W (input 5)", err))) return rc;
    if (X->ndim != 4 || W1->ndim != 4 || W1->dims[1] != X->dims[1] || W1->dims[2] != 1 || W1->dims[3] != 1 ||
        !W1->data)
      return om_seterr(err, OM_E_INVALID, "om_pre needs a constant [M, C, 1, 1] weight over X's channels");
    if (om_tensor_present(B1) &&
        ((rc = om_check_float(B1, "om_pre B (input 6)", err)) || B1->ndim != 1 || B1->dims[0] != W1->dims[0]))
      return rc ? rc : om_seterr(err, OM_E_INVALID, "om_pre bias must have shape [%lld]", (long long)W1->dims[0]);
    xv = *X;
    xv.dims[1] = W1->dims[0];
    xv.data = NULL;
    X = &xv;
  }
  if (X->ndim < 3 || X->ndim > 5)
    return om_seterr(err, OM_E_UNSUPPORTED, "input X has %d dims; Conv supports 1-D to 3-D images (3 to 5 dims)", X->ndim);
  if (Wt->ndim != X->ndim)
    return om_seterr(err, OM_E_INVALID, "W has %d dims but X has %d", Wt->ndim, X->ndim);
  conv_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for Conv parameters");
  c->N = X->dims[0];
  c->C = X->dims[1];
  c->M = Wt->dims[0];
  c->group = om_attr_int(p, "group", 1);
  if (c->group < 1 || c->C % c->group || c->M % c->group)
    return om_seterr(err, OM_E_INVALID, "group %lld does not divide %lld input and %lld output channels",
                     (long long)c->group, (long long)c->C, (long long)c->M);
  c->Cg = c->C / c->group;
  c->Mg = c->M / c->group;
  if (Wt->dims[1] != c->Cg)
    return om_seterr(err, OM_E_INVALID, "W has %lld input channels per group, X has %lld / group %lld = %lld",
                     (long long)Wt->dims[1], (long long)c->C, (long long)c->group, (long long)c->Cg);
  if (om_tensor_present(B)) {
    if ((rc = om_check_float(B, "B", err))) return rc;
    if (B->ndim != 1 || B->dims[0] != c->M)
      return om_seterr(err, OM_E_INVALID, "bias B must have shape [%lld]", (long long)c->M);
  }
  geom g;
  if ((rc = read_geom(p, X, Wt, &g, err))) return rc;
  const char *ap = om_attr_string(p, "auto_pad", "NOTSET");
  int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
  if (!same_upper && !same_lower && strcmp(ap, "VALID") != 0 && strcmp(ap, "NOTSET") != 0)
    return om_seterr(err, OM_E_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
  for (int i = 0; i < 3; i++) {
    int64_t ext = (g.k[i] - 1) * g.d[i] + 1;
    if (same_upper || same_lower) {
      g.out[i] = (g.in[i] + g.s[i] - 1) / g.s[i];
      int64_t tot = (g.out[i] - 1) * g.s[i] + ext - g.in[i];
      if (tot < 0) tot = 0;
      g.pb[i] = same_upper ? tot / 2 : tot - tot / 2;
      g.pe[i] = tot - g.pb[i];
    } else {
      if (strcmp(ap, "VALID") == 0) g.pb[i] = g.pe[i] = 0;
      int64_t span = g.in[i] + g.pb[i] + g.pe[i] - ext;
      if (span < 0)
        return om_seterr(err, OM_E_INVALID, "kernel extent %lld is larger than the padded input %lld",
                         (long long)ext, (long long)(g.in[i] + g.pb[i] + g.pe[i]));
      g.out[i] = span / g.s[i] + 1;
    }
    if (g.out[i] < 1) return om_seterr(err, OM_E_INVALID, "output size would be %lld", (long long)g.out[i]);
  }
  c->D = g.in[0]; c->H = g.in[1]; c->W = g.in[2];
  c->OD = g.out[0]; c->OH = g.out[1]; c->OW = g.out[2];
  c->kd = g.k[0]; c->kh = g.k[1]; c->kw = g.k[2];
  c->sd = g.s[0]; c->sh = g.s[1]; c->sw = g.s[2];
  c->dd = g.d[0]; c->dh = g.d[1]; c->dw = g.d[2];
  c->pd = g.pb[0]; c->ph = g.pb[1]; c->pw = g.pb[2];

  om_tensor *Y = &p->out[0];
  Y->dtype = OM_DT_FLOAT;
  Y->ndim = X->ndim;
  Y->dims[0] = c->N;
  Y->dims[1] = c->M;
  for (int i = 0; i < g.ns; i++) Y->dims[2 + i] = g.out[3 - g.ns + i];
  if ((rc = read_fusion(p, c, Y->ndim, Y->dims, err))) return rc;
  c->in_scale = om_attr_int(p, "om_in_scale", 0) != 0;
  if (c->in_scale) { /* the planner's fusion (plan.c fuse_in_scale): s is [1 or N, C, 1, 1] or [C, 1, 1] */
    const om_tensor *S = p->nin > 4 ? p->in[4] : NULL;
    if ((rc = om_check_float(S, "om_in_scale (input 4)", err))) return rc;
    int ok = (S->ndim == 4 && (S->dims[0] == 1 || S->dims[0] == c->N) && S->dims[1] == c->C &&
              S->dims[2] == 1 && S->dims[3] == 1) ||
             (S->ndim == 3 && S->dims[0] == c->C && S->dims[1] == 1 && S->dims[2] == 1);
    if (!ok || c->group != 1 || X->ndim != 4)
      return om_seterr(err, OM_E_INVALID, "om_in_scale needs one value per input channel of an ungrouped 2-D Conv");
    c->scale_nstride = S->ndim == 4 && S->dims[0] == c->N && c->N > 1 ? c->C : 0;
  }

  size_t ksz, kg, ohw;
  if (om_mul_size((size_t)c->kd, (size_t)c->kh, &ksz) || om_mul_size(ksz, (size_t)c->kw, &ksz) ||
      om_mul_size(ksz, (size_t)c->Cg, &kg) || om_mul_size((size_t)c->OD, (size_t)c->OH, &ohw) ||
      om_mul_size(ohw, (size_t)c->OW, &ohw) || kg > ((size_t)1 << 31) || ohw > ((size_t)1 << 31))
    return om_seterr(err, OM_E_LIMIT, "Conv sizes overflow");
  c->Kg = (int64_t)kg;
  c->k = om_gemm_kernel_best(p->kernel_path);
  if (c->Cg == 1 && (c->Mg == 1 || c->group > 1)) {
    c->kind = CONV_DEPTHWISE;
    p->scratch_bytes = 0;
    if (c->k->path == OM_KERNEL_AVX512 && om_dw_supported(c->kd, c->dh, c->dw, c->sw, c->kh, c->kw)) {
      om_dw_setup(&c->dwk, c->H, c->W, c->OH, c->OW, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
      c->dw_fast = 1;
    }
    if (pre) {
      if (!c->dw_fast || c->D != 1 || c->in_scale)
        return om_seterr(err, OM_E_UNSUPPORTED, "om_pre needs the AVX-512 2-D depthwise kernel");
      size_t nidx, nb, per, tot;
      if ((rc = om_chain_setup(&c->chain, p->in[0]->dims[1], c->M, c->H, c->W, c->OH, c->OW, c->kh, c->kw,
                               c->sh, c->sw, c->ph, c->pw, &p->scratch_bytes, &nidx, &nb, err)))
        return rc;
      int32_t *off = om_prep_alloc(p, nidx * sizeof(int32_t));
      om_dw *bands = om_prep_alloc(p, nb * sizeof(om_dw));
      per = om_chain_weight_floats(&c->chain);
      float *wp = om_mul_size(per, sizeof(float), &tot) ? NULL : om_prep_alloc(p, tot);
      if (!off || !bands || !wp) return om_seterr(err, OM_E_NOMEM, "out of memory for the fused 1x1 Conv's weights");
      om_chain_index(&c->chain, off, bands);
      om_chain_pack_weights(&c->chain, W1->data, wp);
      c->wpre = wp;
      c->pre = 1;
      c->pre_C = p->in[0]->dims[1];
      c->pre_act = (int)om_attr_int(p, "om_pre_act", OM_ACT_NONE);
      if (c->pre_act < OM_ACT_NONE || c->pre_act > OM_ACT_SILU)
        return om_seterr(err, OM_E_INVALID, "om_pre_act %d is not a known activation", c->pre_act);
      c->pre_alpha = om_attr_float(p, "om_pre_alpha", 0.0f);
      c->pre_beta = om_attr_float(p, "om_pre_beta", 0.0f);
      p->consumed |= 1u << 5;
    }
  } else {
    if (pre) return om_seterr(err, OM_E_INVALID, "om_pre needs a depthwise Conv");
    int one = ksz == 1 && c->sd == 1 && c->sh == 1 && c->sw == 1 && c->pd == 0 && c->ph == 0 &&
              c->pw == 0 && c->OD == c->D && c->OH == c->H && c->OW == c->W;
    c->kind = one ? CONV_GEMM_1X1 : CONV_IM2COL;
    if (c->in_scale && !one) return om_seterr(err, OM_E_INVALID, "om_in_scale needs a 1x1 stride-1 unpadded Conv");
    /* a 1x1 Conv on a 1x1 map (squeeze-excitation): a matrix-vector product, not a GEMM whose tile
     * would hold one live column (efficientnet_b0's 32 such layers: 0.45 -> 0.14 ms per image).
     * It stays fp32 under precision bf16: it streams its weights once per image, and the bf16 GEMM's
     * tile took 0.30 ms for the same 32 layers (Zen 4, one thread). */
    if (one && ohw == 1 && c->group == 1 && Wt->data && !c->in_scale && c->k->path == OM_KERNEL_AVX512) {
      size_t nf = om_gemv_packed_floats(c->M, c->Kg), bytes;
      float *wp = !nf || om_mul_size(nf, sizeof(float), &bytes) ? NULL : om_prep_alloc(p, bytes);
      if (!wp) return om_seterr(err, OM_E_NOMEM, "out of memory packing Conv weights");
      om_gemv_pack(c->M, c->Kg, Wt->data, c->Kg, 1, 1.0f, wp);
      c->wpacked = wp;
      c->kind = CONV_GEMV;
      p->consumed |= 1u << 1;
      p->scratch_bytes = 0;
      p->params = c;
      return OM_OK;
    }
    int wino = Wt->data && c->group == 1 && c->D == 1 && c->kd == 1 && c->kh == 3 && c->kw == 3 &&
               c->sh == 1 && c->sw == 1 && c->dh == 1 && c->dw == 1 && c->k->path != OM_KERNEL_REF &&
               !p->no_winograd ? om_wino_profitable(c->C, c->M, c->OH, c->OW) : 0;
    /* bf16 on AMX leaves F(2x2) out: its ~1.5x is less than the tiles give on those maps (vdpbf16ps
     * runs no faster than fp32 FMAs, so there it stays) */
    if (wino == 2 && p->precision == OM_PRECISION_BF16 && om_gemm_amx_supported()) wino = 0;
    if (wino) {
      size_t uf, sb;
      if ((rc = om_wino_setup(&c->wino, c->k, wino, c->C, c->M, c->H, c->W, c->OH, c->OW, c->ph, c->pw,
                              &uf, &sb, err)))
        return rc;
      size_t ub;
      float *u = om_mul_size(uf, sizeof(float), &ub) ? NULL : om_prep_alloc(p, ub);
      if (!u) return om_seterr(err, OM_E_NOMEM, "out of memory for Winograd Conv weights (%zu floats)", uf);
      if ((rc = om_wino_transform_weights(&c->wino, Wt->data, u, p->threads, err))) return rc;
      c->kind = CONV_WINOGRAD;
      p->consumed |= 1u << 1;
      p->scratch_bytes = sb;
      p->params = c;
      return OM_OK;
    }
    if (Wt->data && p->precision == OM_PRECISION_BF16 && c->k->path == OM_KERNEL_AVX512) {
      size_t per = om_gemm_bf16_packed_a_elems(c->Mg, c->Kg), tot;
      if (!per || om_mul_size(per, (size_t)c->group, &tot) || om_mul_size(tot, 2, &tot))
        return om_seterr(err, OM_E_LIMIT, "bf16 packed Conv weights overflow");
      uint16_t *wp = om_prep_alloc(p, tot);
      if (!wp) return om_seterr(err, OM_E_NOMEM, "out of memory packing bf16 Conv weights (%zu bytes)", tot);
      for (int64_t gi = 0; gi < c->group; gi++)
        om_gemm_bf16_pack_a(c->Mg, c->Kg, (const float *)Wt->data + gi * c->Mg * c->Kg, c->Kg, 1, 1.0f,
                            wp + gi * per);
      c->wbf16 = wp;
      p->consumed |= 1u << 1;
      c->wbf16_stride = per;
      p->scratch_bytes = om_gemm_bf16_scratch_bytes(c->Mg, (int64_t)ohw, c->Kg);
      p->params = c;
      return OM_OK;
    }
    const char *de = getenv("OM_CONV_DIRECT");
    int32_t *off = NULL;
    /* a 1x1 stride-1 Conv with few output channels reads the image in place (conv_direct.c): the
     * GEMM would pack all of B for only Mg/8 row panels to reuse it; measured 8-20% faster per layer
     * up to 128 channels, slower past it and at 7x7 (the grid's lanes are 49 of 64 there). Behind a
     * squeeze-excitation gate too, where the gated weights made per image (below) are at most a
     * quarter of the image: efficientnet_b0's projections at 112x112 to 28x28 0.66-0.85x the time
     * of the GEMM that scales B while packing it; at 14x14 (weights half the image) 1.2x */
    int one_direct = one && c->Mg <= 128 && c->OH * c->OW >= 128 &&
                     (!c->in_scale || c->Mg * 4 <= c->OH * c->OW);
    /* a strided 1x1 Conv (resnets' downsampling) onto a small map packs its B faster than the
     * shifted-row tiles read it: resnet50's 512->1024 @14 1.42 -> 1.26 ms, 1024->2048 @7 1.59 -> 1.29
     * (at 28x28 the tiles win, 1.21 vs 1.33) */
    int small_strided_1x1 = ksz == 1 && !one && c->OH * c->OW <= 256;
    if ((!one || one_direct) && !small_strided_1x1 && Wt->data && c->k->path == OM_KERNEL_AVX512 && c->D == 1 && c->kd == 1 &&
        !(de && strcmp(de, "0") == 0) &&
        om_cdir_supported(c->Cg, c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->ph, g.pe[1],
                          c->pw, g.pe[2])) {
      size_t nidx;
      if ((rc = om_cdir_setup(&c->cdir, c->Cg, c->Mg, c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw,
                              c->ph, g.pe[1], c->pw, g.pe[2], &p->scratch_bytes, &nidx, err)))
        return rc;
      off = om_prep_alloc(p, nidx * sizeof(int32_t));
      if (!off) return om_seterr(err, OM_E_NOMEM, "out of memory for Conv offsets");
      om_cdir_index(&c->cdir, off, c->kh, c->kw, c->dh, c->dw);
    }
    if (off && c->in_scale) {
      /* the gate scales input channel k, so it scales weight column k: W[m][k] s[k] is made and
       * packed per image (Mg x Kg floats, a small part of the image at these map sizes) and the image
       * is read in place as without a gate; the raw weights stay in the plan */
      size_t wb, per = om_cdir_weight_floats(&c->cdir), pb;
      if (!per || om_mul_size((size_t)c->Mg * (size_t)c->Kg, sizeof(float), &wb) ||
          om_mul_size(per, sizeof(float), &pb))
        return om_seterr(err, OM_E_LIMIT, "gated Conv weights overflow");
      c->wsc_off = OM_ALIGN_UP(p->scratch_bytes, 64);
      p->scratch_bytes = c->wsc_off + OM_ALIGN_UP(wb, 64) + pb;
      c->kind = CONV_DIRECT;
      p->params = c;
      return OM_OK;
    }
    if (off) {
      size_t per = om_cdir_weight_floats(&c->cdir), tot;
      if (!per || om_mul_size(per, (size_t)c->group, &tot) || om_mul_size(tot, sizeof(float), &tot))
        return om_seterr(err, OM_E_LIMIT, "packed Conv weights overflow");
      float *wp = om_prep_alloc(p, tot);
      if (!wp) return om_seterr(err, OM_E_NOMEM, "out of memory packing Conv weights (%zu bytes)", tot);
      for (int64_t gi = 0; gi < c->group; gi++)
        om_cdir_pack_weights_par(&c->cdir, (const float *)Wt->data + gi * c->Mg * c->Kg, wp + gi * per,
                                 p->threads);
      c->wpacked = wp;
      c->wstride = per;
      c->kind = CONV_DIRECT;
      p->consumed |= 1u << 1;
      p->params = c;
      return OM_OK;
    }
    if (Wt->data) {
      size_t per = om_gemm_packed_a_floats(c->k, c->Mg, c->Kg), tot;
      if (!per || om_mul_size(per, (size_t)c->group, &tot) || om_mul_size(tot, sizeof(float), &tot))
        return om_seterr(err, OM_E_LIMIT, "packed Conv weights overflow");
      float *wp = om_prep_alloc(p, tot);
      if (!wp) return om_seterr(err, OM_E_NOMEM, "out of memory packing Conv weights (%zu bytes)", tot);
      for (int64_t gi = 0; gi < c->group; gi++)
        om_gemm_pack_a_par(c->k, c->Mg, c->Kg, (const float *)Wt->data + gi * c->Mg * c->Kg, c->Kg, 1, 1.0f,
                           wp + gi * per, p->threads);
      c->wpacked = wp;
      c->wstride = per;
      p->consumed |= 1u << 1;
    }
    p->scratch_bytes = om_gemm_scratch_bytes(c->k, c->Mg, (int64_t)ohw, c->Kg, c->wpacked != NULL, 0);
  }
  p->params = c;
  return OM_OK;
}

/* Conv, and the MaxPool the planner fused into it (om_pool: 3x3 stride 2, its top / left pads and
 * output size; the Conv's activation already applied). */
static int conv_prepare(om_prep *p, char *err) {
  int rc = conv_prepare_conv(p, err);
  if (rc || !om_attr_int(p, "om_pool", 0)) return rc;
  om_tensor *Y = &p->out[0];
  const int64_t pt = om_attr_int(p, "om_pool_pt", 0), pl = om_attr_int(p, "om_pool_pl", 0);
  const int64_t POH = om_attr_int(p, "om_pool_oh", 0), POW = om_attr_int(p, "om_pool_ow", 0);
  if (Y->ndim != 4 || pt < 0 || pt > 2 || pl < 0 || pl > 2 || POH < 1 || POW < 1 ||
      (POH - 1) * 2 - pt >= Y->dims[2] || (POW - 1) * 2 - pl >= Y->dims[3] ||
      !om_gemm_path_supported(OM_KERNEL_AVX512))
    return om_seterr(err, OM_E_INVALID, "om_pool: a 3x3 stride-2 MaxPool of %lldx%lld rows to %lldx%lld does not fit",
                     (long long)Y->dims[2], (long long)Y->dims[3], (long long)POH, (long long)POW);
  conv_params *c = p->params;
  if (c && (c->pre || c->in_scale || c->has_sum))
    return om_seterr(err, OM_E_INVALID, "om_pool does not combine with om_pre, om_in_scale or om_sum");
  if (c) {
    c->pool = 1;
    c->pool_off = OM_ALIGN_UP(p->scratch_bytes, 64);
    c->cpool = (om_cdir_pool){POH, POW, pt, pl, 0, 0};
    size_t bb = 0;
    if (c->kind == CONV_DIRECT && c->group == 1 && c->D == 1) bb = om_cdir_pool_bands(&c->cdir, &c->cpool);
    c->pool_band = bb != 0;
    if (!bb && om_mul_size((size_t)(c->M * c->OH * c->OW), sizeof(float), &bb)) /* the whole output */
      return om_seterr(err, OM_E_LIMIT, "om_pool: Conv output overflows");
    p->scratch_bytes = c->pool_off + bb;
  }
  Y->dims[2] = POH;
  Y->dims[3] = POW;
  return OM_OK;
}

/* Depthwise planes [q0, q1) of q = n*M + m (one image n, output channel m each). */
static void dw_planes(const conv_params *c, const float *x, const float *w, const float *bias,
                      const float *sum, float *y, int64_t q0, int64_t q1, void *scratch) {
  const int64_t ihw = c->D * c->H * c->W, ohw = c->OD * c->OH * c->OW;
  int path = c->k->path;
  for (int64_t q = q0; q < q1; q++) {
    int64_t n = q / c->M, m = q % c->M, gi = m / c->Mg;
    const float *xs = x + (n * c->C + gi) * ihw;
    const float *ws = w + m * c->Kg;
    const float *ss = sum ? sum + q * ohw : NULL;
    float *ys = y + q * ohw;
    float bv = bias ? bias[m] : 0.0f;
    if (c->dw_fast && c->Mg == 1 && q + 1 < q1 && m + 1 < c->M) {
      /* two adjacent channels of one image: their planes, weights and outputs are adjacent too
       * (small flattened planes run interleaved) */
      om_dw_plane2_avx512(&c->dwk, xs, ws, bv, bias ? bias[m + 1] : 0.0f, ss, c->act, c->alpha, c->beta, ys);
      q++;
    } else if (c->dw_fast) om_dw_plane_avx512(&c->dwk, xs, ws, bv, ss, c->act, c->alpha, c->beta, ys);
    else if (path == OM_KERNEL_AVX512) dw_plane_avx512(c, xs, ws, bv, ss, ys);
    else if (path == OM_KERNEL_AVX2) dw_plane_avx2(c, xs, ws, bv, ss, ys);
    else dw_plane(c, xs, ws, bv, ss, ys);
  }
}

/* The Conv of every image into y (N x M x OD x OH x OW). */
static void conv_compute(const conv_params *c, const om_tensor *in, int nin, float *y, void *scratch) {
  const float *x = in[0].data, *w = in[1].data;
  const float *bias = nin > 2 && in[2].ndim >= 0 ? in[2].data : NULL;
  const float *sum = c->has_sum ? in[3].data : NULL;
  const int64_t ihw = c->D * c->H * c->W, ohw = c->OD * c->OH * c->OW;
  om_intra team = om_intra_get();
  if (c->pre) {
    const float *b1 = nin > 6 && in[6].ndim >= 0 ? in[6].data : NULL;
    for (int64_t n = 0; n < c->N; n++) {
      om_chain_args a = {x + n * c->pre_C * ihw, c->wpre, b1, c->pre_act, c->pre_alpha, c->pre_beta,
                         w, bias, sum ? sum + n * c->M * ohw : NULL, c->act, c->alpha, c->beta,
                         y + n * c->M * ohw};
      om_chain_run(&c->chain, &a, scratch, team);
    }
    return;
  }
  if (c->kind == CONV_DEPTHWISE) {
    /* planes are independent: split them over the team, each thread with its scratch slice */
    int64_t planes = c->N * c->M;
    int nt = team.nthreads;
    if (planes < 2 || (double)planes * (double)ohw * (double)c->Kg < 65536.0) nt = 1;
    if (nt <= 1) {
      dw_planes(c, x, w, bias, sum, y, 0, planes, scratch);
    } else {
#pragma omp parallel num_threads(nt)
      {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        dw_planes(c, x, w, bias, sum, y, planes * t / n, planes * (t + 1) / n,
                  om_intra_slice(scratch, &team, t));
      }
    }
    return;
  }
  if (c->kind == CONV_GEMV) {
    const om_gemm_epi epi = {bias, c->act, c->alpha, c->beta};
    for (int64_t n = 0; n < c->N; n++)
      om_gemv_par(c->M, c->Kg, c->wpacked, x + n * c->C, sum ? sum + n * c->M : NULL, &epi, y + n * c->M, team);
    return;
  }
  if (c->kind == CONV_WINOGRAD) {
    for (int64_t n = 0; n < c->N; n++)
      om_wino_run_par(&c->wino, x + n * c->C * ihw, bias, sum ? sum + n * c->M * ohw : NULL, c->act,
                      c->alpha, c->beta, y + n * c->M * ohw, scratch, team);
    return;
  }
  if (c->kind == CONV_DIRECT) {
    for (int64_t n = 0; n < c->N; n++)
      for (int64_t gi = 0; gi < c->group; gi++) {
        int64_t off = (n * c->M + gi * c->Mg) * ohw;
        const float *a = c->wpacked ? c->wpacked + gi * c->wstride : NULL;
        if (c->in_scale) { /* group 1: this image's gate into the weights' columns, then packed */
          float *ws = (float *)((char *)scratch + c->wsc_off);
          float *wp = ws + OM_ALIGN_UP((size_t)(c->Mg * c->Kg) * sizeof(float), 64) / sizeof(float);
          const float *sc = (const float *)in[4].data + n * c->scale_nstride;
          for (int64_t m = 0; m < c->Mg; m++)
            for (int64_t k = 0; k < c->Kg; k++) ws[m * c->Kg + k] = w[m * c->Kg + k] * sc[k];
          om_cdir_pack_weights(&c->cdir, ws, wp);
          a = wp;
        }
        om_cdir_run(&c->cdir, x + (n * c->C + gi * c->Cg) * ihw, a,
                    bias ? bias + gi * c->Mg : NULL, sum ? sum + off : NULL, c->act, c->alpha, c->beta,
                    y + off, scratch, team);
      }
    return;
  }
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t gi = 0; gi < c->group; gi++) {
      om_gemm_args g = {0};
      g.M = c->Mg;
      g.N = ohw;
      g.K = c->Kg;
      if (c->wpacked) {
        g.a_packed = c->wpacked + gi * c->wstride;
      } else {
        g.a = w + gi * c->Mg * c->Kg;
        g.a_rs = c->Kg;
        g.a_cs = 1;
      }
      const float *xg = x + (n * c->C + gi * c->Cg) * ihw;
      im2col_ctx ctx = {c, xg};
      scaled_ctx sctx = {xg, c->in_scale ? (const float *)in[4].data + n * c->scale_nstride : NULL, ihw};
      if (c->kind == CONV_GEMM_1X1 && c->in_scale) {
        g.packb = c->k->path == OM_KERNEL_AVX512 ? pack_scaled_avx512 : pack_scaled;
        g.packb_ctx = &sctx;
      } else if (c->kind == CONV_GEMM_1X1) {
        g.b = xg;
        g.b_rs = ihw;
        g.b_cs = 1;
      } else {
        g.packb = c->k->path == OM_KERNEL_AVX512 ? pack_im2col_avx512 : pack_im2col;
        g.packb_ctx = &ctx;
      }
      int64_t off = (n * c->M + gi * c->Mg) * ohw;
      g.c = y + off;
      g.ldc = ohw;
      if (sum) {
        g.init = sum + off;
        g.ldi = ohw;
      }
      g.epi.bias = bias ? bias + gi * c->Mg : NULL;
      g.epi.act = c->act;
      g.epi.alpha = c->alpha;
      g.epi.beta = c->beta;
      if (c->wbf16) om_gemm_bf16(&g, c->wbf16 + gi * c->wbf16_stride, scratch);
      else om_gemm_par(c->k, &g, scratch, team);
    }
}

static void conv_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                     void *scratch) {
  (void)nout;
  const conv_params *c = params;
  float *y = out[0].data;
  if (!c->pool) {
    conv_compute(c, in, nin, y, scratch);
    return;
  }
  const om_cdir_pool *q = &c->cpool;
  const int64_t ohw = c->OH * c->OW, pohw = q->POH * q->POW;
  if (c->pool_band) {
    const float *bias = nin > 2 && in[2].ndim >= 0 ? in[2].data : NULL;
    for (int64_t n = 0; n < c->N; n++)
      om_cdir_run_pool(&c->cdir, q, (const float *)in[0].data + n * c->C * c->H * c->W, c->wpacked, bias,
                       c->act, c->alpha, c->beta, y + n * c->M * pohw, scratch, c->pool_off, om_intra_get());
    return;
  }
  /* one image at a time through the whole output in scratch (after the Conv's own scratch) */
  float *t = (float *)((char *)scratch + c->pool_off);
  om_tensor one[OM_MAX_IO];
  for (int k = 0; k < nin && k < OM_MAX_IO; k++) one[k] = in[k];
  conv_params cn = *c;
  cn.N = 1;
  for (int64_t n = 0; n < c->N; n++) {
    one[0].data = (float *)in[0].data + n * c->C * c->D * c->H * c->W;
    conv_compute(&cn, one, nin, t, scratch);
    for (int64_t m = 0; m < c->M; m++)
      om_maxpool_k3s2_plane(t + m * ohw, c->OH, c->OW, y + (n * c->M + m) * pohw, q->POH, q->POW, q->pt, q->pl);
  }
}

/* ---- ConvTranspose ---- */
static int convt_prepare(om_prep *p, char *err) {
  const om_tensor *X = p->in[0], *Wt = p->nin > 1 ? p->in[1] : NULL;
  const om_tensor *B = p->nin > 2 ? p->in[2] : NULL;
  int rc;
  if ((rc = om_check_float(X, "X", err)) || (rc = om_check_float(Wt, "W", err))) return rc;
  if (X->ndim < 3 || X->ndim > 5)
    return om_seterr(err, OM_E_UNSUPPORTED, "input X has %d dims; ConvTranspose supports 3 to 5", X->ndim);
  if (Wt->ndim != X->ndim)
    return om_seterr(err, OM_E_INVALID, "W has %d dims but X has %d", Wt->ndim, X->ndim);
  conv_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for ConvTranspose parameters");
  c->kind = CONV_TRANSPOSE;
  c->N = X->dims[0];
  c->C = X->dims[1];
  c->group = om_attr_int(p, "group", 1);
  if (c->group < 1 || c->C % c->group)
    return om_seterr(err, OM_E_INVALID, "group %lld does not divide %lld input channels",
                     (long long)c->group, (long long)c->C);
  if (Wt->dims[0] != c->C)
    return om_seterr(err, OM_E_INVALID, "W has %lld input channels, X has %lld",
                     (long long)Wt->dims[0], (long long)c->C);
  c->Cg = c->C / c->group;
  c->Mg = Wt->dims[1];
  c->M = c->Mg * c->group;
  if (om_tensor_present(B)) {
    if ((rc = om_check_float(B, "B", err))) return rc;
    if (B->ndim != 1 || B->dims[0] != c->M)
      return om_seterr(err, OM_E_INVALID, "bias B must have shape [%lld]", (long long)c->M);
  }
  geom g;
  if ((rc = read_geom(p, X, Wt, &g, err))) return rc;
  int ns = g.ns;
  int64_t opad[3] = {0, 0, 0}, oshape[3] = {0, 0, 0}, tmp[3];
  if ((rc = om_attr_ints_fixed(p, "output_padding", ns, tmp, 0, 0, err))) return rc;
  for (int i = 0; i < ns; i++) opad[3 - ns + i] = tmp[i];
  const int64_t *osv;
  int nos = om_attr_ints(p, "output_shape", &osv);
  if (nos >= 0) {
    if (nos != ns && nos != ns + 2)
      return om_seterr(err, OM_E_INVALID, "output_shape has %d values for %d spatial dims", nos, ns);
    for (int i = 0; i < ns; i++) oshape[3 - ns + i] = osv[nos - ns + i];
  }
  const char *ap = om_attr_string(p, "auto_pad", "NOTSET");
  int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
  int valid = strcmp(ap, "VALID") == 0;
  if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") != 0)
    return om_seterr(err, OM_E_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
  for (int i = 3 - ns; i < 3; i++) {
    int64_t full = g.s[i] * (g.in[i] - 1) + opad[i] + (g.k[i] - 1) * g.d[i] + 1;
    if (valid) g.pb[i] = g.pe[i] = 0;
    int64_t want = nos >= 0 ? oshape[i] : (same_upper || same_lower) ? g.in[i] * g.s[i] : -1;
    if (want >= 0) {
      /* negative when output_shape asks for more than the full output: the extra cells at the
       * end get only the bias (as in ONNX's reference) */
      int64_t tot = full - want;
      /* ONNX reference: SAME_UPPER puts the odd pixel at the end, otherwise at the start */
      if (same_upper || (!same_lower && nos >= 0)) {
        g.pb[i] = tot / 2;
        g.pe[i] = tot - tot / 2;
      } else {
        g.pe[i] = tot / 2;
        g.pb[i] = tot - tot / 2;
      }
    }
    g.out[i] = full - g.pb[i] - g.pe[i];
    if (g.out[i] < 1) return om_seterr(err, OM_E_INVALID, "output size would be %lld", (long long)g.out[i]);
  }
  for (int i = 0; i < 3 - ns; i++) g.out[i] = 1;
  c->D = g.in[0]; c->H = g.in[1]; c->W = g.in[2];
  c->OD = g.out[0]; c->OH = g.out[1]; c->OW = g.out[2];
  c->kd = g.k[0]; c->kh = g.k[1]; c->kw = g.k[2];
  c->sd = g.s[0]; c->sh = g.s[1]; c->sw = g.s[2];
  c->dd = g.d[0]; c->dh = g.d[1]; c->dw = g.d[2];
  c->pd = g.pb[0]; c->ph = g.pb[1]; c->pw = g.pb[2];
  om_tensor *Y = &p->out[0];
  Y->dtype = OM_DT_FLOAT;
  Y->ndim = X->ndim;
  Y->dims[0] = c->N;
  Y->dims[1] = c->M;
  for (int i = 0; i < ns; i++) Y->dims[2 + i] = g.out[3 - ns + i];
  if ((rc = read_fusion(p, c, Y->ndim, Y->dims, err))) return rc;
  size_t kg, ihw, col, sb;
  if (om_mul_size((size_t)c->Mg, (size_t)(c->kd * c->kh * c->kw), &kg) ||
      om_mul_size((size_t)c->D, (size_t)(c->H * c->W), &ihw) || om_mul_size(kg, ihw, &col) ||
      om_mul_size(col, sizeof(float), &col) || kg > ((size_t)1 << 31) || ihw > ((size_t)1 << 31))
    return om_seterr(err, OM_E_LIMIT, "ConvTranspose column buffer size overflows");
  c->Kg = (int64_t)kg;
  c->k = om_gemm_kernel_best(p->kernel_path);
  sb = om_gemm_scratch_bytes(c->k, c->Kg, (int64_t)ihw, c->Cg, 0, 0);
  if (om_add_size(OM_ALIGN_UP(col, 64), sb, &p->scratch_bytes))
    return om_seterr(err, OM_E_LIMIT, "ConvTranspose scratch size overflows");
  p->params = c;
  return OM_OK;
}

static void convt_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                      void *scratch) {
  const conv_params *c = params;
  const float *x = in[0].data, *w = in[1].data;
  const float *bias = nin > 2 && in[2].ndim >= 0 ? in[2].data : NULL;
  const float *sum = c->has_sum ? in[3].data : NULL;
  float *y = out[0].data;
  const int64_t ihw = c->D * c->H * c->W, ohw = c->OD * c->OH * c->OW;
  const int64_t ksz = c->kd * c->kh * c->kw;
  float *col = scratch;
  void *gs = (char *)scratch + OM_ALIGN_UP((size_t)(c->Kg * ihw) * sizeof(float), 64);
  for (int64_t n = 0; n < c->N; n++) {
    for (int64_t m = 0; m < c->M; m++) {
      float *ym = y + (n * c->M + m) * ohw;
      const float *sm = sum ? sum + (n * c->M + m) * ohw : NULL;
      float bv = bias ? bias[m] : 0.0f;
      for (int64_t i = 0; i < ohw; i++) ym[i] = bv + (sm ? sm[i] : 0.0f);
    }
    for (int64_t gi = 0; gi < c->group; gi++) {
      /* col[Kg, ihw] = Wg^T[Kg, Cg] * Xg[Cg, ihw], Wg = W[gi*Cg .. , :] viewed as [Cg, Kg] */
      om_gemm_args g = {0};
      g.M = c->Kg;
      g.N = ihw;
      g.K = c->Cg;
      g.a = w + gi * c->Cg * c->Kg;
      g.a_rs = 1;
      g.a_cs = c->Kg;
      g.b = x + (n * c->C + gi * c->Cg) * ihw;
      g.b_rs = ihw;
      g.b_cs = 1;
      g.c = col;
      g.ldc = ihw;
      om_gemm(c->k, &g, gs);
      for (int64_t r = 0; r < c->Kg; r++) {
        int64_t m = r / ksz, kr = r % ksz;
        int64_t kz = kr / (c->kh * c->kw), ky = (kr / c->kw) % c->kh, kx = kr % c->kw;
        float *ym = y + (n * c->M + gi * c->Mg + m) * ohw;
        const float *cr = col + r * ihw;
        for (int64_t iz = 0; iz < c->D; iz++) {
          int64_t oz = iz * c->sd - c->pd + kz * c->dd;
          if (oz < 0 || oz >= c->OD) continue;
          for (int64_t iy = 0; iy < c->H; iy++) {
            int64_t oy = iy * c->sh - c->ph + ky * c->dh;
            if (oy < 0 || oy >= c->OH) continue;
            float *yr = ym + (oz * c->OH + oy) * c->OW;
            const float *cx = cr + (iz * c->H + iy) * c->W;
            for (int64_t ix = 0; ix < c->W; ix++) {
              int64_t ox = ix * c->sw - c->pw + kx * c->dw;
              if (ox >= 0 && ox < c->OW) yr[ox] += cx[ix];
            }
          }
        }
      }
    }
    if (c->act != OM_ACT_NONE)
      for (int64_t m = 0; m < c->M; m++) act_row(y + (n * c->M + m) * ohw, ohw, c->act, c->alpha, c->beta, c->k->path);
  }
}

const om_op om_ops_conv[] = {
  {"Conv", 1, 99, conv_prepare, conv_run},
  {"ConvTranspose", 1, 99, convt_prepare, convt_run},
  {0},
};
