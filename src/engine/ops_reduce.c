/* ops_reduce.c: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp and ArgMax/ArgMin.
 *
 * Axes come from the attribute (opset < 18, except ReduceSum >= 13) or from input 1, which must then
 * be known at load. At prepare the input shape is collapsed into alternating kept / reduced runs;
 * run walks the input once, row by row, accumulating in double into a per-output scratch array. */
#include "engine/op.h"

#include <math.h>
#include <string.h>

static int present(const om_prep *p, int i) {
  return i < p->nin && p->in[i] && p->in[i]->ndim >= 0;
}

static double ld(const void *p, int dt, int64_t i) {
  switch (dt) {
  case OM_DT_FLOAT: return ((const float *)p)[i];
  case OM_DT_DOUBLE: return ((const double *)p)[i];
  case OM_DT_INT32: return ((const int32_t *)p)[i];
  case OM_DT_INT64: return (double)((const int64_t *)p)[i];
  case OM_DT_UINT8: return ((const uint8_t *)p)[i];
  case OM_DT_INT8: return ((const int8_t *)p)[i];
  default: return 0;
  }
}

static void st(void *p, int dt, int64_t i, double v) {
  switch (dt) {
  case OM_DT_FLOAT: ((float *)p)[i] = (float)v; break;
  case OM_DT_DOUBLE: ((double *)p)[i] = v; break;
  /* integer results of sums/products of integers are exact in double up to 2^53 */
  case OM_DT_INT32: ((int32_t *)p)[i] = (int32_t)(isfinite(v) ? v : 0); break;
  case OM_DT_INT64: ((int64_t *)p)[i] = (int64_t)(isfinite(v) && fabs(v) < 9.2e18 ? v : 0); break;
  case OM_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)(isfinite(v) && v >= 0 && v < 256 ? v : 0); break;
  case OM_DT_INT8: ((int8_t *)p)[i] = (int8_t)(isfinite(v) && v >= -128 && v < 128 ? v : 0); break;
  default: break;
  }
}

static int dtype_ok(int dt) {
  return dt == OM_DT_FLOAT || dt == OM_DT_DOUBLE || dt == OM_DT_INT32 || dt == OM_DT_INT64 ||
         dt == OM_DT_UINT8 || dt == OM_DT_INT8;
}

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP };

typedef struct red_params {
  int kind, dtype, noop;
  int nd;                        /* collapsed input dims, >= 1 */
  int64_t dims[OM_MAX_DIMS];
  int64_t ostride[OM_MAX_DIMS];  /* output element stride per collapsed dim; 0 when reduced */
  int64_t nin, nout, count;      /* input / output elements, elements folded into each output */
} red_params;

/* pass 0: accumulate f(x) into acc; for LogSumExp pass 1 finds the max into acc and pass 2 sums
 * exp(x - max) into acc2. */
static void red_walk(const red_params *r, const void *x, double *acc, const double *mx, int pass) {
  int nd = r->nd;
  int64_t inner = r->dims[nd - 1], os = r->ostride[nd - 1];
  int64_t idx[OM_MAX_DIMS] = {0}, ooff = 0;
  int kind = r->kind;
  if (kind == R_LOGSUMEXP) kind = pass == 1 ? R_MAX : R_SUM;
  for (int64_t base = 0; base < r->nin; base += inner) {
    for (int64_t j = 0; j < inner; j++) {
      double v = ld(x, r->dtype, base + j);
      double *a = &acc[ooff + j * os];
      if (pass == 2) v = exp(v - mx[ooff + j * os]);
      switch (kind) {
      case R_MAX: if (v > *a || v != v) *a = v; break;
      case R_MIN: if (v < *a || v != v) *a = v; break;
      case R_PROD: *a *= v; break;
      case R_L1: *a += fabs(v); break;
      case R_L2: case R_SUMSQ: *a += v * v; break;
      default: *a += v; break;
      }
    }
    for (int d = nd - 2; d >= 0; d--) {
      ooff += r->ostride[d];
      if (++idx[d] < r->dims[d]) break;
      ooff -= r->ostride[d] * r->dims[d];
      idx[d] = 0;
    }
  }
}

static void red_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const red_params *r = params;
  if (r->noop) {
    memcpy(out[0].data, in[0].data, (size_t)r->nin * om_dtype_size(r->dtype));
    return;
  }
  double *acc = scratch, *acc2 = acc + r->nout;
  double init = r->kind == R_PROD ? 1.0 : r->kind == R_MAX || r->kind == R_LOGSUMEXP ? -INFINITY
              : r->kind == R_MIN ? INFINITY : 0.0;
  for (int64_t i = 0; i < r->nout; i++) acc[i] = init;
  if (r->kind == R_LOGSUMEXP) {
    red_walk(r, in[0].data, acc, NULL, 1);
    for (int64_t i = 0; i < r->nout; i++) {
      if (!isfinite(acc[i])) acc[i] = 0; /* all -inf (or empty): keep exp() finite */
      acc2[i] = 0;
    }
    red_walk(r, in[0].data, acc2, acc, 2);
  } else {
    red_walk(r, in[0].data, acc, NULL, 0);
  }
  for (int64_t i = 0; i < r->nout; i++) {
    double v = acc[i];
    switch (r->kind) {
    case R_MEAN: v = r->count ? v / (double)r->count : NAN; break;
    case R_L2: v = sqrt(v); break;
    case R_LOGSUM: v = log(v); break;
    case R_LOGSUMEXP: v = log(acc2[i]) + acc[i]; break;
    default: break;
    }
    st(out[0].data, r->dtype, i, v);
  }
}

static const struct { const char *name; int kind; } red_names[] = {
  {"ReduceSum", R_SUM}, {"ReduceMean", R_MEAN}, {"ReduceMax", R_MAX}, {"ReduceMin", R_MIN},
  {"ReduceProd", R_PROD}, {"ReduceL1", R_L1}, {"ReduceL2", R_L2}, {"ReduceSumSquare", R_SUMSQ},
  {"ReduceLogSum", R_LOGSUM}, {"ReduceLogSumExp", R_LOGSUMEXP},
};

static int red_prepare(om_prep *p, char *err) {
  const char *op = p->node->op_type;
  int kind = -1;
  for (size_t i = 0; i < OM_ARRAY_LEN(red_names); i++)
    if (!strcmp(op, red_names[i].name)) kind = red_names[i].kind;
  if (kind < 0) return om_seterr(err, OM_E_UNSUPPORTED, "unknown reduction '%s'", op);
  if (!present(p, 0)) return om_seterr(err, OM_E_INVALID, "input 0 (data) is missing");
  const om_tensor *x = p->in[0];
  if (!dtype_ok(x->dtype)) return om_seterr(err, OM_E_UNSUPPORTED, "input dtype %s is not supported", om_dtype_name(x->dtype));
  int keepdims = om_attr_int(p, "keepdims", 1) != 0;
  int noop_empty = om_attr_int(p, "noop_with_empty_axes", 0) != 0;
  int axes_from_input = p->opset >= 18 || (kind == R_SUM && p->opset >= 13);

  int64_t axv[OM_MAX_DIMS];
  int nax = 0;
  if (axes_from_input) {
    if (present(p, 1)) {
      const om_tensor *a = p->in[1];
      if (a->dtype != OM_DT_INT64) return om_seterr(err, OM_E_INVALID, "axes must be int64, not %s", om_dtype_name(a->dtype));
      if (a->ndim > 1) return om_seterr(err, OM_E_INVALID, "axes must be 1-D, is %d-D", a->ndim);
      int64_t n = a->ndim == 0 ? 1 : a->dims[0];
      if (n > 0 && !a->data) return om_seterr(err, OM_E_UNSUPPORTED, "axes input is not known at load (computed axes are not supported)");
      if (n > x->ndim) return om_seterr(err, OM_E_INVALID, "%lld axes for a %d-D input", (long long)n, x->ndim);
      for (int64_t i = 0; i < n; i++) axv[nax++] = ((const int64_t *)a->data)[i];
    }
  } else {
    const int64_t *v;
    int n = om_attr_ints(p, "axes", &v);
    if (n > x->ndim) return om_seterr(err, OM_E_INVALID, "%d axes for a %d-D input", n, x->ndim);
    for (int i = 0; i < n; i++) axv[nax++] = v[i];
  }
  int red[OM_MAX_DIMS] = {0};
  for (int i = 0; i < nax; i++) {
    int64_t a = axv[i] < 0 ? axv[i] + x->ndim : axv[i];
    if (a < 0 || a >= x->ndim)
      return om_seterr(err, OM_E_INVALID, "axis %lld is out of range for a %d-D input", (long long)axv[i], x->ndim);
    if (red[a]) return om_seterr(err, OM_E_INVALID, "axis %lld is repeated", (long long)axv[i]);
    red[a] = 1;
  }
  red_params *r = om_prep_alloc(p, sizeof *r);
  if (!r) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  r->kind = kind;
  r->dtype = x->dtype;
  r->nin = 1;
  for (int d = 0; d < x->ndim; d++) r->nin *= x->dims[d];
  om_tensor *o = &p->out[0];
  o->dtype = x->dtype;
  if (nax == 0) {
    if (noop_empty) {
      r->noop = 1;
      o->ndim = x->ndim;
      memcpy(o->dims, x->dims, sizeof x->dims);
      p->params = r;
      return OM_OK;
    }
    for (int d = 0; d < x->ndim; d++) red[d] = 1;
  }
  o->ndim = 0;
  r->count = 1;
  r->nout = 1;
  for (int d = 0; d < x->ndim; d++) {
    if (red[d]) {
      r->count *= x->dims[d];
      if (keepdims) o->dims[o->ndim++] = 1;
    } else {
      r->nout *= x->dims[d];
      o->dims[o->ndim++] = x->dims[d];
    }
  }
  /* collapse: drop size-1 dims, merge neighbours with the same reduced flag */
  int64_t ost[OM_MAX_DIMS];
  int64_t s = 1;
  for (int d = x->ndim - 1; d >= 0; d--) {
    ost[d] = red[d] ? 0 : s;
    if (!red[d]) s *= x->dims[d];
  }
  r->nd = 0;
  int lastred = -1;
  for (int d = 0; d < x->ndim; d++) {
    if (x->dims[d] == 1) continue;
    if (r->nd > 0 && lastred == red[d]) {
      r->dims[r->nd - 1] *= x->dims[d];
      r->ostride[r->nd - 1] = ost[d];
      continue;
    }
    r->dims[r->nd] = x->dims[d];
    r->ostride[r->nd] = ost[d];
    lastred = red[d];
    r->nd++;
  }
  if (r->nd == 0) {
    r->nd = 1;
    r->dims[0] = 1;
    r->ostride[0] = 0;
  }
  if (r->nin == 0) { /* empty input: one pass over nothing */
    r->nd = 1;
    r->dims[0] = 1;
  }
  size_t bytes;
  if (om_mul_size((size_t)r->nout, 2 * sizeof(double), &bytes))
    return om_seterr(err, OM_E_LIMIT, "reduction output of %lld elements is too large", (long long)r->nout);
  p->scratch_bytes = bytes;
  p->params = r;
  return OM_OK;
}

/* ---------- ArgMax / ArgMin ---------- */

typedef struct arg_params {
  int is_max, last, dtype;
  int64_t outer, len, inner;
} arg_params;

/* data viewed as (outer, len, inner); out (outer, inner) int64 indices along len */
static void arg_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const arg_params *a = params;
  int64_t *y = out[0].data;
  for (int64_t o = 0; o < a->outer; o++)
    for (int64_t j = 0; j < a->inner; j++) {
      int64_t base = o * a->len * a->inner + j, best = 0;
      double bv = ld(in[0].data, a->dtype, base);
      for (int64_t i = 1; i < a->len; i++) {
        double v = ld(in[0].data, a->dtype, base + i * a->inner);
        int better = a->is_max ? (a->last ? v >= bv : v > bv) : (a->last ? v <= bv : v < bv);
        if (better) { bv = v; best = i; }
      }
      y[o * a->inner + j] = best;
    }
}

static int arg_prepare(om_prep *p, char *err) {
  if (!present(p, 0)) return om_seterr(err, OM_E_INVALID, "input 0 (data) is missing");
  const om_tensor *x = p->in[0];
  if (!dtype_ok(x->dtype)) return om_seterr(err, OM_E_UNSUPPORTED, "input dtype %s is not supported", om_dtype_name(x->dtype));
  if (x->ndim < 1) return om_seterr(err, OM_E_INVALID, "input must have at least 1 dim");
  int64_t axis = om_attr_int(p, "axis", 0);
  int64_t ax = axis < 0 ? axis + x->ndim : axis;
  if (ax < 0 || ax >= x->ndim)
    return om_seterr(err, OM_E_INVALID, "axis %lld is out of range for a %d-D input", (long long)axis, x->ndim);
  if (x->dims[ax] == 0) return om_seterr(err, OM_E_INVALID, "cannot take the arg-extremum over an empty axis");
  int keepdims = om_attr_int(p, "keepdims", 1) != 0;
  arg_params *a = om_prep_alloc(p, sizeof *a);
  if (!a) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  a->is_max = strcmp(p->node->op_type, "ArgMax") == 0;
  a->last = om_attr_int(p, "select_last_index", 0) != 0;
  a->dtype = x->dtype;
  a->outer = 1;
  a->inner = 1;
  for (int d = 0; d < ax; d++) a->outer *= x->dims[d];
  for (int d = (int)ax + 1; d < x->ndim; d++) a->inner *= x->dims[d];
  a->len = x->dims[ax];
  om_tensor *o = &p->out[0];
  o->dtype = OM_DT_INT64;
  o->ndim = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (d == ax) { if (keepdims) o->dims[o->ndim++] = 1; }
    else o->dims[o->ndim++] = x->dims[d];
  }
  p->params = a;
  return OM_OK;
}

const om_op om_ops_reduce[] = {
  {"ReduceSum", 1, 99, red_prepare, red_run},
  {"ReduceMean", 1, 99, red_prepare, red_run},
  {"ReduceMax", 1, 99, red_prepare, red_run},
  {"ReduceMin", 1, 99, red_prepare, red_run},
  {"ReduceProd", 1, 99, red_prepare, red_run},
  {"ReduceL1", 1, 99, red_prepare, red_run},
  {"ReduceL2", 1, 99, red_prepare, red_run},
  {"ReduceSumSquare", 1, 99, red_prepare, red_run},
  {"ReduceLogSum", 1, 99, red_prepare, red_run},
  {"ReduceLogSumExp", 1, 99, red_prepare, red_run},
  {"ArgMax", 1, 99, arg_prepare, arg_run},
  {"ArgMin", 1, 99, arg_prepare, arg_run},
  {0},
};
