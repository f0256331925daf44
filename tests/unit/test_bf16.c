/* test_bf16.c: the opt-in bf16 path (gemm_bf16.c, --precision bf16).
 *  1. om_bf16_round against an independent rounding (frexp + rint: 8 significant bits, ties to
 *     even), on random floats, exact ties and the special values.
 *  2. om_gemm_bf16 against a naive reference that rounds A and B to bf16 the same way and sums in
 *     double: odd sizes past the K block (256) and N block (512) edges, odd K, B strided, transposed
 *     or from a packing callback, init (separate and aliasing C), bias, every activation. The bound
 *     is fp32 accumulation error (K * 2^-24 * sum|a*b|), far below what a wrong rounding or a
 *     mis-packed pair would give.
 *  3. Which convolutions bf16 takes: a one-node 3x3 stride-1 Conv that Winograd takes runs the
 *     fp32 Winograd route under bf16 too (bit-identical to the fp32 plan), the same Conv with
 *     Winograd off and a stride-2 one run the bf16 kernels (not bit-identical, within bf16 bounds).
 *  4. The whole path through the planner: resnet18 and mobilenet_v2 from shared/zoo with precision
 *     bf16 against PyTorch's fp32 logits (same top-1, logits within a bf16-sized bound, and not
 *     bit-equal to the fp32 plan, so the bf16 kernels really ran); with the REF kernel path bf16
 *     falls back to fp32 bit for bit.
 * Exit 77 when the CPU lacks AVX512-BF16, or (after parts 1-2 pass) when OM_SHARED is absent. */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "io/npy.h"
#include "onnx/onnx.h"
#include "node_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
static uint64_t rng = 0x243F6A8885A308D3ull;

#define CHECK(cond, ...)                                                                     \
  do {                                                                                       \
    checks++;                                                                                \
    if (!(cond)) {                                                                           \
      failures++;                                                                            \
      if (failures < 30) {                                                                   \
        printf("FAIL %s:%d: ", __FILE__, __LINE__);                                          \
        printf(__VA_ARGS__);                                                                 \
        printf("\n");                                                                        \
      }                                                                                      \
    }                                                                                        \
  } while (0)

static uint64_t next64(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static float frand(void) { return (float)((double)(next64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

/* Independent bf16 rounding: x = m * 2^e with 0.5 <= |m| < 1; bf16 keeps 8 significant bits, so
 * round m * 256 to an integer (rint: ties to even under the default rounding mode). */
static double ref_bf16(double x) {
  if (x == 0.0 || isinf(x) || isnan(x)) return x;
  int e;
  double m = frexp(x, &e);
  return ldexp(rint(m * 256.0), e - 8);
}

static float bits_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static void test_round(void) {
  for (int i = 0; i < 200000; i++) {
    uint32_t u = (uint32_t)next64();
    /* normal floats with exponents from 2^-100 to 2^100, random sign and mantissa */
    u = (u & 0x807FFFFFu) | ((uint32_t)(27 + next64() % 200) << 23);
    if (i % 4 == 0) u = (u & 0xFFFF0000u) | 0x8000u; /* exact tie */
    float x;
    memcpy(&x, &u, sizeof x);
    float got = bits_to_float(om_bf16_round(x));
    double want = ref_bf16(x);
    CHECK((double)got == want, "round(%.9g) = %.9g, expected %.9g", x, got, want);
  }
  CHECK(om_bf16_round(0.0f) == 0x0000, "round(0)");
  CHECK(om_bf16_round(-0.0f) == 0x8000, "round(-0)");
  CHECK(om_bf16_round(INFINITY) == 0x7F80, "round(inf)");
  CHECK(om_bf16_round(-INFINITY) == 0xFF80, "round(-inf)");
  CHECK(isnan(bits_to_float(om_bf16_round(NAN))), "round(NaN) stays NaN");
  CHECK(bits_to_float(om_bf16_round(1.0f + 1.0f / 256.0f)) == 1.0f, "1 + 2^-8 ties to even 1");
  CHECK(bits_to_float(om_bf16_round(1.0f + 3.0f / 256.0f)) == 1.0f + 4.0f / 256.0f,
        "1 + 3*2^-8 ties to even 1 + 2^-6");
  CHECK(isinf(bits_to_float(om_bf16_round(3.4e38f))), "3.4e38 rounds up to inf");
}

static double ref_act(int act, double a, double b, double x) {
  switch (act) {
  case OM_ACT_RELU: return x > 0 ? x : 0;
  case OM_ACT_CLIP: return x < a ? a : x > b ? b : x;
  case OM_ACT_LEAKY_RELU: return x < 0 ? a * x : x;
  case OM_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case OM_ACT_HARD_SIGMOID: { double t = a * x + b; return t < 0 ? 0 : t > 1 ? 1 : t; }
  case OM_ACT_HARD_SWISH: { double t = x / 6 + 0.5; return x * (t < 0 ? 0 : t > 1 ? 1 : t); }
  case OM_ACT_SILU: return x / (1.0 + exp(-x));
  default: return x;
  }
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
static void run_case(int64_t M, int64_t N, int64_t K, int bmode, int init, int bias, int act) {
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
  size_t sb = om_gemm_bf16_scratch_bytes(M, N, K), pe = om_gemm_bf16_packed_a_elems(M, K);
  void *scr = om_alloc_aligned(sb ? sb : 64);
  uint16_t *ap = om_alloc_aligned(pe * 2 + 64);
  om_gemm_bf16_pack_a(M, K, A, K, 1, 1.0f, ap);
  float *C0 = malloc((size_t)(M * ldc + 1) * 4);
  memcpy(C0, C, (size_t)(M * ldc) * 4);
  om_gemm_bf16(&g, ap, scr);
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

static void test_gemm(void) {
  static const int64_t Ms[] = {1, 7, 8, 9, 17, 64};
  static const int64_t Ns[] = {1, 15, 16, 31, 33, 100, 530};
  static const int64_t Ks[] = {0, 1, 2, 3, 27, 255, 256, 257, 300, 513};
  for (size_t a = 0; a < OM_ARRAY_LEN(Ms); a++)
    for (size_t b = 0; b < OM_ARRAY_LEN(Ns); b++)
      for (size_t c = 0; c < OM_ARRAY_LEN(Ks); c++) {
        int v = (int)(a * 31 + b * 7 + c);
        run_case(Ms[a], Ns[b], Ks[c], v % 3, v % 3 == 2 ? (v / 3) % 3 : (v / 5) % 3, v % 2, v % 8);
      }
  for (int act = 0; act <= OM_ACT_SILU; act++) run_case(13, 45, 70, 0, 1, 1, act);
}

/* ---- part 3: which Convs bf16 takes ---- */
/* One Conv node (3x3, pad 1, stride s, C -> M on an H x H image, bias), planned with the given
 * precision and Winograd setting and run on x; fills y (ny floats). */
static int run_conv(int64_t C, int64_t M, int64_t H, int64_t s, float *w, float *b, int precision,
                    int no_winograd, float *x, float *y, size_t ny) {
  tin ins[3] = {{"X", 4, {1, C, H, H}, x, 0}, {"W", 4, {M, C, 3, 3}, w, 1}, {"B", 1, {M}, b, 1}};
  int64_t ks[2] = {3, 3}, st[2] = {s, s}, pads[4] = {1, 1, 1, 1};
  onnx_attr at[3] = {a_ints("kernel_shape", 2, ks), a_ints("strides", 2, st), a_ints("pads", 4, pads)};
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.precision = precision;
  o.no_winograd = no_winograd;
  char err[OM_ERR_LEN];
  int yn;
  int64_t yd[OM_MAX_DIMS];
  float *out = NULL;
  if (run_node("Conv", at, 3, ins, 3, &o, &yn, yd, &out, err)) {
    printf("conv plan/run failed: %s\n", err);
    return -1;
  }
  int ok = count(yd, yn) == ny;
  if (ok) memcpy(y, out, ny * sizeof(float));
  free(out);
  return ok ? 0 : -1;
}

static void test_conv_routes(void) {
  enum { C = 32, M = 32, H = 28 }; /* 7 x 7 Winograd tiles: the planner takes Winograd here */
  static float x[C * H * H], w[M * C * 9], b[M], y32[M * H * H], y16[M * H * H];
  for (size_t i = 0; i < OM_ARRAY_LEN(x); i++) x[i] = frand();
  for (size_t i = 0; i < OM_ARRAY_LEN(w); i++) w[i] = frand() * 0.2f;
  for (size_t i = 0; i < OM_ARRAY_LEN(b); i++) b[i] = frand();
  for (int s = 1; s <= 2; s++)
    for (int nowino = 0; nowino <= 1; nowino++) {
      if (s == 2 && nowino) continue;
      size_t ny = (size_t)M * (size_t)((H - 1) / s + 1) * (size_t)((H - 1) / s + 1);
      CHECK(run_conv(C, M, H, s, w, b, OM_PRECISION_FP32, nowino, x, y32, ny) == OM_OK, "fp32 conv s%d", s);
      CHECK(run_conv(C, M, H, s, w, b, OM_PRECISION_BF16, nowino, x, y16, ny) == OM_OK, "bf16 conv s%d", s);
      double maxd = 0, maxy = 0;
      for (size_t i = 0; i < ny; i++) {
        maxd = fmax(maxd, fabs((double)y16[i] - y32[i]));
        maxy = fmax(maxy, fabs((double)y32[i]));
      }
      int same = memcmp(y16, y32, ny * sizeof(float)) == 0;
      if (s == 1 && !nowino) {
        /* Winograd stays fp32: a bf16 plan is bit for bit the fp32 one on this layer */
        CHECK(same, "3x3 s1 with Winograd: bf16 plan differs from fp32 (max %.3g): Winograd not kept", maxd);
      } else {
        CHECK(!same, "3x3 s%d%s: bf16 plan bit-identical to fp32 (bf16 kernels not used?)", s,
              nowino ? " without Winograd" : "");
        /* 8-bit operands, K = 288 products: well under 2% of the output range */
        CHECK(maxd < 0.02 * maxy, "3x3 s%d%s: bf16 off by %.3g (max %.3g)", s, nowino ? " no-Winograd" : "",
              maxd, maxy);
      }
    }
}

/* ---- part 4: whole models ---- */
static int run_model(const onnx_model *m, int precision, int path, const float *x, float *out,
                     size_t nout) {
  char err[OM_ERR_LEN];
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 1;
  o.precision = precision;
  o.kernel_path = path;
  om_plan *p = NULL;
  om_workspace *w = NULL;
  int rc = om_plan_build(m, &o, &p, err);
  if (rc == OM_OK) rc = om_workspace_new(p, &w, err);
  if (rc == OM_OK) {
    memcpy(om_workspace_input(w, 0), x, 3 * 224 * 224 * sizeof(float));
    rc = om_run(p, w, err);
  }
  if (rc == OM_OK) memcpy(out, om_workspace_output(w, 0), nout * sizeof(float));
  else printf("plan/run failed: %s\n", err);
  om_workspace_free(w);
  om_plan_free(p);
  return rc;
}

static void test_model(const char *shared, const char *name) {
  char path[1024], err[OM_ERR_LEN];
  snprintf(path, sizeof path, "%s/zoo/%s.onnx", shared, name);
  onnx_model *m = NULL;
  if (onnx_load_file(path, NULL, &m, err) != OM_OK) {
    CHECK(0, "load %s: %s", path, err);
    return;
  }
  om_npy ref;
  snprintf(path, sizeof path, "%s/zoo/%s.ref/output.npy", shared, name);
  if (om_npy_read_file(path, 0, &ref, err) != OM_OK) {
    CHECK(0, "%s: %s", path, err);
    onnx_free(m);
    return;
  }
  float f32[1000], b16[1000], rf[1000], rb[1000];
  for (int n = 0; n < 2; n++) {
    om_npy in;
    snprintf(path, sizeof path, "%s/zoo/%s.ref/input_%d.npy", shared, name, n);
    if (om_npy_read_file(path, 0, &in, err) != OM_OK) {
      CHECK(0, "%s: %s", path, err);
      continue;
    }
    const float *want = ref.data + n * 1000;
    CHECK(run_model(m, OM_PRECISION_FP32, 0, in.data, f32, 1000) == OM_OK, "%s fp32", name);
    CHECK(run_model(m, OM_PRECISION_BF16, 0, in.data, b16, 1000) == OM_OK, "%s bf16", name);
    double maxref = 0, d16 = 0;
    int a16 = 0, aref = 0, differ = 0;
    for (int j = 0; j < 1000; j++) {
      maxref = fmax(maxref, fabs(want[j]));
      d16 = fmax(d16, fabs(b16[j] - want[j]));
      if (b16[j] > b16[a16]) a16 = j;
      if (want[j] > want[aref]) aref = j;
      differ |= b16[j] != f32[j];
    }
    printf("%s input_%d: bf16 vs PyTorch max |diff| %.4g (max |logit| %.4g), top-1 %d vs %d\n", name, n,
           d16, maxref, a16, aref);
    CHECK(a16 == aref, "%s input_%d: bf16 top-1 %d, PyTorch %d", name, n, a16, aref);
    /* bf16 keeps 8 bits: a few percent of the logit range after ~50 layers, never more */
    CHECK(d16 < 0.15 * maxref, "%s input_%d: bf16 logits off by %.4g (max %.4g)", name, n, d16, maxref);
    CHECK(differ, "%s input_%d: bf16 plan gave bit-identical fp32 logits (bf16 kernels not used?)", name, n);
    /* kernel path REF has no bf16: the same numbers as fp32 on REF */
    if (n == 0) {
      CHECK(run_model(m, OM_PRECISION_BF16, OM_KERNEL_REF, in.data, rb, 1000) == OM_OK, "ref bf16");
      CHECK(run_model(m, OM_PRECISION_FP32, OM_KERNEL_REF, in.data, rf, 1000) == OM_OK, "ref fp32");
      CHECK(memcmp(rb, rf, sizeof rf) == 0, "%s: REF path with bf16 requested is not fp32", name);
    }
    om_npy_free(&in);
  }
  om_npy_free(&ref);
  onnx_free(m);
}

int main(void) {
  if (!om_gemm_bf16_supported() || !om_precision_supported(OM_PRECISION_BF16)) {
    printf("skip: this CPU lacks AVX512-BF16\n");
    return 77;
  }
  CHECK(!om_precision_supported(7), "unknown precision reported as supported");
  CHECK(strcmp(om_precision_name(OM_PRECISION_BF16), "bf16") == 0, "precision name");
  test_round();
  test_gemm();
  test_conv_routes();
  printf("bf16 rounding, GEMM and Conv routes: %d checks, %d failures\n", checks, failures);
  if (failures) return 1;
  const char *shared = getenv("OM_SHARED");
  char probe[1024];
  snprintf(probe, sizeof probe, "%s/zoo/resnet18.onnx", shared ? shared : "");
  FILE *f = shared ? fopen(probe, "rb") : NULL;
  if (!f) {
    printf("skip: OM_SHARED (zoo) absent; model checks not run\n");
    return 77;
  }
  fclose(f);
  test_model(shared, "resnet18");
  test_model(shared, "mobilenet_v2");
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
