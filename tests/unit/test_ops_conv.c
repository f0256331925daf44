/* test_ops_conv.c: Conv and ConvTranspose (ops_conv.c), run through the real planner on one-node
 * models built by hand, against naive direct loops written here in double precision. Covers a grid
 * of shapes (groups, depthwise, strides, dilations, pads, auto_pad, 1x1, 3x3, 7x7, 1-D, 3-D, fused
 * activation and sum, constant and non-constant weights) on every kernel path this CPU runs; shapes
 * that take the Winograd and AVX-512 depthwise routes on the SIMD paths are included. */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "onnx/onnx.h"
#include "node_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define TEST_RNG_SEED 0x243F6A8885A308D3ull
#include "rng.h"

#include "ref_act.h"

/* ---- one-node model plumbing: node_model.h ---- */

/* ---- naive references (3-D; 1-D/2-D use size-1 leading dims) ---- */
typedef struct cc {
  int ns;                       /* spatial dims */
  int64_t N, C, M, group;
  int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], opad[3];
  int bias, act, sum, wconst;
  const char *auto_pad;         /* NULL: explicit pads */
} cc;

static void conv_ref(const cc *t, const float *x, const float *w, const float *b, const float *s,
                     const int64_t *out, double *y) {
  int64_t Cg = t->C / t->group, Mg = t->M / t->group;
  int64_t ohw = out[0] * out[1] * out[2];
  for (int64_t n = 0; n < t->N; n++)
    for (int64_t m = 0; m < t->M; m++)
      for (int64_t o = 0; o < ohw; o++) {
        int64_t oz = o / (out[1] * out[2]), oy = (o / out[2]) % out[1], ox = o % out[2];
        double acc = t->bias ? b[m] : 0;
        int64_t gi = m / Mg;
        for (int64_t c = 0; c < Cg; c++)
          for (int64_t kz = 0; kz < t->k[0]; kz++)
            for (int64_t ky = 0; ky < t->k[1]; ky++)
              for (int64_t kx = 0; kx < t->k[2]; kx++) {
                int64_t iz = oz * t->s[0] - t->pb[0] + kz * t->d[0];
                int64_t iy = oy * t->s[1] - t->pb[1] + ky * t->d[1];
                int64_t ix = ox * t->s[2] - t->pb[2] + kx * t->d[2];
                if (iz < 0 || iy < 0 || ix < 0 || iz >= t->in[0] || iy >= t->in[1] || ix >= t->in[2]) continue;
                double xv = x[(((n * t->C + gi * Cg + c) * t->in[0] + iz) * t->in[1] + iy) * t->in[2] + ix];
                double wv = w[(((m * Cg + c) * t->k[0] + kz) * t->k[1] + ky) * t->k[2] + kx];
                acc += xv * wv;
              }
        if (t->sum) acc += s[(n * t->M + m) * ohw + o];
        y[(n * t->M + m) * ohw + o] = ref_act(t->act, 0.1, 6.0, acc);
      }
}

static void convt_ref(const cc *t, const float *x, const float *w, const float *b, const int64_t *out,
                      double *y) {
  int64_t Cg = t->C / t->group, Mg = t->M / t->group;
  int64_t ohw = out[0] * out[1] * out[2], ihw = t->in[0] * t->in[1] * t->in[2];
  for (int64_t n = 0; n < t->N; n++)
    for (int64_t m = 0; m < t->M; m++)
      for (int64_t o = 0; o < ohw; o++) y[(n * t->M + m) * ohw + o] = t->bias ? b[m] : 0;
  for (int64_t n = 0; n < t->N; n++)
    for (int64_t c = 0; c < t->C; c++)
      for (int64_t i = 0; i < ihw; i++) {
        int64_t iz = i / (t->in[1] * t->in[2]), iy = (i / t->in[2]) % t->in[1], ix = i % t->in[2];
        double xv = x[(n * t->C + c) * ihw + i];
        int64_t gi = c / Cg;
        for (int64_t mm = 0; mm < Mg; mm++)
          for (int64_t kz = 0; kz < t->k[0]; kz++)
            for (int64_t ky = 0; ky < t->k[1]; ky++)
              for (int64_t kx = 0; kx < t->k[2]; kx++) {
                int64_t oz = iz * t->s[0] - t->pb[0] + kz * t->d[0];
                int64_t oy = iy * t->s[1] - t->pb[1] + ky * t->d[1];
                int64_t ox = ix * t->s[2] - t->pb[2] + kx * t->d[2];
                if (oz < 0 || oy < 0 || ox < 0 || oz >= out[0] || oy >= out[1] || ox >= out[2]) continue;
                double wv = w[(((c * Mg + mm) * t->k[0] + kz) * t->k[1] + ky) * t->k[2] + kx];
                y[(n * t->M + gi * Mg + mm) * ohw + (oz * out[1] + oy) * out[2] + ox] += xv * wv;
              }
      }
}

static void check(const char *what, const double *want, const float *got, size_t n, double tol) {
  checks++;
  for (size_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
      fprintf(stderr, "FAIL %s: element %zu = %.8g, want %.8g\n", what, i, got[i], want[i]);
      failures++;
      return;
    }
}

static void run_conv(cc t, int transpose, int path) {
  int ns = t.ns, nd = ns + 2;
  char desc[256];
  snprintf(desc, sizeof desc,
           "%s path=%d N%lld C%lld M%lld g%lld in %lldx%lldx%lld k %lldx%lldx%lld s %lld,%lld,%lld d %lld,%lld,%lld pads %lld,%lld,%lld/%lld,%lld,%lld%s%s act%d sum%d wconst%d",
           transpose ? "ConvTranspose" : "Conv", path, (long long)t.N, (long long)t.C, (long long)t.M,
           (long long)t.group, (long long)t.in[0], (long long)t.in[1], (long long)t.in[2], (long long)t.k[0],
           (long long)t.k[1], (long long)t.k[2], (long long)t.s[0], (long long)t.s[1], (long long)t.s[2],
           (long long)t.d[0], (long long)t.d[1], (long long)t.d[2], (long long)t.pb[0], (long long)t.pb[1],
           (long long)t.pb[2], (long long)t.pe[0], (long long)t.pe[1], (long long)t.pe[2],
           t.auto_pad ? " auto_pad " : "", t.auto_pad ? t.auto_pad : "", t.act, t.sum, t.wconst);
  int64_t out[3];
  for (int i = 0; i < 3; i++) {
    int64_t ext = (t.k[i] - 1) * t.d[i] + 1;
    if (!transpose && t.auto_pad && strncmp(t.auto_pad, "SAME", 4) == 0) {
      out[i] = (t.in[i] + t.s[i] - 1) / t.s[i];
      int64_t tot = (out[i] - 1) * t.s[i] + ext - t.in[i];
      if (tot < 0) tot = 0;
      t.pb[i] = strcmp(t.auto_pad, "SAME_UPPER") == 0 ? tot / 2 : tot - tot / 2;
      t.pe[i] = tot - t.pb[i];
    } else if (!transpose) {
      out[i] = (t.in[i] + t.pb[i] + t.pe[i] - ext) / t.s[i] + 1;
    } else {
      out[i] = t.s[i] * (t.in[i] - 1) + t.opad[i] + ext - t.pb[i] - t.pe[i];
    }
  }
  int64_t xd[5], wd[5], yd[5];
  xd[0] = t.N; xd[1] = t.C;
  wd[0] = transpose ? t.C : t.M;
  wd[1] = transpose ? t.M / t.group : t.C / t.group;
  yd[0] = t.N; yd[1] = t.M;
  for (int i = 0; i < ns; i++) {
    xd[2 + i] = t.in[3 - ns + i];
    wd[2 + i] = t.k[3 - ns + i];
    yd[2 + i] = out[3 - ns + i];
  }
  size_t nx = count(xd, nd), nw = count(wd, nd), ny = count(yd, nd);
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)t.M * 4), *s = malloc(ny * 4);
  for (size_t i = 0; i < nx; i++) x[i] = frand();
  for (size_t i = 0; i < nw; i++) w[i] = frand();
  for (int64_t i = 0; i < t.M; i++) b[i] = frand();
  for (size_t i = 0; i < ny; i++) s[i] = frand();
  double *want = malloc(ny * sizeof(double));
  if (transpose) convt_ref(&t, x, w, b, out, want);
  else conv_ref(&t, x, w, b, s, out, want);

  tin ins[4] = {{"X", nd, {0}, x, 0}, {"W", nd, {0}, w, t.wconst}, {t.bias ? "B" : "", 1, {t.M}, b, 1},
                {"S", nd, {0}, s, 0}};
  memcpy(ins[0].dims, xd, sizeof xd);
  memcpy(ins[1].dims, wd, sizeof wd);
  memcpy(ins[3].dims, yd, sizeof yd);
  int64_t ks[3], st[3], dl[3], pads[6], op[3];
  for (int i = 0; i < ns; i++) {
    int j = 3 - ns + i;
    ks[i] = t.k[j]; st[i] = t.s[j]; dl[i] = t.d[j]; pads[i] = t.pb[j]; pads[ns + i] = t.pe[j];
    op[i] = t.opad[j];
  }
  onnx_attr at[12];
  int na = 0;
  at[na++] = a_ints("kernel_shape", ns, ks);
  at[na++] = a_ints("strides", ns, st);
  at[na++] = a_ints("dilations", ns, dl);
  if (t.auto_pad) at[na++] = a_str("auto_pad", t.auto_pad);
  else at[na++] = a_ints("pads", 2 * ns, pads);
  at[na++] = a_int("group", t.group);
  if (transpose) at[na++] = a_ints("output_padding", ns, op);
  if (t.act) {
    at[na++] = a_int("om_act", t.act);
    at[na++] = a_float("om_act_alpha", 0.1f);
    at[na++] = a_float("om_act_beta", 6.0f);
  }
  if (t.sum) at[na++] = a_int("om_sum", 1);
  char err[OM_ERR_LEN];
  int yn;
  int64_t gd[OM_MAX_DIMS];
  float *y = NULL;
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.no_fusion = 1;
  o.kernel_path = path;
  if (run_node(transpose ? "ConvTranspose" : "Conv", at, na, ins, t.sum ? 4 : 3, &o, &yn, gd, &y, err)) {
    fprintf(stderr, "FAIL %s: %s\n", desc, err);
    failures++;
    checks++;
  } else if (yn != nd || memcmp(gd, yd, sizeof(int64_t) * (size_t)nd) != 0) {
    fprintf(stderr, "FAIL %s: output shape differs (dim2 %lld want %lld)\n", desc, (long long)gd[2],
            (long long)yd[2]);
    failures++;
    checks++;
  } else {
    int before = failures;
    check(desc, want, y, ny, 1e-4);
    if (failures != before) fprintf(stderr, "  in %s\n", desc);
  }
  free(y); free(x); free(w); free(b); free(s); free(want);
}

static cc mk2(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t g, int64_t k,
              int64_t s, int64_t d, int64_t pad) {
  cc t;
  memset(&t, 0, sizeof t);
  t.ns = 2; t.N = N; t.C = C; t.M = M; t.group = g;
  t.in[0] = 1; t.in[1] = H; t.in[2] = W;
  t.k[0] = 1; t.k[1] = k; t.k[2] = k;
  t.s[0] = 1; t.s[1] = s; t.s[2] = s;
  t.d[0] = 1; t.d[1] = d; t.d[2] = d;
  t.pb[1] = t.pb[2] = t.pe[1] = t.pe[2] = pad;
  t.bias = 1; t.wconst = 1;
  return t;
}

static void all_cases(void) {
  int paths[] = {OM_KERNEL_REF, OM_KERNEL_AVX2, OM_KERNEL_AVX512};
  for (int pi = 0; pi < 3; pi++) {
    int path = paths[pi];
    if (!om_gemm_path_supported(path)) {
      printf("path %d not supported here: skipped\n", path);
      continue;
    }
    int before = failures;
    /* 1x1 (plain GEMM on NCHW), 3x3, 7x7 s2, odd sizes */
    run_conv(mk2(1, 16, 9, 11, 24, 1, 1, 1, 1, 0), 0, path);
    run_conv(mk2(2, 5, 13, 7, 9, 1, 1, 1, 1, 0), 0, path);
    run_conv(mk2(1, 8, 12, 12, 16, 1, 3, 1, 1, 1), 0, path);
    run_conv(mk2(1, 3, 23, 21, 10, 1, 7, 2, 1, 3), 0, path);
    run_conv(mk2(1, 7, 9, 10, 5, 1, 3, 2, 2, 2), 0, path);      /* dilation + stride */
    run_conv(mk2(1, 12, 10, 9, 6, 3, 3, 1, 1, 1), 0, path);     /* grouped */
    run_conv(mk2(1, 8, 11, 11, 8, 8, 3, 1, 1, 1), 0, path);     /* depthwise */
    run_conv(mk2(2, 6, 12, 13, 6, 6, 3, 2, 1, 1), 0, path);     /* depthwise stride 2 */
    run_conv(mk2(1, 4, 9, 9, 8, 4, 5, 1, 2, 4), 0, path);       /* depthwise x2 multiplier, dilated */
    run_conv(mk2(1, 3, 8, 8, 4, 1, 1, 2, 1, 0), 0, path);       /* 1x1 stride 2: im2col path */
    run_conv(mk2(1, 40, 20, 30, 70, 1, 3, 1, 1, 1), 0, path);   /* K > KC, N > NC */
    /* Winograd F(4x4,3x3) on the SIMD paths (>= 32 tiles, >= 16 channels): edges, sum, relu */
    cc t = mk2(1, 20, 24, 30, 24, 1, 3, 1, 1, 1);
    t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(2, 17, 27, 25, 33, 1, 3, 1, 1, 0);
    t.pb[1] = 2; t.pe[2] = 1;
    run_conv(t, 0, path);
    /* depthwise plane kernel: wide odd rows (masked tails), stride 2, 5x5, asymmetric pads, acts */
    run_conv(mk2(1, 5, 37, 45, 5, 5, 3, 1, 1, 1), 0, path);
    run_conv(mk2(1, 5, 38, 41, 5, 5, 3, 2, 1, 1), 0, path);
    run_conv(mk2(1, 3, 29, 35, 3, 3, 5, 2, 1, 2), 0, path);
    t = mk2(2, 4, 19, 50, 4, 4, 5, 1, 1, 2);
    t.act = OM_ACT_SILU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 4, 14, 33, 4, 4, 3, 2, 1, 0);
    t.pb[1] = 0; t.pb[2] = 1; t.pe[1] = 1; t.pe[2] = 0; t.act = OM_ACT_SIGMOID;
    run_conv(t, 0, path);
    /* the square kernels' 7-row passes (planes of 7, 14, 28 rows), with residual and clamp */
    t = mk2(1, 5, 14, 14, 5, 5, 3, 1, 1, 1);
    t.act = OM_ACT_CLIP; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(2, 3, 28, 21, 3, 3, 3, 2, 1, 1);
    t.act = OM_ACT_RELU;
    run_conv(t, 0, path);
    run_conv(mk2(1, 4, 7, 7, 4, 4, 3, 1, 1, 1), 0, path);
    /* SiLU in the square kernels' store; a plane past the 16 column blocks whose tap masks are made
     * at setup (300 columns), and one past the zero row's width (2100: the generic row kernel) */
    t = mk2(1, 3, 14, 14, 3, 3, 3, 2, 1, 1);
    t.act = OM_ACT_SILU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 2, 9, 300, 2, 2, 3, 1, 1, 1);
    t.act = OM_ACT_SILU;
    run_conv(t, 0, path);
    t = mk2(1, 2, 10, 300, 2, 2, 5, 2, 1, 2);
    t.act = OM_ACT_RELU;
    run_conv(t, 0, path);
    run_conv(mk2(1, 1, 3, 2100, 1, 1, 3, 1, 1, 1), 0, path);
    /* flattened small planes (H*W <= 64, same size out): 7x7 5x5 with residual and SiLU, a full
     * 8x8, one partial vector, an even kernel with pads on one side only */
    t = mk2(2, 6, 7, 7, 6, 6, 5, 1, 1, 2);
    t.act = OM_ACT_SILU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 3, 8, 8, 3, 3, 3, 1, 1, 1);
    t.act = OM_ACT_CLIP;
    run_conv(t, 0, path);
    run_conv(mk2(1, 2, 5, 3, 2, 2, 3, 1, 1, 1), 0, path);
    t = mk2(1, 3, 6, 9, 3, 3, 2, 1, 1, 0);
    t.pe[1] = 1; t.pe[2] = 1;
    run_conv(t, 0, path);
    run_conv(mk2(1, 4, 9, 35, 4, 4, 3, 1, 1, 0), 0, path); /* no pad: 7 rows out, right tail */
    t = mk2(1, 4, 9, 17, 4, 4, 3, 1, 1, 1);
    t.s[1] = 2; t.act = OM_ACT_CLIP; /* stride 2 along H only */
    run_conv(t, 0, path);
    /* stride-2 small planes split into parity phases (om_dw s2flat): 14x14 -> 7x7 5x5 with SiLU
     * (planes in pairs and one alone), 3x3 with clamp, odd 13x13 and 15x11 inputs, asymmetric and
     * missing pads, a 2x2 kernel, and a residual (the row kernel's case) */
    t = mk2(2, 5, 14, 14, 5, 5, 5, 2, 1, 2);
    t.act = OM_ACT_SILU;
    run_conv(t, 0, path);
    t = mk2(1, 4, 14, 14, 4, 4, 3, 2, 1, 1);
    t.act = OM_ACT_CLIP;
    run_conv(t, 0, path);
    run_conv(mk2(1, 3, 13, 13, 3, 3, 3, 2, 1, 1), 0, path);
    run_conv(mk2(1, 2, 15, 11, 2, 2, 5, 2, 1, 2), 0, path);
    t = mk2(1, 3, 14, 12, 3, 3, 3, 2, 1, 0);
    t.pb[1] = 1; t.pe[2] = 1;
    run_conv(t, 0, path);
    t = mk2(1, 2, 16, 16, 2, 2, 2, 2, 1, 0);
    t.act = OM_ACT_RELU;
    run_conv(t, 0, path);
    t = mk2(1, 4, 14, 14, 4, 4, 5, 2, 1, 2);
    t.sum = 1; t.act = OM_ACT_RELU;
    run_conv(t, 0, path);
    /* fused activation + sum, non-constant weights, no bias */
    t = mk2(1, 16, 10, 10, 20, 1, 3, 1, 1, 1);
    t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 16, 10, 10, 20, 1, 1, 1, 1, 0);
    t.act = OM_ACT_CLIP; t.sum = 1; t.wconst = 0; t.bias = 0;
    run_conv(t, 0, path);
    t = mk2(1, 6, 10, 10, 6, 6, 3, 1, 1, 1);
    t.act = OM_ACT_SILU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 6, 7, 9, 10, 2, 3, 2, 1, 0);
    t.act = OM_ACT_LEAKY_RELU; t.wconst = 0;
    run_conv(t, 0, path);
    /* 1x1 on a 1x1 map (squeeze-excitation; the AVX-512 path's matrix-vector product): output
     * counts below, at and past its 64-row panels and 16-lane vectors, a batch, sum and activations */
    static const int gv[][4] = {{48, 1152, OM_ACT_SIGMOID, 0}, {1152, 48, OM_ACT_SILU, 0},
                                {5, 1, OM_ACT_NONE, 1},        {1, 17, OM_ACT_RELU, 1},
                                {33, 64, OM_ACT_NONE, 0},      {7, 100, OM_ACT_CLIP, 1}};
    for (size_t i = 0; i < sizeof gv / sizeof gv[0]; i++) {
      t = mk2(i % 2 ? 2 : 1, gv[i][0], 1, 1, gv[i][1], 1, 1, 1, 1, 0);
      t.act = gv[i][2]; t.sum = gv[i][3]; t.bias = i != 4;
      run_conv(t, 0, path);
    }
    /* asymmetric pads, auto_pad */
    t = mk2(1, 3, 9, 8, 4, 1, 3, 2, 1, 0);
    t.pb[1] = 0; t.pb[2] = 2; t.pe[1] = 1; t.pe[2] = 0;
    run_conv(t, 0, path);
    const char *aps[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int a = 0; a < 3; a++) {
      t = mk2(1, 3, 10, 9, 4, 1, 4, 2, 1, 0);
      t.auto_pad = aps[a];
      run_conv(t, 0, path);
    }
    /* 1-D and 3-D */
    t = mk2(2, 4, 1, 17, 6, 2, 3, 2, 1, 1);
    t.ns = 1; t.k[1] = 1; t.s[1] = 1; t.d[1] = 1; t.pb[1] = t.pe[1] = 0;
    run_conv(t, 0, path);
    t = mk2(1, 3, 5, 6, 4, 1, 3, 1, 1, 1);
    t.ns = 3; t.in[0] = 4; t.k[0] = 2; t.s[0] = 2; t.pb[0] = 1;
    run_conv(t, 0, path);
    /* ConvTranspose */
    run_conv(mk2(1, 4, 5, 6, 3, 1, 3, 1, 1, 0), 1, path);
    run_conv(mk2(2, 6, 4, 5, 4, 2, 3, 2, 1, 1), 1, path);
    t = mk2(1, 3, 4, 4, 2, 1, 3, 2, 2, 1);
    t.opad[1] = 1; t.opad[2] = 1; t.bias = 0; t.wconst = 0;
    run_conv(t, 1, path);
    t = mk2(1, 2, 1, 7, 3, 1, 3, 3, 1, 0);
    t.ns = 1; t.k[1] = 1; t.s[1] = 1; t.d[1] = 1; t.pb[1] = t.pe[1] = 0;
    run_conv(t, 1, path);
    /* stride 1 through shifted rows on AVX-512 (conv_direct.c): channel tails (M % 8), K > KC,
     * 5x5 dilated, 7x7, asymmetric pads, groups, residual + activation at 7x7 and 14x14 */
    run_conv(mk2(1, 40, 20, 30, 70, 1, 3, 1, 1, 1), 0, path);
    run_conv(mk2(1, 6, 17, 19, 9, 1, 5, 1, 2, 4), 0, path);
    run_conv(mk2(1, 3, 30, 40, 12, 1, 7, 1, 1, 3), 0, path);
    run_conv(mk2(2, 16, 9, 9, 16, 2, 3, 1, 1, 1), 0, path);
    t = mk2(1, 64, 7, 7, 72, 1, 3, 1, 1, 1);
    t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 32, 14, 14, 24, 1, 3, 1, 1, 1);
    t.act = OM_ACT_SILU; t.sum = 1; t.bias = 0;
    run_conv(t, 0, path);
    t = mk2(1, 5, 11, 13, 7, 1, 3, 1, 1, 0);
    t.pb[1] = 2; t.pe[1] = 0; t.pb[2] = 0; t.pe[2] = 1;
    run_conv(t, 0, path);
    t = mk2(1, 2, 6, 120, 3, 1, 5, 1, 9, 0);
    t.d[1] = 1; /* 36 junk columns per 120-wide grid row */
    run_conv(t, 0, path);
    /* stride 2 through phase planes: 3x3 on even and odd sizes, 7x7 (resnet's stem), 1x1, stride
     * along one axis, dilated, 1x1 stride 1 reading the image directly with a channel tail */
    run_conv(mk2(1, 24, 16, 16, 40, 1, 3, 2, 1, 1), 0, path);
    run_conv(mk2(2, 9, 15, 17, 11, 1, 3, 2, 1, 1), 0, path);
    run_conv(mk2(1, 3, 40, 38, 16, 1, 7, 2, 1, 3), 0, path);
    run_conv(mk2(1, 33, 14, 14, 20, 1, 1, 2, 1, 0), 0, path);  /* 7x7 out: the im2col GEMM */
    run_conv(mk2(1, 33, 40, 37, 20, 1, 1, 2, 1, 0), 0, path);  /* 20x19 out: the phase planes */
    run_conv(mk2(1, 300, 5, 7, 13, 1, 1, 1, 1, 0), 0, path);
    /* 1x1 stride 1 read in place up to 128 output channels per group (past it, and below 128
     * pixels, the packed GEMM): K > KC, a grid tail, residual + activation, batch 2, groups */
    t = mk2(2, 300, 13, 13, 128, 1, 1, 1, 1, 0);
    t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(1, 40, 12, 15, 129, 1, 1, 1, 1, 0);
    t.act = OM_ACT_CLIP; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(2, 12, 11, 13, 18, 2, 1, 1, 1, 0);
    t.act = OM_ACT_SILU; t.sum = 1; t.bias = 0;
    run_conv(t, 0, path);
    t = mk2(1, 8, 13, 21, 16, 1, 3, 2, 2, 2);
    t.s[1] = 1; t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    /* small images turn the tile around (channels in the vector, 7 or 8 pixels per tile): 7x7 with
     * a channel tail, 14x14 from stride 2 with sum + relu, K > KC, 5x5 */
    run_conv(mk2(1, 300, 7, 7, 120, 1, 3, 1, 1, 1), 0, path);
    t = mk2(1, 32, 14, 14, 96, 1, 3, 2, 1, 1);
    t.act = OM_ACT_RELU; t.sum = 1;
    run_conv(t, 0, path);
    t = mk2(2, 40, 14, 14, 64, 1, 3, 1, 1, 1);
    t.act = OM_ACT_SILU; t.sum = 1; t.bias = 0;
    run_conv(t, 0, path);
    run_conv(mk2(1, 12, 9, 9, 32, 1, 5, 1, 1, 2), 0, path);
    printf("path %s: %s\n", om_gemm_kernel_get(path)->name, failures == before ? "ok" : "FAILED");
  }
}

/* Random 2-D convolutions on the AVX-512 path, mostly in the shifted-row route's range (stride 1/2,
 * any pads and dilation, groups, tails of channels and tiles, grid and transposed tiles), each
 * checked against the naive reference like the fixed cases. Fixed seed: the same shapes every run. */
static int64_t pick(int64_t lo, int64_t hi) {
  frand();
  return lo + (int64_t)((rng >> 20) % (uint64_t)(hi - lo + 1));
}

static void random_cases(int n) {
  if (!om_gemm_path_supported(OM_KERNEL_AVX512)) return;
  int before = failures;
  for (int i = 0; i < n; i++) {
    int64_t g = pick(1, 3) == 3 ? 2 : 1, k = pick(1, 5), s = pick(1, 2), d = pick(1, 4) == 4 ? 2 : 1;
    int64_t C = g * pick(1, 24), M = g * pick(1, 40), H = pick(1, 20), W = pick(1, 40);
    cc t = mk2(pick(1, 2), C, H, W, M, g, k, s, d, 0);
    for (int a = 1; a < 3; a++) {
      t.pb[a] = pick(0, k / 2 + 1);
      t.pe[a] = pick(0, k / 2 + 1);
    }
    int64_t eh = (k - 1) * d + 1;
    if (H + t.pb[1] + t.pe[1] < eh || W + t.pb[2] + t.pe[2] < eh) continue; /* kernel does not fit */
    t.act = (int)pick(0, 2) == 2 ? OM_ACT_RELU : OM_ACT_NONE;
    t.sum = (int)pick(0, 1);
    t.bias = (int)pick(0, 3) != 0;
    run_conv(t, 0, OM_KERNEL_AVX512);
  }
  printf("random shapes: %s\n", failures == before ? "ok" : "FAILED");
}

int main(void) {
  random_cases(150);
  /* Winograd is opt-in in the product: run every case with it on and off */
  setenv("OM_WINOGRAD", "1", 1);
  all_cases();
  setenv("OM_WINOGRAD", "0", 1);
  all_cases();
  printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
