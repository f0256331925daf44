/* ops_shape.c: the data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
 * (views, no copy), Transpose, Concat, Split, Slice, Gather, Expand, Pad, Tile (byte copies for any
 * dtype), ScatterND, and the load-time ops Shape, Size, Constant, ConstantOfShape, Range (their outputs are
 * constants). Shape-defining inputs (Reshape shape, Slice starts/ends/axes/steps, Expand shape, Pad
 * pads, Unsqueeze/Squeeze axes, Split sizes, Tile repeats, ConstantOfShape shape) must be known at
 * load; prepare refuses otherwise. */
#include "engine/op_util.h"

#include <math.h>
#include <string.h>

#define MAXV 64 /* most values a shape-defining input may hold */

static int need_in(const om_prep *p, int k, const char *what, char *err) {
  if (k >= p->nin || !om_tensor_present(p->in[k]))
    return om_seterr(err, OM_E_INVALID, "missing input %d (%s)", k, what);
  return OM_OK;
}

static void set_out(om_prep *p, int k, int dtype, int ndim, const int64_t *dims) {
  p->out[k].dtype = dtype;
  p->out[k].ndim = ndim;
  for (int i = 0; i < ndim; i++) p->out[k].dims[i] = dims[i];
}

/* Input 0 as output 0 with a new shape, and no copy. */
static int make_view(om_prep *p, int ndim, const int64_t *dims, char *err) {
  size_t a, b;
  if (om_dims_count(dims, ndim, &b)) return om_seterr(err, OM_E_INVALID, "output shape has a negative dim or overflows");
  a = om_tensor_elems(p->in[0]);
  if (a != b) {
    char s1[128], s2[128];
    return om_seterr(err, OM_E_INVALID, "cannot reshape %s (%zu elements) to %s (%zu elements)",
                     om_dims_str(p->in[0]->dims, p->in[0]->ndim, s1, sizeof s1), a,
                     om_dims_str(dims, ndim, s2, sizeof s2), b);
  }
  set_out(p, 0, p->in[0]->dtype, ndim, dims);
  p->alias_input = 0;
  return OM_OK;
}

/* Axes from an attribute (before `input_opset`) or from input k (from then on). n = -1: none. */
static int get_axes(om_prep *p, int input_opset, int k, int64_t *ax, int *n, char *err) {
  *n = -1;
  if (p->opset < input_opset) {
    const int64_t *v;
    int c = om_attr_ints(p, "axes", &v);
    if (c > MAXV) return om_seterr(err, OM_E_UNSUPPORTED, "too many axes (%d)", c);
    if (c >= 0) {
      memcpy(ax, v, sizeof(int64_t) * (size_t)c);
      *n = c;
    }
    return OM_OK;
  }
  if (k < p->nin && om_tensor_present(p->in[k])) {
    size_t c;
    int rc = om_tensor_ints(p->in[k], "axes", ax, MAXV, &c, err);
    if (rc) return rc;
    *n = (int)c;
  }
  return OM_OK;
}

/* ---- views ---- */
static int prep_identity(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc) return rc;
  return make_view(p, p->in[0]->ndim, p->in[0]->dims, err);
}

static int prep_dropout(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  if (p->nin > 2 && om_tensor_present(p->in[2])) {
    int64_t tm = 0;
    size_t n;
    if ((rc = om_tensor_ints(p->in[2], "training_mode", &tm, 1, &n, err))) return rc;
    float ratio = 0.5f;
    if (p->nin > 1 && om_tensor_present(p->in[1]) && om_tensor_scalar_f(p->in[1], &ratio))
      return om_seterr(err, OM_E_UNSUPPORTED, "ratio must be known at load");
    /* Training mode is deterministic only when nothing is dropped. */
    if (n && tm && ratio != 0.0f)
      return om_seterr(err, OM_E_UNSUPPORTED, "training_mode=1 with ratio %g is not supported (inference only)",
                       (double)ratio);
  }
  if (p->opset < 7 && om_attr_int(p, "is_test", 0) == 0)
    return om_seterr(err, OM_E_UNSUPPORTED, "is_test=0 (training) is not supported");
  if ((rc = make_view(p, p->in[0]->ndim, p->in[0]->dims, err))) return rc;
  if (p->nout > 1) {
    int dt = p->opset < 10 ? p->in[0]->dtype : OM_DT_BOOL;
    size_t n = om_tensor_elems(p->in[0]), es = om_dtype_size(dt), bytes;
    if (om_mul_size(n, es, &bytes)) return om_seterr(err, OM_E_LIMIT, "mask too large");
    uint8_t *m = om_prep_alloc(p, bytes);
    if (!m) return om_seterr(err, OM_E_NOMEM, "out of memory for the mask");
    for (size_t i = 0; i < n; i++) {
      if (dt == OM_DT_FLOAT) ((float *)m)[i] = 1.0f;
      else if (dt == OM_DT_DOUBLE) ((double *)m)[i] = 1.0;
      else m[i * es] = 1;
    }
    set_out(p, 1, dt, p->in[0]->ndim, p->in[0]->dims);
    p->out[1].data = m;
  }
  return OM_OK;
}

static int prep_reshape(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  int64_t sh[MAXV];
  size_t n;
  if (p->opset < 5) {
    const int64_t *v;
    int c = om_attr_ints(p, "shape", &v);
    if (c < 0 || c > MAXV) return om_seterr(err, OM_E_INVALID, "attribute 'shape' missing or too long");
    memcpy(sh, v, sizeof(int64_t) * (size_t)c);
    n = (size_t)c;
  } else {
    if ((rc = need_in(p, 1, "shape", err))) return rc;
    if ((rc = om_tensor_ints(p->in[1], "shape", sh, MAXV, &n, err))) return rc;
  }
  if (n > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "shape has %zu dims, at most %d", n, OM_MAX_DIMS);
  int allowzero = (int)om_attr_int(p, "allowzero", 0);
  const om_tensor *x = p->in[0];
  int64_t dims[OM_MAX_DIMS];
  int infer = -1;
  size_t known = 1;
  for (size_t i = 0; i < n; i++) {
    int64_t d = sh[i];
    if (d == 0 && !allowzero) {
      if ((int)i >= x->ndim)
        return om_seterr(err, OM_E_INVALID, "shape[%zu] = 0 copies a dim the %d-D input lacks", i, x->ndim);
      d = x->dims[i];
    } else if (d == -1) {
      if (infer >= 0) return om_seterr(err, OM_E_INVALID, "shape has more than one -1");
      infer = (int)i;
      dims[i] = 1;
      continue;
    } else if (d < 0) {
      return om_seterr(err, OM_E_INVALID, "shape[%zu] = %lld is invalid", i, (long long)d);
    }
    dims[i] = d;
    if (om_mul_size(known, (size_t)d, &known)) return om_seterr(err, OM_E_LIMIT, "shape overflows");
  }
  if (infer >= 0) {
    size_t total = om_tensor_elems(x);
    if (known == 0 || total % known)
      return om_seterr(err, OM_E_INVALID, "cannot infer the -1 dim: %zu elements are not a multiple of %zu",
                       total, known);
    dims[infer] = (int64_t)(total / known);
  }
  return make_view(p, (int)n, dims, err);
}

static int prep_flatten(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int64_t axis = om_attr_int(p, "axis", 1);
  if (axis < 0) axis += x->ndim;
  if (axis < 0 || axis > x->ndim)
    return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D input",
                     (long long)om_attr_int(p, "axis", 1), x->ndim);
  int64_t d[2] = {1, 1};
  for (int i = 0; i < x->ndim; i++) d[i < axis ? 0 : 1] *= x->dims[i];
  return make_view(p, 2, d, err);
}

static int prep_squeeze(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int64_t ax[MAXV];
  int na;
  if ((rc = get_axes(p, 13, 1, ax, &na, err))) return rc;
  int drop[OM_MAX_DIMS] = {0};
  if (na < 0) {
    for (int i = 0; i < x->ndim; i++) drop[i] = x->dims[i] == 1;
  } else {
    for (int i = 0; i < na; i++) {
      int a;
      if (om_norm_axis(ax[i], x->ndim, &a))
        return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D input", (long long)ax[i], x->ndim);
      if (x->dims[a] != 1)
        return om_seterr(err, OM_E_INVALID, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
      drop[a] = 1;
    }
  }
  int64_t d[OM_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < x->ndim; i++)
    if (!drop[i]) d[n++] = x->dims[i];
  return make_view(p, n, d, err);
}

static int prep_unsqueeze(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int64_t ax[MAXV];
  int na;
  if ((rc = get_axes(p, 13, 1, ax, &na, err))) return rc;
  if (na < 0) return om_seterr(err, OM_E_INVALID, "axes are missing");
  int r = x->ndim + na;
  if (r > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "result has %d dims, at most %d", r, OM_MAX_DIMS);
  int ins[OM_MAX_DIMS] = {0};
  for (int i = 0; i < na; i++) {
    int a;
    if (om_norm_axis(ax[i], r, &a))
      return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D result", (long long)ax[i], r);
    if (ins[a]) return om_seterr(err, OM_E_INVALID, "axis %d given twice", a);
    ins[a] = 1;
  }
  int64_t d[OM_MAX_DIMS];
  int j = 0;
  for (int i = 0; i < r; i++) d[i] = ins[i] ? 1 : x->dims[j++];
  return make_view(p, r, d, err);
}

/* ---- strided copy: out[i] = in[base + sum(idx_d * st_d)] over the output's index space ---- */
typedef struct {
  int ndim;
  int64_t dims[OM_MAX_DIMS], st[OM_MAX_DIMS], base;
  size_t es;
} strided;

static void copy_elems(uint8_t *out, const uint8_t *in, int64_t n, int64_t st, size_t es) {
  if (st == 1) {
    memcpy(out, in, (size_t)n * es);
    return;
  }
  switch (es) {
  case 1: for (int64_t i = 0; i < n; i++) out[i] = in[i * st]; break;
  case 2: for (int64_t i = 0; i < n; i++) memcpy(out + 2 * i, in + 2 * i * st, 2); break;
  case 4: for (int64_t i = 0; i < n; i++) memcpy(out + 4 * i, in + 4 * i * st, 4); break;
  case 8: for (int64_t i = 0; i < n; i++) memcpy(out + 8 * i, in + 8 * i * st, 8); break;
  default: for (int64_t i = 0; i < n; i++) memcpy(out + es * (size_t)i, in + (int64_t)es * i * st, es);
  }
}

static void strided_run(const strided *s, const uint8_t *in, uint8_t *out) {
  int nd = s->ndim;
  size_t es = s->es;
  if (nd == 0) {
    memcpy(out, in + s->base * (int64_t)es, es);
    return;
  }
  size_t outer = 1;
  for (int d = 0; d < nd; d++) {
    if (s->dims[d] == 0) return;
    if (d < nd - 1) outer *= (size_t)s->dims[d];
  }
  int64_t inner = s->dims[nd - 1], ist = s->st[nd - 1], idx[OM_MAX_DIMS] = {0}, off = s->base;
  for (size_t o = 0; o < outer; o++) {
    copy_elems(out, in + off * (int64_t)es, inner, ist, es);
    out += (size_t)inner * es;
    for (int d = nd - 2; d >= 0; d--) {
      off += s->st[d];
      if (++idx[d] < s->dims[d]) break;
      off -= s->st[d] * s->dims[d];
      idx[d] = 0;
    }
  }
}

static void run_strided(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                        void *scratch) {
  strided_run(params, in[0].data, out[0].data);
}

static strided *new_strided(om_prep *p, int ndim, const int64_t *dims, char *err) {
  strided *s = om_prep_alloc(p, sizeof *s);
  if (!s) {
    om_seterr(err, OM_E_NOMEM, "out of memory");
    return NULL;
  }
  s->ndim = ndim;
  for (int i = 0; i < ndim; i++) s->dims[i] = dims[i];
  s->es = om_dtype_size(p->in[0]->dtype);
  p->params = s;
  return s;
}

static int prep_transpose(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int r = x->ndim;
  int64_t perm[OM_MAX_DIMS];
  const int64_t *pv;
  int np = om_attr_ints(p, "perm", &pv);
  if (np < 0) {
    for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
  } else {
    if (np != r) return om_seterr(err, OM_E_INVALID, "perm has %d values for a %d-D input", np, r);
    int seen[OM_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) {
      int a;
      if (om_norm_axis(pv[i], r, &a) || seen[a])
        return om_seterr(err, OM_E_INVALID, "perm is not a permutation of 0..%d", r - 1);
      seen[a] = 1;
      perm[i] = a;
    }
  }
  int64_t d[OM_MAX_DIMS], ist[OM_MAX_DIMS];
  om_strides(x->dims, r, ist);
  for (int i = 0; i < r; i++) d[i] = x->dims[perm[i]];
  set_out(p, 0, x->dtype, r, d);
  strided *s = new_strided(p, r, d, err);
  if (!s) return OM_E_NOMEM;
  for (int i = 0; i < r; i++) s->st[i] = ist[perm[i]];
  return OM_OK;
}

static int prep_slice(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int r = x->ndim;
  int64_t starts[MAXV], ends[MAXV], axes[MAXV], steps[MAXV];
  size_t ns, ne, na = 0, nst = 0;
  int have_axes = 0, have_steps = 0;
  if (p->opset < 10) {
    const int64_t *v;
    int c = om_attr_ints(p, "starts", &v);
    if (c < 0 || c > MAXV) return om_seterr(err, OM_E_INVALID, "attribute 'starts' missing");
    memcpy(starts, v, sizeof(int64_t) * (size_t)c);
    ns = (size_t)c;
    c = om_attr_ints(p, "ends", &v);
    if (c < 0 || c > MAXV) return om_seterr(err, OM_E_INVALID, "attribute 'ends' missing");
    memcpy(ends, v, sizeof(int64_t) * (size_t)c);
    ne = (size_t)c;
    c = om_attr_ints(p, "axes", &v);
    if (c > MAXV) return om_seterr(err, OM_E_INVALID, "too many axes");
    if (c >= 0) {
      memcpy(axes, v, sizeof(int64_t) * (size_t)c);
      na = (size_t)c;
      have_axes = 1;
    }
  } else {
    if ((rc = need_in(p, 1, "starts", err)) || (rc = need_in(p, 2, "ends", err))) return rc;
    if ((rc = om_tensor_ints(p->in[1], "starts", starts, MAXV, &ns, err)) ||
        (rc = om_tensor_ints(p->in[2], "ends", ends, MAXV, &ne, err)))
      return rc;
    if (p->nin > 3 && om_tensor_present(p->in[3])) {
      if ((rc = om_tensor_ints(p->in[3], "axes", axes, MAXV, &na, err))) return rc;
      have_axes = 1;
    }
    if (p->nin > 4 && om_tensor_present(p->in[4])) {
      if ((rc = om_tensor_ints(p->in[4], "steps", steps, MAXV, &nst, err))) return rc;
      have_steps = 1;
    }
  }
  if (ns != ne || (have_axes && na != ns) || (have_steps && nst != ns))
    return om_seterr(err, OM_E_INVALID, "starts, ends, axes and steps have different lengths");
  int64_t b[OM_MAX_DIMS], e[OM_MAX_DIMS], st[OM_MAX_DIMS];
  int seen[OM_MAX_DIMS] = {0};
  for (int i = 0; i < r; i++) {
    b[i] = 0;
    e[i] = x->dims[i];
    st[i] = 1;
  }
  for (size_t i = 0; i < ns; i++) {
    int a;
    if (om_norm_axis(have_axes ? axes[i] : (int64_t)i, r, &a))
      return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D input",
                       (long long)(have_axes ? axes[i] : (int64_t)i), r);
    if (seen[a]) return om_seterr(err, OM_E_INVALID, "axis %d given twice", a);
    seen[a] = 1;
    int64_t dim = x->dims[a], s = have_steps ? steps[i] : 1, lo = starts[i], hi = ends[i];
    if (s == 0) return om_seterr(err, OM_E_INVALID, "step 0 on axis %d", a);
    if (lo < 0) lo += dim;
    if (hi < 0) hi += dim;
    /* Clamp as ONNX does: positive steps into [0, dim], negative into [-1, dim-1]. */
    if (s > 0) {
      lo = lo < 0 ? 0 : lo > dim ? dim : lo;
      hi = hi < 0 ? 0 : hi > dim ? dim : hi;
    } else {
      lo = lo < 0 ? -1 : lo > dim - 1 ? dim - 1 : lo;
      hi = hi < -1 ? -1 : hi > dim - 1 ? dim - 1 : hi;
      /* ends below -dim mean "through index 0" */
      if (ends[i] < -dim) hi = -1;
    }
    b[a] = lo;
    e[a] = hi;
    st[a] = s;
  }
  int64_t d[OM_MAX_DIMS], ist[OM_MAX_DIMS];
  om_strides(x->dims, r, ist);
  for (int i = 0; i < r; i++) {
    int64_t n = st[i] > 0 ? (e[i] - b[i] + st[i] - 1) / st[i] : (b[i] - e[i] + (-st[i]) - 1) / (-st[i]);
    d[i] = n > 0 ? n : 0;
  }
  set_out(p, 0, x->dtype, r, d);
  strided *s = new_strided(p, r, d, err);
  if (!s) return OM_E_NOMEM;
  s->base = 0;
  for (int i = 0; i < r; i++) {
    s->st[i] = st[i] * ist[i];
    if (d[i] > 0) s->base += b[i] * ist[i];
  }
  return OM_OK;
}

static int prep_expand(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc || (rc = need_in(p, 1, "shape", err))) return rc;
  int64_t sh[MAXV];
  size_t n;
  if ((rc = om_tensor_ints(p->in[1], "shape", sh, MAXV, &n, err))) return rc;
  if (n > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "shape has %zu dims", n);
  om_tensor t;
  memset(&t, 0, sizeof t);
  t.ndim = (int)n;
  for (size_t i = 0; i < n; i++) {
    if (sh[i] < 0) return om_seterr(err, OM_E_INVALID, "shape[%zu] = %lld", i, (long long)sh[i]);
    t.dims[i] = sh[i];
  }
  const om_tensor *ts[2] = {p->in[0], &t};
  int nd;
  int64_t d[OM_MAX_DIMS];
  if ((rc = om_broadcast(ts, 2, &nd, d, err))) return rc;
  set_out(p, 0, p->in[0]->dtype, nd, d);
  strided *s = new_strided(p, nd, d, err);
  if (!s) return OM_E_NOMEM;
  om_broadcast_strides(p->in[0], nd, d, s->st);
  return OM_OK;
}

/* ---- Concat / Split ---- */
typedef struct {
  int n;
  size_t outer;
  size_t chunk[OM_MAX_IO];      /* bytes per outer index, per input (Concat) or output (Split) */
} cat_params;

static void run_concat(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                       void *scratch) {
  const cat_params *c = params;
  uint8_t *o = out[0].data;
  for (size_t i = 0; i < c->outer; i++)
    for (int k = 0; k < c->n; k++) {
      if (c->chunk[k]) memcpy(o, (const uint8_t *)in[k].data + i * c->chunk[k], c->chunk[k]);
      o += c->chunk[k];
    }
}

static int prep_concat(om_prep *p, char *err) {
  if (p->nin < 1) return om_seterr(err, OM_E_INVALID, "no inputs");
  const om_tensor *x = NULL;
  for (int k = 0; k < p->nin; k++) {
    if (!om_tensor_present(p->in[k])) return om_seterr(err, OM_E_INVALID, "input %d is absent", k);
    if (!x) x = p->in[k];
  }
  int r = x->ndim, a;
  int64_t axis = om_attr_int(p, "axis", p->opset < 4 ? 1 : INT64_MIN);
  if (axis == INT64_MIN) return om_seterr(err, OM_E_INVALID, "attribute 'axis' is required");
  if (om_norm_axis(axis, r, &a))
    return om_seterr(err, OM_E_INVALID, "axis %lld out of range for %d-D inputs", (long long)axis, r);
  int64_t d[OM_MAX_DIMS];
  memcpy(d, x->dims, sizeof d);
  d[a] = 0;
  cat_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory");
  size_t es = om_dtype_size(x->dtype), inner = es;
  for (int i = a + 1; i < r; i++) inner *= (size_t)x->dims[i];
  c->outer = 1;
  for (int i = 0; i < a; i++) c->outer *= (size_t)x->dims[i];
  c->n = p->nin;
  for (int k = 0; k < p->nin; k++) {
    const om_tensor *t = p->in[k];
    if (t->dtype != x->dtype || t->ndim != r)
      return om_seterr(err, OM_E_INVALID, "input %d has dtype %s / %d dims, input 0 %s / %d", k,
                       om_dtype_name(t->dtype), t->ndim, om_dtype_name(x->dtype), r);
    for (int i = 0; i < r; i++)
      if (i != a && t->dims[i] != x->dims[i]) {
        char s1[128], s2[128];
        return om_seterr(err, OM_E_INVALID, "input %d (%s) does not match input 0 (%s) off axis %d", k,
                         om_dims_str(t->dims, r, s1, sizeof s1), om_dims_str(x->dims, r, s2, sizeof s2), a);
      }
    d[a] += t->dims[a];
    c->chunk[k] = inner * (size_t)t->dims[a];
  }
  set_out(p, 0, x->dtype, r, d);
  p->params = c;
  return OM_OK;
}

static void run_split(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                      void *scratch) {
  const cat_params *c = params;
  const uint8_t *s = in[0].data;
  for (size_t i = 0; i < c->outer; i++)
    for (int k = 0; k < c->n; k++) {
      if (out[k].data && c->chunk[k]) memcpy((uint8_t *)out[k].data + i * c->chunk[k], s, c->chunk[k]);
      s += c->chunk[k];
    }
}

static int prep_split(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int r = x->ndim, a;
  int64_t axis = om_attr_int(p, "axis", 0);
  if (om_norm_axis(axis, r, &a))
    return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D input", (long long)axis, r);
  int n = p->nout;
  int64_t sz[MAXV];
  size_t ns = 0;
  int given = 0;
  if (p->opset < 13) {
    const int64_t *v;
    int c = om_attr_ints(p, "split", &v);
    if (c > MAXV) return om_seterr(err, OM_E_INVALID, "split too long");
    if (c >= 0) {
      memcpy(sz, v, sizeof(int64_t) * (size_t)c);
      ns = (size_t)c;
      given = 1;
    }
    if (!given && p->opset < 2 && p->nin > 1 && om_tensor_present(p->in[1])) {
      if ((rc = om_tensor_ints(p->in[1], "split", sz, MAXV, &ns, err))) return rc;
      given = 1;
    }
  } else if (p->nin > 1 && om_tensor_present(p->in[1])) {
    if ((rc = om_tensor_ints(p->in[1], "split", sz, MAXV, &ns, err))) return rc;
    given = 1;
  }
  int64_t dim = x->dims[a];
  if (given) {
    if ((int)ns != n) return om_seterr(err, OM_E_INVALID, "split has %zu sizes for %d outputs", ns, n);
    int64_t sum = 0;
    for (int k = 0; k < n; k++) {
      if (sz[k] < 0) return om_seterr(err, OM_E_INVALID, "split size %lld", (long long)sz[k]);
      sum += sz[k];
    }
    if (sum != dim)
      return om_seterr(err, OM_E_INVALID, "split sizes sum to %lld, axis %d has %lld", (long long)sum, a,
                       (long long)dim);
  } else {
    int64_t no = p->opset >= 18 ? om_attr_int(p, "num_outputs", n) : n;
    if (no != n) return om_seterr(err, OM_E_INVALID, "num_outputs %lld but %d outputs", (long long)no, n);
    if (p->opset >= 18) {
      /* Opset 18: ceil-sized chunks, the last one smaller. */
      int64_t each = (dim + n - 1) / n;
      for (int k = 0; k < n; k++) {
        int64_t left = dim - each * k;
        sz[k] = left < 0 ? 0 : left < each ? left : each;
      }
    } else {
      if (dim % n)
        return om_seterr(err, OM_E_INVALID, "axis %d (%lld) does not split evenly into %d outputs", a,
                         (long long)dim, n);
      for (int k = 0; k < n; k++) sz[k] = dim / n;
    }
  }
  cat_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory");
  size_t inner = om_dtype_size(x->dtype);
  for (int i = a + 1; i < r; i++) inner *= (size_t)x->dims[i];
  c->outer = 1;
  for (int i = 0; i < a; i++) c->outer *= (size_t)x->dims[i];
  c->n = n;
  for (int k = 0; k < n; k++) {
    int64_t d[OM_MAX_DIMS];
    memcpy(d, x->dims, sizeof d);
    d[a] = sz[k];
    set_out(p, k, x->dtype, r, d);
    c->chunk[k] = inner * (size_t)sz[k];
  }
  p->params = c;
  return OM_OK;
}

/* ---- Gather ---- */
typedef struct {
  size_t outer, inner, nidx;
  int64_t axis_dim;
  int idx64;
} gather_params;

static void run_gather(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                       void *scratch) {
  const gather_params *g = params;
  const uint8_t *src = in[0].data;
  uint8_t *dst = out[0].data;
  for (size_t o = 0; o < g->outer; o++)
    for (size_t j = 0; j < g->nidx; j++) {
      int64_t ix = g->idx64 ? ((const int64_t *)in[1].data)[j] : ((const int32_t *)in[1].data)[j];
      if (ix < 0) ix += g->axis_dim;
      uint8_t *d = dst + (o * g->nidx + j) * g->inner;
      /* Out-of-range indices known only at run time cannot fail: they give zeros. */
      if (ix < 0 || ix >= g->axis_dim) memset(d, 0, g->inner);
      else memcpy(d, src + (o * (size_t)g->axis_dim + (size_t)ix) * g->inner, g->inner);
    }
}

static int prep_gather(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc || (rc = need_in(p, 1, "indices", err))) return rc;
  const om_tensor *x = p->in[0], *ind = p->in[1];
  if (ind->dtype != OM_DT_INT64 && ind->dtype != OM_DT_INT32)
    return om_seterr(err, OM_E_UNSUPPORTED, "indices have dtype %s", om_dtype_name(ind->dtype));
  int a;
  int64_t axis = om_attr_int(p, "axis", 0);
  if (om_norm_axis(axis, x->ndim, &a))
    return om_seterr(err, OM_E_INVALID, "axis %lld out of range for a %d-D input", (long long)axis, x->ndim);
  int r = x->ndim - 1 + ind->ndim;
  if (r > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "result has %d dims", r);
  gather_params *g = om_prep_alloc(p, sizeof *g);
  if (!g) return om_seterr(err, OM_E_NOMEM, "out of memory");
  g->axis_dim = x->dims[a];
  g->nidx = om_tensor_elems(ind);
  g->idx64 = ind->dtype == OM_DT_INT64;
  g->inner = om_dtype_size(x->dtype);
  for (int i = a + 1; i < x->ndim; i++) g->inner *= (size_t)x->dims[i];
  g->outer = 1;
  for (int i = 0; i < a; i++) g->outer *= (size_t)x->dims[i];
  if (ind->data)
    for (size_t j = 0; j < g->nidx; j++) {
      int64_t ix = g->idx64 ? ((const int64_t *)ind->data)[j] : ((const int32_t *)ind->data)[j];
      if (ix < -g->axis_dim || ix >= g->axis_dim)
        return om_seterr(err, OM_E_INVALID, "index %lld out of range for axis %d of size %lld",
                         (long long)ix, a, (long long)g->axis_dim);
    }
  int64_t d[OM_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < a; i++) d[n++] = x->dims[i];
  for (int i = 0; i < ind->ndim; i++) d[n++] = ind->dims[i];
  for (int i = a + 1; i < x->ndim; i++) d[n++] = x->dims[i];
  set_out(p, 0, x->dtype, r, d);
  p->params = g;
  return OM_OK;
}

/* ---- ScatterND ----
 * data is (d0..dr-1), indices is (i0..iq-2, k) int64, updates is (i0..iq-2, dk..dr-1):
 * out = data; out[indices[j]] (a slice of prod(dk..dr-1) elements) = or op= updates[j]. */
enum { SND_NONE, SND_ADD, SND_MUL, SND_MAX, SND_MIN };

typedef struct {
  int k, red, dtype;
  size_t n_upd, slice, es, total;
  int64_t dims[OM_MAX_DIMS], strides[OM_MAX_DIMS];
} scatternd_params;

static void snd_combine(int red, int dt, void *d, const void *u, size_t n) {
  if (dt == OM_DT_FLOAT) {
    float *a = d;
    const float *b = u;
    for (size_t i = 0; i < n; i++)
      a[i] = red == SND_ADD ? a[i] + b[i] : red == SND_MUL ? a[i] * b[i]
           : red == SND_MAX ? (b[i] > a[i] ? b[i] : a[i]) : (b[i] < a[i] ? b[i] : a[i]);
  } else { /* int64, checked at prepare */
    int64_t *a = d;
    const int64_t *b = u;
    for (size_t i = 0; i < n; i++)
      a[i] = red == SND_ADD ? (int64_t)((uint64_t)a[i] + (uint64_t)b[i])
           : red == SND_MUL ? (int64_t)((uint64_t)a[i] * (uint64_t)b[i])
           : red == SND_MAX ? (b[i] > a[i] ? b[i] : a[i]) : (b[i] < a[i] ? b[i] : a[i]);
  }
}

static void run_scatternd(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                          void *scratch) {
  const scatternd_params *s = params;
  uint8_t *dst = out[0].data;
  const uint8_t *upd = in[2].data;
  const int64_t *idx = in[1].data;
  if (dst != in[0].data) memcpy(dst, in[0].data, s->total * s->es);
  for (size_t j = 0; j < s->n_upd; j++) {
    int64_t off = 0;
    int ok = 1;
    for (int t = 0; t < s->k; t++) {
      int64_t ix = idx[j * (size_t)s->k + (size_t)t];
      if (ix < 0) ix += s->dims[t];
      if (ix < 0 || ix >= s->dims[t]) ok = 0;
      off += ix * s->strides[t];
    }
    /* Out-of-range indices known only at run time cannot fail: that update is skipped. */
    if (!ok) continue;
    uint8_t *d = dst + (size_t)off * s->es;
    const uint8_t *u = upd + j * s->slice * s->es;
    if (s->red == SND_NONE) memcpy(d, u, s->slice * s->es);
    else snd_combine(s->red, s->dtype, d, u, s->slice);
  }
}

static int prep_scatternd(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc || (rc = need_in(p, 1, "indices", err)) || (rc = need_in(p, 2, "updates", err))) return rc;
  const om_tensor *x = p->in[0], *ind = p->in[1], *up = p->in[2];
  if (ind->dtype != OM_DT_INT64)
    return om_seterr(err, OM_E_INVALID, "indices have dtype %s, not int64", om_dtype_name(ind->dtype));
  if (up->dtype != x->dtype)
    return om_seterr(err, OM_E_INVALID, "updates have dtype %s but data has %s", om_dtype_name(up->dtype),
                     om_dtype_name(x->dtype));
  if (x->ndim < 1 || ind->ndim < 1)
    return om_seterr(err, OM_E_INVALID, "data and indices must have at least 1 dim (have %d and %d)", x->ndim,
                     ind->ndim);
  int64_t k = ind->dims[ind->ndim - 1];
  if (k < 1 || k > x->ndim)
    return om_seterr(err, OM_E_INVALID, "last indices dim is %lld, must be 1..%d (data rank)", (long long)k,
                     x->ndim);
  int want = ind->ndim - 1 + x->ndim - (int)k;
  int shape_ok = up->ndim == want;
  for (int i = 0; shape_ok && i < ind->ndim - 1; i++) shape_ok = up->dims[i] == ind->dims[i];
  for (int i = (int)k; shape_ok && i < x->ndim; i++) shape_ok = up->dims[ind->ndim - 1 + i - (int)k] == x->dims[i];
  if (!shape_ok) {
    char s1[128], s2[128], s3[128];
    return om_seterr(err, OM_E_INVALID, "updates shape %s does not match indices %s and data %s",
                     om_dims_str(up->dims, up->ndim, s1, sizeof s1), om_dims_str(ind->dims, ind->ndim, s2, sizeof s2),
                     om_dims_str(x->dims, x->ndim, s3, sizeof s3));
  }
  const char *r = p->opset >= 16 ? om_attr_string(p, "reduction", "none") : "none";
  int red = !strcmp(r, "none") ? SND_NONE : !strcmp(r, "add") ? SND_ADD : !strcmp(r, "mul") ? SND_MUL
          : !strcmp(r, "max") ? SND_MAX : !strcmp(r, "min") ? SND_MIN : -1;
  if (red < 0) return om_seterr(err, OM_E_INVALID, "reduction '%s' is not none, add, mul, max or min", r);
  if (red != SND_NONE && x->dtype != OM_DT_FLOAT && x->dtype != OM_DT_INT64)
    return om_seterr(err, OM_E_UNSUPPORTED, "reduction '%s' on %s (only float32 and int64)", r,
                     om_dtype_name(x->dtype));
  scatternd_params *s = om_prep_alloc(p, sizeof *s);
  if (!s) return om_seterr(err, OM_E_NOMEM, "out of memory");
  s->k = (int)k;
  s->red = red;
  s->dtype = x->dtype;
  s->es = om_dtype_size(x->dtype);
  s->total = om_tensor_elems(x);
  s->n_upd = om_tensor_elems(ind) / (size_t)k;
  s->slice = 1;
  for (int i = (int)k; i < x->ndim; i++) s->slice *= (size_t)x->dims[i];
  memcpy(s->dims, x->dims, sizeof s->dims);
  om_strides(x->dims, x->ndim, s->strides);
  if (ind->data) {
    const int64_t *iv = ind->data;
    for (size_t j = 0; j < s->n_upd * (size_t)k; j++) {
      int64_t ix = iv[j], dim = x->dims[j % (size_t)k];
      if (ix < -dim || ix >= dim)
        return om_seterr(err, OM_E_INVALID, "index %lld out of range for axis %d of size %lld", (long long)ix,
                         (int)(j % (size_t)k), (long long)dim);
    }
  }
  set_out(p, 0, x->dtype, x->ndim, x->dims);
  p->params = s;
  return OM_OK;
}

/* ---- Tile ---- */
typedef struct {
  int ndim;
  int64_t in_dims[OM_MAX_DIMS], out_dims[OM_MAX_DIMS], in_st[OM_MAX_DIMS];
  size_t es;
} tile_params;

static void run_tile(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                     void *scratch) {
  const tile_params *t = params;
  int nd = t->ndim;
  const uint8_t *src = in[0].data;
  uint8_t *dst = out[0].data;
  if (nd == 0) {
    memcpy(dst, src, t->es);
    return;
  }
  size_t rows = 1;
  for (int d = 0; d < nd; d++) {
    if (t->out_dims[d] == 0) return;
    if (d < nd - 1) rows *= (size_t)t->out_dims[d];
  }
  size_t row = (size_t)t->in_dims[nd - 1] * t->es;
  int64_t reps = t->out_dims[nd - 1] / t->in_dims[nd - 1], idx[OM_MAX_DIMS] = {0};
  for (size_t o = 0; o < rows; o++) {
    int64_t off = 0;
    for (int d = 0; d < nd - 1; d++) off += (idx[d] % t->in_dims[d]) * t->in_st[d];
    for (int64_t k = 0; k < reps; k++) {
      memcpy(dst, src + off * (int64_t)t->es, row);
      dst += row;
    }
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < t->out_dims[d]) break;
      idx[d] = 0;
    }
  }
}

static int prep_tile(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc || (rc = need_in(p, 1, "repeats", err))) return rc;
  const om_tensor *x = p->in[0];
  int64_t rep[MAXV];
  size_t n;
  if ((rc = om_tensor_ints(p->in[1], "repeats", rep, MAXV, &n, err))) return rc;
  if ((int)n != x->ndim) return om_seterr(err, OM_E_INVALID, "repeats has %zu values for a %d-D input", n, x->ndim);
  tile_params *t = om_prep_alloc(p, sizeof *t);
  if (!t) return om_seterr(err, OM_E_NOMEM, "out of memory");
  t->ndim = x->ndim;
  t->es = om_dtype_size(x->dtype);
  om_strides(x->dims, x->ndim, t->in_st);
  for (int i = 0; i < x->ndim; i++) {
    if (rep[i] < 0) return om_seterr(err, OM_E_INVALID, "repeats[%d] = %lld", i, (long long)rep[i]);
    if (x->dims[i] && rep[i] > INT64_MAX / x->dims[i]) return om_seterr(err, OM_E_LIMIT, "result too large");
    t->in_dims[i] = x->dims[i];
    t->out_dims[i] = x->dims[i] * rep[i];
  }
  set_out(p, 0, x->dtype, x->ndim, t->out_dims);
  p->params = t;
  return OM_OK;
}

/* ---- Pad ---- */
enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE };
typedef struct {
  int ndim, mode;
  int64_t in_dims[OM_MAX_DIMS], out_dims[OM_MAX_DIMS], before[OM_MAX_DIMS], in_st[OM_MAX_DIMS];
  size_t es;
  uint8_t value[8];
} pad_params;

static void run_pad(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                    void *scratch) {
  const pad_params *q = params;
  int nd = q->ndim;
  size_t es = q->es, total = 1;
  for (int d = 0; d < nd; d++) total *= (size_t)q->out_dims[d];
  const uint8_t *src = in[0].data;
  uint8_t *dst = out[0].data;
  int64_t idx[OM_MAX_DIMS] = {0};
  for (size_t o = 0; o < total; o++) {
    int64_t off = 0;
    int outside = 0;
    for (int d = 0; d < nd; d++) {
      int64_t i = idx[d] - q->before[d], n = q->in_dims[d];
      if (i < 0 || i >= n) {
        if (q->mode == PAD_CONSTANT || n == 0) {
          outside = 1;
          break;
        }
        if (q->mode == PAD_EDGE) i = i < 0 ? 0 : n - 1;
        else if (n == 1) i = 0;
        else {
          int64_t period = 2 * (n - 1);
          i %= period;
          if (i < 0) i += period;
          if (i >= n) i = period - i;
        }
      }
      off += i * q->in_st[d];
    }
    if (outside) memcpy(dst + o * es, q->value, es);
    else memcpy(dst + o * es, src + (size_t)off * es, es);
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < q->out_dims[d]) break;
      idx[d] = 0;
    }
  }
}

static void store_value(uint8_t *dst, int dtype, double v) {
  switch (dtype) {
  case OM_DT_FLOAT: { float f = (float)v; memcpy(dst, &f, 4); break; }
  case OM_DT_DOUBLE: memcpy(dst, &v, 8); break;
  case OM_DT_INT64: { int64_t i = (int64_t)v; memcpy(dst, &i, 8); break; }
  case OM_DT_INT32: { int32_t i = (int32_t)v; memcpy(dst, &i, 4); break; }
  case OM_DT_INT16: case OM_DT_UINT16: { int16_t i = (int16_t)v; memcpy(dst, &i, 2); break; }
  default: dst[0] = (uint8_t)(int)v; break;
  }
}

static int prep_pad(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  const om_tensor *x = p->in[0];
  int r = x->ndim;
  pad_params *q = om_prep_alloc(p, sizeof *q);
  if (!q) return om_seterr(err, OM_E_NOMEM, "out of memory");
  q->ndim = r;
  q->es = om_dtype_size(x->dtype);
  const char *mode = om_attr_string(p, "mode", "constant");
  if (strcmp(mode, "constant") == 0) q->mode = PAD_CONSTANT;
  else if (strcmp(mode, "reflect") == 0) q->mode = PAD_REFLECT;
  else if (strcmp(mode, "edge") == 0) q->mode = PAD_EDGE;
  else return om_seterr(err, OM_E_UNSUPPORTED, "mode '%s' is not supported", mode);
  int64_t pads[2 * MAXV];
  size_t np;
  int64_t axes[MAXV];
  int na = -1;
  if (p->opset < 11) {
    const int64_t *v;
    int c = om_attr_ints(p, p->opset < 2 ? "paddings" : "pads", &v);
    if (c < 0 || c > 2 * MAXV) return om_seterr(err, OM_E_INVALID, "attribute 'pads' missing");
    memcpy(pads, v, sizeof(int64_t) * (size_t)c);
    np = (size_t)c;
    store_value(q->value, x->dtype, om_attr_float(p, "value", 0.0f));
  } else {
    if ((rc = need_in(p, 1, "pads", err))) return rc;
    if ((rc = om_tensor_ints(p->in[1], "pads", pads, 2 * MAXV, &np, err))) return rc;
    store_value(q->value, x->dtype, 0);
    if (p->nin > 2 && om_tensor_present(p->in[2])) {
      const om_tensor *cv = p->in[2];
      if (!cv->data) return om_seterr(err, OM_E_UNSUPPORTED, "constant_value must be known at load");
      if (cv->dtype != x->dtype) return om_seterr(err, OM_E_INVALID, "constant_value dtype differs from data");
      if (om_tensor_elems(cv) >= 1) memcpy(q->value, cv->data, q->es);
    }
    if (p->nin > 3 && om_tensor_present(p->in[3])) {
      size_t c;
      if ((rc = om_tensor_ints(p->in[3], "axes", axes, MAXV, &c, err))) return rc;
      na = (int)c;
    }
  }
  int n = na < 0 ? r : na;
  if ((int)np != 2 * n) return om_seterr(err, OM_E_INVALID, "pads has %zu values, expected %d", np, 2 * n);
  for (int i = 0; i < r; i++) {
    q->before[i] = 0;
    q->in_dims[i] = x->dims[i];
    q->out_dims[i] = x->dims[i];
  }
  for (int k = 0; k < n; k++) {
    int a = k;
    if (na >= 0 && om_norm_axis(axes[k], r, &a))
      return om_seterr(err, OM_E_INVALID, "axis %lld out of range", (long long)axes[k]);
    q->before[a] = pads[k];
    q->out_dims[a] = x->dims[a] + pads[k] + pads[k + n];
    if (q->out_dims[a] < 0) return om_seterr(err, OM_E_INVALID, "pads make axis %d negative", a);
    if (q->mode == PAD_REFLECT && x->dims[a] == 0 && q->out_dims[a] > 0)
      return om_seterr(err, OM_E_INVALID, "cannot reflect-pad an empty axis %d", a);
    if (q->mode == PAD_EDGE && x->dims[a] == 0 && q->out_dims[a] > 0)
      return om_seterr(err, OM_E_INVALID, "cannot edge-pad an empty axis %d", a);
  }
  om_strides(x->dims, r, q->in_st);
  set_out(p, 0, x->dtype, r, q->out_dims);
  p->params = q;
  return OM_OK;
}

/* ---- load-time ops: outputs are constants ---- */
static void *const_out(om_prep *p, int dtype, int ndim, const int64_t *dims, char *err) {
  size_t n, bytes;
  if (om_dims_count(dims, ndim, &n) || om_mul_size(n, om_dtype_size(dtype), &bytes)) {
    om_seterr(err, OM_E_LIMIT, "constant output too large");
    return NULL;
  }
  void *d = om_prep_alloc(p, bytes ? bytes : 1);
  if (!d) {
    om_seterr(err, OM_E_NOMEM, "out of memory for a %zu-byte constant", bytes);
    return NULL;
  }
  set_out(p, 0, dtype, ndim, dims);
  p->out[0].data = d;
  return d;
}

static int prep_shape(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  int r = p->in[0]->ndim;
  int64_t s = om_attr_int(p, "start", 0), e = om_attr_int(p, "end", r);
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = s < 0 ? 0 : s > r ? r : s;
  e = e < 0 ? 0 : e > r ? r : e;
  int64_t n = e > s ? e - s : 0;
  int64_t *d = const_out(p, OM_DT_INT64, 1, &n, err);
  if (!d) return OM_E_NOMEM;
  for (int64_t i = 0; i < n; i++) d[i] = p->in[0]->dims[s + i];
  return OM_OK;
}

static int prep_size(om_prep *p, char *err) {
  int rc = need_in(p, 0, "data", err);
  if (rc) return rc;
  int64_t *d = const_out(p, OM_DT_INT64, 0, NULL, err);
  if (!d) return OM_E_NOMEM;
  *d = (int64_t)om_tensor_elems(p->in[0]);
  return OM_OK;
}

static int prep_constant(om_prep *p, char *err) {
  const onnx_attr *a;
  if ((a = om_attr(p, "value")) && a->type == ONNX_ATTR_TENSOR && a->t) {
    const onnx_tensor *t = a->t;
    if (!om_dtype_size(t->dtype))
      return om_seterr(err, OM_E_UNSUPPORTED, "value has dtype %s", om_dtype_name(t->dtype));
    void *d = const_out(p, t->dtype, t->ndim, t->dims, err);
    if (!d) return OM_E_NOMEM;
    size_t n = om_tensor_elems(&p->out[0]) * om_dtype_size(t->dtype);
    if (n != t->nbytes) return om_seterr(err, OM_E_FORMAT, "value holds %zu bytes, its shape needs %zu", t->nbytes, n);
    if (n) memcpy(d, t->data, n);
    return OM_OK;
  }
  if ((a = om_attr(p, "value_float")) && a->type == ONNX_ATTR_FLOAT) {
    float *d = const_out(p, OM_DT_FLOAT, 0, NULL, err);
    if (!d) return OM_E_NOMEM;
    *d = a->f;
    return OM_OK;
  }
  if ((a = om_attr(p, "value_int")) && a->type == ONNX_ATTR_INT) {
    int64_t *d = const_out(p, OM_DT_INT64, 0, NULL, err);
    if (!d) return OM_E_NOMEM;
    *d = a->i;
    return OM_OK;
  }
  if ((a = om_attr(p, "value_floats")) && a->type == ONNX_ATTR_FLOATS) {
    int64_t n = a->n;
    float *d = const_out(p, OM_DT_FLOAT, 1, &n, err);
    if (!d) return OM_E_NOMEM;
    if (n) memcpy(d, a->floats, sizeof(float) * (size_t)n);
    return OM_OK;
  }
  if ((a = om_attr(p, "value_ints")) && a->type == ONNX_ATTR_INTS) {
    int64_t n = a->n;
    int64_t *d = const_out(p, OM_DT_INT64, 1, &n, err);
    if (!d) return OM_E_NOMEM;
    if (n) memcpy(d, a->ints, sizeof(int64_t) * (size_t)n);
    return OM_OK;
  }
  return om_seterr(err, OM_E_UNSUPPORTED,
                   "no supported value attribute (value, value_float(s), value_int(s))");
}

static int prep_constant_of_shape(om_prep *p, char *err) {
  int rc = need_in(p, 0, "input", err);
  if (rc) return rc;
  int64_t sh[MAXV];
  size_t n;
  if ((rc = om_tensor_ints(p->in[0], "input", sh, MAXV, &n, err))) return rc;
  if (n > OM_MAX_DIMS) return om_seterr(err, OM_E_UNSUPPORTED, "shape has %zu dims", n);
  for (size_t i = 0; i < n; i++)
    if (sh[i] < 0) return om_seterr(err, OM_E_INVALID, "shape[%zu] = %lld", i, (long long)sh[i]);
  int dt = OM_DT_FLOAT;
  uint8_t val[8] = {0};
  const onnx_attr *a = om_attr(p, "value");
  if (a && a->type == ONNX_ATTR_TENSOR && a->t) {
    dt = a->t->dtype;
    size_t es = om_dtype_size(dt);
    if (!es || a->t->nbytes != es) return om_seterr(err, OM_E_INVALID, "value must be one element of a supported dtype");
    memcpy(val, a->t->data, es);
  }
  uint8_t *d = const_out(p, dt, (int)n, sh, err);
  if (!d) return OM_E_NOMEM;
  size_t cnt = om_tensor_elems(&p->out[0]), es = om_dtype_size(dt);
  for (size_t i = 0; i < cnt; i++) memcpy(d + i * es, val, es);
  return OM_OK;
}

static int prep_range(om_prep *p, char *err) {
  for (int k = 0; k < 3; k++) {
    int rc = need_in(p, k, k == 0 ? "start" : k == 1 ? "limit" : "delta", err);
    if (rc) return rc;
    if (!p->in[k]->data || om_tensor_elems(p->in[k]) != 1)
      return om_seterr(err, OM_E_UNSUPPORTED, "input %d must be a scalar known at load", k);
  }
  int dt = p->in[0]->dtype;
  double v[3];
  for (int k = 0; k < 3; k++) {
    const void *d = p->in[k]->data;
    switch (p->in[k]->dtype) {
    case OM_DT_FLOAT: v[k] = *(const float *)d; break;
    case OM_DT_DOUBLE: v[k] = *(const double *)d; break;
    case OM_DT_INT64: v[k] = (double)*(const int64_t *)d; break;
    case OM_DT_INT32: v[k] = *(const int32_t *)d; break;
    case OM_DT_INT16: v[k] = *(const int16_t *)d; break;
    default: return om_seterr(err, OM_E_UNSUPPORTED, "dtype %s", om_dtype_name(p->in[k]->dtype));
    }
  }
  if (v[2] == 0) return om_seterr(err, OM_E_INVALID, "delta is 0");
  double cnt = ceil((v[1] - v[0]) / v[2]);
  if (!(cnt >= 0)) cnt = 0;
  if (cnt > 1e9) return om_seterr(err, OM_E_LIMIT, "range of %.0f values", cnt);
  int64_t n = (int64_t)cnt;
  uint8_t *d = const_out(p, dt, 1, &n, err);
  if (!d) return OM_E_NOMEM;
  size_t es = om_dtype_size(dt);
  for (int64_t i = 0; i < n; i++) {
    if (dt == OM_DT_FLOAT) {
      /* Accumulate in float like the reference (start + i*delta in the input type). */
      float f = *(const float *)p->in[0]->data + (float)i * *(const float *)p->in[2]->data;
      memcpy(d + (size_t)i * es, &f, 4);
    } else if (dt == OM_DT_INT64) {
      int64_t x = *(const int64_t *)p->in[0]->data + i * *(const int64_t *)p->in[2]->data;
      memcpy(d + (size_t)i * es, &x, 8);
    } else {
      store_value(d + (size_t)i * es, dt, v[0] + (double)i * v[2]);
    }
  }
  return OM_OK;
}

const om_op om_ops_shape[] = {
  {"Identity", 1, 99, prep_identity, NULL},
  {"Dropout", 1, 99, prep_dropout, NULL},
  {"Reshape", 1, 99, prep_reshape, NULL},
  {"Flatten", 1, 99, prep_flatten, NULL},
  {"Squeeze", 1, 99, prep_squeeze, NULL},
  {"Unsqueeze", 1, 99, prep_unsqueeze, NULL},
  {"Transpose", 1, 99, prep_transpose, run_strided},
  {"Slice", 1, 99, prep_slice, run_strided},
  {"Expand", 8, 99, prep_expand, run_strided},
  {"Concat", 1, 99, prep_concat, run_concat},
  {"Split", 1, 99, prep_split, run_split},
  {"Gather", 1, 99, prep_gather, run_gather},
  {"ScatterND", 11, 99, prep_scatternd, run_scatternd},
  {"Tile", 6, 99, prep_tile, run_tile},
  {"Pad", 1, 99, prep_pad, run_pad},
  {"Shape", 1, 99, prep_shape, NULL},
  {"Size", 1, 99, prep_size, NULL},
  {"Constant", 1, 99, prep_constant, NULL},
  {"ConstantOfShape", 9, 99, prep_constant_of_shape, NULL},
  {"Range", 11, 99, prep_range, NULL},
  {0},
};
