/* test_bf16.c: the opt-in bf16 path (gemm_bf16.c, --precision bf16).
 *  1. om_bf16_round against an independent rounding (frexp + rint: 8 significant bits, ties to
 *     even), on random floats, exact ties and the special values.
 *  2. om_gemm_bf16 against a naive reference (bf16_gemm.h): the AMX kernel where the CPU has it
 *     (ctest runs this test again with OM_AMX=0 for the vdpbf16ps one), else the vdpbf16ps kernel.
 *  3. Which convolutions bf16 takes: a one-node 3x3 stride-1 Conv that Winograd takes runs the
 *     fp32 Winograd route under bf16 too (bit-identical to the fp32 plan), the same Conv with
 *     Winograd off and a stride-2 one run the bf16 kernels (not bit-identical, within bf16 bounds);
 *     a 1x1 Conv on a 1x1 map stays the fp32 matrix-vector product, on a 7x7 map it goes bf16; a
 *     3x3 Conv on a 7x7 map (F(2x2) Winograd) stays fp32 too, except on AMX.
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

#include "bf16_gemm.h"

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

/* ---- part 3: which Convs bf16 takes ---- */
/* One Conv node (3x3, pad 1, stride s, C -> M on an H x H image, bias), planned with the given
 * precision and Winograd setting and run on x; fills y (ny floats). */
static int run_conv_k(int64_t k, int64_t C, int64_t M, int64_t H, int64_t s, float *w, float *b,
                      int precision, int no_winograd, float *x, float *y, size_t ny) {
  tin ins[3] = {{"X", 4, {1, C, H, H}, x, 0}, {"W", 4, {M, C, k, k}, w, 1}, {"B", 1, {M}, b, 1}};
  int64_t ks[2] = {k, k}, st[2] = {s, s}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
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

static int run_conv(int64_t C, int64_t M, int64_t H, int64_t s, float *w, float *b, int precision,
                    int no_winograd, float *x, float *y, size_t ny) {
  return run_conv_k(3, C, M, H, s, w, b, precision, no_winograd, x, y, ny);
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
  /* a 3x3 Conv on a 7x7 map with 64 channels: F(2x2) Winograd, kept fp32 under bf16 (bit-identical)
   * except on AMX, where the bf16 kernel takes it */
  {
    enum { C7 = 64, H7 = 7 };
    static float x7[C7 * H7 * H7], w7[C7 * C7 * 9], b7[C7], a7[C7 * H7 * H7], c7[C7 * H7 * H7];
    for (size_t i = 0; i < OM_ARRAY_LEN(x7); i++) x7[i] = frand();
    for (size_t i = 0; i < OM_ARRAY_LEN(w7); i++) w7[i] = frand() * 0.1f;
    for (size_t i = 0; i < OM_ARRAY_LEN(b7); i++) b7[i] = frand();
    size_t ny = OM_ARRAY_LEN(a7);
    CHECK(run_conv(C7, C7, H7, 1, w7, b7, OM_PRECISION_FP32, 0, x7, a7, ny) == OM_OK, "fp32 3x3 @7");
    CHECK(run_conv(C7, C7, H7, 1, w7, b7, OM_PRECISION_BF16, 0, x7, c7, ny) == OM_OK, "bf16 3x3 @7");
    int same = memcmp(a7, c7, sizeof a7) == 0;
    if (om_gemm_amx_supported()) CHECK(!same, "3x3 @7 on AMX: bf16 plan bit-identical to fp32 (AMX not used?)");
    else CHECK(same, "3x3 @7: the bf16 plan differs from fp32 (F(2x2) Winograd not kept)");
  }
  /* a 1x1 Conv on a 1x1 map (squeeze-excitation) stays the fp32 matrix-vector product (memory-bound:
   * bf16 products gain nothing there); the same Conv on a 7x7 map takes the bf16 GEMM */
  for (int hw = 1; hw <= 7; hw += 6) {
    size_t ny = (size_t)M * (size_t)(hw * hw);
    CHECK(run_conv_k(1, C, M, hw, 1, w, b, OM_PRECISION_FP32, 0, x, y32, ny) == OM_OK, "fp32 1x1 @%d", hw);
    CHECK(run_conv_k(1, C, M, hw, 1, w, b, OM_PRECISION_BF16, 0, x, y16, ny) == OM_OK, "bf16 1x1 @%d", hw);
    int same = memcmp(y16, y32, ny * sizeof(float)) == 0;
    if (hw == 1) CHECK(same, "1x1 Conv on a 1x1 map: the bf16 plan differs from fp32 (not the fp32 GEMV)");
    else CHECK(!same, "1x1 Conv on a 7x7 map: bf16 plan bit-identical to fp32 (bf16 GEMM not used?)");
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
  const bf16_gemm_impl lib = {om_gemm_bf16_packed_a_elems, om_gemm_bf16_pack_a,
                               om_gemm_bf16_scratch_bytes, om_gemm_bf16};
  printf("bf16 GEMM kernel: %s\n", om_gemm_amx_supported() ? "AMX" : "vdpbf16ps");
  test_gemm(&lib);
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
