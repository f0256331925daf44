/* test_ops_gemm.c: Gemm and MatMul with constant weights (ops_gemm.c) through the real planner,
 * one-node models built by hand, against a naive double loop written here. One image (M = 1: a
 * classifier head, which the AVX-512 path runs as a matrix-vector product) and a few (the packed
 * GEMM); Gemm with transA / transB, alpha / beta, C as a vector, a row, a scalar or absent; MatMul
 * with A as a row or a 1-D vector; on every kernel path this CPU runs. */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "onnx/onnx.h"
#include "node_model.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TEST_RNG_SEED 0x13198A2E03707344ull
#include "rng.h"

static float *randv(int64_t n) {
  float *v = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) v[i] = frand();
  return v;
}

/* Runs op on path and compares its M x N output (shape yd[0..yn)) with want, relative to 1 + |want|. */
static void run_check(const char *what, const char *op, onnx_attr *at, int nat, tin *ins, int nin, int path,
                      int wn, const int64_t *wd, int64_t M, int64_t N, const double *want) {
  om_plan_opts o = {0};
  o.kernel_path = path;
  int yn = 0;
  int64_t yd[OM_MAX_DIMS];
  float *y = NULL;
  char err[OM_ERR_LEN] = "";
  int rc = run_node(op, at, nat, ins, nin, &o, &yn, yd, &y, err);
  CHECK(rc == 0, "%s: %s", what, err);
  if (!rc) {
    int shape_ok = yn == wn;
    for (int i = 0; shape_ok && i < wn; i++) shape_ok = yd[i] == wd[i];
    CHECK(shape_ok, "%s: output shape", what);
    double worst = 0;
    for (int64_t i = 0; shape_ok && i < M * N; i++) {
      double d = fabs(y[i] - want[i]) / (1.0 + fabs(want[i]));
      if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-5, "%s: worst relative difference %g", what, worst);
  }
  free(y);
}

/* cmode: 0 no C, 1 C [N], 2 C [1, N], 3 C scalar [1] */
static void run_gemm(int path, int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta,
                     int cmode) {
  float *a = randv(M * K), *b = randv(K * N), *cv = randv(N);
  double *want = malloc(sizeof(double) * (size_t)(M * N));
  tin ins[3] = {{"A", 2, {ta ? K : M, ta ? M : K}, a, 0}, {"B", 2, {tb ? N : K, tb ? K : N}, b, 1},
                {"C", 1, {cmode == 3 ? 1 : N}, cv, 1}};
  if (cmode == 2) {
    ins[2].ndim = 2;
    ins[2].dims[0] = 1;
    ins[2].dims[1] = N;
  }
  onnx_attr at[4] = {a_int("transA", ta), a_int("transB", tb), a_float("alpha", alpha), a_float("beta", beta)};
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++)
        s += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      s *= alpha;
      if (cmode) s += (double)beta * cv[cmode == 3 ? 0 : j];
      want[i * N + j] = s;
    }
  char what[128];
  snprintf(what, sizeof what, "Gemm path %d M%lld N%lld K%lld ta%d tb%d alpha %g beta %g C%d", path, (long long)M,
           (long long)N, (long long)K, ta, tb, alpha, beta, cmode);
  const int64_t wd[2] = {M, N};
  run_check(what, "Gemm", at, 4, ins, cmode ? 3 : 2, path, 2, wd, M, N, want);
  free(want);
  free(a);
  free(b);
  free(cv);
}

/* MatMul a [M, K] (or [K] when vec) x constant b [K, N] */
static void run_matmul(int path, int64_t M, int64_t N, int64_t K, int vec) {
  float *a = randv(M * K), *b = randv(K * N);
  double *want = malloc(sizeof(double) * (size_t)(M * N));
  tin ins[2] = {{"A", 2, {M, K}, a, 0}, {"B", 2, {K, N}, b, 1}};
  if (vec) {
    ins[0].ndim = 1;
    ins[0].dims[0] = K;
  }
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
      want[i * N + j] = s;
    }
  char what[96];
  snprintf(what, sizeof what, "MatMul path %d M%lld N%lld K%lld vec%d", path, (long long)M, (long long)N,
           (long long)K, vec);
  const int64_t wd[2] = {M, N}, wv[1] = {N};
  run_check(what, "MatMul", NULL, 0, ins, 2, path, vec ? 1 : 2, vec ? wv : wd, M, N, want);
  free(want);
  free(a);
  free(b);
}

int main(void) {
  const int paths[] = {OM_KERNEL_REF, OM_KERNEL_AVX2, OM_KERNEL_AVX512};
  /* N below, at and past the 64-row panels and 16-lane vectors of the matrix-vector product */
  const int64_t Ns[] = {1, 15, 64, 100, 1000}, Ks[] = {1, 7, 300};
  for (int pi = 0; pi < 3; pi++) {
    if (!om_gemm_path_supported(paths[pi])) {
      printf("path %d not supported here: skipped\n", paths[pi]);
      continue;
    }
    for (int ni = 0; ni < 5; ni++)
      for (int ki = 0; ki < 3; ki++)
        for (int v = 0; v < 4; v++) {
          int64_t M = v == 3 ? 3 : 1; /* and a small batch through the GEMM */
          run_gemm(paths[pi], M, Ns[ni], Ks[ki], v == 1, v != 2, v == 2 ? 0.5f : 1.0f, v == 1 ? 2.0f : 1.0f,
                   (ni + ki + v) % 4);
        }
    for (int ni = 0; ni < 5; ni++)
      for (int ki = 0; ki < 3; ki++) {
        run_matmul(paths[pi], 1, Ns[ni], Ks[ki], 0);
        run_matmul(paths[pi], 1, Ns[ni], Ks[ki], 1);
        run_matmul(paths[pi], 2, Ns[ni], Ks[ki], 0);
      }
  }
  printf("%d Gemm / MatMul checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
