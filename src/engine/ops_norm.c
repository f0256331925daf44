/* ops_norm.c: normalization ops on float32: BatchNormalization (inference form), LayerNormalization,
 * InstanceNormalization, Softmax / LogSoftmax (both opset conventions, max-subtracted so large
 * logits do not overflow) and LRN. Statistics are accumulated in double. */
#include "engine/op.h"

#include <math.h>
#include <string.h>

static int present(const om_prep *p, int i) {
  return i < p->nin && p->in[i] && p->in[i]->ndim >= 0;
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; i++) n *= d[i];
  return n;
}

static void copy_shape(om_tensor *o, const om_tensor *x, int dtype) {
  o->dtype = dtype;
  o->ndim = x->ndim;
  memcpy(o->dims, x->dims, sizeof x->dims);
}

static int need_float(const om_prep *p, int i, const char *what, char *err) {
  if (!present(p, i)) return om_seterr(err, OM_E_INVALID, "input %d (%s) is missing", i, what);
  if (p->in[i]->dtype != OM_DT_FLOAT)
    return om_seterr(err, OM_E_UNSUPPORTED, "input %d (%s) has dtype %s; only float32 is supported", i, what,
                     om_dtype_name(p->in[i]->dtype));
  return OM_OK;
}

static int norm_axis(int64_t axis, int ndim, int allow_end, int *out, char *err) {
  int64_t a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a > ndim - (allow_end ? 0 : 1))
    return om_seterr(err, OM_E_INVALID, "axis %lld is out of range for a %d-D input", (long long)axis, ndim);
  *out = (int)a;
  return OM_OK;
}

/* ---------- BatchNormalization ---------- */

typedef struct bn_params {
  int64_t n, c, inner;
  float eps;
  const float *scale, *bias; /* precomputed y = x * scale[c] + bias[c] when all stats were constant */
} bn_params;

/* X is (N,C,D...), scale/B/mean/var are (C) */
static void bn_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const bn_params *b = params;
  const float *sc = b->scale, *bi = b->bias;
  if (!sc) {
    float *s = scratch, *t = s + b->c;
    const float *g = in[1].data, *be = in[2].data, *m = in[3].data, *v = in[4].data;
    for (int64_t c = 0; c < b->c; c++) {
      s[c] = (float)(g[c] / sqrt((double)v[c] + b->eps));
      t[c] = be[c] - m[c] * s[c];
    }
    sc = s;
    bi = t;
  }
  const float *x = in[0].data;
  float *y = out[0].data;
  for (int64_t n = 0; n < b->n; n++)
    for (int64_t c = 0; c < b->c; c++) {
      const float *xr = x + (n * b->c + c) * b->inner;
      float *yr = y + (n * b->c + c) * b->inner;
      float s = sc[c], t = bi[c];
      for (int64_t i = 0; i < b->inner; i++) yr[i] = xr[i] * s + t;
    }
}

static int bn_prepare(om_prep *p, char *err) {
  static const char *names[5] = {"X", "scale", "B", "mean", "var"};
  for (int i = 0; i < 5; i++) {
    int rc = need_float(p, i, names[i], err);
    if (rc) return rc;
  }
  const om_tensor *x = p->in[0];
  if (x->ndim < 2) return om_seterr(err, OM_E_INVALID, "X must have at least 2 dims, has %d", x->ndim);
  if (om_attr_int(p, "training_mode", 0) != 0)
    return om_seterr(err, OM_E_UNSUPPORTED, "training_mode=1 is not supported (inference only)");
  if (p->opset < 9 && om_attr_int(p, "spatial", 1) != 1)
    return om_seterr(err, OM_E_UNSUPPORTED, "spatial=0 is not supported");
  if (p->opset < 7 && om_attr_int(p, "is_test", 0) == 0 && p->nout > 1)
    return om_seterr(err, OM_E_UNSUPPORTED, "training outputs (is_test=0) are not supported");
  if (p->nout > 1) return om_seterr(err, OM_E_UNSUPPORTED, "%d outputs requested; only Y is supported", p->nout);
  int64_t C = x->dims[1];
  for (int i = 1; i < 5; i++) {
    const om_tensor *t = p->in[i];
    if (t->ndim != 1 || t->dims[0] != C)
      return om_seterr(err, OM_E_INVALID, "%s must have shape [%lld] (channels of X)", names[i], (long long)C);
  }
  bn_params *b = om_prep_alloc(p, sizeof *b);
  if (!b) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  b->n = x->dims[0];
  b->c = C;
  b->inner = prod(x->dims, 2, x->ndim);
  b->eps = om_attr_float(p, "epsilon", 1e-5f);
  if (p->in[1]->data && p->in[2]->data && p->in[3]->data && p->in[4]->data) {
    float *s = om_prep_alloc(p, 2 * (size_t)C * sizeof(float) + 1);
    if (!s) return om_seterr(err, OM_E_NOMEM, "out of memory for %lld channel constants", (long long)C);
    const float *g = p->in[1]->data, *be = p->in[2]->data, *m = p->in[3]->data, *v = p->in[4]->data;
    for (int64_t c = 0; c < C; c++) {
      s[c] = (float)(g[c] / sqrt((double)v[c] + b->eps));
      s[C + c] = be[c] - m[c] * s[c];
    }
    b->scale = s;
    b->bias = s + C;
  } else {
    p->scratch_bytes = 2 * (size_t)C * sizeof(float);
  }
  copy_shape(&p->out[0], x, OM_DT_FLOAT);
  p->params = b;
  return OM_OK;
}

/* ---------- LayerNormalization ---------- */

typedef struct ln_params {
  int64_t outer, inner, scale_n, bias_n; /* scale/bias repeat with period scale_n / bias_n */
  float eps;
  int has_bias, has_mean, has_inv;
} ln_params;

/* X viewed as (outer, inner); Y = (X - mean) * invstd * scale + B; Mean/InvStdDev are (outer). */
static void ln_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const ln_params *l = params;
  const float *x = in[0].data, *sc = in[1].data, *bi = l->has_bias ? in[2].data : NULL;
  float *y = out[0].data;
  for (int64_t r = 0; r < l->outer; r++) {
    const float *xr = x + r * l->inner;
    float *yr = y + r * l->inner;
    double s = 0, ss = 0;
    for (int64_t i = 0; i < l->inner; i++) s += xr[i];
    double mean = s / (double)l->inner;
    for (int64_t i = 0; i < l->inner; i++) ss += (xr[i] - mean) * (xr[i] - mean);
    double inv = 1.0 / sqrt(ss / (double)l->inner + l->eps);
    for (int64_t i = 0; i < l->inner; i++) {
      double v = (xr[i] - mean) * inv * sc[i % l->scale_n];
      if (bi) v += bi[i % l->bias_n];
      yr[i] = (float)v;
    }
    if (l->has_mean) ((float *)out[1].data)[r] = (float)mean;
    if (l->has_inv) ((float *)out[2].data)[r] = (float)inv;
  }
}

/* A scale/bias of shape S is accepted when S is a suffix of the normalized shape (or a scalar). */
static int ln_period(const om_tensor *t, const om_tensor *x, int axis, int64_t *period, const char *what, char *err) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
  if (n == 1) { *period = 1; return OM_OK; }
  int lead = 0;
  while (lead < t->ndim && t->dims[lead] == 1) lead++;
  int len = t->ndim - lead;
  if (len > x->ndim - axis) return om_seterr(err, OM_E_INVALID, "%s has more dims than the normalized shape", what);
  for (int i = 0; i < len; i++)
    if (t->dims[lead + i] != x->dims[x->ndim - len + i])
      return om_seterr(err, OM_E_INVALID, "%s shape does not match the trailing dims of X", what);
  *period = n;
  return OM_OK;
}

static int ln_prepare(om_prep *p, char *err) {
  int rc = need_float(p, 0, "X", err);
  if (!rc) rc = need_float(p, 1, "Scale", err);
  if (!rc && present(p, 2)) rc = need_float(p, 2, "B", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int axis;
  rc = norm_axis(om_attr_int(p, "axis", -1), x->ndim, 0, &axis, err);
  if (rc) return rc;
  if (om_attr_int(p, "stash_type", 1) != 1)
    return om_seterr(err, OM_E_UNSUPPORTED, "stash_type %lld is not supported", (long long)om_attr_int(p, "stash_type", 1));
  ln_params *l = om_prep_alloc(p, sizeof *l);
  if (!l) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  l->outer = prod(x->dims, 0, axis);
  l->inner = prod(x->dims, axis, x->ndim);
  l->eps = om_attr_float(p, "epsilon", 1e-5f);
  rc = ln_period(p->in[1], x, axis, &l->scale_n, "Scale", err);
  if (rc) return rc;
  l->bias_n = 1;
  if (present(p, 2)) {
    l->has_bias = 1;
    rc = ln_period(p->in[2], x, axis, &l->bias_n, "B", err);
    if (rc) return rc;
  }
  copy_shape(&p->out[0], x, OM_DT_FLOAT);
  for (int o = 1; o < p->nout && o < 3; o++) {
    copy_shape(&p->out[o], x, OM_DT_FLOAT);
    for (int d = axis; d < x->ndim; d++) p->out[o].dims[d] = 1;
    if (o == 1) l->has_mean = 1; else l->has_inv = 1;
  }
  /* an output named "" is optional and absent; the planner may still give it a buffer */
  for (int o = 1; o < p->nout && o < 3; o++)
    if (p->node->outputs[o][0] == '\0') { if (o == 1) l->has_mean = 0; else l->has_inv = 0; }
  p->params = l;
  return OM_OK;
}

/* ---------- InstanceNormalization ---------- */

typedef struct in_params {
  int64_t n, c, inner;
  float eps;
} in_params;

static void inorm_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const in_params *q = params;
  const float *x = in[0].data, *sc = in[1].data, *bi = in[2].data;
  float *y = out[0].data;
  for (int64_t n = 0; n < q->n; n++)
    for (int64_t c = 0; c < q->c; c++) {
      const float *xr = x + (n * q->c + c) * q->inner;
      float *yr = y + (n * q->c + c) * q->inner;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < q->inner; i++) s += xr[i];
      double mean = s / (double)q->inner;
      for (int64_t i = 0; i < q->inner; i++) ss += (xr[i] - mean) * (xr[i] - mean);
      double k = sc[c] / sqrt(ss / (double)q->inner + q->eps);
      for (int64_t i = 0; i < q->inner; i++) yr[i] = (float)((xr[i] - mean) * k + bi[c]);
    }
}

static int inorm_prepare(om_prep *p, char *err) {
  int rc = need_float(p, 0, "input", err);
  if (!rc) rc = need_float(p, 1, "scale", err);
  if (!rc) rc = need_float(p, 2, "B", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  if (x->ndim < 3) return om_seterr(err, OM_E_INVALID, "input must have at least 3 dims, has %d", x->ndim);
  for (int i = 1; i <= 2; i++)
    if (p->in[i]->ndim != 1 || p->in[i]->dims[0] != x->dims[1])
      return om_seterr(err, OM_E_INVALID, "%s must have shape [%lld]", i == 1 ? "scale" : "B", (long long)x->dims[1]);
  in_params *q = om_prep_alloc(p, sizeof *q);
  if (!q) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  q->n = x->dims[0];
  q->c = x->dims[1];
  q->inner = prod(x->dims, 2, x->ndim);
  q->eps = om_attr_float(p, "epsilon", 1e-5f);
  copy_shape(&p->out[0], x, OM_DT_FLOAT);
  p->params = q;
  return OM_OK;
}

/* ---------- Softmax / LogSoftmax ---------- */

typedef struct sm_params {
  int64_t outer, len, inner; /* reduce along len with stride inner */
  int log;
} sm_params;

static void sm_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const sm_params *s = params;
  const float *x = in[0].data;
  float *y = out[0].data;
  for (int64_t o = 0; o < s->outer; o++)
    for (int64_t j = 0; j < s->inner; j++) {
      const float *xr = x + o * s->len * s->inner + j;
      float *yr = y + o * s->len * s->inner + j;
      int64_t st = s->inner;
      float m = -INFINITY;
      for (int64_t i = 0; i < s->len; i++) m = xr[i * st] > m ? xr[i * st] : m;
      double sum = 0;
      for (int64_t i = 0; i < s->len; i++) sum += exp((double)xr[i * st] - m);
      if (s->log) {
        double ls = log(sum);
        for (int64_t i = 0; i < s->len; i++) yr[i * st] = (float)((double)xr[i * st] - m - ls);
      } else {
        double inv = 1.0 / sum;
        for (int64_t i = 0; i < s->len; i++) yr[i * st] = (float)(exp((double)xr[i * st] - m) * inv);
      }
    }
}

static int sm_prepare(om_prep *p, char *err) {
  int rc = need_float(p, 0, "input", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  sm_params *s = om_prep_alloc(p, sizeof *s);
  if (!s) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  s->log = strcmp(p->node->op_type, "LogSoftmax") == 0;
  int axis;
  if (x->ndim == 0) {
    s->outer = s->len = s->inner = 1;
  } else if (p->opset < 13) {
    /* coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] */
    rc = norm_axis(om_attr_int(p, "axis", 1), x->ndim, 1, &axis, err);
    if (rc) return rc;
    s->outer = prod(x->dims, 0, axis);
    s->len = prod(x->dims, axis, x->ndim);
    s->inner = 1;
  } else {
    rc = norm_axis(om_attr_int(p, "axis", -1), x->ndim, 0, &axis, err);
    if (rc) return rc;
    s->outer = prod(x->dims, 0, axis);
    s->len = x->dims[axis];
    s->inner = prod(x->dims, axis + 1, x->ndim);
  }
  copy_shape(&p->out[0], x, OM_DT_FLOAT);
  p->params = s;
  return OM_OK;
}

/* ---------- LRN ---------- */

typedef struct lrn_params {
  int64_t n, c, inner, size;
  float alpha, beta, bias;
} lrn_params;

/* square_sum over channels [c - floor((size-1)/2), c + ceil((size-1)/2)];
 * y = x / (bias + alpha / size * square_sum) ^ beta */
static void lrn_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const lrn_params *l = params;
  const float *x = in[0].data;
  float *y = out[0].data;
  int64_t lo_off = (l->size - 1) / 2, hi_off = l->size - 1 - lo_off;
  double k = (double)l->alpha / (double)l->size;
  for (int64_t n = 0; n < l->n; n++)
    for (int64_t c = 0; c < l->c; c++) {
      int64_t lo = c - lo_off < 0 ? 0 : c - lo_off, hi = c + hi_off >= l->c ? l->c - 1 : c + hi_off;
      const float *xc = x + (n * l->c + c) * l->inner;
      float *yc = y + (n * l->c + c) * l->inner;
      for (int64_t i = 0; i < l->inner; i++) {
        double ss = 0;
        for (int64_t j = lo; j <= hi; j++) {
          double v = x[(n * l->c + j) * l->inner + i];
          ss += v * v;
        }
        yc[i] = (float)(xc[i] / pow(l->bias + k * ss, l->beta));
      }
    }
}

static int lrn_prepare(om_prep *p, char *err) {
  int rc = need_float(p, 0, "X", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  if (x->ndim < 3) return om_seterr(err, OM_E_INVALID, "X must have at least 3 dims, has %d", x->ndim);
  int64_t size = om_attr_int(p, "size", -1);
  if (size < 1) return om_seterr(err, OM_E_INVALID, "attribute 'size' must be a positive integer (got %lld)", (long long)size);
  lrn_params *l = om_prep_alloc(p, sizeof *l);
  if (!l) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  l->n = x->dims[0];
  l->c = x->dims[1];
  l->inner = prod(x->dims, 2, x->ndim);
  l->size = size;
  l->alpha = om_attr_float(p, "alpha", 1e-4f);
  l->beta = om_attr_float(p, "beta", 0.75f);
  l->bias = om_attr_float(p, "bias", 1.0f);
  copy_shape(&p->out[0], x, OM_DT_FLOAT);
  p->params = l;
  return OM_OK;
}

const om_op om_ops_norm[] = {
  {"BatchNormalization", 1, 99, bn_prepare, bn_run},
  {"LayerNormalization", 17, 99, ln_prepare, ln_run},
  {"InstanceNormalization", 1, 99, inorm_prepare, inorm_run},
  {"Softmax", 1, 99, sm_prepare, sm_run},
  {"LogSoftmax", 1, 99, sm_prepare, sm_run},
  {"LRN", 1, 99, lrn_prepare, lrn_run},
  {0},
};
