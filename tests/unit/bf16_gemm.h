/* bf16_gemm.h: the bf16 GEMM check shared by test_bf16.c (the library's om_gemm_bf16, AMX or
 * vdpbf16ps) and test_amx_emu.c (the AMX kernel on emulated tiles): a naive reference that rounds A
 * and B to bf16 independently (frexp + rint) and sums in double, on odd sizes past the K block (256),
 * N block (512) and tile (16, 32) edges, odd K, B strided, transposed or from a packing callback, init
 * (separate and aliasing C), bias, every activation. The bound is fp32 accumulation error
 * (K * 2^-24 * sum|a*b|), far below what a wrong rounding or a mis-packed pair would give.
 * The includer defines CHECK (check.h's contract) and frand() (uniform in [-1, 1)). */
#ifndef OM_TEST_BF16_GEMM_H
#define OM_TEST_BF16_GEMM_H

#include "common/om.h"
#include "engine/gemm.h"
#include "ref_act.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  size_t (*packed_a_elems)(int64_t M, int64_t K);
  void (*pack_a)(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float scale, uint16_t *dst);
  size_t (*scratch_bytes)(int64_t M, int64_t N, int64_t K);
  void (*run)(const om_gemm_args *g, const uint16_t *a, void *scratch);
} bf16_gemm_impl;

/* Independent bf16 rounding: x = m * 2^e with 0.5 <= |m| < 1; bf16 keeps 8 significant bits, so
 * round m * 256 to an integer (rint: ties to even under the default rounding mode). */
static double ref_bf16(double x) {
  if (x == 0.0 || isinf(x) || isnan(x)) return x;
  int e;
  double m = frexp(x, &e);
  return ldexp(rint(m * 256.0), e - 8);
}


/* B from a callback: the test's own packer for a row-major matrix (kc x nr panels). */
typedef struct { const float *b; int64_t ldb; } cb_ctx;
static void test_packb(const void *vctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                       float *dst) {
  const cb_ctx *c = vctx;
  for (int64_t q = 0; q < nc; q += nr)
    for (int64_t kk = 0; kk < kc; kk++)
      for (int j = 0; j < nr; j++)
        dst[(q / nr) * kc * nr + kk * nr + j] = q + j < nc ? c->b[(k0 + kk) * c->ldb + j0 + q + j] : 0.0f;
}

/* bmode 0 row-major, 1 transposed storage, 2 callback; init 0 none, 1 separate, 2 aliases C */
static void run_case(const bf16_gemm_impl *im, int64_t M, int64_t N, int64_t K, int bmode, int init, int bias, int act) {
  float *A = malloc((size_t)(M * K + 1) * 4), *B = malloc((size_t)(K * N + 1) * 4);
  int64_t ldc = N + 5;
  float *C = malloc((size_t)(M * ldc + 1) * 4), *I = malloc((size_t)(M * ldc + 1) * 4);
  float *bv = malloc((size_t)(M + 1) * 4);
  for (int64_t i = 0; i < M * K; i++) A[i] = frand();
  for (int64_t i = 0; i < K * N; i++) B[i] = frand();
  for (int64_t i = 0; i < M * ldc; i++) C[i] = I[i] = frand();
  for (int64_t i = 0; i < M; i++) bv[i] = frand();
  float *Bt = NULL;
  om_gemm_args g;
  memset(&g, 0, sizeof g);
  g.M = M; g.N = N; g.K = K;
  cb_ctx cb = {B, N};
  if (bmode == 0) {
    g.b = B; g.b_rs = N; g.b_cs = 1;
  } else if (bmode == 1) {
    Bt = malloc((size_t)(K * N + 1) * 4);
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) Bt[j * K + k] = B[k * N + j];
    g.b = Bt; g.b_rs = 1; g.b_cs = K;
  } else {
    g.packb = test_packb; g.packb_ctx = &cb;
  }
  g.c = C; g.ldc = ldc;
  if (init == 1) { g.init = I; g.ldi = ldc; }
  if (init == 2) { g.init = C; g.ldi = ldc; }
  g.epi.bias = bias ? bv : NULL;
  g.epi.act = act;
  g.epi.alpha = act == OM_ACT_CLIP ? -0.5f : act == OM_ACT_HARD_SIGMOID ? 0.2f : 0.1f;
  g.epi.beta = act == OM_ACT_CLIP ? 0.7f : 0.5f;

  /* reference first: with init == 2, C holds the start values */
  double *R = malloc((size_t)(M * N + 1) * sizeof(double)), *S = malloc((size_t)(M * N + 1) * sizeof(double));
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < K; k++) {
        double p = ref_bf16(A[i * K + k]) * ref_bf16(B[k * N + j]);
        acc += p;
        mag += fabs(p);
      }
      double st = init == 1 ? I[i * ldc + j] : init == 2 ? C[i * ldc + j] : 0.0;
      double bb = bias ? bv[i] : 0.0;
      R[i * N + j] = ref_act(act, g.epi.alpha, g.epi.beta, acc + st + bb);
      S[i * N + j] = mag + fabs(st) + fabs(bb);
    }
  size_t sb = im->scratch_bytes(M, N, K), pe = im->packed_a_elems(M, K);
  void *scr = om_alloc_aligned(sb ? sb : 64);
  uint16_t *ap = om_alloc_aligned(pe * 2 + 64);
  im->pack_a(M, K, A, K, 1, 1.0f, ap);
  float *C0 = malloc((size_t)(M * ldc + 1) * 4);
  memcpy(C0, C, (size_t)(M * ldc) * 4);
  im->run(&g, ap, scr);
  int bad = 0;
  for (int64_t i = 0; i < M && !bad; i++) {
    for (int64_t j = 0; j < N && !bad; j++) {
      double want = R[i * N + j], got = C[i * ldc + j];
      double tol = ldexp((double)(K + 4), -24) * S[i * N + j] * 1.5 + 4e-7 * fabs(want) + 1e-7;
      if (!(fabs(got - want) <= tol)) {
        CHECK(0, "M=%lld N=%lld K=%lld b%d init%d bias%d act%d: C[%lld,%lld] = %.9g, want %.9g (tol %.3g)",
              (long long)M, (long long)N, (long long)K, bmode, init, bias, act, (long long)i,
              (long long)j, got, want, tol);
        bad = 1;
      }
    }
    for (int64_t j = N; j < ldc && !bad; j++)
      if (C[i * ldc + j] != C0[i * ldc + j]) {
        CHECK(0, "M=%lld N=%lld K=%lld: padding column %lld of row %lld was written", (long long)M,
              (long long)N, (long long)K, (long long)j, (long long)i);
        bad = 1;
      }
  }
  if (!bad) CHECK(1, "ok");
  free(A); free(B); free(Bt); free(C); free(C0); free(I); free(bv); free(R); free(S);
  om_free_aligned(scr);
  om_free_aligned(ap);
}

static void test_gemm(const bf16_gemm_impl *im) {
  static const int64_t Ms[] = {1, 7, 8, 9, 17, 32, 33, 70};
  static const int64_t Ns[] = {1, 15, 16, 17, 31, 33, 100, 530};
  static const int64_t Ks[] = {0, 1, 2, 3, 27, 31, 32, 33, 255, 256, 257, 300, 513};
  for (size_t a = 0; a < OM_ARRAY_LEN(Ms); a++)
    for (size_t b = 0; b < OM_ARRAY_LEN(Ns); b++)
      for (size_t c = 0; c < OM_ARRAY_LEN(Ks); c++) {
        int v = (int)(a * 31 + b * 7 + c);
        run_case(im, Ms[a], Ns[b], Ks[c], v % 3, v % 3 == 2 ? (v / 3) % 3 : (v / 5) % 3, v % 2, v % 8);
      }
  for (int act = 0; act <= OM_ACT_SILU; act++) run_case(im, 13, 45, 70, 0, 1, 1, act);
}

#endif
