/* test_intra.c: intra-op threads (om_workspace_new_threads). One-node Conv / Gemm / MaxPool models
 * shaped like zoo layers (im2col, 1x1, Winograd, depthwise, grouped, FC, pool) run with workspaces
 * of 1, 2, 3 and 4 cooperating threads on every kernel path this CPU runs: the outputs must be
 * byte-identical to the 1-thread output, and the Conv / Gemm outputs must match a naive double
 * precision reference written here (so a split that drops or repeats work is caught even if it is
 * consistent). Also: 2-thread workspaces used inside an outer OpenMP loop (nested regions), and,
 * with OM_SHARED, resnet18 from shared/zoo whole with 1..4 threads against PyTorch's logits. */
#include "common/om.h"
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "io/npy.h"
#include "onnx/onnx.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#include "rng.h"

#define CHECK(cond, ...)                                                                         \
  do {                                                                                           \
    checks++;                                                                                    \
    if (!(cond)) {                                                                               \
      failures++;                                                                                \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                \
      printf(__VA_ARGS__);                                                                       \
      printf("\n");                                                                              \
    }                                                                                            \
  } while (0)

/* ---- a layer: Conv (group, stride, pad, bias, relu, optional residual), Gemm (FC) or MaxPool ---- */
enum { L_CONV, L_FC, L_POOL };
typedef struct layer {
  const char *what;
  int kind;
  int64_t C, H, W, M, k, s, group;
  int sum; /* Conv: om_sum residual input (fused Add) */
} layer;

static const layer layers[] = {
  {"7x7 s2 3->64 @96 (im2col, wide N)", L_CONV, 3, 96, 96, 64, 7, 2, 1, 0},
  {"3x3 64->64 @56 +sum (Winograd, 7 tile blocks)", L_CONV, 64, 56, 56, 64, 3, 1, 1, 1},
  {"3x3 40->24 @28 (Winograd, odd channels)", L_CONV, 40, 28, 28, 24, 3, 1, 1, 0},
  {"3x3 s2 64->128 @56 (im2col)", L_CONV, 64, 56, 56, 128, 3, 2, 1, 0},
  {"3x3 256->256 @14 +sum (im2col / shifted rows, N=196)", L_CONV, 256, 14, 14, 256, 3, 1, 1, 1},
  {"3x3 256->256 @14 +sum (Winograd, 16 tiles)", L_CONV, 256, 14, 14, 256, 3, 1, 1, 1},
  {"3x3 512->512 @7 (im2col, N=49)", L_CONV, 512, 7, 7, 512, 3, 1, 1, 0},
  {"3x3 512->512 @7 +sum (Winograd F(2x2), 16 tiles)", L_CONV, 512, 7, 7, 512, 3, 1, 1, 1},
  {"3x3 96->80 @9x11 (Winograd F(2x2), 30 tiles: a run of 16 and one of 14)", L_CONV, 96, 9, 11, 80, 3, 1, 1, 0},
  {"1x1 64->256 @56 (1x1 GEMM)", L_CONV, 64, 56, 56, 256, 1, 1, 1, 0},
  {"1x1 s2 128->256 @28 (downsample)", L_CONV, 128, 28, 28, 256, 1, 2, 1, 0},
  {"3x3 g4 64->64 @28 (grouped)", L_CONV, 64, 28, 28, 64, 3, 1, 4, 0},
  {"dw 3x3 96 @56 +sum (depthwise)", L_CONV, 96, 56, 56, 96, 3, 1, 96, 1},
  {"dw 5x5 s2 72 @56 (depthwise)", L_CONV, 72, 56, 56, 72, 5, 2, 72, 0},
  {"FC 512->1000 (Gemm transB)", L_FC, 512, 1, 1, 1000, 1, 1, 1, 0},
  {"MaxPool 3x3 s2 64 @112", L_POOL, 64, 112, 112, 64, 3, 2, 1, 0},
  {"MaxPool 3x3 s1 24 @37x45 (vector tails)", L_POOL, 24, 37, 45, 24, 3, 1, 1, 0},
  {"MaxPool 3x3 s2 16 @35x51 (vector tails)", L_POOL, 16, 35, 51, 16, 3, 2, 1, 0},
  {"MaxPool 3x3 s2 8 @21x97 (three 16-output blocks, a 1-lane tail)", L_POOL, 8, 21, 97, 8, 3, 2, 1, 0},
};

typedef struct built {
  onnx_model m;
  onnx_tensor inits[2];
  onnx_value_info in[2], out;
  onnx_attr at[6];
  onnx_node node;
  char *ins[4], *outs[1];
  int64_t ks[2], st[2], pads[4];
  float *w, *b;
  size_t nw;
  int64_t OH, OW;
} built;

static void build(const layer *L, built *B) {
  memset(B, 0, sizeof *B);
  int64_t k = L->k, pad = L->kind == L_POOL ? 1 : k / 2, Cg = L->C / L->group;
  B->OH = (L->H + 2 * pad - k) / L->s + 1;
  B->OW = (L->W + 2 * pad - k) / L->s + 1;
  onnx_model *m = &B->m;
  m->opset = 17;
  B->in[0].name = "X";
  B->in[0].dtype = OM_DT_FLOAT;
  B->in[0].has_shape = 1;
  B->out.name = "Y";
  B->outs[0] = "Y";
  B->node.name = "n";
  B->node.domain = "";
  B->node.outputs = B->outs;
  B->node.nout = 1;
  B->node.inputs = B->ins;
  B->node.attrs = B->at;
  if (L->kind == L_FC) {
    B->in[0].ndim = 2;
    B->in[0].dims[0] = 1;
    B->in[0].dims[1] = L->C;
  } else {
    B->in[0].ndim = 4;
    B->in[0].dims[0] = 1;
    B->in[0].dims[1] = L->C;
    B->in[0].dims[2] = L->H;
    B->in[0].dims[3] = L->W;
  }
  m->ninputs = 1;
  m->inputs = B->in;
  m->noutputs = 1;
  m->outputs = &B->out;
  m->nnodes = 1;
  m->nodes = &B->node;
  B->ks[0] = B->ks[1] = k;
  B->st[0] = B->st[1] = L->s;
  for (int i = 0; i < 4; i++) B->pads[i] = pad;
  onnx_attr *at = B->at;
  if (L->kind == L_POOL) {
    B->node.op_type = "MaxPool";
    B->ins[0] = "X";
    B->node.nin = 1;
    at[0].name = "kernel_shape"; at[0].type = ONNX_ATTR_INTS; at[0].n = 2; at[0].ints = B->ks;
    at[1].name = "strides"; at[1].type = ONNX_ATTR_INTS; at[1].n = 2; at[1].ints = B->st;
    at[2].name = "pads"; at[2].type = ONNX_ATTR_INTS; at[2].n = 4; at[2].ints = B->pads;
    B->node.nattr = 3;
    return;
  }
  B->nw = L->kind == L_FC ? (size_t)(L->M * L->C) : (size_t)(L->M * Cg * k * k);
  B->w = malloc(B->nw * sizeof(float));
  B->b = malloc((size_t)L->M * sizeof(float));
  for (size_t i = 0; i < B->nw; i++) B->w[i] = frand() * 0.2f;
  for (int64_t i = 0; i < L->M; i++) B->b[i] = frand();
  onnx_tensor *t = B->inits;
  t[0].name = "W"; t[0].dtype = OM_DT_FLOAT; t[0].data = B->w; t[0].nbytes = B->nw * sizeof(float);
  if (L->kind == L_FC) {
    t[0].ndim = 2; t[0].dims[0] = L->M; t[0].dims[1] = L->C;
  } else {
    t[0].ndim = 4; t[0].dims[0] = L->M; t[0].dims[1] = Cg; t[0].dims[2] = k; t[0].dims[3] = k;
  }
  t[1].name = "B"; t[1].dtype = OM_DT_FLOAT; t[1].ndim = 1; t[1].dims[0] = L->M;
  t[1].data = B->b; t[1].nbytes = (size_t)L->M * sizeof(float);
  m->ninit = 2;
  m->inits = t;
  B->ins[0] = "X"; B->ins[1] = "W"; B->ins[2] = "B";
  B->node.nin = 3;
  if (L->kind == L_FC) {
    B->node.op_type = "Gemm";
    at[0].name = "transB"; at[0].type = ONNX_ATTR_INT; at[0].i = 1;
    B->node.nattr = 1;
    return;
  }
  B->node.op_type = "Conv";
  at[0].name = "kernel_shape"; at[0].type = ONNX_ATTR_INTS; at[0].n = 2; at[0].ints = B->ks;
  at[1].name = "strides"; at[1].type = ONNX_ATTR_INTS; at[1].n = 2; at[1].ints = B->st;
  at[2].name = "pads"; at[2].type = ONNX_ATTR_INTS; at[2].n = 4; at[2].ints = B->pads;
  at[3].name = "group"; at[3].type = ONNX_ATTR_INT; at[3].i = L->group;
  at[4].name = "om_act"; at[4].type = ONNX_ATTR_INT; at[4].i = OM_ACT_RELU;
  B->node.nattr = 5;
  if (L->sum) {
    at[5].name = "om_sum"; at[5].type = ONNX_ATTR_INT; at[5].i = 1;
    B->node.nattr = 6;
    B->ins[3] = "S";
    B->node.nin = 4;
    B->in[1].name = "S";
    B->in[1].dtype = OM_DT_FLOAT;
    B->in[1].has_shape = 1;
    B->in[1].ndim = 4;
    B->in[1].dims[0] = 1;
    B->in[1].dims[1] = L->M;
    B->in[1].dims[2] = B->OH;
    B->in[1].dims[3] = B->OW;
    m->ninputs = 2;
  }
}

/* Naive reference in double: y = relu(conv(x) + b + s) / x W^T + b / max pool. */
static void reference(const layer *L, const built *B, const float *x, const float *s, double *y) {
  int64_t OH = B->OH, OW = B->OW, k = L->k;
  if (L->kind == L_FC) {
    for (int64_t j = 0; j < L->M; j++) {
      double a = B->b[j];
      for (int64_t c = 0; c < L->C; c++) a += (double)x[c] * B->w[j * L->C + c];
      y[j] = a;
    }
    return;
  }
  int64_t pad = L->kind == L_POOL ? 1 : k / 2, Cg = L->C / L->group, Mg = L->M / L->group;
  for (int64_t mo = 0; mo < L->M; mo++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++) {
        double a = L->kind == L_POOL ? -INFINITY : B->b[mo];
        int64_t g = mo / Mg;
        for (int64_t c = 0; c < (L->kind == L_POOL ? 1 : Cg); c++)
          for (int64_t ky = 0; ky < k; ky++)
            for (int64_t kx = 0; kx < k; kx++) {
              int64_t iy = oy * L->s - pad + ky, ix = ox * L->s - pad + kx;
              if (iy < 0 || iy >= L->H || ix < 0 || ix >= L->W) continue;
              if (L->kind == L_POOL) {
                double v = x[(mo * L->H + iy) * L->W + ix];
                a = v > a ? v : a;
              } else {
                a += (double)x[((g * Cg + c) * L->H + iy) * L->W + ix] *
                     B->w[((mo * Cg + c) * k + ky) * k + kx];
              }
            }
        size_t o = (size_t)((mo * OH + oy) * OW + ox);
        if (L->kind == L_CONV) {
          if (s) a += s[o];
          a = a > 0 ? a : 0;
        }
        y[o] = a;
      }
}

static void run_layer(const layer *L, int path) {
  char err[OM_ERR_LEN];
  built B;
  build(L, &B);
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.kernel_path = path;
  o.no_winograd = strstr(L->what, "(Winograd") == NULL; /* the other 3x3 routes are covered too */
  om_plan *p = NULL;
  if (om_plan_build(&B.m, &o, &p, err)) {
    CHECK(0, "%s [%s]: plan: %s", L->what, om_kernel_path_name(path), err);
    free(B.w);
    free(B.b);
    return;
  }
  const om_tensor_info *ti = om_plan_input(p, 0), *to = om_plan_output(p, 0);
  size_t nx = ti->nbytes / 4, ny = to->nbytes / 4;
  float *x = malloc(ti->nbytes), *s = NULL, *y1 = malloc(to->nbytes);
  double *ref = malloc(ny * sizeof(double));
  for (size_t i = 0; i < nx; i++) x[i] = frand();
  if (L->sum) {
    s = malloc(to->nbytes);
    for (size_t i = 0; i < ny; i++) s[i] = frand();
  }
  reference(L, &B, x, s, ref);
  for (int n = 1; n <= 4; n++) {
    om_workspace *w = NULL;
    if (om_workspace_new_threads(p, n, &w, err)) {
      CHECK(0, "%s: workspace for %d threads: %s", L->what, n, err);
      continue;
    }
    memcpy(om_workspace_input(w, 0), x, ti->nbytes);
    if (s) memcpy(om_workspace_input(w, 1), s, to->nbytes);
    /* poison the output so a tile nobody computes shows */
    memset((void *)(uintptr_t)om_workspace_output(w, 0), 0xFF, to->nbytes);
    CHECK(om_run(p, w, err) == OM_OK, "%s: run: %s", L->what, err);
    const float *y = om_workspace_output(w, 0);
    if (n == 1) {
      memcpy(y1, y, to->nbytes);
      double worst = 0;
      size_t at = 0;
      for (size_t i = 0; i < ny; i++) {
        double e = fabs((double)y[i] - ref[i]) / (1.0 + fabs(ref[i]));
        if (!(e <= worst)) { worst = e; at = i; }
      }
      CHECK(worst < 2e-3, "%s [%s]: 1 thread differs from the naive reference by %g at %zu (%g vs %g)",
            L->what, om_kernel_path_name(path), worst, at, (double)y[at], ref[at]);
    } else {
      CHECK(memcmp(y, y1, to->nbytes) == 0, "%s [%s]: %d threads not byte-identical to 1 thread",
            L->what, om_kernel_path_name(path), n);
    }
    om_workspace_free(w);
  }
  free(x);
  free(s);
  free(y1);
  free(ref);
  free(B.w);
  free(B.b);
  om_plan_free(p);
}

/* Outer loop of 2 threads, each with a 2-thread workspace (nested regions, as run.c does with
 * fewer images than threads): both results byte-identical to a 1-thread run. */
static void nested(void) {
  char err[OM_ERR_LEN];
  const layer *L = &layers[1]; /* Winograd: barriers inside the inner team */
  const layer *L2 = &layers[4];
  for (int li = 0; li < 2; li++) {
    const layer *Lx = li ? L2 : L;
    built B;
    build(Lx, &B);
    om_plan_opts o;
    memset(&o, 0, sizeof o);
    om_plan *p = NULL;
    if (om_plan_build(&B.m, &o, &p, err)) {
      CHECK(0, "nested %s: %s", Lx->what, err);
      continue;
    }
    const om_tensor_info *ti = om_plan_input(p, 0), *to = om_plan_output(p, 0);
    float *x = malloc(ti->nbytes), *s = malloc(to->nbytes), *y1 = malloc(to->nbytes);
    for (size_t i = 0; i < ti->nbytes / 4; i++) x[i] = frand();
    for (size_t i = 0; i < to->nbytes / 4; i++) s[i] = frand();
    om_workspace *w1;
    if (om_workspace_new(p, &w1, err) == OM_OK) {
      memcpy(om_workspace_input(w1, 0), x, ti->nbytes);
      if (Lx->sum) memcpy(om_workspace_input(w1, 1), s, to->nbytes);
      om_run(p, w1, err);
      memcpy(y1, om_workspace_output(w1, 0), to->nbytes);
      om_workspace_free(w1);
    }
    int bad = 0;
    int prev = omp_get_max_active_levels();
    omp_set_max_active_levels(2);
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
      char e2[OM_ERR_LEN];
      om_workspace *w;
      if (om_workspace_new_threads(p, 2, &w, e2) == OM_OK) {
        for (int r = 0; r < 3; r++) {
          memcpy(om_workspace_input(w, 0), x, ti->nbytes);
          if (Lx->sum) memcpy(om_workspace_input(w, 1), s, to->nbytes);
          om_run(p, w, e2);
          bad += memcmp(om_workspace_output(w, 0), y1, to->nbytes) != 0;
        }
        om_workspace_free(w);
      } else {
        bad++;
      }
    }
    omp_set_max_active_levels(prev);
    CHECK(bad == 0, "nested %s: %d of 6 runs inside an outer loop differ from 1 thread", Lx->what, bad);
    free(x);
    free(s);
    free(y1);
    free(B.w);
    free(B.b);
    om_plan_free(p);
  }
}

/* resnet18 whole, 1..4 threads: byte-identical, and close to PyTorch's logits. 0 ran, 1 skipped. */
static int zoo(void) {
  const char *shared = getenv("OM_SHARED");
  char path[4096], err[OM_ERR_LEN];
  if (!shared || !*shared) return 1;
  snprintf(path, sizeof path, "%s/zoo/resnet18.onnx", shared);
  onnx_model *m = NULL;
  if (onnx_load_file(path, NULL, &m, err)) {
    printf("zoo part skipped: %s: %s\n", path, err);
    return 1;
  }
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  om_plan *p = NULL;
  om_npy in, ref;
  memset(&in, 0, sizeof in);
  memset(&ref, 0, sizeof ref);
  char ip[4200], rp[4200];
  snprintf(ip, sizeof ip, "%s/zoo/resnet18.ref/input_1.npy", shared);
  snprintf(rp, sizeof rp, "%s/zoo/resnet18.ref/output.npy", shared);
  int ok = om_plan_build(m, &o, &p, err) == OM_OK;
  CHECK(ok, "resnet18 plan: %s", err);
  ok = ok && om_npy_read_file(ip, 0, &in, err) == OM_OK && om_npy_read_file(rp, 0, &ref, err) == OM_OK;
  CHECK(ok, "resnet18 reference data: %s", err);
  if (ok) {
    const om_tensor_info *to = om_plan_output(p, 0);
    float *y1 = malloc(to->nbytes);
    for (int n = 1; n <= 4; n++) {
      om_workspace *w;
      if (om_workspace_new_threads(p, n, &w, err)) {
        CHECK(0, "resnet18 workspace %d: %s", n, err);
        continue;
      }
      memcpy(om_workspace_input(w, 0), in.data, om_plan_input(p, 0)->nbytes);
      CHECK(om_run(p, w, err) == OM_OK, "resnet18 run: %s", err);
      const float *y = om_workspace_output(w, 0);
      if (n == 1) {
        memcpy(y1, y, to->nbytes);
        const float *r = (const float *)ref.data + 1000; /* row 1: input_1 */
        double worst = 0;
        for (int i = 0; i < 1000; i++) {
          double e = fabs((double)y[i] - r[i]);
          if (!(e <= worst)) worst = e;
        }
        CHECK(worst < 2e-2, "resnet18 1 thread vs PyTorch: max abs diff %g", worst);
      } else {
        CHECK(memcmp(y, y1, to->nbytes) == 0, "resnet18: %d threads not byte-identical to 1", n);
      }
      om_workspace_free(w);
    }
    free(y1);
  }
  om_npy_free(&in);
  om_npy_free(&ref);
  om_plan_free(p);
  onnx_free(m);
  return 0;
}

int main(void) {
  char err[OM_ERR_LEN];
  om_workspace *w = NULL;
  /* refusals: a thread count out of range names the count */
  {
    layer L = layers[12]; /* the FC layer */
    built B;
    build(&L, &B);
    om_plan_opts o;
    memset(&o, 0, sizeof o);
    om_plan *p = NULL;
    if (om_plan_build(&B.m, &o, &p, err) == OM_OK) {
      CHECK(om_workspace_new_threads(p, 0, &w, err) == OM_E_INVALID && !w && strstr(err, "0"),
            "0 threads accepted (%s)", err);
      CHECK(om_workspace_new_threads(p, -3, &w, err) == OM_E_INVALID && !w, "-3 threads accepted");
      om_plan_free(p);
    }
    free(B.w);
    free(B.b);
  }
  int paths[3] = {OM_KERNEL_AVX512, OM_KERNEL_AVX2, OM_KERNEL_REF};
  for (int pi = 0; pi < 3; pi++) {
    if (!om_gemm_path_supported(paths[pi])) continue;
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) run_layer(&layers[i], paths[pi]);
  }
  nested();
  int skipped = zoo();
  printf("%d checks, %d failures%s\n", checks, failures,
         skipped ? " (resnet18 part skipped: OM_SHARED not set)" : "");
  return failures ? 1 : 0;
}
