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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int failures, checks;
static uint64_t rng = 0x13198A2E03707344ull;

static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* cmode: 0 no C, 1 C [N], 2 C [1, N], 3 C scalar [1] */
static void run_gemm(int path, int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta,
                     int cmode) {
  float *a = malloc(sizeof(float) * (size_t)(M * K)), *b = malloc(sizeof(float) * (size_t)(K * N));
  float *cv = malloc(sizeof(float) * (size_t)N);
  for (int64_t i = 0; i < M * K; i++) a[i] = frand();
  for (int64_t i = 0; i < K * N; i++) b[i] = frand();
  for (int64_t i = 0; i < N; i++) cv[i] = frand();
  tin ins[3] = {{"A", 2, {ta ? K : M, ta ? M : K}, a, 0}, {"B", 2, {tb ? N : K, tb ? K : N}, b, 1},
                {"C", 1, {cmode == 3 ? 1 : N}, cv, 1}};
  if (cmode == 2) {
    ins[2].ndim = 2;
    ins[2].dims[0] = 1;
    ins[2].dims[1] = N;
  }
  onnx_attr at[4] = {a_int("transA", ta), a_int("transB", tb), a_float("alpha", alpha), a_float("beta", beta)};
  om_plan_opts o = {0};
  o.kernel_path = path;
  int yn = 0;
  int64_t yd[OM_MAX_DIMS];
  float *y = NULL;
  char err[OM_ERR_LEN] = "";
  checks++;
  if (run_node("Gemm", at, 4, ins, cmode ? 3 : 2, &o, &yn, yd, &y, err)) {
    failures++;
    fprintf(stderr, "FAIL Gemm path %d %lldx%lldx%lld: %s\n", path, (long long)M, (long long)N, (long long)K, err);
  } else if (yn != 2 || yd[0] != M || yd[1] != N) {
    failures++;
    fprintf(stderr, "FAIL Gemm path %d: output shape\n", path);
  } else {
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
        s *= alpha;
        if (cmode) s += (double)beta * cv[cmode == 3 ? 0 : j];
        double d = fabs(y[i * N + j] - s) / (1.0 + fabs(s));
        if (d > worst) worst = d;
      }
    if (worst > 1e-5) {
      failures++;
      fprintf(stderr, "FAIL Gemm path %d M%lld N%lld K%lld ta%d tb%d alpha %g beta %g C%d: worst %g\n", path,
              (long long)M, (long long)N, (long long)K, ta, tb, alpha, beta, cmode, worst);
    }
  }
  free(y);
  free(a);
  free(b);
  free(cv);
}

/* MatMul a [M, K] (or [K] when vec) x constant b [K, N] */
static void run_matmul(int path, int64_t M, int64_t N, int64_t K, int vec) {
  float *a = malloc(sizeof(float) * (size_t)(M * K)), *b = malloc(sizeof(float) * (size_t)(K * N));
  for (int64_t i = 0; i < M * K; i++) a[i] = frand();
  for (int64_t i = 0; i < K * N; i++) b[i] = frand();
  tin ins[2] = {{"A", 2, {M, K}, a, 0}, {"B", 2, {K, N}, b, 1}};
  if (vec) {
    ins[0].ndim = 1;
    ins[0].dims[0] = K;
  }
  om_plan_opts o = {0};
  o.kernel_path = path;
  int yn = 0;
  int64_t yd[OM_MAX_DIMS];
  float *y = NULL;
  char err[OM_ERR_LEN] = "";
  checks++;
  if (run_node("MatMul", NULL, 0, ins, 2, &o, &yn, yd, &y, err)) {
    failures++;
    fprintf(stderr, "FAIL MatMul path %d %lldx%lldx%lld: %s\n", path, (long long)M, (long long)N, (long long)K, err);
  } else if (vec ? (yn != 1 || yd[0] != N) : (yn != 2 || yd[0] != M || yd[1] != N)) {
    failures++;
    fprintf(stderr, "FAIL MatMul path %d: output shape\n", path);
  } else {
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
        double d = fabs(y[i * N + j] - s) / (1.0 + fabs(s));
        if (d > worst) worst = d;
      }
    if (worst > 1e-5) {
      failures++;
      fprintf(stderr, "FAIL MatMul path %d M%lld N%lld K%lld vec%d: worst %g\n", path, (long long)M, (long long)N,
              (long long)K, vec, worst);
    }
  }
  free(y);
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
