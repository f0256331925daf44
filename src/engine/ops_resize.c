/* ops_resize.c: Resize (opset 10, 11, 13+) and Upsample (opset 7, 9) on float32, N-D.
 *
 * Every mode is separable: at prepare each axis gets a table of taps (nearest: 1, linear: 2,
 * cubic: 4) giving, per output coordinate, input indices (edge-clamped) and weights. Axes whose
 * table is the identity are skipped at run, so a bilinear resize of N,C,H,W only combines the 4
 * taps of H and W. Scales/sizes must be known at load; tf_crop_and_resize and antialias are refused. */
#include "engine/op.h"

#include <math.h>
#include <string.h>

#define RS_MAXTAP 4

static int present(const om_prep *p, int i) {
  return i < p->nin && p->in[i] && p->in[i]->ndim >= 0;
}

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { C_HALF_PIXEL, C_PYTORCH_HALF_PIXEL, C_ALIGN_CORNERS, C_ASYMMETRIC, C_TF_HALF_PIXEL_NEAREST };
enum { N_ROUND_PREFER_FLOOR, N_ROUND_PREFER_CEIL, N_FLOOR, N_CEIL };

typedef struct rs_axis {
  int ntap;                /* 1, 2 or 4; 0 when identity */
  int32_t *idx;            /* [out * ntap] */
  float *w;                /* [out * ntap] */
} rs_axis;

typedef struct rs_params {
  int nd;
  int64_t idims[OM_MAX_DIMS], odims[OM_MAX_DIMS], istride[OM_MAX_DIMS];
  rs_axis ax[OM_MAX_DIMS];
} rs_params;

/* out is in * scale (not rounded): ONNX's reference uses the unrounded length for align_corners
 * and pytorch_half_pixel when scales are given */
static double src_coord(int ctm, int64_t xo, double scale, int64_t in, double out) {
  switch (ctm) {
  case C_PYTORCH_HALF_PIXEL: return out > 1 ? ((double)xo + 0.5) / scale - 0.5 : 0.0;
  case C_ALIGN_CORNERS: return out == 1 ? 0.0 : (double)xo * (double)(in - 1) / (out - 1);
  case C_ASYMMETRIC: return (double)xo / scale;
  case C_TF_HALF_PIXEL_NEAREST: return ((double)xo + 0.5) / scale;
  default: return ((double)xo + 0.5) / scale - 0.5;
  }
}

static int64_t clampi(int64_t v, int64_t n) {
  return v < 0 ? 0 : v >= n ? n - 1 : v;
}

static void cubic_w(double t, double A, double *c) {
  double x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  c[0] = ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A;
  c[1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
  c[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  c[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
}

static int build_axis(om_prep *p, rs_axis *a, int64_t in, int64_t out, double scale, int mode, int ctm, int nmode,
                      double cubic_a, int exclude, char *err) {
  int ntap = mode == M_NEAREST ? 1 : mode == M_LINEAR ? 2 : 4;
  size_t n;
  if (om_mul_size((size_t)out, (size_t)ntap, &n))
    return om_seterr(err, OM_E_LIMIT, "output dim %lld is too large", (long long)out);
  a->idx = om_prep_alloc(p, n * sizeof(int32_t) + 1);
  a->w = om_prep_alloc(p, n * sizeof(float) + 1);
  if (!a->idx || !a->w) return om_seterr(err, OM_E_NOMEM, "out of memory for resize tables (%lld outputs)", (long long)out);
  a->ntap = ntap;
  int identity = in == out;
  for (int64_t xo = 0; xo < out; xo++) {
    double x = src_coord(ctm, xo, scale, in, (double)in * scale);
    int32_t *ix = a->idx + xo * ntap;
    float *w = a->w + xo * ntap;
    if (mode == M_NEAREST) {
      double r;
      switch (nmode) {
      case N_ROUND_PREFER_CEIL: r = floor(x + 0.5); break;
      case N_FLOOR: r = floor(x); break;
      case N_CEIL: r = ceil(x); break;
      default: r = (x - floor(x) == 0.5) ? floor(x) : floor(x + 0.5); break;
      }
      ix[0] = (int32_t)clampi((int64_t)r, in);
      w[0] = 1.0f;
      if (ix[0] != xo) identity = 0;
    } else if (mode == M_LINEAR) {
      double f = floor(x), t = x - f;
      ix[0] = (int32_t)clampi((int64_t)f, in);
      ix[1] = (int32_t)clampi((int64_t)f + 1, in);
      w[0] = (float)(1 - t);
      w[1] = (float)t;
      if (!(ix[0] == xo && t == 0)) identity = 0;
    } else {
      double f = floor(x), t = x - f, c[4], sum = 0;
      cubic_w(t, cubic_a, c);
      for (int k = 0; k < 4; k++) {
        int64_t j = (int64_t)f - 1 + k;
        if (exclude && (j < 0 || j >= in)) c[k] = 0;
        sum += c[k];
        ix[k] = (int32_t)clampi(j, in);
      }
      for (int k = 0; k < 4; k++) w[k] = (float)(exclude ? c[k] / sum : c[k]);
      if (t != 0 || (int64_t)f != xo) identity = 0;
    }
  }
  if (mode == M_CUBIC && identity) {
    /* t == 0 puts weight 1 on tap 1 and 0 elsewhere (cubic kernel value at 0 and +-1, +-2) */
    for (int64_t xo = 0; xo < out && identity; xo++)
      if (a->w[xo * 4 + 1] != 1.0f) identity = 0;
  }
  if (identity) a->ntap = 0;
  return OM_OK;
}

/* Combines the taps of every non-identity axis for each output element. */
static void rs_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout, void *scratch) {
  const rs_params *r = params;
  const float *x = in[0].data;
  float *y = out[0].data;
  int nd = r->nd;
  int act[OM_MAX_DIMS], na = 0;
  for (int d = 0; d < nd; d++) if (r->ax[d].ntap) act[na++] = d;
  int64_t total = 1;
  for (int d = 0; d < nd; d++) total *= r->odims[d];
  int64_t idx[OM_MAX_DIMS] = {0};
  int ncomb = 1;
  for (int k = 0; k < na; k++) ncomb *= r->ax[act[k]].ntap;
  for (int64_t o = 0; o < total; o++) {
    int64_t base = 0;
    for (int d = 0; d < nd; d++) if (!r->ax[d].ntap) base += idx[d] * r->istride[d];
    double acc = 0;
    for (int c = 0; c < ncomb; c++) {
      int rem = c;
      int64_t off = base;
      double w = 1;
      for (int k = 0; k < na; k++) {
        const rs_axis *a = &r->ax[act[k]];
        int t = rem % a->ntap;
        rem /= a->ntap;
        off += (int64_t)a->idx[idx[act[k]] * a->ntap + t] * r->istride[act[k]];
        w *= a->w[idx[act[k]] * a->ntap + t];
      }
      if (w != 0) acc += w * x[off];
    }
    y[o] = (float)acc;
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < r->odims[d]) break;
      idx[d] = 0;
    }
  }
}

static int rs_prepare(om_prep *p, char *err) {
  int upsample = strcmp(p->node->op_type, "Upsample") == 0;
  if (!present(p, 0)) return om_seterr(err, OM_E_INVALID, "input 0 (X) is missing");
  const om_tensor *x = p->in[0];
  if (x->dtype != OM_DT_FLOAT)
    return om_seterr(err, OM_E_UNSUPPORTED, "X has dtype %s; only float32 is supported", om_dtype_name(x->dtype));
  int nd = x->ndim;
  if (nd < 1) return om_seterr(err, OM_E_INVALID, "X must have at least 1 dim");
  int legacy = upsample || p->opset < 11;

  const char *ms = om_attr_string(p, "mode", "nearest");
  int mode;
  if (!strcmp(ms, "nearest")) mode = M_NEAREST;
  else if (!strcmp(ms, "linear") || !strcmp(ms, "bilinear")) mode = M_LINEAR;
  else if (!strcmp(ms, "cubic") && !legacy) mode = M_CUBIC;
  else return om_seterr(err, OM_E_UNSUPPORTED, "mode '%s' is not supported", ms);

  int ctm = C_ASYMMETRIC, nmode = N_FLOOR; /* Upsample / Resize-10 semantics */
  double cubic_a = -0.75;
  int exclude = 0;
  if (!legacy) {
    const char *cs = om_attr_string(p, "coordinate_transformation_mode", "half_pixel");
    if (!strcmp(cs, "half_pixel")) ctm = C_HALF_PIXEL;
    else if (!strcmp(cs, "pytorch_half_pixel")) ctm = C_PYTORCH_HALF_PIXEL;
    else if (!strcmp(cs, "align_corners")) ctm = C_ALIGN_CORNERS;
    else if (!strcmp(cs, "asymmetric")) ctm = C_ASYMMETRIC;
    else if (!strcmp(cs, "tf_half_pixel_for_nearest")) ctm = C_TF_HALF_PIXEL_NEAREST;
    else if (!strcmp(cs, "tf_crop_and_resize"))
      return om_seterr(err, OM_E_UNSUPPORTED, "coordinate_transformation_mode tf_crop_and_resize is not supported");
    else return om_seterr(err, OM_E_INVALID, "unknown coordinate_transformation_mode '%s'", cs);
    const char *ns = om_attr_string(p, "nearest_mode", "round_prefer_floor");
    if (!strcmp(ns, "round_prefer_floor")) nmode = N_ROUND_PREFER_FLOOR;
    else if (!strcmp(ns, "round_prefer_ceil")) nmode = N_ROUND_PREFER_CEIL;
    else if (!strcmp(ns, "floor")) nmode = N_FLOOR;
    else if (!strcmp(ns, "ceil")) nmode = N_CEIL;
    else return om_seterr(err, OM_E_INVALID, "unknown nearest_mode '%s'", ns);
    cubic_a = om_attr_float(p, "cubic_coeff_a", -0.75f);
    exclude = om_attr_int(p, "exclude_outside", 0) != 0;
    if (om_attr_int(p, "antialias", 0) != 0)
      return om_seterr(err, OM_E_UNSUPPORTED, "antialias=1 is not supported");
    if (om_attr(p, "axes")) return om_seterr(err, OM_E_UNSUPPORTED, "attribute 'axes' is not supported");
    const char *kar = om_attr_string(p, "keep_aspect_ratio_policy", "stretch");
    if (strcmp(kar, "stretch") != 0)
      return om_seterr(err, OM_E_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", kar);
  }

  double scales[OM_MAX_DIMS];
  int64_t odims[OM_MAX_DIMS];
  int have = 0;
  if (upsample && p->opset < 9) {
    const float *v;
    int n = om_attr_floats(p, "scales", &v);
    if (n != nd) return om_seterr(err, OM_E_INVALID, "attribute 'scales' has %d values for a %d-D input", n, nd);
    for (int d = 0; d < nd; d++) scales[d] = v[d];
    have = 1;
  } else {
    int si = legacy ? 1 : 2, zi = 3;
    if (present(p, si) && p->in[si]->ndim == 1 && p->in[si]->dims[0] > 0) {
      const om_tensor *s = p->in[si];
      if (s->dtype != OM_DT_FLOAT) return om_seterr(err, OM_E_INVALID, "scales must be float32, not %s", om_dtype_name(s->dtype));
      if (!s->data) return om_seterr(err, OM_E_UNSUPPORTED, "scales is not known at load (computed scales are not supported)");
      if (s->dims[0] != nd)
        return om_seterr(err, OM_E_INVALID, "scales has %lld values for a %d-D input", (long long)s->dims[0], nd);
      for (int d = 0; d < nd; d++) scales[d] = ((const float *)s->data)[d];
      have = 1;
    }
    if (!legacy && present(p, zi) && p->in[zi]->ndim == 1 && p->in[zi]->dims[0] > 0) {
      const om_tensor *s = p->in[zi];
      if (have) return om_seterr(err, OM_E_INVALID, "both scales and sizes are given");
      if (s->dtype != OM_DT_INT64) return om_seterr(err, OM_E_INVALID, "sizes must be int64, not %s", om_dtype_name(s->dtype));
      if (!s->data) return om_seterr(err, OM_E_UNSUPPORTED, "sizes is not known at load (computed sizes are not supported)");
      if (s->dims[0] != nd)
        return om_seterr(err, OM_E_INVALID, "sizes has %lld values for a %d-D input", (long long)s->dims[0], nd);
      for (int d = 0; d < nd; d++) {
        odims[d] = ((const int64_t *)s->data)[d];
        if (odims[d] <= 0) return om_seterr(err, OM_E_INVALID, "sizes[%d] = %lld is not positive", d, (long long)odims[d]);
        if (x->dims[d] == 0) return om_seterr(err, OM_E_INVALID, "cannot resize an empty dim %d", d);
        scales[d] = (double)odims[d] / (double)x->dims[d];
      }
      have = 2;
    }
  }
  if (!have) return om_seterr(err, OM_E_INVALID, "neither scales nor sizes is given");
  if (have == 1)
    for (int d = 0; d < nd; d++) {
      if (!(scales[d] > 0) || !isfinite(scales[d]))
        return om_seterr(err, OM_E_INVALID, "scales[%d] = %g is not a positive number", d, scales[d]);
      double o = floor((double)x->dims[d] * scales[d]);
      if (o > 2147483647.0) return om_seterr(err, OM_E_LIMIT, "output dim %d (%g) is too large", d, o);
      odims[d] = (int64_t)o;
    }
  size_t total = 1;
  for (int d = 0; d < nd; d++)
    if (om_mul_size(total, (size_t)odims[d], &total) || odims[d] > 2147483647)
      return om_seterr(err, OM_E_LIMIT, "output shape is too large");
  rs_params *r = om_prep_alloc(p, sizeof *r);
  if (!r) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  r->nd = nd;
  int64_t s = 1;
  for (int d = nd - 1; d >= 0; d--) {
    r->idims[d] = x->dims[d];
    r->odims[d] = odims[d];
    r->istride[d] = s;
    s *= x->dims[d];
  }
  for (int d = 0; d < nd; d++) {
    if (x->dims[d] == 0 && odims[d] > 0) return om_seterr(err, OM_E_INVALID, "cannot resize an empty dim %d", d);
    int rc = build_axis(p, &r->ax[d], x->dims[d], odims[d], scales[d], mode, ctm, nmode, cubic_a, exclude, err);
    if (rc) return rc;
  }
  om_tensor *o = &p->out[0];
  o->dtype = OM_DT_FLOAT;
  o->ndim = nd;
  memcpy(o->dims, odims, (size_t)nd * sizeof(int64_t));
  p->params = r;
  return OM_OK;
}

const om_op om_ops_resize[] = {
  {"Resize", 10, 99, rs_prepare, rs_run},
  {"Upsample", 7, 9, rs_prepare, rs_run},
  {0},
};
