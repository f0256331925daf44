/* ops_elementwise.c: elementwise ops: unary math and activations, Clip, binary arithmetic (incl. Mod) /
 * comparison / logic with ONNX multidirectional broadcasting, variadic Sum/Mean/Max/Min, Where, Cast.
 *
 * Broadcasting is resolved at prepare into a "collapsed" iteration space: dims of size 1 dropped
 * and adjacent dims merged wherever every operand stays contiguous across them. Same-shape,
 * scalar-broadcast and per-channel (N,C,H,W op C,1,1) cases then become rows with operand strides
 * 0 or 1, which the float32 row kernels handle with plain loops the compiler vectorizes. Other
 * dtypes go through a generic row that computes in double (float types) or int64 (integer types). */
#include "engine/engine.h"
#include "engine/op.h"
#include "engine/vmath.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------- element access for non-float32 paths ---------- */

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (ex == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: renormalize */
      ex = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; ex--; }
      bits = sign | (ex << 23) | ((man & 0x3ff) << 13);
    }
  } else if (ex == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((ex + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* float -> binary16 with round-to-nearest-even, overflow to inf, NaN kept quiet. */
static uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, ex = (x >> 23) & 0xff, man = x & 0x7fffff;
  if (ex == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  int e = (int)ex - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000; /* implicit bit */
    int shift = 14 - e;
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* carry into exponent is correct */
  return (uint16_t)(sign | h);
}

static float bf16_to_float(uint16_t v) {
  uint32_t bits = (uint32_t)v << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* ONNX 1.12's reference casts float -> bfloat16 by truncation; match it. */
static uint16_t float_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return (uint16_t)(bits >> 16);
}

static int is_float_dt(int dt) {
  return dt == OM_DT_FLOAT || dt == OM_DT_DOUBLE || dt == OM_DT_FLOAT16 || dt == OM_DT_BFLOAT16;
}

static int is_int_dt(int dt) {
  switch (dt) {
  case OM_DT_UINT8: case OM_DT_INT8: case OM_DT_UINT16: case OM_DT_INT16: case OM_DT_INT32:
  case OM_DT_INT64: case OM_DT_UINT32: case OM_DT_UINT64: case OM_DT_BOOL:
    return 1;
  default:
    return 0;
  }
}

static double ld_d(const void *p, int dt, int64_t i) {
  switch (dt) {
  case OM_DT_FLOAT: return ((const float *)p)[i];
  case OM_DT_DOUBLE: return ((const double *)p)[i];
  case OM_DT_FLOAT16: return half_to_float(((const uint16_t *)p)[i]);
  case OM_DT_BFLOAT16: return bf16_to_float(((const uint16_t *)p)[i]);
  case OM_DT_UINT8: return ((const uint8_t *)p)[i];
  case OM_DT_INT8: return ((const int8_t *)p)[i];
  case OM_DT_UINT16: return ((const uint16_t *)p)[i];
  case OM_DT_INT16: return ((const int16_t *)p)[i];
  case OM_DT_INT32: return ((const int32_t *)p)[i];
  case OM_DT_INT64: return (double)((const int64_t *)p)[i];
  case OM_DT_UINT32: return ((const uint32_t *)p)[i];
  case OM_DT_UINT64: return (double)((const uint64_t *)p)[i];
  case OM_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
  default: return 0;
  }
}

static int64_t ld_i(const void *p, int dt, int64_t i) {
  switch (dt) {
  case OM_DT_UINT8: return ((const uint8_t *)p)[i];
  case OM_DT_INT8: return ((const int8_t *)p)[i];
  case OM_DT_UINT16: return ((const uint16_t *)p)[i];
  case OM_DT_INT16: return ((const int16_t *)p)[i];
  case OM_DT_INT32: return ((const int32_t *)p)[i];
  case OM_DT_INT64: return ((const int64_t *)p)[i];
  case OM_DT_UINT32: return ((const uint32_t *)p)[i];
  case OM_DT_UINT64: return (int64_t)((const uint64_t *)p)[i];
  case OM_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
  default: return 0;
  }
}

static void st_i(void *p, int dt, int64_t i, int64_t v) {
  /* narrowing wraps modulo 2^n, like NumPy's integer arithmetic */
  switch (dt) {
  case OM_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  case OM_DT_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
  case OM_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
  case OM_DT_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
  case OM_DT_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
  case OM_DT_INT64: ((int64_t *)p)[i] = v; break;
  case OM_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
  case OM_DT_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
  case OM_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  default: break;
  }
}

/* double -> integer without undefined behaviour: truncate toward zero, NaN -> 0, saturate. */
static int64_t d_to_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

static void st_d(void *p, int dt, int64_t i, double v) {
  switch (dt) {
  case OM_DT_FLOAT: ((float *)p)[i] = (float)v; break;
  case OM_DT_DOUBLE: ((double *)p)[i] = v; break;
  case OM_DT_FLOAT16: ((uint16_t *)p)[i] = float_to_half((float)v); break;
  case OM_DT_BFLOAT16: ((uint16_t *)p)[i] = float_to_bf16((float)v); break;
  case OM_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case OM_DT_UINT64: ((uint64_t *)p)[i] = v >= 9223372036854775808.0 ? (uint64_t)v : (uint64_t)d_to_i64(v); break;
  default: st_i(p, dt, i, d_to_i64(v)); break;
  }
}

static void fmt_shape(char *buf, size_t len, const int64_t *dims, int nd) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  for (int i = 0; i < nd && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)dims[i]);
  if (o < len) snprintf(buf + o, len - o, "]");
}

static int present(const om_prep *p, int i) {
  return i < p->nin && p->in[i] && p->in[i]->ndim >= 0;
}

static int64_t count_of(const om_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
  return n;
}

/* ---------- broadcasting ---------- */

#define BC_MAXIN 3

typedef struct bcast {
  int nd;                            /* >= 1 after collapsing */
  int64_t dims[OM_MAX_DIMS];
  int64_t st[BC_MAXIN][OM_MAX_DIMS]; /* element strides of each operand; 0 where broadcast */
  int64_t total;
} bcast;

/* Multidirectional broadcast of n shapes into out. */
static int bc_shape(const om_tensor *const *ins, int n, om_tensor *out, char *err) {
  int nd = 0;
  for (int k = 0; k < n; k++) if (ins[k]->ndim > nd) nd = ins[k]->ndim;
  for (int d = 0; d < nd; d++) {
    int64_t v = 1;
    for (int k = 0; k < n; k++) {
      int off = nd - ins[k]->ndim;
      if (d < off) continue;
      int64_t x = ins[k]->dims[d - off];
      if (x == 1) continue;
      if (v != 1 && x != v) {
        char sa[128], sb[128];
        fmt_shape(sa, sizeof sa, ins[0]->dims, ins[0]->ndim);
        fmt_shape(sb, sizeof sb, ins[k]->dims, ins[k]->ndim);
        return om_seterr(err, OM_E_INVALID, "input shapes %s and %s are not broadcastable (dim %d: %lld vs %lld)",
                         sa, sb, d, (long long)v, (long long)x);
      }
      v = x;
    }
    /* a 0-sized dim wins over 1 */
    for (int k = 0; k < n; k++) {
      int off = nd - ins[k]->ndim;
      if (d >= off && ins[k]->dims[d - off] == 0) v = 0;
    }
    out->dims[d] = v;
  }
  out->ndim = nd;
  return OM_OK;
}

/* Strides of each operand against the output shape, then collapse. shapes[k] must broadcast to odims. */
static void bc_build(bcast *b, int n, const om_tensor *const *ins, const int64_t *odims, int ond) {
  int64_t st[BC_MAXIN][OM_MAX_DIMS];
  for (int k = 0; k < n; k++) {
    int off = ond - ins[k]->ndim;
    int64_t s = 1;
    for (int d = ond - 1; d >= 0; d--) {
      int64_t x = d < off ? 1 : ins[k]->dims[d - off];
      st[k][d] = x == 1 ? 0 : s;
      s *= x;
    }
  }
  b->nd = 0;
  b->total = 1;
  for (int d = 0; d < ond; d++) {
    b->total *= odims[d];
    if (odims[d] == 1) continue;
    int j = b->nd;
    if (j > 0) {
      int merge = 1;
      for (int k = 0; k < n; k++)
        if (b->st[k][j - 1] != st[k][d] * odims[d]) merge = 0;
      if (merge) {
        b->dims[j - 1] *= odims[d];
        for (int k = 0; k < n; k++) b->st[k][j - 1] = st[k][d];
        continue;
      }
    }
    b->dims[j] = odims[d];
    for (int k = 0; k < n; k++) b->st[k][j] = st[k][d];
    b->nd++;
  }
  if (b->nd == 0) {
    b->nd = 1;
    b->dims[0] = 1;
    for (int k = 0; k < n; k++) b->st[k][0] = 0;
  }
  for (int k = n; k < BC_MAXIN; k++)
    for (int d = 0; d < b->nd; d++) b->st[k][d] = 0;
}

typedef void (*row_fn)(const void *ctx, const int64_t *off, int64_t n, int64_t oo);

/* Walks the collapsed space row by row; off[k] is operand k's element offset at the row start,
 * oo the (contiguous) output offset. */
static void bc_walk(const bcast *b, row_fn row, const void *ctx) {
  int nd = b->nd;
  int64_t inner = b->dims[nd - 1];
  if (b->total == 0) return;
  int64_t idx[OM_MAX_DIMS] = {0}, off[BC_MAXIN] = {0, 0, 0};
  int64_t rows = b->total / inner;
  for (int64_t r = 0; r < rows; r++) {
    row(ctx, off, inner, r * inner);
    for (int d = nd - 2; d >= 0; d--) {
      for (int k = 0; k < BC_MAXIN; k++) off[k] += b->st[k][d];
      if (++idx[d] < b->dims[d]) break;
      for (int k = 0; k < BC_MAXIN; k++) off[k] -= b->st[k][d] * b->dims[d];
      idx[d] = 0;
    }
  }
}

/* ---------- unary ---------- */

enum {
  U_RELU, U_LEAKY, U_SIGMOID, U_HSIGMOID, U_HSWISH, U_TANH, U_ERF, U_EXP, U_LOG, U_SQRT, U_RECIP,
  U_NEG, U_ABS, U_FLOOR, U_CEIL, U_ROUND, U_SIGN, U_SIN, U_COS, U_ELU, U_SELU, U_SOFTPLUS,
  U_SOFTSIGN, U_GELU, U_GELU_TANH, U_NOT, U_CLIP
};

typedef struct unary_params {
  int kind, dtype;
  int64_t n;
  float alpha, beta, gamma;
  int clip_min_in, clip_max_in; /* Clip >= 11: bounds read from inputs 1/2 at run */
} unary_params;

static double unary_d(int kind, double x, double a, double b, double g) {
  switch (kind) {
  case U_RELU: return x > 0 ? x : 0;
  case U_LEAKY: return x < 0 ? a * x : x;
  case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case U_HSIGMOID: return fmax(0.0, fmin(1.0, a * x + b));
  case U_HSWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
  case U_TANH: return tanh(x);
  case U_ERF: return erf(x);
  case U_EXP: return exp(x);
  case U_LOG: return log(x);
  case U_SQRT: return sqrt(x);
  case U_RECIP: return 1.0 / x;
  case U_NEG: return -x;
  case U_ABS: return fabs(x);
  case U_FLOOR: return floor(x);
  case U_CEIL: return ceil(x);
  case U_ROUND: return nearbyint(x); /* default rounding mode: half to even */
  case U_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
  case U_SIN: return sin(x);
  case U_COS: return cos(x);
  case U_ELU: return x < 0 ? a * (exp(x) - 1.0) : x;
  case U_SELU: return x <= 0 ? g * (a * exp(x) - a) : g * x;
  case U_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
  case U_SOFTSIGN: return x / (1.0 + fabs(x));
  case U_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  case U_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  case U_NOT: return x == 0;
  default: return x;
  }
}

/* float32 kernels: one simple loop per kind so -O3 vectorizes the cheap ones. */
static void unary_f32(int kind, const float *restrict x, float *restrict y, int64_t n, float a, float b,
                      float g) {
  switch (kind) {
  case U_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
  case U_LEAKY: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? a * x[i] : x[i]; break;
  case U_SIGMOID: om_vm_sigmoid(y, x, n, OM_KERNEL_AUTO); break;
  case U_HSIGMOID: for (int64_t i = 0; i < n; i++) y[i] = fmaxf(0.0f, fminf(1.0f, a * x[i] + b)); break;
  case U_HSWISH:
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * fmaxf(0.0f, fminf(1.0f, x[i] * (1.0f / 6.0f) + 0.5f));
    break;
  case U_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
  case U_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
  case U_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
  case U_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case U_RECIP: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  case U_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
  case U_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case U_FLOOR: for (int64_t i = 0; i < n; i++) y[i] = floorf(x[i]); break;
  case U_CEIL: for (int64_t i = 0; i < n; i++) y[i] = ceilf(x[i]); break;
  case U_ROUND: for (int64_t i = 0; i < n; i++) y[i] = nearbyintf(x[i]); break;
  case U_CLIP: for (int64_t i = 0; i < n; i++) y[i] = fminf(fmaxf(x[i], a), b); break;
  default:
    for (int64_t i = 0; i < n; i++) y[i] = (float)unary_d(kind, x[i], a, b, g);
    break;
  }
}

static void unary_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                      void *scratch) {
  const unary_params *u = params;
  float a = u->alpha, b = u->beta;
  if (u->kind == U_CLIP) {
    if (u->clip_min_in && nin > 1 && in[1].data) a = (float)ld_d(in[1].data, u->dtype, 0);
    if (u->clip_max_in && nin > 2 && in[2].data) b = (float)ld_d(in[2].data, u->dtype, 0);
  }
  if (u->dtype == OM_DT_FLOAT) {
    unary_f32(u->kind, in[0].data, out[0].data, u->n, a, b, u->gamma);
    return;
  }
  if (is_float_dt(u->dtype)) {
    double lo = a, hi = b;
    if (u->kind == U_CLIP) {
      if (u->clip_min_in && nin > 1 && in[1].data) lo = ld_d(in[1].data, u->dtype, 0);
      if (u->clip_max_in && nin > 2 && in[2].data) hi = ld_d(in[2].data, u->dtype, 0);
    }
    for (int64_t i = 0; i < u->n; i++) {
      double x = ld_d(in[0].data, u->dtype, i);
      double y = u->kind == U_CLIP ? fmin(fmax(x, lo), hi) : unary_d(u->kind, x, a, b, u->gamma);
      st_d(out[0].data, u->dtype, i, y);
    }
    return;
  }
  /* integer / bool */
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  if (u->kind == U_CLIP) {
    if (u->clip_min_in && nin > 1 && in[1].data) lo = ld_i(in[1].data, u->dtype, 0);
    if (u->clip_max_in && nin > 2 && in[2].data) hi = ld_i(in[2].data, u->dtype, 0);
  }
  for (int64_t i = 0; i < u->n; i++) {
    int64_t x = ld_i(in[0].data, u->dtype, i), y;
    switch (u->kind) {
    case U_NEG: y = (int64_t)(0 - (uint64_t)x); break;
    case U_ABS: y = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; break;
    case U_SIGN: y = x > 0 ? 1 : x < 0 ? -1 : 0; break;
    case U_RELU: y = x > 0 ? x : 0; break;
    case U_NOT: y = x == 0; break;
    case U_CLIP: y = x < lo ? lo : x > hi ? hi : x; break;
    default: y = x; break;
    }
    st_i(out[0].data, u->dtype, i, y);
  }
}

static const struct { const char *name; int kind; } unary_names[] = {
  {"Relu", U_RELU}, {"LeakyRelu", U_LEAKY}, {"Sigmoid", U_SIGMOID}, {"HardSigmoid", U_HSIGMOID},
  {"HardSwish", U_HSWISH}, {"Tanh", U_TANH}, {"Erf", U_ERF}, {"Exp", U_EXP}, {"Log", U_LOG},
  {"Sqrt", U_SQRT}, {"Reciprocal", U_RECIP}, {"Neg", U_NEG}, {"Abs", U_ABS}, {"Floor", U_FLOOR},
  {"Ceil", U_CEIL}, {"Round", U_ROUND}, {"Sign", U_SIGN}, {"Sin", U_SIN}, {"Cos", U_COS},
  {"Elu", U_ELU}, {"Selu", U_SELU}, {"Softplus", U_SOFTPLUS}, {"Softsign", U_SOFTSIGN},
  {"Gelu", U_GELU}, {"Not", U_NOT}, {"Clip", U_CLIP},
};

static int unary_prepare(om_prep *p, char *err) {
  const char *op = p->node->op_type;
  int kind = -1;
  for (size_t i = 0; i < OM_ARRAY_LEN(unary_names); i++)
    if (strcmp(op, unary_names[i].name) == 0) kind = unary_names[i].kind;
  if (kind < 0) return om_seterr(err, OM_E_UNSUPPORTED, "unknown unary op '%s'", op);
  if (!present(p, 0)) return om_seterr(err, OM_E_INVALID, "input 0 is missing");
  const om_tensor *x = p->in[0];
  int dt = x->dtype;
  int int_ok = kind == U_NEG || kind == U_ABS || kind == U_SIGN || kind == U_RELU || kind == U_CLIP;
  if (kind == U_NOT) {
    if (dt != OM_DT_BOOL) return om_seterr(err, OM_E_UNSUPPORTED, "input must be bool, not %s", om_dtype_name(dt));
  } else if (!is_float_dt(dt) && !(int_ok && is_int_dt(dt) && dt != OM_DT_BOOL)) {
    return om_seterr(err, OM_E_UNSUPPORTED, "input dtype %s is not supported", om_dtype_name(dt));
  }
  unary_params *u = om_prep_alloc(p, sizeof *u);
  if (!u) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  u->kind = kind;
  u->dtype = dt;
  u->n = count_of(x);
  switch (kind) {
  case U_LEAKY: u->alpha = om_attr_float(p, "alpha", 0.01f); break;
  case U_HSIGMOID:
    u->alpha = om_attr_float(p, "alpha", 0.2f);
    u->beta = om_attr_float(p, "beta", 0.5f);
    break;
  case U_ELU: u->alpha = om_attr_float(p, "alpha", 1.0f); break;
  case U_SELU:
    u->alpha = om_attr_float(p, "alpha", 1.67326319217681884765625f);
    u->gamma = om_attr_float(p, "gamma", 1.05070102214813232421875f);
    break;
  case U_GELU: {
    const char *ap = om_attr_string(p, "approximate", "none");
    if (strcmp(ap, "tanh") == 0) u->kind = U_GELU_TANH;
    else if (strcmp(ap, "none") != 0)
      return om_seterr(err, OM_E_INVALID, "approximate '%s' is not 'none' or 'tanh'", ap);
    break;
  }
  case U_CLIP:
    u->alpha = -INFINITY;
    u->beta = INFINITY;
    if (p->opset < 11) {
      u->alpha = om_attr_float(p, "min", -INFINITY);
      u->beta = om_attr_float(p, "max", INFINITY);
    } else {
      for (int i = 1; i <= 2; i++) {
        if (!present(p, i)) continue;
        const om_tensor *b = p->in[i];
        if (b->dtype != dt)
          return om_seterr(err, OM_E_INVALID, "%s bound has dtype %s but input is %s", i == 1 ? "min" : "max",
                           om_dtype_name(b->dtype), om_dtype_name(dt));
        if (count_of(b) != 1)
          return om_seterr(err, OM_E_INVALID, "%s bound must be a scalar, has %lld elements", i == 1 ? "min" : "max",
                           (long long)count_of(b));
        if (i == 1) u->clip_min_in = 1; else u->clip_max_in = 1;
      }
    }
    break;
  default:
    break;
  }
  p->out[0].dtype = dt;
  p->out[0].ndim = x->ndim;
  memcpy(p->out[0].dims, x->dims, sizeof x->dims);
  p->params = u;
  return OM_OK;
}

/* ---------- binary / variadic ---------- */

enum {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_EQ, B_LT, B_GT, B_LE, B_GE, B_AND, B_OR, B_XOR,
  B_PRELU, B_COPY,
  B_MOD,  /* Mod fmod=0: result takes the divisor's sign (Python / np.mod) */
  B_FMOD  /* Mod fmod=1: result takes the dividend's sign (C fmod / %) */
};

typedef struct bin_step {
  int op;
  int a_is_out;     /* variadic steps after the first accumulate into the output */
  int a_in, b_in;   /* input indices */
  bcast bc;
} bin_step;

typedef struct bin_params {
  int dta, dtb, dto;
  int domain;       /* 0 float32 fast, 1 double, 2 int64 */
  int nsteps;
  int mean_div;     /* Mean: divide by this at the end (0: no) */
  int64_t nout;
  bin_step steps[]; /* nsteps of them: sized per node, so raising OM_MAX_IO costs binary ops nothing */
} bin_params;

typedef struct row_ctx {
  const bin_params *bp;
  const bin_step *s;
  const void *a, *b;
  void *o;
} row_ctx;

static void row_f32(const void *vctx, const int64_t *off, int64_t n, int64_t oo) {
  const row_ctx *c = vctx;
  const float *a = (const float *)c->a + off[0], *b = (const float *)c->b + off[1];
  float *o = (float *)c->o + oo;
  int64_t sa = c->s->bc.st[0][c->s->bc.nd - 1], sb = c->s->bc.st[1][c->s->bc.nd - 1];
  int op = c->s->op;
  /* three stride patterns cover same-shape, scalar and per-channel broadcasting */
#define F32_LOOPS(EXPR)                                                                          \
  if (sa == 1 && sb == 1) {                                                                      \
    for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; o[i] = (EXPR); }                 \
  } else if (sa == 1 && sb == 0) {                                                               \
    float y = b[0];                                                                              \
    for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = (EXPR); }                           \
  } else if (sa == 0 && sb == 1) {                                                               \
    float x = a[0];                                                                              \
    for (int64_t i = 0; i < n; i++) { float y = b[i]; o[i] = (EXPR); }                           \
  } else {                                                                                       \
    for (int64_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; o[i] = (EXPR); }       \
  }
  switch (op) {
  case B_ADD: F32_LOOPS(x + y) break;
  case B_SUB: F32_LOOPS(x - y) break;
  case B_MUL: F32_LOOPS(x * y) break;
  case B_DIV: F32_LOOPS(x / y) break;
  case B_MAX: F32_LOOPS(x > y || x != x ? x : y) break;
  case B_MIN: F32_LOOPS(x < y || x != x ? x : y) break;
  case B_PRELU: F32_LOOPS(x < 0.0f ? x * y : x) break;
  case B_POW: F32_LOOPS(powf(x, y)) break;
  case B_COPY: F32_LOOPS(((void)y, x)) break;
  default: break;
  }
#undef F32_LOOPS
}

static double bin_d(int op, double x, double y) {
  switch (op) {
  case B_ADD: return x + y;
  case B_SUB: return x - y;
  case B_MUL: return x * y;
  case B_DIV: return x / y;
  case B_POW: return pow(x, y);
  case B_MAX: return (x != x || y != y) ? NAN : x > y ? x : y;
  case B_MIN: return (x != x || y != y) ? NAN : x < y ? x : y;
  case B_EQ: return x == y;
  case B_LT: return x < y;
  case B_GT: return x > y;
  case B_LE: return x <= y;
  case B_GE: return x >= y;
  case B_PRELU: return x < 0 ? x * y : x;
  case B_COPY: return x;
  case B_FMOD: return fmod(x, y);
  case B_MOD: {
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }
  default: return 0;
  }
}

static int64_t bin_i(int op, int64_t x, int64_t y) {
  /* unsigned arithmetic wraps instead of overflowing; narrowing at the store wraps like NumPy */
  switch (op) {
  case B_ADD: return (int64_t)((uint64_t)x + (uint64_t)y);
  case B_SUB: return (int64_t)((uint64_t)x - (uint64_t)y);
  case B_MUL: return (int64_t)((uint64_t)x * (uint64_t)y);
  case B_DIV: return y == 0 ? 0 : (x == INT64_MIN && y == -1) ? x : x / y; /* C truncation */
  case B_POW: {
    if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
    uint64_t r = 1, bse = (uint64_t)x;
    for (int64_t e = y; e > 0; e >>= 1) {
      if (e & 1) r *= bse;
      bse *= bse;
    }
    return (int64_t)r;
  }
  case B_MAX: return x > y ? x : y;
  case B_MIN: return x < y ? x : y;
  case B_EQ: return x == y;
  case B_LT: return x < y;
  case B_GT: return x > y;
  case B_LE: return x <= y;
  case B_GE: return x >= y;
  case B_AND: return (x != 0) && (y != 0);
  case B_OR: return (x != 0) || (y != 0);
  case B_XOR: return (x != 0) != (y != 0);
  case B_PRELU: return x < 0 ? x * y : x;
  case B_COPY: return x;
  case B_FMOD: case B_MOD: {
    if (y == 0 || y == -1) return 0; /* ONNX leaves x mod 0 undefined; -1 avoids INT64_MIN % -1 */
    int64_t r = x % y;
    if (op == B_MOD && r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }
  default: return 0;
  }
}

static void row_generic(const void *vctx, const int64_t *off, int64_t n, int64_t oo) {
  const row_ctx *c = vctx;
  const bin_params *bp = c->bp;
  int nd = c->s->bc.nd;
  int64_t sa = c->s->bc.st[0][nd - 1], sb = c->s->bc.st[1][nd - 1];
  int dta = c->s->a_is_out ? bp->dto : bp->dta, dtb = bp->dtb;
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = off[0] + i * sa, ib = off[1] + i * sb;
    if (bp->domain == 2) {
      st_i(c->o, bp->dto, oo + i, bin_i(c->s->op, ld_i(c->a, dta, ia), ld_i(c->b, dtb, ib)));
    } else {
      st_d(c->o, bp->dto, oo + i, bin_d(c->s->op, ld_d(c->a, dta, ia), ld_d(c->b, dtb, ib)));
    }
  }
}

static void bin_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                    void *scratch) {
  const bin_params *bp = params;
  for (int k = 0; k < bp->nsteps; k++) {
    const bin_step *s = &bp->steps[k];
    row_ctx c = {bp, s, s->a_is_out ? out[0].data : in[s->a_in].data, in[s->b_in].data, out[0].data};
    bc_walk(&s->bc, bp->domain == 0 ? row_f32 : row_generic, &c);
  }
  if (bp->mean_div) {
    if (bp->dto == OM_DT_FLOAT) {
      float *o = out[0].data, inv = 1.0f / (float)bp->mean_div;
      for (int64_t i = 0; i < bp->nout; i++) o[i] *= inv;
    } else {
      for (int64_t i = 0; i < bp->nout; i++)
        st_d(out[0].data, bp->dto, i, ld_d(out[0].data, bp->dto, i) / bp->mean_div);
    }
  }
}

static const struct { const char *name; int op; } bin_names[] = {
  {"Add", B_ADD}, {"Sub", B_SUB}, {"Mul", B_MUL}, {"Div", B_DIV}, {"Pow", B_POW},
  {"Max", B_MAX}, {"Min", B_MIN}, {"Sum", B_ADD}, {"Mean", B_ADD}, {"Equal", B_EQ}, {"Less", B_LT},
  {"Greater", B_GT}, {"LessOrEqual", B_LE}, {"GreaterOrEqual", B_GE}, {"And", B_AND}, {"Or", B_OR},
  {"Xor", B_XOR}, {"PRelu", B_PRELU}, {"Mod", B_MOD},
};

static int bin_prepare(om_prep *p, char *err) {
  const char *opname = p->node->op_type;
  int op = -1;
  for (size_t i = 0; i < OM_ARRAY_LEN(bin_names); i++)
    if (strcmp(opname, bin_names[i].name) == 0) op = bin_names[i].op;
  if (op < 0) return om_seterr(err, OM_E_UNSUPPORTED, "unknown binary op '%s'", opname);
  if (op == B_MOD) {
    int64_t fm = om_attr_int(p, "fmod", 0);
    if (fm != 0 && fm != 1) return om_seterr(err, OM_E_INVALID, "fmod is %lld, not 0 or 1", (long long)fm);
    if (fm) op = B_FMOD;
  }
  int variadic = !strcmp(opname, "Sum") || !strcmp(opname, "Mean") || !strcmp(opname, "Max") ||
                 !strcmp(opname, "Min");
  int n = p->nin;
  if (n < 1 || (!variadic && n != 2))
    return om_seterr(err, OM_E_INVALID, "expects %s inputs, got %d", variadic ? "1 or more" : "2", n);
  for (int i = 0; i < n; i++)
    if (!present(p, i)) return om_seterr(err, OM_E_INVALID, "input %d is missing", i);
  int dta = p->in[0]->dtype, dtb = n > 1 ? p->in[1]->dtype : dta;
  for (int i = 1; i < n; i++) {
    int d = p->in[i]->dtype;
    if (d != dta && op != B_POW)
      return om_seterr(err, OM_E_INVALID, "input %d has dtype %s but input 0 has %s", i, om_dtype_name(d),
                       om_dtype_name(dta));
  }
  int logic = op == B_AND || op == B_OR || op == B_XOR;
  int cmp = op >= B_EQ && op <= B_GE;
  if (logic && dta != OM_DT_BOOL) return om_seterr(err, OM_E_UNSUPPORTED, "inputs must be bool, not %s", om_dtype_name(dta));
  if (!logic && !is_float_dt(dta) && !(is_int_dt(dta) && (dta != OM_DT_BOOL || op == B_EQ)))
    return om_seterr(err, OM_E_UNSUPPORTED, "input dtype %s is not supported", om_dtype_name(dta));
  if (op == B_POW && !is_float_dt(dtb) && !is_int_dt(dtb))
    return om_seterr(err, OM_E_UNSUPPORTED, "exponent dtype %s is not supported", om_dtype_name(dtb));
  if ((!strcmp(opname, "Mean")) && !is_float_dt(dta))
    return om_seterr(err, OM_E_UNSUPPORTED, "Mean of %s is not supported", om_dtype_name(dta));

  /* legacy (opset < 7) broadcasting: B aligned at `axis` of A when broadcast=1 */
  om_tensor legacy_b;
  const om_tensor *ins[OM_MAX_IO];
  for (int i = 0; i < n; i++) ins[i] = p->in[i];
  if (p->opset < 7 && !variadic && op != B_PRELU) {
    const om_tensor *A = ins[0], *B = ins[1];
    if (om_attr_int(p, "broadcast", 0)) {
      int64_t axis = om_attr_int(p, "axis", A->ndim - B->ndim);
      if (axis < 0 || axis + B->ndim > A->ndim)
        return om_seterr(err, OM_E_INVALID, "legacy broadcast axis %lld does not fit a %d-D B into a %d-D A",
                         (long long)axis, B->ndim, A->ndim);
      legacy_b = *B;
      legacy_b.ndim = A->ndim - (int)axis;
      for (int d = 0; d < legacy_b.ndim; d++) legacy_b.dims[d] = d < B->ndim ? B->dims[d] : 1;
      ins[1] = &legacy_b;
    } else if (A->ndim != B->ndim || memcmp(A->dims, B->dims, (size_t)A->ndim * sizeof(int64_t)) != 0) {
      return om_seterr(err, OM_E_INVALID, "shapes differ and broadcast=0 (opset %d)", p->opset);
    }
  }

  om_tensor *o = &p->out[0];
  int rc = bc_shape(ins, n, o, err);
  if (rc) return rc;
  if (op == B_PRELU) {
    /* slope broadcasts unidirectionally to X */
    if (o->ndim != ins[0]->ndim || memcmp(o->dims, ins[0]->dims, (size_t)o->ndim * sizeof(int64_t)) != 0)
      return om_seterr(err, OM_E_INVALID, "slope does not broadcast to the shape of X");
  }
  o->dtype = (cmp || logic) ? OM_DT_BOOL : dta;

  bin_params *bp = om_prep_alloc(p, sizeof *bp + sizeof(bin_step) * (size_t)(n > 1 ? n - 1 : 1));
  if (!bp) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  bp->dta = dta;
  bp->dtb = dtb;
  bp->dto = o->dtype;
  /* Mod has no float32 row kernel: double computes fmod exactly, then rounds once */
  if (dta == OM_DT_FLOAT && dtb == OM_DT_FLOAT && !cmp && op != B_MOD && op != B_FMOD) bp->domain = 0;
  else if (is_float_dt(dta) || is_float_dt(dtb)) bp->domain = 1;
  else bp->domain = 2;
  bp->nout = count_of(o);
  if (n == 1) {
    bp->nsteps = 1;
    bp->steps[0].op = B_COPY;
    const om_tensor *pair[2] = {ins[0], ins[0]};
    bc_build(&bp->steps[0].bc, 2, pair, o->dims, o->ndim);
  } else {
    bp->nsteps = n - 1;
    for (int k = 1; k < n; k++) {
      bin_step *s = &bp->steps[k - 1];
      s->op = op;
      s->a_is_out = k > 1;
      s->a_in = 0;
      s->b_in = k;
      const om_tensor *pair[2] = {k > 1 ? o : ins[0], ins[k]};
      bc_build(&s->bc, 2, pair, o->dims, o->ndim);
    }
  }
  if (!strcmp(opname, "Mean") && n > 1) bp->mean_div = n;
  p->params = bp;
  return OM_OK;
}

/* ---------- Where ---------- */

typedef struct where_params {
  size_t esize;
  bcast bc;
} where_params;

typedef struct where_ctx {
  const where_params *w;
  const uint8_t *c;
  const void *x, *y;
  void *o;
} where_ctx;

static void row_where(const void *vctx, const int64_t *off, int64_t n, int64_t oo) {
  const where_ctx *c = vctx;
  int nd = c->w->bc.nd;
  int64_t sc = c->w->bc.st[0][nd - 1], sx = c->w->bc.st[1][nd - 1], sy = c->w->bc.st[2][nd - 1];
  size_t es = c->w->esize;
  const uint8_t *cond = c->c + off[0];
  if (es == 4) {
    const uint32_t *x = (const uint32_t *)c->x + off[1], *y = (const uint32_t *)c->y + off[2];
    uint32_t *o = (uint32_t *)c->o + oo;
    for (int64_t i = 0; i < n; i++) o[i] = cond[i * sc] ? x[i * sx] : y[i * sy];
    return;
  }
  const uint8_t *x = c->x, *y = c->y;
  uint8_t *o = (uint8_t *)c->o + (size_t)oo * es;
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *src = cond[i * sc] ? x + (size_t)(off[1] + i * sx) * es : y + (size_t)(off[2] + i * sy) * es;
    memcpy(o + (size_t)i * es, src, es);
  }
}

static void where_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                      void *scratch) {
  const where_params *w = params;
  where_ctx c = {w, in[0].data, in[1].data, in[2].data, out[0].data};
  bc_walk(&w->bc, row_where, &c);
}

static int where_prepare(om_prep *p, char *err) {
  if (p->nin != 3 || !present(p, 0) || !present(p, 1) || !present(p, 2))
    return om_seterr(err, OM_E_INVALID, "expects 3 inputs (condition, X, Y)");
  if (p->in[0]->dtype != OM_DT_BOOL)
    return om_seterr(err, OM_E_INVALID, "condition must be bool, not %s", om_dtype_name(p->in[0]->dtype));
  if (p->in[1]->dtype != p->in[2]->dtype)
    return om_seterr(err, OM_E_INVALID, "X is %s but Y is %s", om_dtype_name(p->in[1]->dtype),
                     om_dtype_name(p->in[2]->dtype));
  size_t es = om_dtype_size(p->in[1]->dtype);
  if (es == 0) return om_seterr(err, OM_E_UNSUPPORTED, "dtype %s is not supported", om_dtype_name(p->in[1]->dtype));
  const om_tensor *ins[3] = {p->in[0], p->in[1], p->in[2]};
  int rc = bc_shape(ins, 3, &p->out[0], err);
  if (rc) return rc;
  p->out[0].dtype = p->in[1]->dtype;
  where_params *w = om_prep_alloc(p, sizeof *w);
  if (!w) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  w->esize = es;
  bc_build(&w->bc, 3, ins, p->out[0].dims, p->out[0].ndim);
  p->params = w;
  return OM_OK;
}

/* ---------- Cast ---------- */

typedef struct cast_params {
  int from, to;
  int64_t n;
} cast_params;

static void cast_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                     void *scratch) {
  const cast_params *c = params;
  const void *x = in[0].data;
  void *y = out[0].data;
  if (c->from == c->to) {
    memcpy(y, x, (size_t)c->n * om_dtype_size(c->from));
  } else if (c->from == OM_DT_FLOAT && c->to == OM_DT_FLOAT16) {
    for (int64_t i = 0; i < c->n; i++) ((uint16_t *)y)[i] = float_to_half(((const float *)x)[i]);
  } else if (is_int_dt(c->from) && is_int_dt(c->to)) {
    for (int64_t i = 0; i < c->n; i++) st_i(y, c->to, i, ld_i(x, c->from, i));
  } else if (c->from == OM_DT_INT64 || c->from == OM_DT_UINT64) {
    for (int64_t i = 0; i < c->n; i++) /* int64 -> float via one rounding */
      st_d(y, c->to, i, c->from == OM_DT_INT64 ? (double)((const int64_t *)x)[i] : (double)((const uint64_t *)x)[i]);
  } else {
    for (int64_t i = 0; i < c->n; i++) st_d(y, c->to, i, ld_d(x, c->from, i));
  }
}

static int cast_prepare(om_prep *p, char *err) {
  if (!present(p, 0)) return om_seterr(err, OM_E_INVALID, "input 0 is missing");
  int from = p->in[0]->dtype;
  int to = (int)om_attr_int(p, "to", -1);
  if (to == OM_DT_STRING || from == OM_DT_STRING)
    return om_seterr(err, OM_E_UNSUPPORTED, "casts to or from string are not supported");
  if (!(is_float_dt(from) || is_int_dt(from)))
    return om_seterr(err, OM_E_UNSUPPORTED, "cast from dtype %s is not supported", om_dtype_name(from));
  if (!(is_float_dt(to) || is_int_dt(to)))
    return om_seterr(err, OM_E_UNSUPPORTED, "cast to dtype %d (%s) is not supported", to, om_dtype_name(to));
  cast_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for parameters");
  c->from = from;
  c->to = to;
  c->n = count_of(p->in[0]);
  p->out[0] = *p->in[0];
  p->out[0].data = NULL;
  p->out[0].dtype = to;
  p->params = c;
  return OM_OK;
}

const om_op om_ops_elementwise[] = {
  {"Relu", 1, 99, unary_prepare, unary_run},
  {"LeakyRelu", 1, 99, unary_prepare, unary_run},
  {"Sigmoid", 1, 99, unary_prepare, unary_run},
  {"HardSigmoid", 1, 99, unary_prepare, unary_run},
  {"HardSwish", 14, 99, unary_prepare, unary_run},
  {"Tanh", 1, 99, unary_prepare, unary_run},
  {"Erf", 9, 99, unary_prepare, unary_run},
  {"Exp", 1, 99, unary_prepare, unary_run},
  {"Log", 1, 99, unary_prepare, unary_run},
  {"Sqrt", 1, 99, unary_prepare, unary_run},
  {"Reciprocal", 1, 99, unary_prepare, unary_run},
  {"Neg", 1, 99, unary_prepare, unary_run},
  {"Abs", 1, 99, unary_prepare, unary_run},
  {"Floor", 1, 99, unary_prepare, unary_run},
  {"Ceil", 1, 99, unary_prepare, unary_run},
  {"Round", 11, 99, unary_prepare, unary_run},
  {"Sign", 9, 99, unary_prepare, unary_run},
  {"Sin", 7, 99, unary_prepare, unary_run},
  {"Cos", 7, 99, unary_prepare, unary_run},
  {"Elu", 1, 99, unary_prepare, unary_run},
  {"Selu", 1, 99, unary_prepare, unary_run},
  {"Softplus", 1, 99, unary_prepare, unary_run},
  {"Softsign", 1, 99, unary_prepare, unary_run},
  {"Gelu", 20, 99, unary_prepare, unary_run},
  {"Not", 1, 99, unary_prepare, unary_run},
  {"Clip", 1, 99, unary_prepare, unary_run},
  {"Add", 1, 99, bin_prepare, bin_run},
  {"Sub", 1, 99, bin_prepare, bin_run},
  {"Mul", 1, 99, bin_prepare, bin_run},
  {"Div", 1, 99, bin_prepare, bin_run},
  {"Pow", 1, 99, bin_prepare, bin_run},
  {"Max", 1, 99, bin_prepare, bin_run},
  {"Min", 1, 99, bin_prepare, bin_run},
  {"Sum", 1, 99, bin_prepare, bin_run},
  {"Mean", 1, 99, bin_prepare, bin_run},
  {"Equal", 1, 99, bin_prepare, bin_run},
  {"Less", 1, 99, bin_prepare, bin_run},
  {"Greater", 1, 99, bin_prepare, bin_run},
  {"LessOrEqual", 12, 99, bin_prepare, bin_run},
  {"GreaterOrEqual", 12, 99, bin_prepare, bin_run},
  {"And", 1, 99, bin_prepare, bin_run},
  {"Or", 1, 99, bin_prepare, bin_run},
  {"Xor", 1, 99, bin_prepare, bin_run},
  {"PRelu", 1, 99, bin_prepare, bin_run},
  {"Mod", 10, 99, bin_prepare, bin_run},
  {"Where", 9, 99, where_prepare, where_run},
  {"Cast", 1, 99, cast_prepare, cast_run},
  {0},
};
