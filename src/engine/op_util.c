/* op_util.c: the shared op helpers of op_util.h (broadcasting, axes, constant inputs) and the
 * scalar activation reference om_act_apply of op.h. */
#include "engine/op_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int om_norm_axis(int64_t axis, int ndim, int *out) {
  if (axis < -(int64_t)ndim || axis >= (int64_t)ndim) return -1;
  *out = (int)(axis < 0 ? axis + ndim : axis);
  return 0;
}

void om_strides(const int64_t *dims, int ndim, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
}

char *om_dims_str(const int64_t *dims, int ndim, char *buf, size_t len) {
  if (!len) return buf;
  buf[0] = 0;
  if (ndim <= 0) {
    snprintf(buf, len, "scalar");
    return buf;
  }
  size_t used = 0;
  for (int i = 0; i < ndim && used < len; i++) {
    int w = snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)dims[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
  return buf;
}

int om_broadcast(const om_tensor *const *ts, int n, int *ndim, int64_t *dims, char *err) {
  int nd = 0;
  for (int k = 0; k < n; k++)
    if (om_tensor_present(ts[k]) && ts[k]->ndim > nd) nd = ts[k]->ndim;
  if (nd > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "more than %d dims", OM_MAX_DIMS);
  for (int i = 0; i < nd; i++) dims[i] = 1;
  for (int k = 0; k < n; k++) {
    const om_tensor *t = ts[k];
    if (!om_tensor_present(t)) continue;
    int off = nd - t->ndim;
    for (int i = 0; i < t->ndim; i++) {
      int64_t d = t->dims[i], *o = &dims[off + i];
      if (d == *o || d == 1) continue;
      if (*o == 1) {
        *o = d;
        continue;
      }
      char a[128], b[128];
      /* Name the two shapes that clash: the first present one so far and this one. */
      const om_tensor *first = NULL;
      for (int j = 0; j < k && !first; j++)
        if (om_tensor_present(ts[j])) first = ts[j];
      return om_seterr(err, OM_E_INVALID, "cannot broadcast shapes %s and %s (dim %d: %lld vs %lld)",
                       first ? om_dims_str(first->dims, first->ndim, a, sizeof a) : "?",
                       om_dims_str(t->dims, t->ndim, b, sizeof b), off + i, (long long)*o,
                       (long long)d);
    }
  }
  *ndim = nd;
  return OM_OK;
}

void om_broadcast_strides(const om_tensor *t, int ndim, const int64_t *dims, int64_t *strides) {
  int64_t own[OM_MAX_DIMS];
  om_strides(t->dims, t->ndim, own);
  int off = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    if (i < off) strides[i] = 0;
    else strides[i] = (t->dims[i - off] == 1 && dims[i] != 1) ? 0 : own[i - off];
  }
}

int om_tensor_ints(const om_tensor *t, const char *what, int64_t *v, size_t max, size_t *n,
                   char *err) {
  if (!om_tensor_present(t))
    return om_seterr(err, OM_E_INVALID, "input '%s' is absent", what);
  if (!t->data)
    return om_seterr(err, OM_E_UNSUPPORTED,
                     "input '%s' must be known at load (a constant or computed from constants); "
                     "it is computed at run time here", what);
  size_t cnt = om_tensor_elems(t);
  if (cnt > max)
    return om_seterr(err, OM_E_UNSUPPORTED, "input '%s' has %zu values, at most %zu supported", what,
                     cnt, max);
  for (size_t i = 0; i < cnt; i++) {
    switch (t->dtype) {
    case OM_DT_INT64: v[i] = ((const int64_t *)t->data)[i]; break;
    case OM_DT_INT32: v[i] = ((const int32_t *)t->data)[i]; break;
    case OM_DT_UINT8: case OM_DT_BOOL: v[i] = ((const uint8_t *)t->data)[i]; break;
    case OM_DT_INT8: v[i] = ((const int8_t *)t->data)[i]; break;
    default:
      return om_seterr(err, OM_E_UNSUPPORTED, "input '%s' has dtype %s, expected int64 or int32", what,
                       om_dtype_name(t->dtype));
    }
  }
  *n = cnt;
  return OM_OK;
}

int om_tensor_scalar_f(const om_tensor *t, float *v) {
  if (!om_tensor_present(t) || !t->data || om_tensor_elems(t) == 0) return -1;
  switch (t->dtype) {
  case OM_DT_FLOAT: *v = *(const float *)t->data; return 0;
  case OM_DT_DOUBLE: *v = (float)*(const double *)t->data; return 0;
  case OM_DT_INT64: *v = (float)*(const int64_t *)t->data; return 0;
  case OM_DT_INT32: *v = (float)*(const int32_t *)t->data; return 0;
  default: return -1;
  }
}

float om_act_apply(int act, float alpha, float beta, float x) {
  switch (act) {
  case OM_ACT_RELU: return x > 0.0f ? x : 0.0f;
  case OM_ACT_CLIP: return fminf(fmaxf(x, alpha), beta);
  case OM_ACT_LEAKY_RELU: return x < 0.0f ? alpha * x : x;
  case OM_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case OM_ACT_HARD_SIGMOID: return fmaxf(0.0f, fminf(1.0f, alpha * x + beta));
  case OM_ACT_HARD_SWISH: return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
  case OM_ACT_SILU: return x / (1.0f + expf(-x));
  default: return x;
  }
}

int om_attr_ints_fixed(const om_prep *p, const char *name, int want, int64_t *out, int64_t dflt,
                       int64_t minv, char *err) {
  const int64_t *v;
  int n = om_attr_ints(p, name, &v);
  for (int i = 0; i < want; i++) out[i] = dflt;
  if (n < 0) return OM_OK;
  if (n != want)
    return om_seterr(err, OM_E_INVALID, "attribute '%s' has %d values, expected %d", name, n, want);
  for (int i = 0; i < want; i++) {
    if (v[i] < minv || v[i] > (1 << 24))
      return om_seterr(err, OM_E_INVALID, "attribute '%s'[%d] = %lld is out of range", name, i,
                       (long long)v[i]);
    out[i] = v[i];
  }
  return OM_OK;
}

int om_check_float(const om_tensor *t, const char *what, char *err) {
  if (!om_tensor_present(t)) return om_seterr(err, OM_E_INVALID, "input %s is missing", what);
  if (t->dtype != OM_DT_FLOAT)
    return om_seterr(err, OM_E_UNSUPPORTED, "input %s has dtype %s; only float32 is supported",
                     what, om_dtype_name(t->dtype));
  return OM_OK;
}

int om_read_fusion(const om_prep *p, int ndim, const int64_t *ydims, int *act, float *alpha,
                   float *beta, int *has_sum, char *err) {
  *act = (int)om_attr_int(p, "om_act", OM_ACT_NONE);
  if (*act < OM_ACT_NONE || *act > OM_ACT_SILU)
    return om_seterr(err, OM_E_INVALID, "om_act %d is not a known activation", *act);
  *alpha = om_attr_float(p, "om_act_alpha", 0.0f);
  *beta = om_attr_float(p, "om_act_beta", 0.0f);
  *has_sum = om_attr_int(p, "om_sum", 0) != 0;
  if (!*has_sum) return OM_OK;
  const om_tensor *s = p->nin > 3 ? p->in[3] : NULL;
  int rc = om_check_float(s, "om_sum (input 3)", err);
  if (rc) return rc;
  int same = s->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = s->dims[i] == ydims[i];
  if (!same) {
    char a[128], b[128];
    return om_seterr(err, OM_E_INVALID, "fused sum input has shape %s, output is %s",
                     om_dims_str(s->dims, s->ndim, a, sizeof a), om_dims_str(ydims, ndim, b, sizeof b));
  }
  return OM_OK;
}
