/* test_winograd.c: Winograd F(4x4, 3x3) and F(2x2, 3x3) (conv_winograd.c) on every kernel path this CPU runs,
 * against a naive direct convolution in double: odd sizes (partial edge tiles, tiles spanning rows
 * of a block, several blocks), asymmetric pads, bias, residual sum and activations. Data use
 * realistic scales (He-initialised weights, post-ReLU-like inputs); the error is reported as
 * max|got - ref| / max|ref| and must stay below 2e-5 (direct float conv is ~1e-6). */
#include "common/om.h"
#include "engine/conv_winograd.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
static double worst_all;
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double urand(void) { /* [0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static double ref_act(int act, double x) {
  switch (act) {
  case OM_ACT_RELU: return x > 0 ? x : 0;
  case OM_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  default: return x;
  }
}


/* One case with output tiles of tile_m x tile_m (F(4x4) or F(2x2)). */
static void run_case(int path, int tile_m, int64_t C, int64_t K, int64_t H, int64_t W, int64_t ph,
                     int64_t pw, int64_t pb, int64_t pr, int use_bias, int use_sum, int act) {
  const om_gemm_kernel *k = om_gemm_kernel_get(path);
  int64_t OH = H + ph + pb - 2, OW = W + pw + pr - 2;
  size_t nx = (size_t)(C * H * W), nw = (size_t)(K * C * 9), ny = (size_t)(K * OH * OW);
  float *x = malloc(nx * 4), *wt = malloc(nw * 4), *b = malloc((size_t)K * 4), *sum = malloc(ny * 4);
  float *y = malloc(ny * 4);
  double *ref = malloc(ny * sizeof(double));
  double ws = sqrt(2.0 / (9.0 * (double)C)) * sqrt(3.0); /* uniform with He variance */
  for (size_t i = 0; i < nx; i++) x[i] = (float)(urand() < 0.4 ? 0.0 : 3.0 * urand());
  for (size_t i = 0; i < nw; i++) wt[i] = (float)((2.0 * urand() - 1.0) * ws);
  for (int64_t i = 0; i < K; i++) b[i] = (float)(urand() - 0.5);
  for (size_t i = 0; i < ny; i++) sum[i] = (float)(2.0 * urand() - 1.0);
  double rmax = 0;
  for (int64_t m = 0; m < K; m++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++) {
        double s = use_bias ? b[m] : 0.0;
        for (int64_t c = 0; c < C; c++)
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
              int64_t iy = oy - ph + ky, ix = ox - pw + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                s += (double)x[(c * H + iy) * W + ix] * wt[((m * C + c) * 3 + ky) * 3 + kx];
            }
        size_t i = (size_t)((m * OH + oy) * OW + ox);
        if (use_sum) s += sum[i];
        ref[i] = ref_act(act, s);
        if (fabs(ref[i]) > rmax) rmax = fabs(ref[i]);
      }
  om_wino w;
  size_t uf = 0, sb = 0;
  char err[OM_ERR_LEN] = "";
  int rc = om_wino_setup(&w, k, tile_m, C, K, H, W, OH, OW, ph, pw, &uf, &sb, err);
  float *u = rc ? NULL : om_alloc_aligned(uf * sizeof(float));
  void *scratch = rc ? NULL : om_alloc_aligned(sb + 64);
  checks++;
  if (rc || !u || !scratch || om_wino_transform_weights(&w, wt, u, 1 + (int)(C % 3), err)) {
    printf("FAIL setup F(%dx%d) C%lld K%lld %lldx%lld: %s\n", tile_m, tile_m, (long long)C, (long long)K,
           (long long)H, (long long)W, err);
    failures++;
  } else {
    /* poison y: every output must be written */
    for (size_t i = 0; i < ny; i++) y[i] = NAN;
    om_wino_run(&w, x, use_bias ? b : NULL, use_sum ? sum : NULL, act, 0, 0, y, scratch);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < ny; i++) {
      double e = fabs((double)y[i] - ref[i]);
      if (!(e <= worst)) { worst = e; at = i; }
    }
    double rel = rmax > 0 ? worst / rmax : worst;
    if (rel > worst_all || isnan(rel)) worst_all = rel;
    if (!(rel <= 2e-5)) {
      printf("FAIL path %s F(%dx%d) C%lld K%lld %lldx%lld pads %lld,%lld,%lld,%lld bias %d sum %d act %d: "
             "rel err %.3g at %zu (got %g want %g), TB %lld\n",
             k->name, tile_m, tile_m, (long long)C, (long long)K, (long long)H, (long long)W, (long long)ph,
             (long long)pw, (long long)pb, (long long)pr, use_bias, use_sum, act, rel, at,
             (double)y[at], ref[at], (long long)w.TB);
      failures++;
    }
  }
  om_free_aligned(u);
  om_free_aligned(scratch);
  free(x); free(wt); free(b); free(sum); free(y); free(ref);
}

/* C, K, H, W, pads top / left / bottom / right, bias, residual, activation */
typedef struct wcase {
  int64_t C, K, H, W, ph, pw, pb, pr;
  int bias, sum, act;
} wcase;

static const wcase cases[] = {
  /* tiny and odd: partial tiles at the right / bottom, H or W < the tile */
  {1, 1, 3, 3, 1, 1, 1, 1, 0, 0, OM_ACT_NONE},
  {2, 3, 5, 7, 1, 1, 1, 1, 1, 0, OM_ACT_NONE},
  {3, 5, 9, 6, 0, 0, 0, 0, 1, 1, OM_ACT_RELU},
  {7, 9, 11, 13, 1, 0, 2, 1, 1, 1, OM_ACT_NONE},
  {17, 33, 10, 30, 1, 1, 1, 1, 1, 1, OM_ACT_SIGMOID},
  /* wide rows: several 16-tile runs per tile row, a last run of 1-3 tiles */
  {5, 6, 9, 150, 1, 1, 1, 1, 1, 1, OM_ACT_RELU},
  {3, 4, 6, 71, 0, 2, 1, 0, 0, 1, OM_ACT_NONE},
  /* network-like: resnet stages (several tile blocks, tiles spanning rows); the 7x7 stage is where
   * F(2x2) is chosen */
  {64, 64, 56, 56, 1, 1, 1, 1, 1, 0, OM_ACT_RELU},
  {128, 128, 28, 28, 1, 1, 1, 1, 1, 1, OM_ACT_RELU},
  {256, 256, 14, 14, 1, 1, 1, 1, 1, 0, OM_ACT_NONE},
  {512, 64, 7, 7, 1, 1, 1, 1, 0, 1, OM_ACT_RELU},
  {512, 512, 7, 7, 1, 1, 1, 1, 1, 1, OM_ACT_RELU},
  {40, 300, 23, 17, 1, 1, 1, 1, 1, 0, OM_ACT_RELU},
};

int main(void) {
  int paths[] = {OM_KERNEL_REF, OM_KERNEL_AVX2, OM_KERNEL_AVX512};
  for (int p = 0; p < 3; p++) {
    if (!om_gemm_path_supported(paths[p])) {
      printf("path %d not supported on this CPU: skipped\n", paths[p]);
      continue;
    }
    for (int tile_m = 4; tile_m >= 2; tile_m -= 2) {
      int before = failures;
      for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wcase *c = &cases[i];
        run_case(paths[p], tile_m, c->C, c->K, c->H, c->W, c->ph, c->pw, c->pb, c->pr, c->bias, c->sum, c->act);
      }
      printf("path %s F(%dx%d): %s\n", om_gemm_kernel_get(paths[p])->name, tile_m, tile_m,
             failures == before ? "ok" : "FAILED");
    }
  }
  /* the choice: F(4x4) where there are 16 of its tiles, F(2x2) on the 7x7 stage, direct below */
  static const int64_t pick[][5] = {/* C, K, OH, OW, tile size wanted */
                                    {64, 64, 56, 56, 4}, {256, 256, 14, 14, 4}, {512, 512, 13, 13, 4},
                                    {512, 512, 7, 7, 2}, {64, 96, 12, 9, 2}, {16, 16, 7, 7, 0},
                                    {512, 32, 7, 7, 0}, {512, 512, 3, 3, 0}};
  for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
    const int64_t *q = pick[i];
    int got = om_wino_profitable(q[0], q[1], q[2], q[3]);
    checks++;
    if (got != q[4]) {
      printf("FAIL om_wino_profitable(C %lld, K %lld, %lldx%lld) = %d, want %lld\n", (long long)q[0],
             (long long)q[1], (long long)q[2], (long long)q[3], got, (long long)q[4]);
      failures++;
    }
  }
  printf("%d cases, %d failed; worst relative error %.3g (max|diff| / max|ref|)\n", checks, failures,
         worst_all);
  return failures ? 1 : 0;
}
