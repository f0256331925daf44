/* test_conv_pool.c: a Conv with the 3x3 stride-2 MaxPool after it fused in (plan.c fuse_pool; the
 * row bands of conv_direct.c om_cdir_run_pool, or ops_conv.c's whole-output fallback for the Conv
 * paths without bands: Winograd, GEMM, transposed tiles). The fused output must be the bytes of the
 * Conv run alone followed by a naive MaxPool written here (a max picks one of its inputs, and the
 * banded Conv sums each output as the unbanded one does), on 1 and 3 intra-op threads; the Conv run
 * alone is checked against a naive double-precision convolution. The planner: Conv -> Relu -> MaxPool
 * becomes one step whose bytes equal those of the three run apart (OM_POOL_FUSE=0), and --profile
 * counts its work on the Conv's output, not the 4x smaller pooled one. */
#include "check.h"
#include "node_model.h"

#include "engine/gemm.h"
#include "engine/op.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#include "rng.h"

typedef struct pc {
  int64_t N, C, H, W, M, k, s, cp; /* Conv: kernel k x k, stride s, pads cp all round */
  int64_t pp[4];                    /* MaxPool pads: top, left, bottom, right */
  int ceil, relu;
  const char *what;
} pc;

/* Plans and runs a model of nn nodes (inputs X and the initializers W, B), one workspace of nt
 * threads; *y malloc'ed. Returns the plan's step count, or -1 with err. */
static int run_model(onnx_node *nodes, int nn, const float *x, const int64_t *xd, const float *w,
                     const int64_t *wd, const float *b, int nt, float **y, int64_t *yd, double *flops0,
                     char *err) {
  onnx_model m = {0};
  onnx_tensor inits[2];
  onnx_value_info in = {0}, out = {0};
  memset(inits, 0, sizeof inits);
  inits[0].name = "W"; inits[0].dtype = OM_DT_FLOAT; inits[0].ndim = 4;
  memcpy(inits[0].dims, wd, 4 * sizeof(int64_t));
  inits[0].data = (void *)w; inits[0].nbytes = count(wd, 4) * 4;
  inits[1].name = "B"; inits[1].dtype = OM_DT_FLOAT; inits[1].ndim = 1; inits[1].dims[0] = wd[0];
  inits[1].data = (void *)b; inits[1].nbytes = (size_t)wd[0] * 4;
  in.name = "X"; in.dtype = OM_DT_FLOAT; in.has_shape = 1; in.ndim = 4;
  memcpy(in.dims, xd, 4 * sizeof(int64_t));
  out.name = "Y";
  m.opset = 17; m.nnodes = nn; m.nodes = nodes; m.ninit = 2; m.inits = inits;
  m.ninputs = 1; m.inputs = &in; m.noutputs = 1; m.outputs = &out;
  om_plan *p = NULL;
  om_workspace *ws = NULL;
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  if (om_plan_build(&m, &o, &p, err)) return -1;
  if (om_workspace_new_threads(p, nt, &ws, err)) {
    om_plan_free(p);
    return -1;
  }
  memcpy(om_workspace_input(ws, 0), x, count(xd, 4) * 4);
  int rc = om_run(p, ws, err), steps = om_plan_nsteps(p);
  om_step_info si;
  *flops0 = om_plan_step_info(p, 0, &si) ? -1 : si.flops;
  if (!rc) {
    const om_tensor_info *to = om_plan_output(p, 0);
    memcpy(yd, to->dims, 4 * sizeof(int64_t));
    *y = malloc(to->nbytes);
    memcpy(*y, om_workspace_output(ws, 0), to->nbytes);
  }
  om_workspace_free(ws);
  om_plan_free(p);
  return rc ? -1 : steps;
}

/* ONNX MaxPool output length (kernel 3, stride 2): with ceil_mode the last window must start inside
 * the input or its left pad. */
static int64_t pool_len(int64_t in, int64_t pb, int64_t pe, int ceil) {
  int64_t span = in + pb + pe - 3, o = (ceil ? (span + 1) / 2 : span / 2) + 1;
  if (ceil && (o - 1) * 2 >= in + pb) o--;
  return o;
}

static void one_case(pc t) {
  const int64_t OH = (t.H + 2 * t.cp - t.k) / t.s + 1, OW = (t.W + 2 * t.cp - t.k) / t.s + 1;
  const int64_t POH = pool_len(OH, t.pp[0], t.pp[2], t.ceil), POW = pool_len(OW, t.pp[1], t.pp[3], t.ceil);
  int64_t xd[4] = {t.N, t.C, t.H, t.W}, wd[4] = {t.M, t.C, t.k, t.k};
  size_t nx = count(xd, 4), nw = count(wd, 4);
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)t.M * 4);
  for (size_t i = 0; i < nx; i++) x[i] = frand();
  for (size_t i = 0; i < nw; i++) w[i] = frand();
  for (int64_t i = 0; i < t.M; i++) b[i] = frand();
  int64_t ks[2] = {t.k, t.k}, st[2] = {t.s, t.s}, cpads[4] = {t.cp, t.cp, t.cp, t.cp};
  int64_t pk[2] = {3, 3}, ps[2] = {2, 2}, ppads[4] = {t.pp[0], t.pp[1], t.pp[2], t.pp[3]};
  char *cin[3] = {"X", "W", "B"}, *cout1[1] = {"Y"}, *cout3[1] = {"c"}, *rin[1] = {"c"}, *rout[1] = {"r"},
       *min1[1] = {"r"}, *mout[1] = {"Y"};
  onnx_attr ca[6] = {a_ints("kernel_shape", 2, ks), a_ints("strides", 2, st), a_ints("pads", 4, cpads),
                     a_int("group", 1), a_int("om_act", t.relu ? OM_ACT_RELU : OM_ACT_NONE)};
  onnx_attr pa[4] = {a_ints("kernel_shape", 2, pk), a_ints("strides", 2, ps), a_ints("pads", 4, ppads),
                     a_int("ceil_mode", t.ceil)};
  char err[OM_ERR_LEN];
  double fl, fl_a = 0, fl_b = 0;
  /* 1. the Conv alone (its activation as the planner fuses it), against a naive convolution */
  onnx_node conv = {0};
  conv.name = "conv"; conv.op_type = "Conv"; conv.domain = "";
  conv.nin = 3; conv.inputs = cin; conv.nout = 1; conv.outputs = cout1; conv.nattr = 5; conv.attrs = ca;
  float *yc = NULL;
  int64_t ycd[4];
  if (run_model(&conv, 1, x, xd, w, wd, b, 1, &yc, ycd, &fl, err) < 0) {
    CHECK(0, "%s: the Conv alone: %s", t.what, err);
    free(x); free(w); free(b);
    return;
  }
  CHECK(ycd[2] == OH && ycd[3] == OW, "%s: Conv output %lldx%lld, want %lldx%lld", t.what, (long long)ycd[2],
        (long long)ycd[3], (long long)OH, (long long)OW);
  double worst = 0;
  for (int64_t n = 0; n < t.N; n++)
    for (int64_t m = 0; m < t.M; m++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          double acc = b[m], mag = fabs(b[m]);
          for (int64_t c = 0; c < t.C; c++)
            for (int64_t ky = 0; ky < t.k; ky++)
              for (int64_t kx = 0; kx < t.k; kx++) {
                int64_t iy = oy * t.s - t.cp + ky, ix = ox * t.s - t.cp + kx;
                if (iy < 0 || ix < 0 || iy >= t.H || ix >= t.W) continue;
                double p = (double)x[((n * t.C + c) * t.H + iy) * t.W + ix] * w[((m * t.C + c) * t.k + ky) * t.k + kx];
                acc += p;
                mag += fabs(p);
              }
          if (t.relu && acc < 0) acc = 0;
          double e = fabs(yc[((n * t.M + m) * OH + oy) * OW + ox] - acc) / (mag + 1e-30);
          if (e > worst) worst = e;
        }
  CHECK(worst < 1e-5, "%s: the Conv alone is off the naive one by %.3g (relative to the products' magnitude)",
        t.what, worst);
  /* 2. the naive MaxPool of that output: windows clipped to the image (pads and ceil_mode overhang
   * hold -inf, so they never win) */
  size_t np = (size_t)(t.N * t.M * POH * POW);
  float *want = malloc(np * 4);
  for (int64_t q = 0; q < t.N * t.M; q++)
    for (int64_t i = 0; i < POH; i++)
      for (int64_t j = 0; j < POW; j++) {
        float v = -FLT_MAX;
        for (int64_t dy = 0; dy < 3; dy++)
          for (int64_t dx = 0; dx < 3; dx++) {
            int64_t r = 2 * i - t.pp[0] + dy, cc = 2 * j - t.pp[1] + dx;
            if (r < 0 || cc < 0 || r >= OH || cc >= OW) continue;
            float u = yc[(q * OH + r) * OW + cc];
            if (u > v) v = u;
          }
        want[(q * POH + i) * POW + j] = v;
      }
  /* 3. the fused op (the attributes plan.c's fuse_pool gives it), on 1 and 3 threads */
  onnx_attr fa[10];
  memcpy(fa, ca, sizeof ca);
  fa[5] = a_int("om_pool", 1);
  fa[6] = a_int("om_pool_pt", t.pp[0]);
  fa[7] = a_int("om_pool_pl", t.pp[1]);
  fa[8] = a_int("om_pool_oh", POH);
  fa[9] = a_int("om_pool_ow", POW);
  onnx_node fused = conv;
  fused.nattr = 10;
  fused.attrs = fa;
  for (int nt = 1; nt <= 3; nt += 2) {
    float *yf = NULL;
    int64_t yfd[4];
    if (run_model(&fused, 1, x, xd, w, wd, b, nt, &yf, yfd, &fl, err) < 0) {
      CHECK(0, "%s, %d threads: the fused Conv: %s", t.what, nt, err);
      continue;
    }
    CHECK(yfd[2] == POH && yfd[3] == POW, "%s: fused output %lldx%lld, want %lldx%lld", t.what,
          (long long)yfd[2], (long long)yfd[3], (long long)POH, (long long)POW);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < np; i++)
      if (memcmp(&yf[i], &want[i], 4) != 0 && !bad++) first = i;
    CHECK(bad == 0, "%s, %d threads: %zu of %zu pooled values differ from the Conv + naive MaxPool (first at %zu: %.9g vs %.9g)",
          t.what, nt, bad, np, first, bad ? yf[first] : 0.0, bad ? want[first] : 0.0);
    free(yf);
  }
  /* 4. the planner: Conv (its Relu, if any, a node of its own) -> MaxPool, fused and not */
  onnx_node g[3];
  int ng = 0;
  g[ng] = conv;
  g[ng].nattr = 4; /* no om_act: the planner fuses the Relu node */
  g[ng].outputs = cout3;
  ng++;
  if (t.relu) {
    memset(&g[ng], 0, sizeof g[ng]);
    g[ng].name = "relu"; g[ng].op_type = "Relu"; g[ng].domain = "";
    g[ng].nin = 1; g[ng].inputs = rin; g[ng].nout = 1; g[ng].outputs = rout;
    ng++;
  }
  memset(&g[ng], 0, sizeof g[ng]);
  g[ng].name = "pool"; g[ng].op_type = "MaxPool"; g[ng].domain = "";
  g[ng].nin = 1; g[ng].inputs = t.relu ? min1 : rin; g[ng].nout = 1; g[ng].outputs = mout;
  g[ng].nattr = 4; g[ng].attrs = pa;
  ng++;
  float *ya = NULL, *yb = NULL;
  int64_t yad[4], ybd[4];
  setenv("OM_POOL_FUSE", "0", 1);
  int sa = run_model(g, ng, x, xd, w, wd, b, 1, &ya, yad, &fl_a, err);
  unsetenv("OM_POOL_FUSE");
  int sb = sa < 0 ? -1 : run_model(g, ng, x, xd, w, wd, b, 2, &yb, ybd, &fl_b, err);
  CHECK(sa >= 0 && sb >= 0, "%s: Conv -> MaxPool graph: %s", t.what, err);
  if (sa >= 0 && sb >= 0) {
    CHECK(sa == 2 && sb == 1, "%s: %d steps unfused and %d fused (want 2 and 1)", t.what, sa, sb);
    /* --profile's work of the Conv step: the Conv's own output, not the pool's */
    double want_fl = 2.0 * (double)(t.N * t.M * OH * OW) * (double)(t.C * t.k * t.k);
    CHECK(fl_a == want_fl && fl_b == want_fl, "%s: the Conv step counts %.0f FLOPs unfused and %.0f fused (want %.0f)",
          t.what, fl_a, fl_b, want_fl);
    CHECK(memcmp(yad, ybd, sizeof yad) == 0 && memcmp(ya, yb, np * 4) == 0 && memcmp(ya, want, np * 4) == 0,
          "%s: the planner's fused graph differs from the unfused one", t.what);
  }
  free(ya); free(yb); free(want); free(yc); free(x); free(w); free(b);
}

int main(void) {
  if (!om_gemm_path_supported(OM_KERNEL_AVX512)) {
    /* the fused op needs AVX-512 (the planner never fuses without it) */
    printf("skip: this CPU has no AVX-512\n");
    return 77;
  }
  const pc cases[] = {
    /* squeezenet1_1's stem, smaller: no pads, 3x3 stride 2, the Conv output even (ceil_mode adds a
     * clipped last window) or odd */
    {1, 3, 77, 77, 64, 3, 2, 0, {0, 0, 0, 0}, 1, 1, "3x3 s2 3->64 @77, pool ceil"},
    {1, 3, 77, 77, 64, 3, 2, 0, {0, 0, 0, 0}, 0, 1, "3x3 s2 3->64 @77, pool floor"},
    {1, 3, 75, 75, 64, 3, 2, 0, {0, 0, 0, 0}, 1, 1, "3x3 s2 3->64 @75, pool ceil"},
    /* the resnets' stem: 7x7 stride 2 pads 3, pool pads 1; channels not a multiple of 8; no Relu */
    {1, 3, 72, 70, 20, 7, 2, 3, {1, 1, 1, 1}, 0, 1, "7x7 s2 3->20 @72x70, pool pads 1"},
    {2, 3, 72, 72, 12, 7, 2, 3, {1, 1, 1, 1}, 0, 0, "7x7 s2 3->12 @72, batch 2, no relu"},
    {1, 5, 90, 66, 16, 3, 2, 1, {2, 0, 1, 2}, 1, 1, "3x3 s2 pads 1 5->16 @90x66, pool pads 2,0,1,2"},
    /* a long K (several K blocks parked in the band buffer) */
    {1, 48, 70, 70, 24, 3, 2, 1, {1, 1, 1, 1}, 0, 1, "3x3 s2 48->24 @70 (K 432)"},
    /* paths without bands: the whole output in scratch (Winograd; a 1x1 GEMM; transposed tiles) */
    {1, 16, 30, 30, 16, 3, 1, 1, {1, 1, 0, 0}, 0, 1, "3x3 s1 16->16 @30 (Winograd)"},
    {1, 16, 20, 20, 136, 1, 1, 0, {1, 0, 1, 0}, 1, 1, "1x1 16->136 @20 (GEMM)"},
    {1, 8, 24, 24, 40, 3, 2, 1, {1, 1, 1, 1}, 0, 1, "3x3 s2 8->40 @24 (small map)"},
    /* a 1x1 Conv on few channels reads the image in place: bands too */
    {1, 32, 40, 40, 48, 1, 1, 0, {1, 1, 1, 1}, 1, 1, "1x1 32->48 @40 (in place)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) one_case(cases[i]);
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
