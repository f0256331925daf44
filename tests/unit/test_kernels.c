/* test_kernels.c: every GEMM kernel path this CPU can run (ref, avx2, avx512) against a naive triple
 * loop in double precision, over many odd sizes (1..67, past the KC/NC/MC block edges), all ways of
 * feeding A and B (pre-packed, strided/transposed, packing callback), init (also aliasing C), bias
 * and every activation; vmath.c (exp, sigmoid, SiLU) on every path against libm in double, in ulps,
 * over the whole float range plus the edges (0, +-inf, NaN, under/overflow). */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/conv_direct.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "engine/vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#include "rng.h"

#include "ref_act.h"

typedef struct {
  int amode;   /* 0 pre-packed, 1 raw row-major, 2 raw transposed storage */
  int bmode;   /* 0 pre-packed, 1 raw row-major, 2 raw transposed, 3 callback */
  int init;    /* 0 none, 1 separate, 2 aliases C, 3 C += A*B (accumulate; K <= KC) */
  int bias;
  int act;
  float scale; /* a_scale for raw A */
} mode;

static void run_case(const om_gemm_kernel *k, int64_t M, int64_t N, int64_t K, mode md) {
  size_t na = (size_t)(M * K) + 1, nb = (size_t)(K * N) + 1, ncn = (size_t)(M * N) + 1;
  float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(ncn * 4 + 64 * 4), *I = malloc(ncn * 4);
  float *bias = malloc((size_t)(M + 1) * 4);
  for (size_t i = 0; i < na; i++) A[i] = frand();
  for (size_t i = 0; i < nb; i++) B[i] = frand();
  for (size_t i = 0; i < ncn; i++) I[i] = frand();
  for (int64_t i = 0; i < M; i++) bias[i] = frand();
  int64_t ldc = N + 3; /* a row stride wider than N checks that padding columns stay untouched */
  free(C);
  C = malloc((size_t)(M * ldc + 1) * 4);
  for (int64_t i = 0; i < M * ldc; i++) C[i] = 1234.5f;
  float sc = md.amode == 0 || md.scale == 0.0f ? 1.0f : md.scale;
  /* storage: A logical [M,K]; transposed storage holds A^T [K,M] */
  float *Ast = A;
  int64_t ars = K, acs = 1;
  if (md.amode == 2) { ars = 1; acs = M; }
  int64_t brs = N, bcs = 1;
  if (md.bmode == 2) { brs = 1; bcs = K; }
  const float *init = NULL;
  int64_t ldi = 0;
  if (md.init == 1) { init = I; ldi = N; }
  if (md.init >= 2) {
    for (int64_t i = 0; i < M; i++) memcpy(C + i * ldc, I + i * N, (size_t)N * 4);
    init = md.init == 2 ? C : NULL;
    ldi = ldc;
  }
  om_gemm_args g = {0};
  g.M = M; g.N = N; g.K = K;
  float *ap = NULL, *bp = NULL;
  if (md.amode == 0) {
    ap = om_alloc_aligned(om_gemm_packed_a_floats(k, M, K) * 4 + 64);
    om_gemm_pack_a(k, M, K, Ast, ars, acs, 1.0f, ap);
    g.a_packed = ap;
  } else {
    g.a = Ast; g.a_rs = ars; g.a_cs = acs; g.a_scale = md.scale;
  }
  om_gemm_bmat bm = {B, brs, bcs, 1.0f};
  if (md.bmode == 0) {
    bp = om_alloc_aligned(om_gemm_packed_b_floats(k, K, N) * 4 + 64);
    om_gemm_pack_b(k, K, N, B, brs, bcs, 1.0f, bp);
    g.b_packed = bp;
  } else if (md.bmode == 3) {
    g.packb = om_gemm_packb_strided; g.packb_ctx = &bm;
  } else {
    g.b = B; g.b_rs = brs; g.b_cs = bcs;
  }
  g.c = C; g.ldc = ldc; g.init = init; g.ldi = ldi; g.accumulate = md.init == 3;
  g.epi.bias = md.bias ? bias : NULL;
  g.epi.act = md.act; g.epi.alpha = 0.1f; g.epi.beta = 0.6f;
  if (md.act == OM_ACT_CLIP) { g.epi.alpha = -0.5f; g.epi.beta = 0.7f; }
  if (md.act == OM_ACT_HARD_SIGMOID) { g.epi.alpha = 0.2f; g.epi.beta = 0.5f; }
  size_t sb = om_gemm_scratch_bytes(k, M, N, K, md.amode == 0, md.bmode == 0);
  void *scratch = om_alloc_aligned(sb + 64);
  om_gemm(k, &g, scratch);

  int bad = 0;
  for (int64_t i = 0; i < M && !bad; i++) {
    for (int64_t j = 0; j < N; j++) {
      double s = 0, mag = 0;
      for (int64_t kk = 0; kk < K; kk++) {
        double av = (double)Ast[i * ars + kk * acs] * sc, bv = B[kk * brs + j * bcs];
        s += av * bv;
        mag += fabs(av * bv);
      }
      if (md.init) { s += I[i * N + j]; mag += fabs(I[i * N + j]); }
      if (md.bias) { s += bias[i]; mag += fabs(bias[i]); }
      double want = ref_act(md.act, g.epi.alpha, g.epi.beta, s);
      double got = C[i * ldc + j];
      if (!(fabs(got - want) <= 2e-6 * (mag + 1.0))) {
        fprintf(stderr, "FAIL %s M=%lld N=%lld K=%lld a%d b%d init%d bias%d act%d: C[%lld,%lld]=%.8g want %.8g\n",
                k->name, (long long)M, (long long)N, (long long)K, md.amode, md.bmode, md.init, md.bias,
                md.act, (long long)i, (long long)j, got, want);
        bad = 1;
        break;
      }
    }
    for (int64_t j = N; j < ldc && !bad && i < M - 1; j++)
      if (C[i * ldc + j] != 1234.5f) {
        fprintf(stderr, "FAIL %s M=%lld N=%lld K=%lld: wrote past column N at row %lld\n", k->name,
                (long long)M, (long long)N, (long long)K, (long long)i);
        bad = 1;
      }
  }
  checks++;
  failures += bad;
  om_free_aligned(ap);
  om_free_aligned(bp);
  om_free_aligned(scratch);
  free(A); free(B); free(C); free(I); free(bias);
}


/* Distance in float ulps between got and the double reference (both finite, or same inf/0 class). */
static double ulp_err(float got, double want) {
  if (isnan(want)) return isnan(got) ? 0 : 1e9;
  if (isinf(want) || fabs(want) > 3.4028234663852886e38) return (isinf(got) && (got > 0) == (want > 0)) ? 0 : 1e9;
  if (want == 0.0) return got == 0.0f ? 0 : fabs(got) / 1.401298464324817e-45;
  int e;
  frexp(want, &e);
  double ulp = ldexp(1.0, (e - 24 < -149 ? -149 : e - 24));
  return fabs((double)got - want) / ulp;
}

static void check_vmath(int path) {
  enum { NV = 200000 };
  static float x[NV], y[NV];
  int n = 0;
  const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.7f, 88.72f, 89.0f, 100.0f, -87.3f, -103.0f,
                        -104.0f, -150.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN, 0.5f, -0.5f, 20.0f, -20.0f};
  for (size_t i = 0; i < OM_ARRAY_LEN(edge); i++) x[n++] = edge[i];
  while (n < NV) { /* uniform on [-110, 110] and log-spread small magnitudes */
    float u = frand();
    x[n] = (n & 1) ? u * 110.0f : u * powf(2.0f, -30.0f * fabsf(frand()));
    n++;
  }
  const char *names[3] = {"exp", "sigmoid", "silu"};
  for (int f = 0; f < 3; f++) {
    /* odd length: exercises the masked tail */
    if (f == 0) om_vm_exp(y, x, NV - 3, path);
    else if (f == 1) om_vm_sigmoid(y, x, NV - 3, path);
    else om_vm_silu(y, x, NV - 3, path);
    double worst = 0;
    int at = 0;
    for (int i = 0; i < NV - 3; i++) {
      double xd = x[i], want;
      if (f == 0) want = exp(xd);
      else if (f == 1) want = 1.0 / (1.0 + exp(-xd));
      else want = isinf(xd) && xd < 0 ? -0.0 : xd / (1.0 + exp(-xd));
      double e = ulp_err(y[i], want);
      /* SiLU far negative is a tiny subnormal-ish product: judge it absolutely */
      if (f == 2 && fabs(want) < 1e-30) e = fabs(y[i] - want) < 1e-30 ? 0 : e;
      if (e > worst) { worst = e; at = i; }
    }
    checks++;
    printf("vmath path %d %-8s max error %.2f ulp (at x = %g)\n", path, names[f], worst, (double)x[at]);
    if (worst > 4.0) {
      printf("FAIL vmath path %d %s: %.2f ulp at x = %g\n", path, names[f], worst, (double)x[at]);
      failures++;
    }
  }
}
/* accumulate adds C after the products (blocked summation), it does not start from C: with C = 2^24
 * and 64 products of 0.5, starting from C would lose every product (2^24 + 0.5 rounds to 2^24) and
 * end at 2^24; summing first gives 32 and exactly 2^24 + 32. */
static void check_blocked_sum(const om_gemm_kernel *k) {
  enum { M = 9, N = 20, K = 64 };
  float A[M * K], B[K * N], C[M * N];
  for (int i = 0; i < M * K; i++) A[i] = 1.0f;
  for (int i = 0; i < K * N; i++) B[i] = 0.5f;
  for (int i = 0; i < M * N; i++) C[i] = 16777216.0f;
  om_gemm_args g = {0};
  g.M = M; g.N = N; g.K = K;
  g.a = A; g.a_rs = K; g.a_cs = 1;
  g.b = B; g.b_rs = N; g.b_cs = 1;
  g.c = C; g.ldc = N; g.accumulate = 1;
  void *scratch = om_alloc_aligned(om_gemm_scratch_bytes(k, M, N, K, 0, 0) + 64);
  om_gemm(k, &g, scratch);
  om_free_aligned(scratch);
  int bad = 0;
  for (int i = 0; i < M * N; i++) bad |= C[i] != 16777248.0f;
  if (bad) fprintf(stderr, "FAIL %s: accumulate is not a blocked sum (C[0] = %.1f, want 16777248)\n", k->name, C[0]);
  checks++;
  failures += bad;
}

/* om_fp_flush_denormals: a product below FLT_MIN is 0 with the flush on, a denormal with it off, and
 * a denormal operand reads as 0 (DAZ) */
static void check_flush(void) {
  volatile float a = 1e-20f, b = 1e-20f, d = 1e-40f, one = 1.0f;
  if (!om_fp_flush_denormals(1)) {
    printf("denormal flush: no control on this CPU, skipped\n");
    return;
  }
  float p_on = a * b, d_on = d * one;
  om_fp_flush_denormals(0);
  float p_off = a * b, d_off = d * one;
  checks++;
  if (p_on != 0.0f || d_on != 0.0f || !(p_off > 0.0f) || !(d_off > 0.0f)) {
    failures++;
    printf("FAIL denormal flush: on %g %g, off %g %g\n", (double)p_on, (double)d_on, (double)p_off,
           (double)d_off);
  }
}

/* Weights packed on several threads at load (om_gemm_pack_a_par, om_cdir_pack_weights_par) must be
 * the bytes of the serial packing, which run_case checks against the naive product. */
static void check_pack_par(const om_gemm_kernel *k) {
  static const int64_t shapes[][2] = {{256, 1024}, {1000, 512}, {37, 2305}, {520, 131}};
  for (size_t s = 0; s < OM_ARRAY_LEN(shapes); s++) {
    int64_t M = shapes[s][0], K = shapes[s][1];
    size_t nf = om_gemm_packed_a_floats(k, M, K);
    float *a = malloc((size_t)(M * K) * 4), *p1 = om_alloc_aligned(nf * 4), *p3 = om_alloc_aligned(nf * 4);
    for (int64_t i = 0; i < M * K; i++) a[i] = frand();
    memset(p3, 0xAB, nf * 4); /* every float must be written */
    om_gemm_pack_a(k, M, K, a, K, 1, 1.0f, p1);
    om_gemm_pack_a_par(k, M, K, a, K, 1, 1.0f, p3, 3);
    checks++;
    if (memcmp(p1, p3, nf * 4) != 0) {
      printf("FAIL %s: om_gemm_pack_a_par on 3 threads differs from om_gemm_pack_a, %lld x %lld\n", k->name,
             (long long)M, (long long)K);
      failures++;
    }
    free(a);
    om_free_aligned(p1);
    om_free_aligned(p3);
  }
  if (k->path != OM_KERNEL_AVX512) return;
  /* shifted-row Conv weights: 3x3 and 7x7 stride 2 (K blocks of kcb), a 1x1 read in place */
  static const int64_t conv[][4] = {{128, 128, 3, 2}, {3, 64, 7, 2}, {512, 128, 1, 1}};
  for (size_t s = 0; s < OM_ARRAY_LEN(conv); s++) {
    int64_t C = conv[s][0], M = conv[s][1], kk = conv[s][2], st = conv[s][3], pad = kk / 2;
    om_cdir d;
    size_t sb, ni;
    char err[OM_ERR_LEN];
    if (om_cdir_setup(&d, C, M, 112, 112, kk, kk, st, st, 1, 1, pad, pad, pad, pad, &sb, &ni, err)) {
      printf("FAIL cdir setup C%lld M%lld k%lld: %s\n", (long long)C, (long long)M, (long long)kk, err);
      failures++;
      checks++;
      continue;
    }
    size_t nf = om_cdir_weight_floats(&d), nw = (size_t)(M * C * kk * kk);
    float *w = malloc(nw * 4), *p1 = om_alloc_aligned(nf * 4), *p3 = om_alloc_aligned(nf * 4);
    for (size_t i = 0; i < nw; i++) w[i] = frand();
    memset(p3, 0xAB, nf * 4);
    om_cdir_pack_weights(&d, w, p1);
    om_cdir_pack_weights_par(&d, w, p3, 3);
    checks++;
    if (memcmp(p1, p3, nf * 4) != 0) {
      printf("FAIL om_cdir_pack_weights_par on 3 threads differs, C%lld M%lld k%lld\n", (long long)C,
             (long long)M, (long long)kk);
      failures++;
    }
    free(w);
    om_free_aligned(p1);
    om_free_aligned(p3);
  }
}

int main(void) {
  static const int sizes[] = {1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 47, 48, 49, 52, 64, 67};
  int ns = (int)OM_ARRAY_LEN(sizes);
  int paths[] = {OM_KERNEL_REF, OM_KERNEL_AVX2, OM_KERNEL_AVX512};
  for (int p = 0; p < 3; p++) {
    if (!om_gemm_path_supported(paths[p])) {
      printf("path %d not supported on this CPU: skipped\n", paths[p]);
      continue;
    }
    const om_gemm_kernel *k = om_gemm_kernel_get(paths[p]);
    int before = failures;
    /* every (M, N) pair of odd sizes with a few K, all plain */
    for (int a = 0; a < ns; a++)
      for (int b = 0; b < ns; b++) {
        int64_t K = sizes[(a * 7 + b * 3) % ns];
        run_case(k, sizes[a], sizes[b], K, (mode){0, 3, 0, 0, 0, 0});
      }
    /* modes and epilogues on a spread of shapes, including past KC (256), NC (512), MC (256) */
    static const int64_t shapes[][3] = {{1, 1, 1},   {7, 33, 5},   {67, 67, 67}, {9, 17, 300},
                                        {13, 530, 7}, {270, 20, 11}, {17, 45, 513}, {8, 32, 256},
                                        {5, 3, 0}};
    for (size_t s = 0; s < OM_ARRAY_LEN(shapes); s++)
      for (int am = 0; am < 3; am++)
        for (int bmo = 0; bmo < 4; bmo++)
          for (int in = 0; in < 4; in++) {
            if (in == 3 && shapes[s][2] > OM_GEMM_KC) continue;
            mode md = {am, bmo, in, (am + bmo + in) & 1, (am * 4 + bmo + in) % 8, am == 1 ? 0.75f : 0.0f};
            run_case(k, shapes[s][0], shapes[s][1], shapes[s][2], md);
          }
    for (int act = 0; act < 8; act++) run_case(k, 19, 37, 29, (mode){0, 3, 1, 1, act, 0});
    check_blocked_sum(k);
    check_pack_par(k);
    printf("%s: %s\n", k->name, failures == before ? "ok" : "FAILED");
  }
  check_flush();
  check_vmath(OM_KERNEL_REF);
  if (om_gemm_path_supported(OM_KERNEL_AVX512)) check_vmath(OM_KERNEL_AVX512);
  printf("%d cases, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
