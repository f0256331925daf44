/* bench/kernels.c: single-threaded timings of the conv layer shapes of resnet50, resnet18 and
 * mobilenet_v2 and efficientnet_b0's depthwise layers (each run as a one-node Conv through the real
 * planner, bias + ReLU fused), plus the
 * GEMM micro-kernel alone (L1-resident panels) and one plain packed GEMM. Median of several runs;
 * prints GFLOP/s and the share of this core's FP32 peak, measured at start-up (12 independent FMA
 * chains on the widest vectors the CPU runs: a Zen 5 core gives about 244 GFLOP/s, a Zen 4 core,
 * which splits each 512-bit FMA in two halves, about 117), or taken from OM_BENCH_PEAK=GFLOPS.
 * The main column is the product's default route (Winograd for the 3x3 stride-1 layers it takes);
 * 3x3 stride-1 layers also run without Winograd (OM_WINOGRAD=0, as --no-winograd) for comparison;
 * GFLOP/s always count the direct convolution's flops. OM_BENCH_COLD=1 writes 64 MiB between runs, so
 * a layer starts with its weights and image out of cache, as in a network.
 * Built with OpenBLAS (bench/CMakeLists.txt finds it through pkg-config), each layer is also timed as
 * OpenBLAS would run it on one thread: cblas_sgemm for a 1x1 stride-1 layer, a materialized im2col +
 * cblas_sgemm otherwise (+ bias and ReLU in one more pass), the baseline the issue asks to compare.
 * Times are thread CPU time (the machine is shared).
 * Usage: kernels [ref|avx2|avx512] [runs] [filter]   (default: best path this CPU runs, 7 runs;
 * filter: only the layers whose description contains it, or of that network; "bf16": only the bf16
 * GEMM against the fp32 one on resnet50's 1x1 shapes). */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "onnx/onnx.h"

#ifdef OM_HAVE_OPENBLAS
#include <cblas.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double PEAK = 244.0; /* GFLOP/s of one core, set in main */

static double now(void) {
  struct timespec t;
  /* thread CPU time: the machine is shared, and wall time counts the time other jobs hold the core */
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct layer {
  const char *net, *what;
  int64_t C, H, W, M, k, s, group;
} layer;

/* pad = k/2 everywhere (as torchvision does) */
static const layer layers[] = {
  {"resnet50", "7x7 s2 3->64 @224", 3, 224, 224, 64, 7, 2, 1},
  {"resnet50", "1x1 64->64 @56", 64, 56, 56, 64, 1, 1, 1},
  {"resnet50", "3x3 64->64 @56", 64, 56, 56, 64, 3, 1, 1},
  {"resnet50", "1x1 64->256 @56", 64, 56, 56, 256, 1, 1, 1},
  {"resnet50", "1x1 256->64 @56", 256, 56, 56, 64, 1, 1, 1},
  {"resnet50", "1x1 256->128 @56", 256, 56, 56, 128, 1, 1, 1},
  {"resnet50", "3x3 s2 128->128 @56", 128, 56, 56, 128, 3, 2, 1},
  {"resnet50", "3x3 128->128 @28", 128, 28, 28, 128, 3, 1, 1},
  {"resnet50", "1x1 128->512 @28", 128, 28, 28, 512, 1, 1, 1},
  {"resnet50", "1x1 512->128 @28", 512, 28, 28, 128, 1, 1, 1},
  {"resnet50", "3x3 256->256 @14", 256, 14, 14, 256, 3, 1, 1},
  {"resnet50", "1x1 256->1024 @14", 256, 14, 14, 1024, 1, 1, 1},
  {"resnet50", "1x1 1024->256 @14", 1024, 14, 14, 256, 1, 1, 1},
  {"resnet50", "3x3 512->512 @7", 512, 7, 7, 512, 3, 1, 1},
  {"resnet50", "1x1 s2 256->512 @56", 256, 56, 56, 512, 1, 2, 1},
  {"resnet50", "1x1 s2 512->1024 @28", 512, 28, 28, 1024, 1, 2, 1},
  {"resnet50", "1x1 s2 1024->2048 @14", 1024, 14, 14, 2048, 1, 2, 1},
  {"resnet50", "3x3 s2 256->256 @28", 256, 28, 28, 256, 3, 2, 1},
  {"resnet50", "3x3 s2 512->512 @14", 512, 14, 14, 512, 3, 2, 1},
  {"resnet50", "1x1 512->2048 @7", 512, 7, 7, 2048, 1, 1, 1},
  {"resnet50", "1x1 2048->512 @7", 2048, 7, 7, 512, 1, 1, 1},
  {"resnet18", "3x3 64->64 @56", 64, 56, 56, 64, 3, 1, 1},
  {"resnet18", "3x3 128->128 @28", 128, 28, 28, 128, 3, 1, 1},
  {"resnet18", "3x3 256->256 @14", 256, 14, 14, 256, 3, 1, 1},
  {"resnet18", "3x3 512->512 @7", 512, 7, 7, 512, 3, 1, 1},
  {"mobilenet_v2", "3x3 s2 3->32 @224", 3, 224, 224, 32, 3, 2, 1},
  {"mobilenet_v2", "dw 3x3 32 @112", 32, 112, 112, 32, 3, 1, 32},
  {"mobilenet_v2", "dw 3x3 s2 96 @112", 96, 112, 112, 96, 3, 2, 96},
  {"mobilenet_v2", "dw 3x3 144 @56", 144, 56, 56, 144, 3, 1, 144},
  {"mobilenet_v2", "dw 3x3 576 @14", 576, 14, 14, 576, 3, 1, 576},
  {"efficientnet_b0", "dw 5x5 240 @28", 240, 28, 28, 240, 5, 1, 240},
  {"efficientnet_b0", "dw 5x5 672 @14", 672, 14, 14, 672, 5, 1, 672},
  {"efficientnet_b0", "dw 5x5 s2 672 @14", 672, 14, 14, 672, 5, 2, 672},
  {"efficientnet_b0", "dw 5x5 1152 @7", 1152, 7, 7, 1152, 5, 1, 1152},
  {"mobilenet_v2", "1x1 32->16 @112", 32, 112, 112, 16, 1, 1, 1},
  {"mobilenet_v2", "1x1 16->96 @112", 16, 112, 112, 96, 1, 1, 1},
  {"mobilenet_v2", "1x1 144->24 @56", 144, 56, 56, 24, 1, 1, 1},
  {"mobilenet_v2", "1x1 96->576 @14", 96, 14, 14, 576, 1, 1, 1},
  {"mobilenet_v2", "1x1 320->1280 @7", 320, 7, 7, 1280, 1, 1, 1},
  {"mobilenet_v2", "1x1 576->96 @14", 576, 14, 14, 96, 1, 1, 1},
  {"mobilenet_v2", "1x1 384->64 @14", 384, 14, 14, 64, 1, 1, 1},
  {"mobilenet_v2", "1x1 64->384 @14", 64, 14, 14, 384, 1, 1, 1},
  {"mobilenet_v2", "1x1 960->160 @7", 960, 7, 7, 160, 1, 1, 1},
  {"mobilenet_v2", "1x1 160->960 @7", 160, 7, 7, 960, 1, 1, 1},
  {"mobilenet_v2", "dw 3x3 s2 576 @14", 576, 14, 14, 576, 3, 2, 576},
  {"squeezenet1_1", "3x3 s2 3->64 @224", 3, 224, 224, 64, 3, 2, 1},
  {"squeezenet1_1", "1x1 512->1000 @13", 512, 13, 13, 1000, 1, 1, 1},
  {"squeezenet1_1", "1x1 512->64 @13", 512, 13, 13, 64, 1, 1, 1},
  {"squeezenet1_1", "1x1 64->256 @13", 64, 13, 13, 256, 1, 1, 1},
  {"squeezenet1_1", "1x1 128->16 @55", 128, 55, 55, 16, 1, 1, 1},
};

static float frand(void) { return (float)rand() / (float)RAND_MAX - 0.5f; }

static double bench_layer(const layer *L, int path, int runs, char *err) {
  int64_t kk = L->k, pad = kk / 2, Cg = L->C / L->group;
  int64_t wd[4] = {L->M, Cg, kk, kk};
  size_t nw = (size_t)(L->M * Cg * kk * kk);
  float *w = malloc(nw * 4), *b = malloc((size_t)L->M * 4);
  for (size_t i = 0; i < nw; i++) w[i] = frand() * 0.1f;
  for (int64_t i = 0; i < L->M; i++) b[i] = frand();
  onnx_tensor inits[2];
  memset(inits, 0, sizeof inits);
  inits[0].name = "W"; inits[0].dtype = OM_DT_FLOAT; inits[0].ndim = 4;
  memcpy(inits[0].dims, wd, sizeof wd);
  inits[0].data = w; inits[0].nbytes = nw * 4;
  inits[1].name = "B"; inits[1].dtype = OM_DT_FLOAT; inits[1].ndim = 1; inits[1].dims[0] = L->M;
  inits[1].data = b; inits[1].nbytes = (size_t)L->M * 4;
  onnx_value_info in = {0}, out = {0};
  in.name = "X"; in.dtype = OM_DT_FLOAT; in.has_shape = 1; in.ndim = 4;
  in.dims[0] = 1; in.dims[1] = L->C; in.dims[2] = L->H; in.dims[3] = L->W;
  out.name = "Y";
  int64_t ks[2] = {kk, kk}, st[2] = {L->s, L->s}, pads[4] = {pad, pad, pad, pad};
  onnx_attr at[5];
  memset(at, 0, sizeof at);
  at[0].name = "kernel_shape"; at[0].type = ONNX_ATTR_INTS; at[0].n = 2; at[0].ints = ks;
  at[1].name = "strides"; at[1].type = ONNX_ATTR_INTS; at[1].n = 2; at[1].ints = st;
  at[2].name = "pads"; at[2].type = ONNX_ATTR_INTS; at[2].n = 4; at[2].ints = pads;
  at[3].name = "group"; at[3].type = ONNX_ATTR_INT; at[3].i = L->group;
  at[4].name = "om_act"; at[4].type = ONNX_ATTR_INT; at[4].i = OM_ACT_RELU;
  char *ins[3] = {"X", "W", "B"}, *outs[1] = {"Y"};
  onnx_node node = {0};
  node.name = "conv"; node.op_type = "Conv"; node.domain = "";
  node.nin = 3; node.inputs = ins; node.nout = 1; node.outputs = outs; node.nattr = 5; node.attrs = at;
  onnx_model m = {0};
  m.opset = 17; m.nnodes = 1; m.nodes = &node; m.ninit = 2; m.inits = inits;
  m.ninputs = 1; m.inputs = &in; m.noutputs = 1; m.outputs = &out;
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.kernel_path = path;
  om_plan *p = NULL;
  om_workspace *ws = NULL;
  double med = -1;
  if (om_plan_build(&m, &o, &p, err) == 0 && om_workspace_new(p, &ws, err) == 0) {
    float *x = om_workspace_input(ws, 0);
    size_t nx = (size_t)(L->C * L->H * L->W);
    for (size_t i = 0; i < nx; i++) x[i] = frand();
    double t[64];
    om_run(p, ws, err); /* warm-up: first touch of the arena */
    static char *flush;
    const size_t flush_bytes = (size_t)64 << 20;
    if (getenv("OM_BENCH_COLD") && !flush) flush = malloc(flush_bytes);
    for (int r = 0; r < runs; r++) {
      if (flush) /* OM_BENCH_COLD: caches emptied of the layer's data, as in a network */
        for (size_t i = 0; i < flush_bytes; i += 64) flush[i] = (char)(flush[i] + 1);
      double t0 = now();
      om_run(p, ws, err);
      t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_d);
    med = t[runs / 2];
  }
  om_workspace_free(ws);
  om_plan_free(p);
  free(w);
  free(b);
  return med;
}

#ifdef OM_HAVE_OPENBLAS
/* The layer as a BLAS user would run it: im2col (skipped for 1x1 stride 1), one sgemm, bias + ReLU. */
static double bench_openblas(const layer *L, int runs) {
  if (L->group != 1) return -1;
  int64_t k = L->k, pad = k / 2, s = L->s, C = L->C, M = L->M;
  int64_t OH = (L->H + 2 * pad - k) / s + 1, OW = (L->W + 2 * pad - k) / s + 1, N = OH * OW, K = C * k * k;
  float *x = malloc((size_t)(C * L->H * L->W) * 4), *w = malloc((size_t)(M * K) * 4);
  float *col = malloc((size_t)(K * N) * 4), *y = malloc((size_t)(M * N) * 4), *b = malloc((size_t)M * 4);
  for (int64_t i = 0; i < C * L->H * L->W; i++) x[i] = frand();
  for (int64_t i = 0; i < M * K; i++) w[i] = frand() * 0.1f;
  for (int64_t i = 0; i < M; i++) b[i] = frand();
  int direct = k == 1 && s == 1;
  double t[64];
  for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
    double t0 = now();
    if (!direct)
      for (int64_t c = 0; c < C; c++)
        for (int64_t ky = 0; ky < k; ky++)
          for (int64_t kx = 0; kx < k; kx++) {
            float *o = col + ((c * k + ky) * k + kx) * N;
            for (int64_t oy = 0; oy < OH; oy++) {
              int64_t iy = oy * s - pad + ky;
              for (int64_t ox = 0; ox < OW; ox++) {
                int64_t ix = ox * s - pad + kx;
                o[oy * OW + ox] = iy >= 0 && iy < L->H && ix >= 0 && ix < L->W ? x[(c * L->H + iy) * L->W + ix] : 0.0f;
              }
            }
          }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, w, (int)K,
                direct ? x : col, (int)N, 0.0f, y, (int)N);
    for (int64_t m = 0; m < M; m++)
      for (int64_t j = 0; j < N; j++) {
        float v = y[m * N + j] + b[m];
        y[m * N + j] = v > 0.0f ? v : 0.0f;
      }
    if (r >= 0) t[r] = now() - t0;
  }
  qsort(t, (size_t)runs, sizeof(double), cmp_d);
  free(x); free(w); free(col); free(y); free(b);
  return t[runs / 2];
}
#endif

/* The core, as /proc/cpuinfo names it: a VM's "AMD EPYC" was a Zen 5 core in some sessions and a
 * Zen 4 one (half the FP32 peak) in another, so the family and model go with it. */
static void cpu_name(char *buf, size_t n) {
  char name[128] = "?", fam[16] = "?", model[16] = "?", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f) && line[0] != '\n') {
    char *v = strchr(line, ':');
    if (!v) continue;
    v += v[1] == ' ' ? 2 : 1;
    v[strcspn(v, "\n")] = 0;
    if (strncmp(line, "model name", 10) == 0) snprintf(name, sizeof name, "%s", v);
    else if (strncmp(line, "cpu family", 10) == 0) snprintf(fam, sizeof fam, "%s", v);
    else if (strncmp(line, "model\t", 6) == 0) snprintf(model, sizeof model, "%s", v);
  }
  if (f) fclose(f);
  snprintf(buf, n, "%s (family %s model %s)", name, fam, model);
}

static const char *measure_peak(void) {
  const char *env = getenv("OM_BENCH_PEAK");
  if (env && atof(env) > 0) {
    PEAK = atof(env);
    return "from OM_BENCH_PEAK";
  }
  double p = om_fp32_peak_gflops(); /* engine/peak.c, as --profile reports it */
  if (p > 0) {
    PEAK = p;
    return "measured: 12 FMA chains of the widest vectors";
  }
  return "assumed: no SIMD FMA path on this CPU";
}

static void bench_ukr(const om_gemm_kernel *k) {
  int64_t kc = OM_GEMM_KC;
  float *a = om_alloc_aligned((size_t)(kc * k->mr) * 4), *b = om_alloc_aligned((size_t)(kc * k->nr) * 4);
  float c[OM_GEMM_MAX_MR * OM_GEMM_MAX_NR];
  for (int64_t i = 0; i < kc * k->mr; i++) a[i] = frand();
  for (int64_t i = 0; i < kc * k->nr; i++) b[i] = frand();
  int reps = 20000;
  double best = 1e30;
  for (int t = 0; t < 7; t++) {
    double t0 = now();
    for (int r = 0; r < reps; r++) k->ukr(kc, a, b, c, k->nr, k->mr, k->nr, NULL, 0, 1, NULL, 0);
    t0 = now() - t0;
    if (t0 < best) best = t0;
  }
  double gf = 2.0 * (double)(k->mr * k->nr * kc) * reps / best / 1e9;
  printf("%-13s %-24s %8.1f GFLOP/s %5.1f%% of peak (best of 7)\n", "micro-kernel", k->name, gf, 100 * gf / PEAK);
  /* one packed GEMM: A pre-packed, B packed per call */
  int64_t M = 256, N = 784, K = 1152;
  float *A = om_alloc_aligned((size_t)(M * K) * 4), *B = om_alloc_aligned((size_t)(K * N) * 4);
  float *C = om_alloc_aligned((size_t)(M * N) * 4);
  float *ap = om_alloc_aligned(om_gemm_packed_a_floats(k, M, K) * 4);
  for (int64_t i = 0; i < M * K; i++) A[i] = frand();
  for (int64_t i = 0; i < K * N; i++) B[i] = frand();
  om_gemm_pack_a(k, M, K, A, K, 1, 1.0f, ap);
  void *s = om_alloc_aligned(om_gemm_scratch_bytes(k, M, N, K, 1, 0) + 64);
  om_gemm_args g = {0};
  g.M = M; g.N = N; g.K = K; g.a_packed = ap; g.b = B; g.b_rs = N; g.b_cs = 1; g.c = C; g.ldc = N;
  double t[7];
  for (int r = 0; r < 7; r++) {
    double t0 = now();
    om_gemm(k, &g, s);
    t[r] = now() - t0;
  }
  qsort(t, 7, sizeof(double), cmp_d);
  gf = 2.0 * (double)(M * N * K) / t[3] / 1e9;
  printf("%-13s %-24s %8.1f GFLOP/s %5.1f%% of peak (median)\n", "gemm", "256x784x1152", gf, 100 * gf / PEAK);
#ifdef OM_HAVE_OPENBLAS
  for (int r = 0; r < 7; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)N,
                0.0f, C, (int)N);
    t[r] = now() - t0;
  }
  qsort(t, 7, sizeof(double), cmp_d);
  gf = 2.0 * (double)(M * N * K) / t[3] / 1e9;
  printf("%-13s %-24s %8.1f GFLOP/s %5.1f%% of peak (median; %s)\n", "gemm OpenBLAS", "256x784x1152", gf,
         100 * gf / PEAK, openblas_get_config());
#endif
  om_free_aligned(a); om_free_aligned(b); om_free_aligned(A); om_free_aligned(B); om_free_aligned(C);
  om_free_aligned(ap); om_free_aligned(s);
}

/* The bf16 GEMM (--precision bf16) on resnet50's 1x1 shapes and one im2col-sized product, A packed once,
 * B (fp32, row-major) packed and rounded per call as in a network: the kernel this CPU takes (AMX, or
 * vdpbf16ps; OM_AMX=0 forces the latter), against the fp32 GEMM on the same shape. */
static void bench_bf16(const om_gemm_kernel *k, int runs) {
  static const int64_t shapes[][3] = {{64, 3136, 64},   {256, 3136, 64},  {64, 3136, 256}, {128, 784, 512},
                                      {512, 784, 128},  {256, 196, 1024}, {1024, 196, 256}, {512, 49, 2048},
                                      {2048, 49, 512},  {256, 784, 1152}};
  printf("bf16 GEMM on %s (A packed at load, B rounded per call; GFLOP/s, median of %d)\n",
         om_gemm_amx_supported() ? "AMX" : "vdpbf16ps", runs);
  double t[64], tf[64];
  for (size_t i = 0; i < OM_ARRAY_LEN(shapes); i++) {
    int64_t M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
    float *A = om_alloc_aligned((size_t)(M * K) * 4), *B = om_alloc_aligned((size_t)(K * N) * 4);
    float *C = om_alloc_aligned((size_t)(M * N) * 4);
    for (int64_t j = 0; j < M * K; j++) A[j] = frand();
    for (int64_t j = 0; j < K * N; j++) B[j] = frand();
    uint16_t *ab = om_alloc_aligned(om_gemm_bf16_packed_a_elems(M, K) * 2);
    float *af = om_alloc_aligned(om_gemm_packed_a_floats(k, M, K) * 4);
    om_gemm_bf16_pack_a(M, K, A, K, 1, 1.0f, ab);
    om_gemm_pack_a(k, M, K, A, K, 1, 1.0f, af);
    size_t sb = om_gemm_bf16_scratch_bytes(M, N, K), sf = om_gemm_scratch_bytes(k, M, N, K, 1, 0);
    void *s = om_alloc_aligned((sb > sf ? sb : sf) + 64);
    om_gemm_args g = {0};
    g.M = M; g.N = N; g.K = K; g.b = B; g.b_rs = N; g.b_cs = 1; g.c = C; g.ldc = N;
    om_gemm_bf16(&g, ab, s); /* warm */
    for (int r = 0; r < runs; r++) {
      double t0 = now();
      om_gemm_bf16(&g, ab, s);
      t[r] = now() - t0;
    }
    g.a_packed = af;
    om_gemm(k, &g, s);
    for (int r = 0; r < runs; r++) {
      double t0 = now();
      om_gemm(k, &g, s);
      tf[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_d);
    qsort(tf, (size_t)runs, sizeof(double), cmp_d);
    double fl = 2.0 * (double)(M * N * K), gb = fl / t[runs / 2] / 1e9, gf = fl / tf[runs / 2] / 1e9;
    printf("%-13s %5lldx%-5lldx%-6lld %8.1f GFLOP/s bf16 %8.1f fp32 (%5.1f%% of peak)  %.2fx\n", "gemm bf16",
           (long long)M, (long long)N, (long long)K, gb, gf, 100 * gf / PEAK, gb / gf);
    om_free_aligned(A); om_free_aligned(B); om_free_aligned(C); om_free_aligned(ab); om_free_aligned(af);
    om_free_aligned(s);
  }
}

int main(int argc, char **argv) {
  int path = om_gemm_path_supported(OM_KERNEL_AVX512) ? OM_KERNEL_AVX512
             : om_gemm_path_supported(OM_KERNEL_AVX2) ? OM_KERNEL_AVX2 : OM_KERNEL_REF;
  if (argc > 1) {
    if (strcmp(argv[1], "ref") == 0) path = OM_KERNEL_REF;
    else if (strcmp(argv[1], "avx2") == 0) path = OM_KERNEL_AVX2;
    else if (strcmp(argv[1], "avx512") == 0) path = OM_KERNEL_AVX512;
    if (!om_gemm_path_supported(path)) {
      fprintf(stderr, "kernels: path %s is not supported on this CPU\n", argv[1]);
      return 2;
    }
  }
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1 || runs > 64) runs = 7;
  const om_gemm_kernel *k = om_gemm_kernel_get(path);
#ifdef OM_HAVE_OPENBLAS
  openblas_set_num_threads(1); /* before any call: its pool would hide work from thread CPU time */
#endif
  const char *how = measure_peak();
  char cpu[200];
  cpu_name(cpu, sizeof cpu);
  printf("cpu %s\npath %s, %d runs per layer, single thread, peak %.1f GFLOP/s (%s)\n", cpu, k->name, runs, PEAK,
         how);
  if (argc > 3 && strcmp(argv[3], "bf16") == 0) {
    if (om_gemm_bf16_supported()) bench_bf16(k, runs);
    else printf("bf16: this CPU lacks AVX512-BF16\n");
    return 0;
  }
  bench_ukr(k);
  double tot_flop[3] = {0}, tot_t[3] = {0};
  const char *nets[3] = {"resnet50", "resnet18", "mobilenet_v2"};
  unsetenv("OM_WINOGRAD"); /* main column: the default route */
  for (size_t i = 0; i < OM_ARRAY_LEN(layers); i++) {
    const layer *L = &layers[i];
    if (argc > 3 && !strstr(L->what, argv[3]) && strcmp(L->net, argv[3]) != 0) continue;
    char err[OM_ERR_LEN] = "";
    int wino = L->k == 3 && L->s == 1 && L->group == 1;
    double tdirect = -1, tblas = -1;
    if (wino) { /* the same layer without Winograd (--no-winograd), for comparison */
      setenv("OM_WINOGRAD", "0", 1);
      tdirect = bench_layer(L, path, runs, err);
      unsetenv("OM_WINOGRAD");
    }
#ifdef OM_HAVE_OPENBLAS
    tblas = bench_openblas(L, runs);
#endif
    double t = bench_layer(L, path, runs, err);
    if (t < 0) {
      printf("%-13s %-24s failed: %s\n", L->net, L->what, err);
      continue;
    }
    int64_t pad = L->k / 2, oh = (L->H + 2 * pad - L->k) / L->s + 1, ow = (L->W + 2 * pad - L->k) / L->s + 1;
    double flop = 2.0 * (double)(L->M * (L->C / L->group) * L->k * L->k * oh * ow);
    double gf = flop / t / 1e9;
    printf("%-13s %-24s %8.3f ms %8.1f GFLOP/s %5.1f%% of peak", L->net, L->what, t * 1e3, gf, 100 * gf / PEAK);
    if (tblas > 0) printf("  OpenBLAS %.3f ms (%.2fx)", tblas * 1e3, tblas / t);
    if (tdirect > 0) printf("  direct %.3f ms (%.2fx)", tdirect * 1e3, tdirect / t);
    printf("\n");
    for (int n = 0; n < 3; n++)
      if (strcmp(L->net, nets[n]) == 0) { tot_flop[n] += flop; tot_t[n] += t; }
  }
  for (int n = 0; n < 3; n++)
    if (tot_t[n] > 0)
      printf("%-13s %-24s %8.3f ms %8.1f GFLOP/s %5.1f%% of peak (listed layers, once each)\n", nets[n], "total",
             tot_t[n] * 1e3, tot_flop[n] / tot_t[n] / 1e9, 100 * tot_flop[n] / tot_t[n] / 1e9 / PEAK);
  return 0;
}
