/* test_ops_math.c: elementwise, normalization, reduction and resize ops, run through the whole
 * engine (om_plan_build on a one-node model, om_run).
 *
 * Part 1 compares against naive double-precision references written here (broadcasting binary ops
 * on same-shape / scalar / per-channel / general shapes, unary math, Cast to float16, Softmax,
 * LayerNorm, reductions, bilinear and nearest resize). Part 2 runs ONNX's own node tests from
 * $OM_SHARED/onnx-node-tests/node for every op these files claim (rtol 1e-3, atol 1e-7); without
 * OM_SHARED part 2 is skipped, and if part 1 passed the test reports skipped (77). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "onnx/onnx.h"

#include "check.h"

static uint32_t rng = 12345;
static float frand(float lo, float hi) {
  rng = rng * 1664525u + 1013904223u;
  return lo + (hi - lo) * (float)((rng >> 8) & 0xffffff) / 16777216.0f;
}

/* ---- a one-node model run through the engine ---- */

typedef struct tin {
  const char *name;
  int dtype, ndim;
  int64_t dims[OM_MAX_DIMS];
  const void *data;
  int constant; /* bind at load */
} tin;

static size_t nelem(int ndim, const int64_t *d) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)d[i];
  return n;
}

/* Runs node n with the given inputs; copies output 0 into *out (malloc) with its shape. */
static int run_node(const onnx_node *n, int opset, const tin *ins, int nin, void **out, int *odt, int *ond,
                    int64_t *odims, char *err) {
  onnx_model m;
  memset(&m, 0, sizeof m);
  m.opset = opset;
  m.nnodes = 1;
  m.nodes = (onnx_node *)n;
  onnx_value_info vin[OM_MAX_IO], vout[1];
  memset(vin, 0, sizeof vin);
  memset(vout, 0, sizeof vout);
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  for (int i = 0; i < nin; i++) {
    vin[i].name = (char *)ins[i].name;
    vin[i].dtype = ins[i].dtype;
    vin[i].has_shape = 1;
    vin[i].ndim = ins[i].ndim;
    memcpy(vin[i].dims, ins[i].dims, sizeof vin[i].dims);
    om_input_spec *s = &o.specs[o.nspecs++];
    s->name = ins[i].name;
    s->ndim = 0;
    if (ins[i].constant) {
      s->data = ins[i].data;
      s->nbytes = nelem(ins[i].ndim, ins[i].dims) * om_dtype_size(ins[i].dtype);
    }
  }
  m.ninputs = nin;
  m.inputs = vin;
  vout[0].name = n->outputs[0];
  m.noutputs = 1;
  m.outputs = vout;
  om_plan *p = NULL;
  om_workspace *w = NULL;
  int rc = om_plan_build(&m, &o, &p, err);
  if (rc) return rc;
  rc = om_workspace_new(p, &w, err);
  if (rc) { om_plan_free(p); return rc; }
  int ri = 0;
  for (int i = 0; i < nin; i++) {
    if (ins[i].constant) continue;
    const om_tensor_info *ti = om_plan_input(p, ri);
    memcpy(om_workspace_input(w, ri), ins[i].data, ti->nbytes);
    ri++;
  }
  rc = om_run(p, w, err);
  if (!rc) {
    const om_tensor_info *ti = om_plan_output(p, 0);
    *odt = ti->dtype;
    *ond = ti->ndim;
    memcpy(odims, ti->dims, sizeof ti->dims);
    *out = malloc(ti->nbytes + 1);
    memcpy(*out, om_workspace_output(w, 0), ti->nbytes);
  }
  om_workspace_free(w);
  om_plan_free(p);
  return rc;
}

/* node builder */
typedef struct nb {
  onnx_node n;
  char *inputs[OM_MAX_IO], *outputs[1];
  onnx_attr attrs[8];
} nb;

static const char *in_names[] = {"a", "b", "c", "d", "e", "f"};

static void nb_init(nb *b, const char *op, int nin) {
  memset(b, 0, sizeof *b);
  b->n.name = (char *)"t";
  b->n.op_type = (char *)op;
  b->n.domain = (char *)"";
  b->n.nin = nin;
  for (int i = 0; i < nin; i++) b->inputs[i] = (char *)in_names[i];
  b->n.inputs = b->inputs;
  b->n.nout = 1;
  b->outputs[0] = (char *)"y";
  b->n.outputs = b->outputs;
  b->n.attrs = b->attrs;
}

static void nb_int(nb *b, const char *name, int64_t v) {
  onnx_attr *a = &b->attrs[b->n.nattr++];
  a->name = (char *)name;
  a->type = ONNX_ATTR_INT;
  a->i = v;
}
static void nb_str(nb *b, const char *name, const char *v) {
  onnx_attr *a = &b->attrs[b->n.nattr++];
  a->name = (char *)name;
  a->type = ONNX_ATTR_STRING;
  a->s = (char *)v;
  a->s_len = strlen(v);
}
static void nb_ints(nb *b, const char *name, int64_t *v, int n) {
  onnx_attr *a = &b->attrs[b->n.nattr++];
  a->name = (char *)name;
  a->type = ONNX_ATTR_INTS;
  a->ints = v;
  a->n = n;
}

static tin mk(int idx, int dt, int ndim, const int64_t *dims, const void *data) {
  tin t;
  memset(&t, 0, sizeof t);
  t.name = in_names[idx];
  t.dtype = dt;
  t.ndim = ndim;
  if (ndim > 0) memcpy(t.dims, dims, (size_t)ndim * sizeof(int64_t));
  t.data = data;
  return t;
}

static int close_enough(double got, double want, double rtol, double atol) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabs(got - want) <= atol + rtol * fabs(want);
}

/* ---- part 1: naive references ---- */

static float *rand_buf(size_t n, float lo, float hi) {
  float *p = malloc(n * sizeof(float) + 1);
  for (size_t i = 0; i < n; i++) p[i] = frand(lo, hi);
  return p;
}

/* index of output multi-index in a right-aligned broadcast input */
static size_t bidx(const int64_t *oidx, int ond, const int64_t *dims, int nd) {
  size_t off = 0;
  for (int d = 0; d < nd; d++) {
    int64_t i = dims[d] == 1 ? 0 : oidx[ond - nd + d];
    off = off * (size_t)dims[d] + (size_t)i;
  }
  return off;
}

static double ref_bin(const char *op, double x, double y) {
  if (!strcmp(op, "Add")) return x + y;
  if (!strcmp(op, "Sub")) return x - y;
  if (!strcmp(op, "Mul")) return x * y;
  if (!strcmp(op, "Div")) return x / y;
  if (!strcmp(op, "Max")) return x > y ? x : y;
  if (!strcmp(op, "Min")) return x < y ? x : y;
  if (!strcmp(op, "Pow")) return pow(x, y);
  if (!strcmp(op, "PRelu")) return x < 0 ? x * y : x;
  return NAN;
}

static void test_binary(void) {
  static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "PRelu"};
  struct { int na; int64_t a[4]; int nb; int64_t b[4]; } cases[] = {
    {4, {2, 3, 4, 5}, 4, {2, 3, 4, 5}},  /* same shape */
    {4, {2, 3, 4, 5}, 0, {0}},           /* scalar */
    {4, {2, 3, 4, 5}, 3, {3, 1, 1}},     /* per channel */
    {4, {2, 3, 4, 5}, 1, {5}},           /* last dim */
    {3, {3, 1, 5}, 2, {4, 1}},           /* both broadcast */
    {2, {1, 7}, 3, {2, 3, 1}},
    {4, {2, 1, 4, 1}, 4, {1, 3, 1, 5}},
  };
  for (size_t op = 0; op < sizeof ops / sizeof *ops; op++)
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      int prelu = !strcmp(ops[op], "PRelu");
      /* PRelu's slope broadcasts one way only */
      if (prelu && (c == 4 || c == 5 || c == 6)) continue;
      size_t na = nelem(cases[c].na, cases[c].a), nbe = nelem(cases[c].nb, cases[c].b);
      int pw = !strcmp(ops[op], "Pow");
      float *A = rand_buf(na, pw ? 0.1f : -2, 2), *B = rand_buf(nbe, -2, 2);
      for (size_t i = 0; !pw && i < nbe; i++) if (fabsf(B[i]) < 0.1f) B[i] = 0.5f;
      nb n;
      nb_init(&n, ops[op], 2);
      tin t[2] = {mk(0, OM_DT_FLOAT, cases[c].na, cases[c].a, A), mk(1, OM_DT_FLOAT, cases[c].nb, cases[c].b, B)};
      void *Y = NULL;
      int dt, ond;
      int64_t od[OM_MAX_DIMS];
      char err[OM_ERR_LEN] = "";
      int rc = run_node(&n.n, 13, t, 2, &Y, &dt, &ond, od, err);
      CHECK(rc == 0, "%s case %zu: %s", ops[op], c, err);
      if (rc == 0) {
        int rnd = cases[c].na > cases[c].nb ? cases[c].na : cases[c].nb;
        CHECK(ond == rnd, "%s case %zu: output rank %d", ops[op], c, ond);
        size_t no = nelem(ond, od);
        int64_t idx[OM_MAX_DIMS] = {0};
        int bad = 0;
        for (size_t i = 0; i < no; i++) {
          double want = ref_bin(ops[op], A[bidx(idx, ond, cases[c].a, cases[c].na)],
                                B[bidx(idx, ond, cases[c].b, cases[c].nb)]);
          if (!close_enough(((float *)Y)[i], want, 1e-5, 1e-6) && bad++ < 3)
            CHECK(0, "%s case %zu elem %zu: got %g want %g", ops[op], c, i, ((float *)Y)[i], want);
          for (int d = ond - 1; d >= 0; d--) { if (++idx[d] < od[d]) break; idx[d] = 0; }
        }
      }
      free(Y); free(A); free(B);
    }

  /* int64 Div truncates like C; int32 Add broadcast */
  {
    int64_t a[6] = {7, -7, 9, -9, 100, 5}, b[2] = {2, -4}, d1[2] = {3, 2}, d2[1] = {2};
    nb n;
    nb_init(&n, "Div", 2);
    tin t[2] = {mk(0, OM_DT_INT64, 2, d1, a), mk(1, OM_DT_INT64, 1, d2, b)};
    void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
    int rc = run_node(&n.n, 13, t, 2, &Y, &dt, &ond, od, err);
    CHECK(rc == 0, "int64 Div: %s", err);
    if (!rc) for (int i = 0; i < 6; i++) CHECK(((int64_t *)Y)[i] == a[i] / b[i % 2], "int64 Div %d", i);
    free(Y);
  }
}

static double ref_unary(const char *op, double x) {
  if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
  if (!strcmp(op, "Sigmoid")) return 1 / (1 + exp(-x));
  if (!strcmp(op, "Tanh")) return tanh(x);
  if (!strcmp(op, "Exp")) return exp(x);
  if (!strcmp(op, "Erf")) return erf(x);
  if (!strcmp(op, "HardSwish")) return x * fmin(1, fmax(0, x / 6 + 0.5));
  if (!strcmp(op, "Softplus")) return log(1 + exp(x));
  if (!strcmp(op, "Round")) { double r = floor(x + 0.5); if (r - x == 0.5 && fmod(r, 2) != 0) r -= 1; return r; }
  if (!strcmp(op, "Floor")) return floor(x);
  if (!strcmp(op, "Abs")) return fabs(x);
  if (!strcmp(op, "Softsign")) return x / (1 + fabs(x));
  return NAN;
}

static void test_unary(void) {
  static const char *ops[] = {"Relu", "Sigmoid", "Tanh", "Exp", "Erf", "HardSwish", "Softplus", "Round", "Floor", "Abs", "Softsign"};
  int64_t d[3] = {3, 5, 7};
  size_t n = nelem(3, d);
  float *X = rand_buf(n, -6, 6);
  X[0] = 2.5f; X[1] = -2.5f; X[2] = 0.5f; X[3] = 3.5f; /* half-way cases for Round */
  for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
    nb b;
    nb_init(&b, ops[o], 1);
    tin t = mk(0, OM_DT_FLOAT, 3, d, X);
    void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
    int rc = run_node(&b.n, 14, &t, 1, &Y, &dt, &ond, od, err);
    CHECK(rc == 0, "%s: %s", ops[o], err);
    for (size_t i = 0; !rc && i < n; i++)
      if (!close_enough(((float *)Y)[i], ref_unary(ops[o], X[i]), 1e-5, 1e-6)) {
        CHECK(0, "%s(%g): got %g want %g", ops[o], X[i], ((float *)Y)[i], ref_unary(ops[o], X[i]));
        break;
      }
    free(Y);
  }
  free(X);
}

/* float16 rounding: the nearest half, ties to even (checked against exhaustive neighbours) */
static double half_val(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -v : v;
}

static void test_cast_f16(void) {
  enum { N = 4000 };
  float *X = malloc(N * sizeof(float));
  for (int i = 0; i < N; i++) X[i] = i < 2000 ? frand(-70000, 70000) : ldexpf(frand(-1, 1), (i % 40) - 28);
  X[0] = 1.0f + ldexpf(1, -11);      /* exact tie -> even (1.0) */
  X[1] = 1.0f + 3 * ldexpf(1, -11);  /* exact tie -> even (1 + 2^-9) */
  X[2] = 65520.0f;                   /* rounds to inf */
  int64_t d[1] = {N};
  nb b;
  nb_init(&b, "Cast", 1);
  nb_int(&b, "to", OM_DT_FLOAT16);
  tin t = mk(0, OM_DT_FLOAT, 1, d, X);
  void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
  int rc = run_node(&b.n, 13, &t, 1, &Y, &dt, &ond, od, err);
  CHECK(rc == 0 && dt == OM_DT_FLOAT16, "Cast to float16: %s", err);
  for (int i = 0; !rc && i < N; i++) {
    uint16_t h = ((uint16_t *)Y)[i];
    double x = X[i], v = half_val(h);
    if (isinf(v)) { CHECK(fabs(x) >= 65520.0, "Cast %g -> inf", x); continue; }
    /* neighbours must not be closer; on a tie the mantissa must be even */
    double up = half_val((uint16_t)(h + 1)), dn = (h & 0x7fff) ? half_val((uint16_t)(h - 1)) : -v;
    double e = fabs(v - x);
    int ok = e <= fabs(up - x) && e <= fabs(dn - x);
    if (ok && (e == fabs(up - x) || e == fabs(dn - x)) && e != 0) ok = (h & 1) == 0;
    if (!ok) { CHECK(0, "Cast %.9g -> half 0x%04x (%.9g)", x, h, v); break; }
  }
  CHECK(!rc && ((uint16_t *)Y)[0] == 0x3c00 && ((uint16_t *)Y)[1] == 0x3c02, "float16 ties to even");
  free(Y);
  free(X);
}

static void test_softmax_layernorm(void) {
  int64_t d[3] = {2, 5, 6};
  size_t n = nelem(3, d);
  float *X = rand_buf(n, -30, 30);
  for (int axis = -3; axis < 3; axis++) {
    int ax = axis < 0 ? axis + 3 : axis;
    nb b;
    nb_init(&b, "Softmax", 1);
    nb_int(&b, "axis", axis);
    tin t = mk(0, OM_DT_FLOAT, 3, d, X);
    void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
    int rc = run_node(&b.n, 13, &t, 1, &Y, &dt, &ond, od, err);
    CHECK(rc == 0, "Softmax axis %d: %s", axis, err);
    int64_t st[3] = {30, 6, 1};
    for (size_t i = 0; !rc && i < n; i++) {
      int64_t idx[3] = {(int64_t)i / 30, ((int64_t)i / 6) % 5, (int64_t)i % 6};
      double s = 0;
      for (int64_t k = 0; k < d[ax]; k++) s += exp((double)X[i + (k - idx[ax]) * st[ax]]);
      double want = exp((double)X[i]) / s;
      if (!close_enough(((float *)Y)[i], want, 1e-5, 1e-7)) { CHECK(0, "Softmax axis %d elem %zu", axis, i); break; }
    }
    free(Y);
  }
  /* LayerNormalization over the last two dims with per-element scale */
  {
    int64_t sd[2] = {5, 6};
    float *S = rand_buf(30, 0.5f, 2), *B = rand_buf(30, -1, 1);
    nb b;
    nb_init(&b, "LayerNormalization", 3);
    nb_int(&b, "axis", 1);
    tin t[3] = {mk(0, OM_DT_FLOAT, 3, d, X), mk(1, OM_DT_FLOAT, 2, sd, S), mk(2, OM_DT_FLOAT, 2, sd, B)};
    t[1].constant = t[2].constant = 1;
    void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
    int rc = run_node(&b.n, 17, t, 3, &Y, &dt, &ond, od, err);
    CHECK(rc == 0, "LayerNormalization: %s", err);
    for (int r = 0; !rc && r < 2; r++) {
      double m = 0, v = 0;
      for (int i = 0; i < 30; i++) m += X[r * 30 + i];
      m /= 30;
      for (int i = 0; i < 30; i++) v += (X[r * 30 + i] - m) * (X[r * 30 + i] - m);
      v /= 30;
      for (int i = 0; i < 30; i++) {
        double want = (X[r * 30 + i] - m) / sqrt(v + 1e-5) * S[i] + B[i];
        if (!close_enough(((float *)Y)[r * 30 + i], want, 1e-4, 1e-5)) { CHECK(0, "LayerNorm %d %d", r, i); break; }
      }
    }
    free(Y); free(S); free(B);
  }
  free(X);
}

static void test_reduce(void) {
  int64_t d[4] = {2, 3, 4, 5};
  size_t n = nelem(4, d);
  float *X = rand_buf(n, -3, 3);
  static const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp", "ReduceProd"};
  int64_t axsets[][3] = {{2, 3, -1}, {1, -1, -1}, {0, 2, -1}, {-1, -1, -1}, {-4, 3, -1}};
  for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
    for (size_t a = 0; a < sizeof axsets / sizeof *axsets; a++)
      for (int keep = 0; keep < 2; keep++) {
        int64_t axes[3];
        int nax = 0;
        for (int k = 0; k < 3 && axsets[a][k] != -1; k++) axes[nax++] = axsets[a][k];
        if (a == 3) { axes[0] = -1; nax = 1; }
        int red[4] = {0};
        for (int k = 0; k < nax; k++) red[axes[k] < 0 ? axes[k] + 4 : axes[k]] = 1;
        nb b;
        nb_init(&b, ops[o], 1);
        nb_ints(&b, "axes", axes, nax);
        nb_int(&b, "keepdims", keep);
        tin t = mk(0, OM_DT_FLOAT, 4, d, X);
        void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
        int rc = run_node(&b.n, 11, &t, 1, &Y, &dt, &ond, od, err);
        CHECK(rc == 0, "%s axes set %zu: %s", ops[o], a, err);
        if (rc) continue;
        int64_t rd[4];
        int nk = 0;
        for (int k = 0; k < 4; k++) rd[k] = red[k] ? 1 : d[k];
        for (int k = 0; k < 4; k++) if (!red[k] || keep) nk++;
        CHECK(ond == nk, "%s rank %d want %d", ops[o], ond, nk);
        size_t no = nelem(4, rd);
        for (size_t oi = 0; oi < no; oi++) {
          int64_t oidx[4], rem = (int64_t)oi;
          for (int k = 3; k >= 0; k--) { oidx[k] = rem % rd[k]; rem /= rd[k]; }
          double s = 0, mx = -INFINITY, pr = 1, sq = 0, cnt = 0;
          for (size_t i = 0; i < n; i++) {
            int64_t ii[4], r2 = (int64_t)i, match = 1;
            for (int k = 3; k >= 0; k--) { ii[k] = r2 % d[k]; r2 /= d[k]; }
            for (int k = 0; k < 4; k++) if (!red[k] && ii[k] != oidx[k]) match = 0;
            if (!match) continue;
            s += X[i]; pr *= X[i]; sq += (double)X[i] * X[i]; cnt++;
            if (X[i] > mx) mx = X[i];
          }
          double lse = 0;
          for (size_t i = 0; i < n && o == 4; i++) {
            int64_t ii[4], r2 = (int64_t)i, match = 1;
            for (int k = 3; k >= 0; k--) { ii[k] = r2 % d[k]; r2 /= d[k]; }
            for (int k = 0; k < 4; k++) if (!red[k] && ii[k] != oidx[k]) match = 0;
            if (match) lse += exp(X[i]);
          }
          double want = o == 0 ? s : o == 1 ? s / cnt : o == 2 ? mx : o == 3 ? sqrt(sq) : o == 4 ? log(lse) : pr;
          if (!close_enough(((float *)Y)[oi], want, 1e-5, 1e-6)) {
            CHECK(0, "%s axes set %zu keep %d out %zu: got %g want %g", ops[o], a, keep, oi, ((float *)Y)[oi], want);
            break;
          }
        }
        free(Y);
      }
  free(X);
}

/* GlobalAveragePool against a double mean, planes from 1 to 3136 values (the AVX-512 sums take 32
 * a step with masked tails of 8) */
static void test_gap(void) {
  static const int64_t hw[][2] = {{1, 1}, {5, 7}, {8, 8}, {17, 19}, {56, 56}, {7, 9}};
  for (size_t t = 0; t < sizeof hw / sizeof *hw; t++) {
    int64_t d[4] = {2, 3, hw[t][0], hw[t][1]}, plane = hw[t][0] * hw[t][1];
    float *X = rand_buf(nelem(4, d), -3, 5);
    nb b;
    nb_init(&b, "GlobalAveragePool", 1);
    tin in = mk(0, OM_DT_FLOAT, 4, d, X);
    void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
    int rc = run_node(&b.n, 13, &in, 1, &Y, &dt, &ond, od, err);
    CHECK(rc == 0, "GlobalAveragePool %lldx%lld: %s", (long long)hw[t][0], (long long)hw[t][1], err);
    if (rc) { free(X); continue; }
    CHECK(ond == 4 && od[2] == 1 && od[3] == 1, "GlobalAveragePool output rank/shape");
    for (int q = 0; q < 6; q++) {
      double s = 0;
      for (int64_t i = 0; i < plane; i++) s += X[q * plane + i];
      double want = s / (double)plane;
      CHECK(close_enough(((float *)Y)[q], want, 1e-6, 1e-7), "GlobalAveragePool %lldx%lld plane %d: got %g want %g",
            (long long)hw[t][0], (long long)hw[t][1], q, ((float *)Y)[q], want);
    }
    free(Y);
    free(X);
  }
}

/* bilinear half_pixel / align_corners and nearest asymmetric vs. textbook formulas */
static void test_resize(void) {
  int64_t d[4] = {1, 2, 5, 7};
  size_t n = nelem(4, d);
  float *X = rand_buf(n, -1, 1);
  static const char *ctms[] = {"half_pixel", "align_corners", "asymmetric"};
  float scales[4] = {1, 1, 1.75f, 0.625f}; /* exact in binary: no floor() surprises */
  int64_t sd[1] = {4};
  for (int mode = 0; mode < 2; mode++)
    for (int c = 0; c < 3; c++) {
      nb b;
      nb_init(&b, "Resize", 3);
      b.inputs[1] = (char *)"";
      nb_str(&b, "mode", mode ? "nearest" : "linear");
      nb_str(&b, "coordinate_transformation_mode", ctms[c]);
      if (mode) nb_str(&b, "nearest_mode", "floor");
      tin t[2] = {mk(0, OM_DT_FLOAT, 4, d, X), mk(2, OM_DT_FLOAT, 1, sd, scales)};
      t[1].constant = 1;
      b.inputs[2] = (char *)in_names[2];
      void *Y = NULL; int dt, ond; int64_t od[OM_MAX_DIMS]; char err[OM_ERR_LEN] = "";
      int rc = run_node(&b.n, 13, t, 2, &Y, &dt, &ond, od, err);
      CHECK(rc == 0, "Resize %s %s: %s", mode ? "nearest" : "linear", ctms[c], err);
      if (rc) continue;
      int64_t OH = od[2], OW = od[3];
      CHECK(OH == 8 && OW == 4, "Resize output %lldx%lld", (long long)OH, (long long)OW);
      for (int ch = 0; ch < 2; ch++)
        for (int64_t y = 0; y < OH; y++)
          for (int64_t x = 0; x < OW; x++) {
            double sy, sx;
            if (c == 0) { sy = (y + 0.5) / scales[2] - 0.5; sx = (x + 0.5) / scales[3] - 0.5; }
            else if (c == 1) { sy = y * 4.0 / (5 * 1.75 - 1); sx = x * 6.0 / (7 * 0.625 - 1); }
            else { sy = y / scales[2]; sx = x / scales[3]; }
            const float *P = X + ch * 35;
            double want;
            if (mode) {
              int64_t iy = (int64_t)floor(sy), ix = (int64_t)floor(sx);
              iy = iy < 0 ? 0 : iy > 4 ? 4 : iy;
              ix = ix < 0 ? 0 : ix > 6 ? 6 : ix;
              want = P[iy * 7 + ix];
            } else {
              sy = sy < 0 ? 0 : sy > 4 ? 4 : sy;
              sx = sx < 0 ? 0 : sx > 6 ? 6 : sx;
              int64_t y0 = (int64_t)sy, x0 = (int64_t)sx, y1 = y0 < 4 ? y0 + 1 : 4, x1 = x0 < 6 ? x0 + 1 : 6;
              double fy = sy - y0, fx = sx - x0;
              want = (1 - fy) * ((1 - fx) * P[y0 * 7 + x0] + fx * P[y0 * 7 + x1]) +
                     fy * ((1 - fx) * P[y1 * 7 + x0] + fx * P[y1 * 7 + x1]);
            }
            float got = ((float *)Y)[(ch * OH + y) * OW + x];
            if (!close_enough(got, want, 1e-5, 1e-6)) {
              CHECK(0, "Resize %d %s (%d,%lld,%lld): got %g want %g", mode, ctms[c], ch, (long long)y, (long long)x, got, want);
              y = OH;
              break;
            }
          }
      free(Y);
    }
  free(X);
}

/* Mod (both fmod modes, int64 and float32, mixed signs) and ScatterND (swin_t builds its shifted-window
 * attention mask with them), against naive references written here. */
static void test_mod_scatternd(void) {
  char err[OM_ERR_LEN];
  int64_t d6[1] = {6};
  int64_t xi[6] = {7, -7, 7, -7, 0, 13}, yi[6] = {3, 3, -3, -3, 5, 4};
  float xf[6] = {7.5f, -7.5f, 7.5f, -7.5f, 0.0f, 1e-3f}, yf[6] = {2.0f, 2.0f, -2.0f, -2.0f, 3.0f, 0.25f};
  for (int fm = 0; fm <= 1; fm++) {
    for (int isf = 0; isf <= 1; isf++) {
      nb b;
      nb_init(&b, "Mod", 2);
      nb_int(&b, "fmod", fm);
      tin ins[2] = {mk(0, isf ? OM_DT_FLOAT : OM_DT_INT64, 1, d6, isf ? (void *)xf : (void *)xi),
                    mk(1, isf ? OM_DT_FLOAT : OM_DT_INT64, 1, d6, isf ? (void *)yf : (void *)yi)};
      void *out = NULL;
      int odt, ond;
      int64_t od[OM_MAX_DIMS];
      int rc = run_node(&b.n, 13, ins, 2, &out, &odt, &ond, od, err);
      CHECK(rc == 0, "Mod fmod=%d %s: %s", fm, isf ? "float" : "int64", err);
      if (rc) continue;
      for (int i = 0; i < 6; i++) {
        double x = isf ? xf[i] : (double)xi[i], y = isf ? yf[i] : (double)yi[i];
        /* naive: truncated remainder, then moved to the divisor's sign for fmod=0 */
        double q = x / y, t = q < 0 ? ceil(q) : floor(q), want = x - t * y;
        if (!fm && want != 0 && ((want < 0) != (y < 0))) want += y;
        double got = isf ? ((float *)out)[i] : (double)((int64_t *)out)[i];
        CHECK(fabs(got - want) <= 1e-6, "Mod fmod=%d %s: %g mod %g = %g, want %g", fm, isf ? "float" : "int64", x,
              y, got, want);
      }
      free(out);
    }
  }
  /* ScatterND: data [4,3,2], indices [2,2,1]? -> k=2 slices of 2 floats; plus reduction add. */
  int64_t dd[3] = {4, 3, 2}, di[3] = {3, 1, 2}, du[3] = {3, 1, 2};
  float data[24], upd[6];
  int64_t idx[6] = {0, 1, 3, -1, 2, 0};
  for (int i = 0; i < 24; i++) data[i] = frand(-1, 1);
  for (int i = 0; i < 6; i++) upd[i] = frand(-1, 1);
  for (int red = 0; red <= 1; red++) {
    nb b;
    nb_init(&b, "ScatterND", 3);
    if (red) nb_str(&b, "reduction", "add");
    tin ins[3] = {mk(0, OM_DT_FLOAT, 3, dd, data), mk(1, OM_DT_INT64, 3, di, idx), mk(2, OM_DT_FLOAT, 3, du, upd)};
    ins[1].constant = 1;
    void *out = NULL;
    int odt, ond;
    int64_t od[OM_MAX_DIMS];
    int rc = run_node(&b.n, 16, ins, 3, &out, &odt, &ond, od, err);
    CHECK(rc == 0, "ScatterND reduction=%s: %s", red ? "add" : "none", err);
    if (rc) continue;
    float want[24];
    memcpy(want, data, sizeof want);
    for (int j = 0; j < 3; j++) {
      int64_t i0 = idx[2 * j], i1 = idx[2 * j + 1];
      if (i0 < 0) i0 += 4;
      if (i1 < 0) i1 += 3;
      for (int e = 0; e < 2; e++) {
        float *w = &want[(i0 * 3 + i1) * 2 + e];
        *w = red ? *w + upd[2 * j + e] : upd[2 * j + e];
      }
    }
    CHECK(ond == 3 && od[0] == 4 && od[1] == 3 && od[2] == 2, "ScatterND output shape");
    for (int i = 0; i < 24; i++)
      CHECK(((float *)out)[i] == want[i], "ScatterND reduction=%s element %d: %g, want %g", red ? "add" : "none", i,
            (double)((float *)out)[i], (double)want[i]);
    free(out);
  }
  /* indices out of range known at load: refused with a message */
  {
    int64_t bad[6] = {0, 1, 4, 0, 2, 0};
    nb b;
    nb_init(&b, "ScatterND", 3);
    tin ins[3] = {mk(0, OM_DT_FLOAT, 3, dd, data), mk(1, OM_DT_INT64, 3, di, bad), mk(2, OM_DT_FLOAT, 3, du, upd)};
    ins[1].constant = 1;
    void *out = NULL;
    int odt, ond;
    int64_t od[OM_MAX_DIMS];
    int rc = run_node(&b.n, 13, ins, 3, &out, &odt, &ond, od, err);
    CHECK(rc != 0 && strstr(err, "out of range"), "ScatterND index 4 on a dim of 4 not refused (%s)", err);
    free(out);
  }
}

/* ---- part 2: ONNX node tests ---- */

static const char *my_ops[] = {
  "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Exp", "Log",
  "Sqrt", "Reciprocal", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Elu", "Selu",
  "Softplus", "Softsign", "Gelu", "Not", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
  "Mean", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "Cast",
  "BatchNormalization", "LayerNormalization", "InstanceNormalization", "Softmax", "LogSoftmax", "LRN",
  "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin", "Resize", "Upsample", "Mod",
  "ScatterND",
};

/* Expected refusals (documented in the report): training-mode BatchNorm, string casts, crop-and-resize. */
static int expected_refusal(const char *name) {
  return strstr(name, "training_mode") || strstr(name, "STRING") || strstr(name, "tf_crop_and_resize");
}

static int is_mine(const char *op) {
  for (size_t i = 0; i < sizeof my_ops / sizeof *my_ops; i++)
    if (!strcmp(op, my_ops[i])) return 1;
  return 0;
}

static int load_pb(const char *path, onnx_tensor *t, char *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)len + 1);
  size_t got = fread(buf, 1, (size_t)len, f);
  fclose(f);
  int rc = onnx_parse_tensor(buf, got, NULL, t, err);
  free(buf);
  return rc;
}

static double tval(int dt, const void *p, size_t i) {
  switch (dt) {
  case OM_DT_FLOAT: return ((const float *)p)[i];
  case OM_DT_DOUBLE: return ((const double *)p)[i];
  case OM_DT_INT64: return (double)((const int64_t *)p)[i];
  case OM_DT_INT32: return ((const int32_t *)p)[i];
  case OM_DT_UINT32: return ((const uint32_t *)p)[i];
  case OM_DT_UINT64: return (double)((const uint64_t *)p)[i];
  case OM_DT_INT16: return ((const int16_t *)p)[i];
  case OM_DT_UINT16: case OM_DT_FLOAT16: case OM_DT_BFLOAT16: return ((const uint16_t *)p)[i];
  case OM_DT_INT8: return ((const int8_t *)p)[i];
  case OM_DT_UINT8: case OM_DT_BOOL: return ((const uint8_t *)p)[i];
  default: return NAN;
  }
}

/* one node test: 1 passed, 0 failed, -1 expected refusal */
static int node_test(const char *dir, const char *name) {
  char path[2048], err[OM_ERR_LEN] = "";
  snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
  onnx_model *m = NULL;
  if (onnx_load_file(path, NULL, &m, err)) return 2; /* other domains (training ops): not ours */
  if (m->nnodes != 1 || !is_mine(m->nodes[0].op_type)) { onnx_free(m); return 2; }
  const char *op = m->nodes[0].op_type;
  int shape_in = !strcmp(op, "Resize") || !strcmp(op, "Upsample") || !strncmp(op, "Reduce", 6);
  onnx_tensor ins[OM_MAX_IO];
  memset(ins, 0, sizeof ins);
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  int ok = 1;
  for (int i = 0; i < m->ninputs; i++) {
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", dir, name, i);
    if (load_pb(path, &ins[i], err)) { fprintf(stderr, "  %s: %s\n", name, err); ok = 0; break; }
    om_input_spec *s = &o.specs[o.nspecs++];
    s->name = m->inputs[i].name;
    s->ndim = ins[i].ndim;
    memcpy(s->dims, ins[i].dims, sizeof s->dims);
    /* a few data sets disagree with the model on an unused input ('like'): trust the model */
    if (m->inputs[i].has_shape && m->inputs[i].ndim != s->ndim) s->ndim = 0;
    /* scales / sizes / axes must be known at load; data inputs are fed at run time */
    if (shape_in && i > 0) { s->data = ins[i].data; s->nbytes = ins[i].nbytes; }
  }
  om_plan *p = NULL;
  om_workspace *w = NULL;
  int result = 0;
  if (ok && om_plan_build(m, &o, &p, err) == 0 && om_workspace_new(p, &w, err) == 0) {
    int ri = 0;
    for (int i = 0; i < m->ninputs && ri < om_plan_ninputs(p); i++) {
      if (shape_in && i > 0) continue;
      const om_tensor_info *ti = om_plan_input(p, ri);
      if (ti->nbytes == ins[i].nbytes && ins[i].nbytes) memcpy(om_workspace_input(w, ri), ins[i].data, ins[i].nbytes);
      ri++;
    }
    if (om_run(p, w, err) == 0) {
      result = 1;
      for (int k = 0; k < om_plan_noutputs(p); k++) {
        onnx_tensor ref;
        memset(&ref, 0, sizeof ref);
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%d.pb", dir, name, k);
        if (load_pb(path, &ref, err)) { result = 0; break; }
        const om_tensor_info *ti = om_plan_output(p, k);
        const void *got = om_workspace_output(w, k);
        /* ONNX 1.12 stores bfloat16 expectations as uint16 */
        if (ti->dtype == OM_DT_BFLOAT16 && ref.dtype == OM_DT_UINT16) ref.dtype = OM_DT_BFLOAT16;
        if (ti->dtype != ref.dtype || ti->nbytes != ref.nbytes || ti->ndim != ref.ndim) {
          fprintf(stderr, "  %s: output %d is %s x%zu bytes rank %d, want %s x%zu rank %d\n", name, k,
                  om_dtype_name(ti->dtype), ti->nbytes, ti->ndim, om_dtype_name(ref.dtype), ref.nbytes, ref.ndim);
          result = 0;
        } else {
          size_t ne = ref.nbytes / om_dtype_size(ref.dtype);
          int half = ref.dtype == OM_DT_FLOAT16 || ref.dtype == OM_DT_BFLOAT16;
          for (size_t i = 0; i < ne; i++) {
            double g = tval(ref.dtype, got, i), e = tval(ref.dtype, ref.data, i);
            if (half ? g != e : !close_enough(g, e, 1e-3, 1e-7)) {
              fprintf(stderr, "  %s: output %d elem %zu: got %.9g want %.9g\n", name, k, i, g, e);
              result = 0;
              break;
            }
          }
        }
        onnx_tensor_clear(&ref);
      }
    } else {
      fprintf(stderr, "  %s: run: %s\n", name, err);
    }
  } else if (ok) {
    if (expected_refusal(name)) result = -1;
    else fprintf(stderr, "  %s: build: %s\n", name, err);
  }
  if (w) om_workspace_free(w);
  if (p) om_plan_free(p);
  for (int i = 0; i < OM_MAX_IO; i++) onnx_tensor_clear(&ins[i]);
  onnx_free(m);
  return result;
}

static int cmpstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int test_node_suite(void) {
  const char *shared = getenv("OM_SHARED");
  if (!shared) return 0;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/onnx-node-tests/node", shared);
  DIR *dp = opendir(dir);
  if (!dp) return 0;
  char **names = NULL;
  size_t nn = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(dp))) {
    if (strncmp(de->d_name, "test_", 5) != 0) continue;
    if (nn == cap) { cap = cap ? cap * 2 : 1024; names = realloc(names, cap * sizeof *names); }
    names[nn++] = strdup(de->d_name);
  }
  closedir(dp);
  qsort(names, nn, sizeof *names, cmpstr);
  int pass = 0, fail = 0, refused = 0;
  for (size_t i = 0; i < nn; i++) {
    int r = node_test(dir, names[i]);
    if (r == 1) pass++;
    else if (r == 0) { fail++; fprintf(stderr, "FAIL node %s\n", names[i]); }
    else if (r == -1) refused++;
    free(names[i]);
  }
  free(names);
  printf("node tests for these ops: %d passed, %d failed, %d refused as documented\n", pass, fail, refused);
  CHECK(fail == 0, "%d ONNX node tests failed", fail);
  CHECK(pass > 200, "only %d node tests ran", pass);
  return 1;
}

int main(void) {
  test_binary();
  test_unary();
  test_cast_f16();
  test_softmax_layernorm();
  test_reduce();
  test_gap();
  test_resize();
  test_mod_scatternd();
  int ran = test_node_suite();
  printf("%d checks, %d failures\n", checks, failures);
  if (failures) return 1;
  return ran ? 0 : 77;
}
