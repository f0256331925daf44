/* test_plan.c: the planner on hand-built graphs: topological sort, cycle / undefined input / unknown
 * op / duplicate output / dynamic dim refusals, folding of a Shape->Gather->Unsqueeze->Concat->Reshape
 * chain, views, the memory plan (tensors alive at the same time never share bytes), fusion on vs off,
 * workspace reuse, extra outputs. Expected values come from naive loops written here. */
#include "engine/engine.h"
#include "engine/plan_debug.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c, ...)                                                     \
  do {                                                                    \
    if (!(c)) {                                                           \
      failures++;                                                         \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);        \
      fprintf(stderr, __VA_ARGS__);                                       \
      fprintf(stderr, "\n");                                              \
    }                                                                     \
  } while (0)

/* ---- a tiny graph builder over static storage ---- */
typedef struct {
  onnx_model m;
  onnx_node nodes[32];
  onnx_tensor inits[32];
  onnx_value_info ins[8], outs[8];
  onnx_attr attrs[32][4];
  char *names[32][2][OM_MAX_IO];
} gb;

static void gb_start(gb *g, int opset) {
  memset(g, 0, sizeof *g);
  g->m.opset = opset;
  g->m.ir_version = 8;
  g->m.nodes = g->nodes;
  g->m.inits = g->inits;
  g->m.inputs = g->ins;
  g->m.outputs = g->outs;
}

static onnx_node *gb_node(gb *g, const char *op, const char *name, int nin, const char *const *in, int nout,
                          const char *const *out) {
  int k = g->m.nnodes++;
  onnx_node *n = &g->nodes[k];
  n->name = (char *)name;
  n->op_type = (char *)op;
  n->domain = "";
  n->nin = nin;
  n->nout = nout;
  for (int i = 0; i < nin; i++) g->names[k][0][i] = (char *)in[i];
  for (int i = 0; i < nout; i++) g->names[k][1][i] = (char *)out[i];
  n->inputs = g->names[k][0];
  n->outputs = g->names[k][1];
  n->attrs = g->attrs[k];
  return n;
}

static void gb_attr_i(onnx_node *n, const char *name, int64_t v) {
  onnx_attr *a = &n->attrs[n->nattr++];
  a->name = (char *)name;
  a->type = ONNX_ATTR_INT;
  a->i = v;
}

static void gb_init(gb *g, const char *name, int dtype, int ndim, const int64_t *dims, void *data,
                    size_t nbytes) {
  onnx_tensor *t = &g->inits[g->m.ninit++];
  t->name = (char *)name;
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
  t->data = data;
  t->nbytes = nbytes;
}

static void gb_input(gb *g, const char *name, int ndim, const int64_t *dims) {
  onnx_value_info *v = &g->ins[g->m.ninputs++];
  v->name = (char *)name;
  v->dtype = OM_DT_FLOAT;
  v->has_shape = 1;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) v->dims[i] = dims[i];
}

static void gb_output(gb *g, const char *name) { g->outs[g->m.noutputs++].name = (char *)name; }

#define S(...) ((const char *const[]){__VA_ARGS__})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static float frand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Builds, fills input 0 (and 1) with seeded values, runs; returns the plan and workspace. */
static int build_run(const onnx_model *m, const om_plan_opts *o, unsigned seed, om_plan **p, om_workspace **w,
                     char *err) {
  int rc = om_plan_build(m, o, p, err);
  if (rc) return rc;
  if ((rc = om_workspace_new(*p, w, err))) return rc;
  for (int i = 0; i < om_plan_ninputs(*p); i++) {
    float *x = om_workspace_input(*w, i);
    size_t n = om_plan_input(*p, i)->nbytes / 4;
    for (size_t k = 0; k < n; k++) x[k] = frand(&seed);
  }
  return om_run(*p, *w, err);
}

/* The same model built twice, fused and with no_fusion, each run on the same seeded inputs; what
 * names the case in the failure messages. 1 when both built and ran. */
static int build_pair(const onnx_model *m, unsigned seed, om_plan **pf, om_workspace **wf, om_plan **pu,
                      om_workspace **wu, const char *what) {
  char err[OM_ERR_LEN] = "";
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  int rc = build_run(m, &o, seed, pf, wf, err);
  CHECK(rc == OM_OK, "%s fused: %s", what, err);
  o.no_fusion = 1;
  int rc2 = build_run(m, &o, seed, pu, wu, err);
  CHECK(rc2 == OM_OK, "%s unfused: %s", what, err);
  return !rc && !rc2;
}

static void test_sort_and_refusals(void) {
  gb g;
  char err[OM_ERR_LEN] = "";
  om_plan *p = NULL;
  om_workspace *w = NULL;
  /* Out of file order: Relu reads b before the Add that makes it. */
  gb_start(&g, 13);
  gb_input(&g, "x", 2, D(2, 3));
  gb_node(&g, "Relu", "r", 1, S("b"), 1, S("c"));
  gb_node(&g, "Add", "a", 2, S("x", "x"), 1, S("b"));
  gb_output(&g, "c");
  int rc = build_run(&g.m, NULL, 1, &p, &w, err);
  CHECK(rc == OM_OK, "%s", err);
  if (!rc) {
    const float *x = om_workspace_input(w, 0), *y = om_workspace_output(w, 0);
    for (int i = 0; i < 6; i++) {
      float want = x[i] + x[i] > 0 ? x[i] + x[i] : 0;
      CHECK(y[i] == want, "i=%d %g vs %g", i, y[i], want);
    }
    CHECK(om_plan_nsteps(p) == 2, "%d steps", om_plan_nsteps(p));
  }
  om_workspace_free(w);
  om_plan_free(p);
  p = NULL;
  w = NULL;

  /* Cycle. */
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(4));
  gb_node(&g, "Add", "a", 2, S("x", "c"), 1, S("b"));
  gb_node(&g, "Relu", "r", 1, S("b"), 1, S("c"));
  gb_output(&g, "c");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc != OM_OK && strstr(err, "cycle") && strstr(err, "node "), "%s", err);
  CHECK(p == NULL, "plan on error");

  /* Undefined input. */
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(4));
  gb_node(&g, "Relu", "r0", 1, S("x"), 1, S("y0"));
  gb_node(&g, "Add", "x7", 2, S("y0", "foo"), 1, S("y"));
  gb_output(&g, "y");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc != OM_OK && strstr(err, "node 1 'x7' (Add): input 'foo' is not produced by any node, initializer or graph input"),
        "%s", err);

  /* Unknown op. */
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(4));
  gb_node(&g, "FooOp", "n", 1, S("x"), 1, S("y"));
  gb_output(&g, "y");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc == OM_E_UNSUPPORTED && strstr(err, "node 0 'n' (FooOp): unsupported op FooOp (opset 13)"), "%s", err);

  /* Duplicate output. */
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(4));
  gb_node(&g, "Relu", "a", 1, S("x"), 1, S("y"));
  gb_node(&g, "Neg", "b", 1, S("x"), 1, S("y"));
  gb_output(&g, "y");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc != OM_OK && strstr(err, "'y'") && strstr(err, "also produced"), "%s", err);

  /* Graph output nobody makes. */
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(4));
  gb_node(&g, "Relu", "a", 1, S("x"), 1, S("y"));
  gb_output(&g, "zz");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc != OM_OK && strstr(err, "'zz'"), "%s", err);

  /* Dynamic non-batch dim: named in the refusal; dynamic batch takes opts.batch. */
  gb_start(&g, 13);
  gb_input(&g, "img", 3, D(-1, 3, -1));
  gb_node(&g, "Relu", "a", 1, S("img"), 1, S("y"));
  gb_output(&g, "y");
  rc = om_plan_build(&g.m, NULL, &p, err);
  CHECK(rc != OM_OK && strstr(err, "'img'") && strstr(err, "dim 2"), "%s", err);
  g.ins[0].dims[2] = 5;
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 4;
  rc = om_plan_build(&g.m, &o, &p, err);
  CHECK(rc == OM_OK, "%s", err);
  if (!rc) CHECK(om_plan_input(p, 0)->dims[0] == 4 && om_plan_input(p, 0)->nbytes == 4 * 15 * 4, "batch");
  om_plan_free(p);
  p = NULL;

  /* Unknown extra output. */
  o.nextra_outputs = 1;
  o.extra_outputs[0] = "nope";
  rc = om_plan_build(&g.m, &o, &p, err);
  CHECK(rc != OM_OK && strstr(err, "'nope'"), "%s", err);
}

static void test_fold_chain_and_views(void) {
  gb g;
  char err[OM_ERR_LEN] = "";
  om_plan *p = NULL;
  om_workspace *w = NULL;
  static int64_t zero = 0, axes0[1] = {0}, minus1[1] = {-1};
  gb_start(&g, 13);
  gb_input(&g, "x", 3, D(2, 3, 4));
  gb_init(&g, "i0", OM_DT_INT64, 0, NULL, &zero, 8);
  gb_init(&g, "ax", OM_DT_INT64, 1, D(1), axes0, 8);
  gb_init(&g, "m1", OM_DT_INT64, 1, D(1), minus1, 8);
  gb_node(&g, "Shape", "s", 1, S("x"), 1, S("shp"));
  gb_node(&g, "Gather", "g", 2, S("shp", "i0"), 1, S("n"));
  gb_node(&g, "Unsqueeze", "u", 2, S("n", "ax"), 1, S("n1"));
  gb_node(&g, "Concat", "c", 2, S("n1", "m1"), 1, S("newshape"));
  gb_attr_i(&g.nodes[3], "axis", 0);
  gb_node(&g, "Reshape", "r", 2, S("x", "newshape"), 1, S("flat"));
  gb_node(&g, "Relu", "relu", 1, S("flat"), 1, S("y"));
  gb_node(&g, "Flatten", "f", 1, S("flat"), 1, S("ff")); /* a view of a view */
  gb_attr_i(&g.nodes[6], "axis", 0);
  gb_output(&g, "y");
  gb_output(&g, "ff");
  int rc = build_run(&g.m, NULL, 7, &p, &w, err);
  CHECK(rc == OM_OK, "%s", err);
  if (rc) return;
  const om_tensor_info *yi = om_plan_output(p, 0), *fi = om_plan_output(p, 1);
  CHECK(yi->ndim == 2 && yi->dims[0] == 2 && yi->dims[1] == 12, "reshape to [2,12] (got %d dims)", yi->ndim);
  CHECK(fi->ndim == 2 && fi->dims[0] == 1 && fi->dims[1] == 24, "flatten axis 0");
  /* Everything but the Relu folded or viewed. */
  CHECK(om_plan_nsteps(p) == 1, "%d steps", om_plan_nsteps(p));
  const float *x = om_workspace_input(w, 0), *y = om_workspace_output(w, 0), *ff = om_workspace_output(w, 1);
  CHECK((const void *)ff == (const void *)x, "view output shares the input's bytes");
  for (int i = 0; i < 24; i++) CHECK(y[i] == (x[i] > 0 ? x[i] : 0), "relu %d", i);
  om_workspace_free(w);
  om_plan_free(p);
}

/* A diamond with several branches: checks that tensors alive together never overlap. */
static void test_memory_plan(void) {
  gb g;
  char err[OM_ERR_LEN] = "";
  om_plan *p = NULL;
  om_workspace *w = NULL;
  gb_start(&g, 13);
  gb_input(&g, "x", 2, D(16, 16));
  gb_node(&g, "Relu", "a", 1, S("x"), 1, S("a"));
  gb_node(&g, "Neg", "b", 1, S("a"), 1, S("b"));
  gb_node(&g, "Abs", "c", 1, S("b"), 1, S("c"));
  gb_node(&g, "Exp", "d", 1, S("a"), 1, S("d"));
  gb_node(&g, "Add", "e", 2, S("c", "d"), 1, S("e"));
  gb_node(&g, "Neg", "f", 1, S("e"), 1, S("f"));
  gb_node(&g, "Abs", "g", 1, S("f"), 1, S("g"));
  gb_node(&g, "Neg", "h", 1, S("g"), 1, S("h"));
  gb_node(&g, "Mul", "i", 2, S("h", "a"), 1, S("y"));
  gb_output(&g, "y");
  int rc = build_run(&g.m, NULL, 3, &p, &w, err);
  CHECK(rc == OM_OK, "%s", err);
  if (rc) return;
  int n = om_plan_nslots(p);
  CHECK(n == 10, "%d slots (9 tensors + input)", n);
  for (int i = 0; i < n; i++) {
    om_plan_slot s, t;
    om_plan_slot_at(p, i, &s);
    CHECK(s.offset % 64 == 0, "'%s' offset %zu unaligned", s.name, s.offset);
    CHECK(s.offset + s.bytes <= om_plan_arena_bytes(p), "'%s' past the arena", s.name);
    for (int j = i + 1; j < n; j++) {
      om_plan_slot_at(p, j, &t);
      int live = s.first <= t.last && t.first <= s.last;
      int overlap = s.offset < t.offset + t.bytes && t.offset < s.offset + s.bytes;
      CHECK(!(live && overlap), "'%s' [%d,%d]@%zu and '%s' [%d,%d]@%zu share bytes", s.name, s.first, s.last,
            s.offset, t.name, t.first, t.last, t.offset);
    }
  }
  CHECK(om_plan_arena_bytes(p) < om_plan_tensor_bytes(p), "no reuse: arena %zu, tensors %zu",
        om_plan_arena_bytes(p), om_plan_tensor_bytes(p));
  /* Naive reference. */
  const float *x = om_workspace_input(w, 0), *y = om_workspace_output(w, 0);
  for (int k = 0; k < 256; k++) {
    float a = x[k] > 0 ? x[k] : 0, e = fabsf(-a) + expf(a), want = -fabsf(-e) * a;
    CHECK(fabsf(y[k] - want) <= 1e-5f * (1 + fabsf(want)), "k=%d %g vs %g", k, y[k], want);
  }
  /* Reuse: the same workspace twice, and a second workspace, give identical bytes. */
  float first[256];
  memcpy(first, y, sizeof first);
  CHECK(om_run(p, w, err) == OM_OK, "%s", err);
  CHECK(memcmp(first, om_workspace_output(w, 0), sizeof first) == 0, "second run differs");
  om_workspace *w2 = NULL;
  CHECK(om_workspace_new(p, &w2, err) == OM_OK, "%s", err);
  memcpy(om_workspace_input(w2, 0), x, 256 * 4);
  CHECK(om_run(p, w2, err) == OM_OK, "%s", err);
  CHECK(memcmp(first, om_workspace_output(w2, 0), sizeof first) == 0, "other workspace differs");
  om_workspace_free(w2);

  /* An intermediate requested as an extra output stays intact to the end. */
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.nextra_outputs = 1;
  o.extra_outputs[0] = "b";
  om_plan *p2 = NULL;
  om_workspace *w3 = NULL;
  rc = om_plan_build(&g.m, &o, &p2, err);
  CHECK(rc == OM_OK && om_plan_noutputs(p2) == 2, "%s", err);
  if (!rc && om_workspace_new(p2, &w3, err) == OM_OK) {
    memcpy(om_workspace_input(w3, 0), x, 256 * 4);
    om_run(p2, w3, err);
    const float *b = om_workspace_output(w3, 1);
    for (int k = 0; k < 256; k++) CHECK(b[k] == -(x[k] > 0 ? x[k] : 0), "extra output b[%d]", k);
    CHECK(memcmp(first, om_workspace_output(w3, 0), sizeof first) == 0, "extra output changed y");
  }
  om_workspace_free(w3);
  om_plan_free(p2);
  om_workspace_free(w);
  om_plan_free(p);
}

/* Conv -> BatchNormalization -> Add(residual) -> Relu, and Conv -> x*Sigmoid(x), with fusion on and off. */
static void test_fusion(void) {
  enum { C = 4, M = 4, H = 6, W = 6 };
  static float wt[M * C * 9], bias[M], sc[M], sh[M], mean[M], var[M], wt2[M * M];
  unsigned s = 11;
  for (size_t i = 0; i < OM_ARRAY_LEN(wt); i++) wt[i] = frand(&s) * 0.5f;
  for (int i = 0; i < M; i++) {
    bias[i] = frand(&s);
    sc[i] = 1.0f + 0.5f * frand(&s);
    sh[i] = frand(&s);
    mean[i] = 0.3f * frand(&s);
    var[i] = 1.0f + 0.5f * frand(&s);
  }
  for (size_t i = 0; i < OM_ARRAY_LEN(wt2); i++) wt2[i] = frand(&s);
  gb g;
  gb_start(&g, 13);
  gb_input(&g, "x", 4, D(1, C, H, W));
  gb_input(&g, "r", 4, D(1, M, H, W));
  gb_init(&g, "W", OM_DT_FLOAT, 4, D(M, C, 3, 3), wt, sizeof wt);
  gb_init(&g, "B", OM_DT_FLOAT, 1, D(M), bias, sizeof bias);
  gb_init(&g, "sc", OM_DT_FLOAT, 1, D(M), sc, sizeof sc);
  gb_init(&g, "sh", OM_DT_FLOAT, 1, D(M), sh, sizeof sh);
  gb_init(&g, "mean", OM_DT_FLOAT, 1, D(M), mean, sizeof mean);
  gb_init(&g, "var", OM_DT_FLOAT, 1, D(M), var, sizeof var);
  gb_init(&g, "W2", OM_DT_FLOAT, 4, D(M, M, 1, 1), wt2, sizeof wt2);
  onnx_node *c = gb_node(&g, "Conv", "conv", 3, S("x", "W", "B"), 1, S("c"));
  static int64_t pads[4] = {1, 1, 1, 1};
  onnx_attr *a = &c->attrs[c->nattr++];
  a->name = "pads";
  a->type = ONNX_ATTR_INTS;
  a->n = 4;
  a->ints = pads;
  gb_node(&g, "BatchNormalization", "bn", 5, S("c", "sc", "sh", "mean", "var"), 1, S("bn"));
  gb_node(&g, "Add", "add", 2, S("r", "bn"), 1, S("sum"));
  gb_node(&g, "Relu", "relu", 1, S("sum"), 1, S("act"));
  gb_node(&g, "Conv", "conv2", 2, S("act", "W2"), 1, S("c2"));
  gb_node(&g, "Sigmoid", "sig", 1, S("c2"), 1, S("s2"));
  gb_node(&g, "Mul", "silu", 2, S("s2", "c2"), 1, S("y"));
  gb_output(&g, "y");
  om_plan *pf = NULL, *pu = NULL;
  om_workspace *wf = NULL, *wu = NULL;
  if (build_pair(&g.m, 5, &pf, &wf, &pu, &wu, "plan")) {
    CHECK(om_plan_nsteps(pf) == 2, "fused plan has %d steps, want 2", om_plan_nsteps(pf));
    CHECK(om_plan_nsteps(pu) == 7, "unfused plan has %d steps, want 7", om_plan_nsteps(pu));
    const float *yf = om_workspace_output(wf, 0), *yu = om_workspace_output(wu, 0);
    /* Independent check of the unfused path on one output element: naive conv+bn+add+relu, 1x1 conv, silu. */
    const float *x = om_workspace_input(wu, 0), *r = om_workspace_input(wu, 1);
    float act[M];
    int oy = 2, ox = 3;
    for (int m = 0; m < M; m++) {
      double acc = bias[m];
      for (int ci = 0; ci < C; ci++)
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            int iy = oy + ky - 1, ix = ox + kx - 1;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            acc += (double)wt[((m * C + ci) * 3 + ky) * 3 + kx] * x[(ci * H + iy) * W + ix];
          }
      double bnv = (acc - mean[m]) / sqrt(var[m] + 1e-5) * sc[m] + sh[m] + r[(m * H + oy) * W + ox];
      act[m] = (float)(bnv > 0 ? bnv : 0);
    }
    for (int m = 0; m < M; m++) {
      double z = 0;
      for (int k = 0; k < M; k++) z += (double)wt2[m * M + k] * act[k];
      double want = z / (1 + exp(-z));
      float got = yu[(m * H + oy) * W + ox];
      CHECK(fabs(got - want) <= 1e-4 * (1 + fabs(want)), "unfused m=%d %g vs %g", m, got, want);
    }
    size_t n = om_plan_output(pf, 0)->nbytes / 4;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
      double d = fabs((double)yf[i] - yu[i]) / (1 + fabs(yu[i]));
      if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-5, "fused vs unfused: worst relative diff %g", worst);
  }
  om_workspace_free(wf);
  om_workspace_free(wu);
  om_plan_free(pf);
  om_plan_free(pu);
}

/* Mul(x, per-channel gate) -> 1x1 Conv (+ Add): the planner folds the Mul into the Conv (om_in_scale).
 * Batch 2 with a per-image gate [2, C, 1, 1], and a shared constant gate [1, C, 1, 1] as the Mul's
 * first operand; fused and unfused plans agree, the unfused one matches a naive loop, and a Mul whose
 * product is also a graph output is left alone. Two geometries: a small map (the GEMM scales B while
 * packing it) and 12x13 with 20 output channels (on AVX-512 the gate goes into the weights' columns
 * per image and the image is read in place; a channel tail of 4). */
static void in_scale_case(int N, int C, int M, int H, int W) {
  float *wt = malloc(sizeof(float) * M * C), *bias = malloc(sizeof(float) * M), *gate1 = malloc(sizeof(float) * C);
  if (!wt || !bias || !gate1) {
    CHECK(0, "in_scale: out of memory");
    free(wt), free(bias), free(gate1);
    return;
  }
  unsigned s = 23;
  for (int i = 0; i < M * C; i++) wt[i] = frand(&s);
  for (int i = 0; i < M; i++) bias[i] = frand(&s);
  for (int i = 0; i < C; i++) gate1[i] = 0.5f + 0.5f * frand(&s);
  for (int variant = 0; variant < 3; variant++) {
    gb g;
    gb_start(&g, 13);
    gb_input(&g, "x", 4, D(N, C, H, W));
    gb_input(&g, "r", 4, D(N, M, H, W));
    if (variant == 0) gb_input(&g, "g", 4, D(N, C, 1, 1));
    else gb_init(&g, "g", OM_DT_FLOAT, 4, D(1, C, 1, 1), gate1, sizeof(float) * C);
    gb_init(&g, "W", OM_DT_FLOAT, 4, D(M, C, 1, 1), wt, sizeof(float) * M * C);
    gb_init(&g, "B", OM_DT_FLOAT, 1, D(M), bias, sizeof(float) * M);
    if (variant == 0) gb_node(&g, "Mul", "scale", 2, S("x", "g"), 1, S("m"));
    else gb_node(&g, "Mul", "scale", 2, S("g", "x"), 1, S("m"));
    gb_node(&g, "Conv", "proj", 3, S("m", "W", "B"), 1, S("c"));
    gb_node(&g, "Add", "res", 2, S("c", "r"), 1, S("y"));
    gb_output(&g, "y");
    if (variant == 2) gb_output(&g, "m"); /* the product is needed: no fusion */
    om_plan *pf = NULL, *pu = NULL;
    om_workspace *wf = NULL, *wu = NULL;
    char what[64];
    snprintf(what, sizeof what, "in_scale %dx%d variant %d", H, W, variant);
    if (build_pair(&g.m, 9, &pf, &wf, &pu, &wu, what)) {
      int want_steps = variant == 2 ? 2 : 1;
      CHECK(om_plan_nsteps(pf) == want_steps, "in_scale variant %d: fused plan has %d steps, want %d", variant,
            om_plan_nsteps(pf), want_steps);
      CHECK(om_plan_nsteps(pu) == 3, "in_scale variant %d: unfused plan has %d steps", variant, om_plan_nsteps(pu));
      const float *x = om_workspace_input(wu, 0), *r = om_workspace_input(wu, 1);
      const float *gt = variant == 0 ? om_workspace_input(wu, 2) : gate1;
      const float *yu = om_workspace_output(wu, 0), *yf = om_workspace_output(wf, 0);
      for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
          for (int p = 0; p < H * W; p += 5) {
            double acc = bias[m] + r[(n * M + m) * H * W + p];
            for (int k = 0; k < C; k++)
              acc += (double)wt[m * C + k] * (double)(x[(n * C + k) * H * W + p] * gt[variant == 0 ? n * C + k : k]);
            float got = yu[(n * M + m) * H * W + p];
            CHECK(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)), "in_scale variant %d n%d m%d p%d: %g vs %g", variant, n,
                  m, p, got, acc);
          }
      size_t cnt = om_plan_output(pf, 0)->nbytes / 4;
      double worst = 0;
      for (size_t i = 0; i < cnt; i++) {
        double d = fabs((double)yf[i] - yu[i]) / (1 + fabs(yu[i]));
        if (d > worst) worst = d;
      }
      CHECK(worst <= 1e-6, "in_scale variant %d fused vs unfused: worst relative diff %g", variant, worst);
    }
    om_workspace_free(wf);
    om_workspace_free(wu);
    om_plan_free(pf);
    om_plan_free(pu);
  }
  free(wt), free(bias), free(gate1);
}

static void test_fusion_in_scale(void) {
  in_scale_case(2, 5, 3, 4, 7);
  in_scale_case(2, 37, 20, 12, 13);
}

/* A malformed Conv after a per-channel Mul ('strides' as FLOATS, which Conv's prepare reads as
 * absent, as it does any attribute of the wrong type): the fusion must not read it as ints (it did:
 * a NULL dereference) and leaves the Mul alone. */
static void test_fusion_in_scale_bad_attr(void) {
  enum { C = 4, M = 2 };
  static float wt[M * C];
  static float fl[2] = {1.0f, 1.0f};
  gb g;
  gb_start(&g, 13);
  gb_input(&g, "x", 4, D(1, C, 3, 3));
  gb_input(&g, "g", 4, D(1, C, 1, 1));
  gb_init(&g, "W", OM_DT_FLOAT, 4, D(M, C, 1, 1), wt, sizeof wt);
  gb_node(&g, "Mul", "scale", 2, S("x", "g"), 1, S("m"));
  onnx_node *c = gb_node(&g, "Conv", "proj", 2, S("m", "W"), 1, S("y"));
  onnx_attr *a = &c->attrs[c->nattr++];
  a->name = "strides";
  a->type = ONNX_ATTR_FLOATS;
  a->n = 2;
  a->floats = fl;
  gb_output(&g, "y");
  char err[OM_ERR_LEN] = "";
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  om_plan *p = NULL;
  int rc = om_plan_build(&g.m, &o, &p, err);
  CHECK(rc == OM_OK, "FLOATS strides: %s", err);
  if (rc == OM_OK) CHECK(om_plan_nsteps(p) == 2, "FLOATS strides: %d steps, want 2 (no fusion)", om_plan_nsteps(p));
  om_plan_free(p);
}

static void emit(void *ctx, const char *line) {
  (*(int *)ctx)++;
  if (getenv("VERBOSE")) printf("%s\n", line);
}

static void test_describe_and_kernel(void) {
  gb g;
  char err[OM_ERR_LEN];
  om_plan *p = NULL;
  gb_start(&g, 13);
  gb_input(&g, "x", 1, D(8));
  gb_node(&g, "Relu", "a", 1, S("x"), 1, S("y"));
  gb_output(&g, "y");
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.kernel_path = OM_KERNEL_REF;
  CHECK(om_plan_build(&g.m, &o, &p, err) == OM_OK, "%s", err);
  int lines = 0;
  if (p) om_plan_describe(p, emit, &lines);
  CHECK(lines == 2, "%d describe lines", lines);
  om_plan_free(p);
  setenv("OMPREDICT_KERNEL", "ref", 1);
  CHECK(om_kernel_path_detect() == OM_KERNEL_REF, "env override");
  unsetenv("OMPREDICT_KERNEL");
  CHECK(om_kernel_path_detect() != OM_KERNEL_AUTO, "detect");
  /* Over the element limit. */
  o.max_tensor_elems = 4;
  CHECK(om_plan_build(&g.m, &o, &p, err) == OM_E_LIMIT, "limit: %s", err);
}

/* Concat in place: with nothing but size-1 dims before the axis, the inputs' producers write into the
 * output and the Concat step goes away; with a batch of 2, a graph input or a graph output among the
 * inputs, the copy stays. Values against a reference computed here, in every variant. */
static void test_concat_in_place(void) {
  enum { C = 3, H = 5, W = 7 };
  for (int variant = 0; variant < 5; variant++) {
    int64_t n = variant == 1 ? 2 : 1;
    gb g;
    gb_start(&g, 13);
    gb_input(&g, "x", 4, D(n, C, H, W));
    gb_node(&g, "Relu", "a", 1, S("x"), 1, S("ra"));
    gb_node(&g, "Sigmoid", "b", 1, S("x"), 1, S("sb"));
    onnx_node *cat = gb_node(&g, "Concat", "cat", variant == 3 ? 3 : 2,
                             variant == 3 ? S("ra", "sb", "x") : S("ra", "sb"), 1, S("y"));
    gb_attr_i(cat, "axis", variant == 4 ? -3 : 1);
    gb_output(&g, "y");
    if (variant == 2) gb_output(&g, "ra");
    if (variant == 4) { /* an input read again after the Concat */
      gb_node(&g, "Neg", "after", 1, S("sb"), 1, S("z"));
      gb_output(&g, "z");
    }
    char err[OM_ERR_LEN] = "";
    om_plan *p = NULL;
    om_workspace *w = NULL;
    om_plan_opts o;
    memset(&o, 0, sizeof o);
    int rc = build_run(&g.m, &o, 31, &p, &w, err);
    CHECK(rc == OM_OK, "concat variant %d: %s", variant, err);
    if (!rc) {
      int want = variant == 0 ? 2 : 3; /* variant 4: Relu, Sigmoid, Neg */
      CHECK(om_plan_nsteps(p) == want, "concat variant %d: %d steps, want %d", variant, om_plan_nsteps(p), want);
      const float *x = om_workspace_input(w, 0), *y = om_workspace_output(w, 0);
      int64_t per = C * H * W, ycat = variant == 3 ? 3 * per : 2 * per;
      for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < per; i++) {
          double xv = x[b * per + i], r = xv > 0 ? xv : 0, sg = 1.0 / (1.0 + exp(-xv));
          double got_r = y[b * ycat + i], got_s = y[b * ycat + per + i];
          CHECK(fabs(got_r - r) <= 1e-6 && fabs(got_s - sg) <= 1e-6, "concat variant %d b%d i%d: %g %g vs %g %g",
                variant, (int)b, (int)i, got_r, got_s, r, sg);
          if (variant == 3) CHECK(y[b * ycat + 2 * per + i] == (float)xv, "concat variant 3: x copy at %d", (int)i);
          if (variant == 4) {
            const float *z = om_workspace_output(w, 1);
            CHECK(fabs(z[i] + sg) <= 1e-6, "concat variant 4: Neg after at %d: %g vs %g", (int)i, z[i], -sg);
          }
          if (variant == 2) {
            const float *ra = om_workspace_output(w, 1);
            CHECK(ra[i] == (float)r, "concat variant 2: output ra at %d", (int)i);
          }
        }
    }
    om_workspace_free(w);
    om_plan_free(p);
  }
}

/* 1x1 Conv + Clip -> depthwise Conv + Relu (mobilenet_v2's expansion and depthwise layers): on
 * AVX-512 the planner runs them as one step in row bands (conv_chain.c). Forced on small shapes
 * (OM_CHAIN_MIN_KB=0), with short bands and small channel groups (OM_CHAIN_ROWS, OM_CHAIN_KB) so
 * bands, carried rows and groups all occur; the fused result matches a naive double loop and the
 * unfused plan, and 1 and 2 intra-op threads give the same bytes. Variants: stride 1 / 2, 3x3 / 5x5,
 * asymmetric pads, a residual on the depthwise output, the 1x1's output also a graph output (no
 * fusion). */
static void test_fusion_chain(void) {
  static const struct {
    int M, H, W, k, s, pt, pl, pb, pr, rows, res, keep;
  } V[] = {
      {20, 19, 37, 3, 1, 1, 1, 1, 1, 3, 0, 0},  {13, 23, 21, 3, 2, 1, 1, 1, 1, 2, 0, 0},
      {24, 17, 33, 5, 2, 2, 2, 2, 2, 3, 0, 0},  {16, 16, 18, 3, 2, 0, 0, 1, 1, 4, 0, 0},
      {9, 10, 40, 3, 1, 1, 1, 1, 1, 100, 1, 0}, {8, 12, 12, 3, 1, 1, 1, 1, 1, 3, 0, 1},
  };
  enum { N = 2, C = 5 };
  const int avx512 = om_kernel_path_detect() == OM_KERNEL_AVX512;
  setenv("OM_CHAIN_MIN_KB", "0", 1);
  setenv("OM_CHAIN_KB", "1", 1);
  for (size_t v = 0; v < OM_ARRAY_LEN(V); v++) {
    const int M = V[v].M, H = V[v].H, W = V[v].W, k = V[v].k, st = V[v].s;
    const int OH = (H + V[v].pt + V[v].pb - k) / st + 1, OW = (W + V[v].pl + V[v].pr - k) / st + 1;
    static float w1[64 * C], b1[64], w2[64 * 25], b2[64], lo = 0.0f, hi = 6.0f;
    unsigned s = 31 + (unsigned)v;
    for (int i = 0; i < M * C; i++) w1[i] = frand(&s);
    for (int i = 0; i < M * k * k; i++) w2[i] = frand(&s);
    for (int i = 0; i < M; i++) b1[i] = frand(&s), b2[i] = 0.5f * frand(&s);
    char rows[16];
    snprintf(rows, sizeof rows, "%d", V[v].rows);
    setenv("OM_CHAIN_ROWS", rows, 1);
    gb g;
    gb_start(&g, 13);
    gb_input(&g, "x", 4, D(N, C, H, W));
    if (V[v].res) gb_input(&g, "r", 4, D(N, M, OH, OW));
    gb_init(&g, "W1", OM_DT_FLOAT, 4, D(M, C, 1, 1), w1, sizeof(float) * (size_t)(M * C));
    gb_init(&g, "B1", OM_DT_FLOAT, 1, D(M), b1, sizeof(float) * (size_t)M);
    gb_init(&g, "W2", OM_DT_FLOAT, 4, D(M, 1, k, k), w2, sizeof(float) * (size_t)(M * k * k));
    gb_init(&g, "B2", OM_DT_FLOAT, 1, D(M), b2, sizeof(float) * (size_t)M);
    gb_init(&g, "lo", OM_DT_FLOAT, 0, D(0), &lo, sizeof lo);
    gb_init(&g, "hi", OM_DT_FLOAT, 0, D(0), &hi, sizeof hi);
    gb_node(&g, "Conv", "expand", 3, S("x", "W1", "B1"), 1, S("e"));
    gb_node(&g, "Clip", "clip", 3, S("e", "lo", "hi"), 1, S("ec"));
    onnx_node *d = gb_node(&g, "Conv", "dw", 3, S("ec", "W2", "B2"), 1, S("dwo"));
    gb_attr_i(d, "group", M);
    static int64_t strides[2], pads[4];
    strides[0] = strides[1] = st;
    pads[0] = V[v].pt, pads[1] = V[v].pl, pads[2] = V[v].pb, pads[3] = V[v].pr;
    onnx_attr *a = &d->attrs[d->nattr++];
    a->name = "strides", a->type = ONNX_ATTR_INTS, a->n = 2, a->ints = strides;
    a = &d->attrs[d->nattr++];
    a->name = "pads", a->type = ONNX_ATTR_INTS, a->n = 4, a->ints = pads;
    if (V[v].res) gb_node(&g, "Add", "res", 2, S("dwo", "r"), 1, S("sum"));
    gb_node(&g, "Relu", "relu", 1, S(V[v].res ? "sum" : "dwo"), 1, S("y"));
    gb_output(&g, "y");
    if (V[v].keep) gb_output(&g, "ec");
    char err[OM_ERR_LEN] = "";
    om_plan *pf = NULL, *pu = NULL;
    om_workspace *wf = NULL, *wu = NULL, *w2t = NULL;
    char what[32];
    snprintf(what, sizeof what, "chain %zu", v);
    if (build_pair(&g.m, 3, &pf, &wf, &pu, &wu, what)) {
      int want = avx512 && !V[v].keep ? 1 : 2;
      CHECK(om_plan_nsteps(pf) == want, "chain %zu: fused plan has %d steps, want %d", v, om_plan_nsteps(pf), want);
      const float *x = om_workspace_input(wf, 0), *r = V[v].res ? om_workspace_input(wf, 1) : NULL;
      const float *yf = om_workspace_output(wf, 0), *yu = om_workspace_output(wu, 0);
      double worst = 0, worst_u = 0;
      for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
          for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
              double acc = b2[m];
              for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                  int iy = oy * st + ky - V[v].pt, ix = ox * st + kx - V[v].pl;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  double e = b1[m];
                  for (int c = 0; c < C; c++) e += (double)w1[m * C + c] * x[((n * C + c) * H + iy) * W + ix];
                  e = e < 0 ? 0 : e > 6 ? 6 : e;
                  acc += (double)w2[(m * k + ky) * k + kx] * e;
                }
              size_t i = (size_t)(((n * M + m) * OH + oy) * OW + ox);
              if (r) acc += r[i];
              acc = acc > 0 ? acc : 0;
              double dv = fabs(yf[i] - acc) / (1 + fabs(acc)), du = fabs(yu[i] - acc) / (1 + fabs(acc));
              if (dv > worst) worst = dv;
              if (du > worst_u) worst_u = du;
            }
      CHECK(worst <= 1e-5, "chain %zu: fused vs naive: worst relative diff %g", v, worst);
      CHECK(worst_u <= 1e-5, "chain %zu: unfused vs naive: worst relative diff %g", v, worst_u);
      /* two intra-op threads split the channel groups: the same bytes */
      if (om_workspace_new_threads(pf, 2, &w2t, err) == OM_OK) {
        memcpy(om_workspace_input(w2t, 0), x, om_plan_input(pf, 0)->nbytes);
        if (r) memcpy(om_workspace_input(w2t, 1), r, om_plan_input(pf, 1)->nbytes);
        CHECK(om_run(pf, w2t, err) == OM_OK, "chain %zu: 2 threads: %s", v, err);
        CHECK(memcmp(om_workspace_output(w2t, 0), yf, om_plan_output(pf, 0)->nbytes) == 0,
              "chain %zu: 2 intra-op threads differ from 1", v);
      } else {
        CHECK(0, "chain %zu: workspace with 2 threads: %s", v, err);
      }
    }
    om_workspace_free(w2t);
    om_workspace_free(wf);
    om_workspace_free(wu);
    om_plan_free(pf);
    om_plan_free(pu);
  }
  unsetenv("OM_CHAIN_MIN_KB");
  unsetenv("OM_CHAIN_KB");
  unsetenv("OM_CHAIN_ROWS");
}

int main(void) {
  test_sort_and_refusals();
  test_fold_chain_and_views();
  test_memory_plan();
  test_fusion();
  test_fusion_in_scale();
  test_fusion_in_scale_bad_attr();
  test_fusion_chain();
  test_concat_in_place();
  test_describe_and_kernel();
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  else printf("test_plan: all passed\n");
  return failures ? 1 : 0;
}
