/* onnx.c: decodes an ONNX ModelProto (wire format via pb.h) into the structs of onnx.h.
 *
 * Field numbers follow onnx.proto (ONNX 1.12). Unknown fields are skipped, as protobuf requires;
 * what inference cannot use (graph-valued attributes, training info, functions) is skipped too.
 * Every tensor becomes one dense little-endian array (borrowed in place from a file image when
 * aligned, see onnx.h), checked against its shape. Graph
 * semantics (undefined names, cycles, op support) are the planner's job, not ours. */
#include "onnx/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/pb.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx.c assumes a little-endian host (raw_data is copied as is)"
#endif

#define DEFAULT_MAX_FILE ((size_t)2 << 30)
#define DEFAULT_MAX_ELEMS ((uint64_t)1 << 31)

typedef struct {
  size_t max_file;
  uint64_t max_elems;
  int borrow;                  /* raw_data may stay in the buffer (the model owns the buffer) */
  const om_mapped *file;       /* that buffer when it is a mapped file: copied raw_data is released */
  int threads;                 /* onnx_limits.threads */
} limits;

/* memcpy of a big tensor on up to `threads` threads: most of a copy's cost is the first touch of
 * its fresh destination pages (the kernel zeroes each one in the faulting thread; on a VM the host
 * may have to back it first), and that splits over threads as the copy does. */
static void copy_par(uint8_t *d, const uint8_t *s, size_t n, int threads) {
  const size_t piece = OM_HUGE_MIN;
  if (threads < 2 || n < 2 * piece) {
    memcpy(d, s, n);
    return;
  }
  const long pieces = (long)((n + piece - 1) / piece);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long i = 0; i < pieces; i++) {
    size_t o = (size_t)i * piece;
    memcpy(d + o, s + o, n - o < piece ? n - o : piece);
  }
}

static limits get_limits(const onnx_limits *lim) {
  limits l = {DEFAULT_MAX_FILE, DEFAULT_MAX_ELEMS, 0, NULL, 1};
  if (lim && lim->threads > 1) l.threads = lim->threads;
  if (lim && lim->max_file_bytes) l.max_file = lim->max_file_bytes;
  if (lim && lim->max_tensor_elems) l.max_elems = lim->max_tensor_elems;
  return l;
}

/* ---- small helpers ---------------------------------------------------------------------------- */

/* Grows an array of `elem`-byte items so index n is valid; new items are zeroed. */
static int grow_array(void **arr, int *cap, int n, size_t elem, char *err) {
  if (n < *cap) return OM_OK;
  if (n >= (1 << 28)) return om_seterr(err, OM_E_LIMIT, "more than %d entries in a list", 1 << 28);
  int ncap = *cap ? *cap * 2 : 8;
  size_t bytes;
  if (om_mul_size((size_t)ncap, elem, &bytes)) return om_seterr(err, OM_E_NOMEM, "list too long");
  void *na = realloc(*arr, bytes);
  if (!na) return om_seterr(err, OM_E_NOMEM, "out of memory growing a list to %d entries", ncap);
  memset((char *)na + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *arr = na;
  *cap = ncap;
  return OM_OK;
}

/* Reads a string field into a fresh NUL-terminated copy, replacing *out (last value wins). */
static int read_string(pb_cursor *c, int wire, const char *what, char **out, size_t *out_len,
                       char *err) {
  int rc = pb_expect_wire(c, wire, PB_LEN, what, err);
  if (rc) return rc;
  const uint8_t *d = NULL;
  size_t n = 0;
  if ((rc = pb_read_bytes(c, &d, &n, err))) return om_preferr(err, rc, "%s", what);
  char *s = malloc(n + 1);
  if (!s) return om_seterr(err, OM_E_NOMEM, "out of memory for %s (%zu bytes)", what, n);
  memcpy(s, d, n);
  s[n] = 0;
  free(*out);
  *out = s;
  if (out_len) *out_len = n;
  return OM_OK;
}

static int read_int(pb_cursor *c, int wire, const char *what, int64_t *out, char *err) {
  int rc = pb_expect_wire(c, wire, PB_VARINT, what, err);
  if (rc) return rc;
  uint64_t v = 0;
  if ((rc = pb_read_varint(c, &v, err))) return om_preferr(err, rc, "%s", what);
  *out = (int64_t)v;
  return OM_OK;
}

/* Appends one string of a repeated string field. */
static int append_string(pb_cursor *c, int wire, const char *what, char ***arr, int *n, int *cap,
                         char *err) {
  int rc = grow_array((void **)arr, cap, *n, sizeof(char *), err);
  if (rc) return rc;
  if ((rc = read_string(c, wire, what, &(*arr)[*n], NULL, err))) return rc;
  (*n)++;
  return OM_OK;
}

static void free_strings(char **s, int n) {
  if (!s) return;
  for (int i = 0; i < n; i++) free(s[i]);
  free(s);
}

static const char *str_or(const char *s, const char *dflt) { return s && *s ? s : dflt; }

/* "[10,128]" for messages. */
static void format_dims(const int64_t *dims, int ndim, char *buf, size_t size) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, size - k, "[");
  for (int i = 0; i < ndim && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)dims[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
}

/* ---- TensorProto ------------------------------------------------------------------------------ */

typedef struct {
  uint64_t *dims;
  size_t ndims, cap_dims;
  uint32_t *f32;       /* float_data */
  size_t nf32, cap_f32;
  uint64_t *i32;       /* int32_data (varints) */
  size_t ni32, cap_i32;
  uint64_t *i64;       /* int64_data */
  size_t ni64, cap_i64;
  uint64_t *u64;       /* uint64_data */
  size_t nu64, cap_u64;
  uint64_t *f64;       /* double_data */
  size_t nf64, cap_f64;
  const uint8_t *raw;
  size_t raw_len;
  int has_raw;
  size_t nstrings;
  int64_t data_type, data_location;
  int has_segment, has_external;
} tensor_fields;

static void tensor_fields_free(tensor_fields *tf) {
  free(tf->dims);
  free(tf->f32);
  free(tf->i32);
  free(tf->i64);
  free(tf->u64);
  free(tf->f64);
}

static int read_tensor_fields(pb_cursor *c, onnx_tensor *t, tensor_fields *tf, char *err) {
  int rc = OM_OK;
  while (!pb_at_end(c)) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) return rc;
    switch (f) {
    case 1: rc = pb_append_varints(c, w, &tf->dims, &tf->ndims, &tf->cap_dims, err); break;
    case 2: rc = read_int(c, w, "data_type", &tf->data_type, err); break;
    case 3: tf->has_segment = 1; rc = pb_skip(c, w, err); break;
    case 4: rc = pb_append_fixed32s(c, w, &tf->f32, &tf->nf32, &tf->cap_f32, err); break;
    case 5: rc = pb_append_varints(c, w, &tf->i32, &tf->ni32, &tf->cap_i32, err); break;
    case 6:
      if (!(rc = pb_expect_wire(c, w, PB_LEN, "string_data", err))) {
        tf->nstrings++;
        rc = pb_skip(c, w, err);
      }
      break;
    case 7: rc = pb_append_varints(c, w, &tf->i64, &tf->ni64, &tf->cap_i64, err); break;
    case 8: rc = read_string(c, w, "tensor name", &t->name, NULL, err); break;
    case 9:
      if (!(rc = pb_expect_wire(c, w, PB_LEN, "raw_data", err))) {
        rc = pb_read_bytes(c, &tf->raw, &tf->raw_len, err);
        tf->has_raw = 1;
      }
      break;
    case 10: rc = pb_append_fixed64s(c, w, &tf->f64, &tf->nf64, &tf->cap_f64, err); break;
    case 11: rc = pb_append_varints(c, w, &tf->u64, &tf->nu64, &tf->cap_u64, err); break;
    case 13: tf->has_external = 1; rc = pb_skip(c, w, err); break;
    case 14: rc = read_int(c, w, "data_location", &tf->data_location, err); break;
    default: rc = pb_skip(c, w, err); break;
    }
    if (rc) return rc;
  }
  return OM_OK;
}

/* Checks the typed field count against the shape, with a message naming the field. */
static int check_count(size_t have, size_t want, const char *field, const onnx_tensor *t,
                       char *err) {
  if (have == want) return OM_OK;
  char dims[160];
  format_dims(t->dims, t->ndim, dims, sizeof dims);
  return om_seterr(err, OM_E_FORMAT, "has %zu values in %s for shape %s %s (%zu expected)", have,
                   field, dims, om_dtype_name(t->dtype), want);
}

static int decode_tensor(const tensor_fields *tf, const limits *lim, onnx_tensor *t, char *err) {
  if (tf->data_location == 1 || tf->has_external)
    return om_seterr(err, OM_E_UNSUPPORTED,
                     "external data is not supported yet (the weights live in a separate file; "
                     "re-save the model with all tensors inside)");
  if (tf->has_segment)
    return om_seterr(err, OM_E_UNSUPPORTED, "segmented tensors are not supported");
  if (tf->ndims > OM_MAX_DIMS)
    return om_seterr(err, OM_E_UNSUPPORTED, "has %zu dimensions (at most %d supported)", tf->ndims,
                     OM_MAX_DIMS);
  t->ndim = (int)tf->ndims;
  for (size_t i = 0; i < tf->ndims; i++) {
    t->dims[i] = (int64_t)tf->dims[i];
    if (t->dims[i] < 0)
      return om_seterr(err, OM_E_FORMAT, "has negative dimension %lld at axis %zu",
                       (long long)t->dims[i], i);
  }
  if (tf->data_type <= 0 || tf->data_type > 0x7fffffff)
    return om_seterr(err, OM_E_FORMAT, "has no valid data_type (%lld)", (long long)tf->data_type);
  t->dtype = (int)tf->data_type;
  size_t count;
  if (om_dims_count(t->dims, t->ndim, &count) || count > lim->max_elems) {
    char dims[160];
    format_dims(t->dims, t->ndim, dims, sizeof dims);
    return om_seterr(err, OM_E_LIMIT, "shape %s has more than %llu elements", dims,
                     (unsigned long long)lim->max_elems);
  }
  if (t->dtype == OM_DT_STRING) return OM_OK; /* kept by name and shape only; never computed on */
  size_t esize = om_dtype_size(t->dtype);
  if (!esize)
    return om_seterr(err, OM_E_UNSUPPORTED, "has unsupported data_type %d", t->dtype);
  size_t nbytes;
  if (om_mul_size(count, esize, &nbytes))
    return om_seterr(err, OM_E_LIMIT, "byte size overflows (%zu elements)", count);

  if (tf->has_raw) {
    if (tf->raw_len != nbytes) {
      char dims[160];
      format_dims(t->dims, t->ndim, dims, sizeof dims);
      return om_seterr(err, OM_E_FORMAT, "has %zu bytes of data for shape %s %s (%zu expected)",
                       tf->raw_len, dims, om_dtype_name(t->dtype), nbytes);
    }
  } else {
    int rc = OM_OK;
    switch (t->dtype) {
    case OM_DT_FLOAT: rc = check_count(tf->nf32, count, "float_data", t, err); break;
    case OM_DT_INT64: rc = check_count(tf->ni64, count, "int64_data", t, err); break;
    case OM_DT_DOUBLE: rc = check_count(tf->nf64, count, "double_data", t, err); break;
    case OM_DT_UINT32:
    case OM_DT_UINT64: rc = check_count(tf->nu64, count, "uint64_data", t, err); break;
    default: rc = check_count(tf->ni32, count, "int32_data", t, err); break;
    }
    if (rc) return rc;
  }
  if (count == 0) return OM_OK;
  if (tf->has_raw && lim->borrow && (uintptr_t)tf->raw % esize == 0) {
    /* Already dense little-endian and aligned for its type: no copy (onnx.h). */
    t->data = (void *)(uintptr_t)tf->raw;
    t->nbytes = nbytes;
    t->borrowed = 1;
    return OM_OK;
  }
  uint8_t *d = om_alloc_aligned(nbytes);
  if (!d) return om_seterr(err, OM_E_NOMEM, "out of memory for %zu bytes of tensor data", nbytes);
  t->data = d;
  t->nbytes = nbytes;
  if (tf->has_raw) {
    copy_par(d, tf->raw, nbytes, lim->threads);
    om_mapped_release(lim->file, tf->raw, nbytes); /* not twice in memory (MAP_POPULATE read it) */
    return OM_OK;
  }
  for (size_t i = 0; i < count; i++) {
    switch (t->dtype) {
    case OM_DT_FLOAT: memcpy(d + 4 * i, &tf->f32[i], 4); break;
    case OM_DT_DOUBLE: memcpy(d + 8 * i, &tf->f64[i], 8); break;
    case OM_DT_INT64: memcpy(d + 8 * i, &tf->i64[i], 8); break;
    case OM_DT_UINT64: memcpy(d + 8 * i, &tf->u64[i], 8); break;
    case OM_DT_UINT32: { uint32_t v = (uint32_t)tf->u64[i]; memcpy(d + 4 * i, &v, 4); break; }
    case OM_DT_INT32: { uint32_t v = (uint32_t)tf->i32[i]; memcpy(d + 4 * i, &v, 4); break; }
    default:
      /* int16/uint16/float16/bfloat16 (raw bits) and int8/uint8/bool, narrowed from int32_data. */
      if (esize == 2) {
        uint16_t v = (uint16_t)tf->i32[i];
        memcpy(d + 2 * i, &v, 2);
      } else {
        d[i] = (uint8_t)tf->i32[i];
      }
      break;
    }
  }
  return OM_OK;
}

/* Parses one TensorProto message (cursor over its bytes) into t (zeroed by the caller). */
static int parse_tensor_msg(pb_cursor *c, const limits *lim, onnx_tensor *t, char *err) {
  tensor_fields tf;
  memset(&tf, 0, sizeof tf);
  int rc = read_tensor_fields(c, t, &tf, err);
  if (!rc) rc = decode_tensor(&tf, lim, t, err);
  tensor_fields_free(&tf);
  if (!rc && !t->name) {
    t->name = calloc(1, 1);
    if (!t->name) rc = om_seterr(err, OM_E_NOMEM, "out of memory");
  }
  return rc;
}

void onnx_tensor_clear(onnx_tensor *t) {
  if (!t) return;
  free(t->name);
  if (!t->borrowed) om_free_aligned(t->data);
  memset(t, 0, sizeof *t);
}

int onnx_parse_tensor(const uint8_t *buf, size_t len, const onnx_limits *lim, onnx_tensor *out,
                      char *err) {
  memset(out, 0, sizeof *out);
  limits l = get_limits(lim);
  pb_cursor c;
  pb_init(&c, buf, len);
  int rc = parse_tensor_msg(&c, &l, out, err);
  if (rc) {
    om_preferr(err, rc, "tensor '%s'", str_or(out->name, "?"));
    onnx_tensor_clear(out);
  }
  return rc;
}

/* ---- AttributeProto --------------------------------------------------------------------------- */

static void attr_clear(onnx_attr *a) {
  free(a->name);
  free(a->s);
  if (a->t) {
    onnx_tensor_clear(a->t);
    free(a->t);
  }
  free(a->floats);
  free(a->ints);
  free_strings(a->strings, a->n);
  memset(a, 0, sizeof *a);
}

static int parse_attr(pb_cursor *c, const limits *lim, onnx_attr *a, char *err) {
  int rc = OM_OK;
  int64_t type = -1;
  int seen_f = 0, seen_i = 0, seen_s = 0, seen_t = 0, seen_g = 0;
  uint32_t *fl = NULL;
  uint64_t *il = NULL;
  size_t nf = 0, capf = 0, ni = 0, capi = 0;
  int ns = 0, caps = 0;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    switch (f) {
    case 1: rc = read_string(c, w, "attribute name", &a->name, NULL, err); break;
    case 20: rc = read_int(c, w, "attribute type", &type, err); break;
    case 2: {
      uint32_t v;
      if (!(rc = pb_expect_wire(c, w, PB_FIXED32, "attribute f", err)) &&
          !(rc = pb_read_fixed32(c, &v, err))) {
        memcpy(&a->f, &v, 4);
        seen_f = 1;
      }
      break;
    }
    case 3: rc = read_int(c, w, "attribute i", &a->i, err); seen_i = 1; break;
    case 4: rc = read_string(c, w, "attribute s", &a->s, &a->s_len, err); seen_s = 1; break;
    case 5: {
      pb_cursor sub;
      if ((rc = pb_expect_wire(c, w, PB_LEN, "attribute t", err)) || (rc = pb_read_sub(c, &sub, err)))
        break;
      if (a->t) {
        onnx_tensor_clear(a->t);
      } else if (!(a->t = calloc(1, sizeof *a->t))) {
        rc = om_seterr(err, OM_E_NOMEM, "out of memory");
        break;
      }
      rc = parse_tensor_msg(&sub, lim, a->t, err);
      if (rc) om_preferr(err, rc, "tensor value");
      seen_t = 1;
      break;
    }
    case 6: seen_g = 1; rc = pb_skip(c, w, err); break; /* subgraphs: not needed by our ops */
    case 7: rc = pb_append_fixed32s(c, w, &fl, &nf, &capf, err); break;
    case 8: rc = pb_append_varints(c, w, &il, &ni, &capi, err); break;
    case 9: rc = append_string(c, w, "attribute strings", &a->strings, &ns, &caps, err); a->n = ns; break;
    default: rc = pb_skip(c, w, err); break;
    }
  }
  if (rc) goto done;
  if (!a->name) {
    rc = om_seterr(err, OM_E_FORMAT, "attribute without a name");
    goto done;
  }
  if (type < 0) { /* files older than IR 3 have no `type`: infer it from the field present */
    if (nf) type = ONNX_ATTR_FLOATS;
    else if (ni) type = ONNX_ATTR_INTS;
    else if (ns) type = ONNX_ATTR_STRINGS;
    else if (seen_t) type = ONNX_ATTR_TENSOR;
    else if (seen_g) type = ONNX_ATTR_GRAPH;
    else if (seen_s) type = ONNX_ATTR_STRING;
    else if (seen_i) type = ONNX_ATTR_INT;
    else if (seen_f) type = ONNX_ATTR_FLOAT;
    else type = ONNX_ATTR_UNDEFINED;
  }
  if (type > 100) {
    rc = om_seterr(err, OM_E_FORMAT, "attribute '%s' has invalid type %lld", a->name, (long long)type);
    goto done;
  }
  a->type = (int)type; /* types beyond STRINGS (tensors, graphs, sparse, type protos) kept as numbers */
  if (a->type == ONNX_ATTR_TENSOR && !a->t) {
    rc = om_seterr(err, OM_E_FORMAT, "attribute '%s' has type TENSOR but no tensor", a->name);
    goto done;
  }
  if (a->type == ONNX_ATTR_STRING && !a->s) {
    a->s = calloc(1, 1);
    if (!a->s) { rc = om_seterr(err, OM_E_NOMEM, "out of memory"); goto done; }
  }
  if (a->type != ONNX_ATTR_STRINGS) {
    free_strings(a->strings, a->n); /* only the list matching the type is kept, so n is unambiguous */
    a->strings = NULL;
    a->n = 0;
  }
  if (a->type == ONNX_ATTR_FLOATS || a->type == ONNX_ATTR_INTS) {
    size_t cnt = a->type == ONNX_ATTR_FLOATS ? nf : ni;
    if (cnt > (size_t)INT32_MAX) {
      rc = om_seterr(err, OM_E_LIMIT, "attribute '%s' has too many values", a->name);
      goto done;
    }
    if (a->type == ONNX_ATTR_FLOATS) {
      a->floats = malloc((cnt ? cnt : 1) * sizeof(float));
      if (!a->floats) { rc = om_seterr(err, OM_E_NOMEM, "out of memory"); goto done; }
      if (cnt) memcpy(a->floats, fl, cnt * sizeof(float));
    } else {
      a->ints = malloc((cnt ? cnt : 1) * sizeof(int64_t));
      if (!a->ints) { rc = om_seterr(err, OM_E_NOMEM, "out of memory"); goto done; }
      for (size_t k = 0; k < cnt; k++) a->ints[k] = (int64_t)il[k];
    }
    a->n = (int)cnt;
  }
done:
  free(fl);
  free(il);
  if (rc) om_preferr(err, rc, "attribute '%s'", str_or(a->name, "?"));
  return rc;
}

/* ---- NodeProto -------------------------------------------------------------------------------- */

static void node_clear(onnx_node *n) {
  free(n->name);
  free(n->op_type);
  free(n->domain);
  free_strings(n->inputs, n->nin);
  free_strings(n->outputs, n->nout);
  for (int i = 0; i < n->nattr; i++) attr_clear(&n->attrs[i]);
  free(n->attrs);
  memset(n, 0, sizeof *n);
}

static int ensure_empty(char **s) {
  if (*s) return 0;
  *s = calloc(1, 1);
  return *s ? 0 : -1;
}

static int parse_node(pb_cursor *c, const limits *lim, onnx_node *n, char *err) {
  int rc = OM_OK;
  int capin = 0, capout = 0, capattr = 0;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    switch (f) {
    case 1: rc = append_string(c, w, "node input", &n->inputs, &n->nin, &capin, err); break;
    case 2: rc = append_string(c, w, "node output", &n->outputs, &n->nout, &capout, err); break;
    case 3: rc = read_string(c, w, "node name", &n->name, NULL, err); break;
    case 4: rc = read_string(c, w, "op_type", &n->op_type, NULL, err); break;
    case 7: rc = read_string(c, w, "node domain", &n->domain, NULL, err); break;
    case 5: {
      pb_cursor sub;
      if ((rc = pb_expect_wire(c, w, PB_LEN, "attribute", err)) || (rc = pb_read_sub(c, &sub, err)))
        break;
      if ((rc = grow_array((void **)&n->attrs, &capattr, n->nattr, sizeof *n->attrs, err))) break;
      rc = parse_attr(&sub, lim, &n->attrs[n->nattr], err);
      n->nattr++; /* counted even on failure so node_clear frees what it holds */
      break;
    }
    default: rc = pb_skip(c, w, err); break;
    }
  }
  if (!rc && (!n->op_type || !n->op_type[0])) rc = om_seterr(err, OM_E_FORMAT, "node has an empty op_type");
  if (!rc && (ensure_empty(&n->name) || ensure_empty(&n->domain) || ensure_empty(&n->op_type)))
    rc = om_seterr(err, OM_E_NOMEM, "out of memory");
  return rc;
}

/* ---- ValueInfoProto --------------------------------------------------------------------------- */

static void value_info_clear(onnx_value_info *v) {
  free(v->name);
  for (int i = 0; i < OM_MAX_DIMS; i++) free(v->dim_params[i]);
  memset(v, 0, sizeof *v);
}

static int parse_dim(pb_cursor *c, onnx_value_info *v, char *err) {
  int rc = OM_OK;
  int k = v->ndim;
  if (k >= OM_MAX_DIMS)
    return om_seterr(err, OM_E_UNSUPPORTED, "shape has more than %d dimensions", OM_MAX_DIMS);
  v->dims[k] = -1;
  v->ndim++;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    if (f == 1) {
      int64_t d = 0;
      if ((rc = read_int(c, w, "dim_value", &d, err))) break;
      if (d < 0) rc = om_seterr(err, OM_E_FORMAT, "negative dim_value %lld at axis %d", (long long)d, k);
      v->dims[k] = d;
    } else if (f == 2) {
      rc = read_string(c, w, "dim_param", &v->dim_params[k], NULL, err);
      v->dims[k] = -1;
    } else {
      rc = pb_skip(c, w, err);
    }
  }
  return rc;
}

/* Walks TypeProto -> tensor_type -> {elem_type, shape -> dim*}; other kinds of type are skipped. */
static int parse_type(pb_cursor *c, onnx_value_info *v, char *err) {
  int rc = OM_OK;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    if (f != 1 || w != PB_LEN) {
      rc = pb_skip(c, w, err);
      continue;
    }
    pb_cursor tt;
    if ((rc = pb_read_sub(c, &tt, err))) break;
    while (!pb_at_end(&tt) && !rc) {
      if ((rc = pb_read_tag(&tt, &f, &w, err))) break;
      if (f == 1) {
        int64_t et = 0;
        if (!(rc = read_int(&tt, w, "elem_type", &et, err))) v->dtype = (et > 0 && et < 1000) ? (int)et : 0;
      } else if (f == 2 && w == PB_LEN) {
        pb_cursor sh;
        if ((rc = pb_read_sub(&tt, &sh, err))) break;
        v->has_shape = 1;
        v->ndim = 0;
        while (!pb_at_end(&sh) && !rc) {
          if ((rc = pb_read_tag(&sh, &f, &w, err))) break;
          if (f == 1 && w == PB_LEN) {
            pb_cursor dm;
            if (!(rc = pb_read_sub(&sh, &dm, err))) rc = parse_dim(&dm, v, err);
          } else {
            rc = pb_skip(&sh, w, err);
          }
        }
      } else {
        rc = pb_skip(&tt, w, err);
      }
    }
  }
  return rc;
}

static int parse_value_info(pb_cursor *c, onnx_value_info *v, char *err) {
  int rc = OM_OK;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    if (f == 1) {
      rc = read_string(c, w, "value name", &v->name, NULL, err);
    } else if (f == 2 && w == PB_LEN) {
      pb_cursor t;
      if (!(rc = pb_read_sub(c, &t, err))) rc = parse_type(&t, v, err);
    } else {
      rc = pb_skip(c, w, err);
    }
  }
  if (!rc && !v->name) rc = om_seterr(err, OM_E_FORMAT, "value without a name");
  if (rc) om_preferr(err, rc, "'%s'", str_or(v->name, "?"));
  return rc;
}

/* ---- GraphProto / ModelProto ------------------------------------------------------------------ */

void onnx_free(onnx_model *m) {
  if (!m) return;
  free(m->producer_name);
  free(m->producer_version);
  free(m->graph_name);
  free(m->doc_string);
  for (int i = 0; i < m->nnodes; i++) node_clear(&m->nodes[i]);
  free(m->nodes);
  for (int i = 0; i < m->ninit; i++) onnx_tensor_clear(&m->inits[i]);
  free(m->inits);
  for (int i = 0; i < m->ninputs; i++) value_info_clear(&m->inputs[i]);
  free(m->inputs);
  for (int i = 0; i < m->noutputs; i++) value_info_clear(&m->outputs[i]);
  free(m->outputs);
  for (int i = 0; i < m->nvalue_info; i++) value_info_clear(&m->value_info[i]);
  free(m->value_info);
  free_strings(m->meta_keys, m->nmeta);
  free_strings(m->meta_values, m->nmeta);
  om_unmap_file(&m->file_); /* after the tensors: borrowed ones point into it */
  free(m);
}

static int cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Graph inputs that name an initializer are weights, not user inputs: drop them from m->inputs. */
static int drop_initializer_inputs(onnx_model *m, char *err) {
  if (!m->ninit || !m->ninputs) return OM_OK;
  const char **names = malloc((size_t)m->ninit * sizeof *names);
  if (!names) return om_seterr(err, OM_E_NOMEM, "out of memory");
  for (int i = 0; i < m->ninit; i++) names[i] = m->inits[i].name;
  qsort(names, (size_t)m->ninit, sizeof *names, cmp_str_ptr);
  int k = 0;
  for (int i = 0; i < m->ninputs; i++) {
    const char *key = m->inputs[i].name;
    if (bsearch(&key, names, (size_t)m->ninit, sizeof *names, cmp_str_ptr)) {
      value_info_clear(&m->inputs[i]);
    } else {
      m->inputs[k++] = m->inputs[i];
    }
  }
  m->ninputs = k;
  free(names);
  return OM_OK;
}

static int parse_graph(pb_cursor *c, const limits *lim, onnx_model *m, char *err) {
  int rc = OM_OK;
  int capn = 0, capi = 0, capin = 0, capout = 0, capvi = 0;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) return om_preferr(err, rc, "graph");
    pb_cursor sub;
    switch (f) {
    case 1:
      if ((rc = pb_expect_wire(c, w, PB_LEN, "graph.node", err)) || (rc = pb_read_sub(c, &sub, err)) ||
          (rc = grow_array((void **)&m->nodes, &capn, m->nnodes, sizeof *m->nodes, err)))
        return om_preferr(err, rc, "graph.node[%d]", m->nnodes);
      rc = parse_node(&sub, lim, &m->nodes[m->nnodes], err);
      m->nnodes++;
      if (rc) {
        const onnx_node *n = &m->nodes[m->nnodes - 1];
        return om_preferr(err, rc, "graph.node[%d] (%s '%s')", m->nnodes - 1, str_or(n->op_type, "?"),
                          str_or(n->name, ""));
      }
      break;
    case 2: rc = read_string(c, w, "graph name", &m->graph_name, NULL, err); break;
    case 5:
      if ((rc = pb_expect_wire(c, w, PB_LEN, "graph.initializer", err)) || (rc = pb_read_sub(c, &sub, err)) ||
          (rc = grow_array((void **)&m->inits, &capi, m->ninit, sizeof *m->inits, err)))
        return om_preferr(err, rc, "graph.initializer[%d]", m->ninit);
      rc = parse_tensor_msg(&sub, lim, &m->inits[m->ninit], err);
      m->ninit++;
      if (rc) return om_preferr(err, rc, "initializer '%s'", str_or(m->inits[m->ninit - 1].name, "?"));
      break;
    case 15:
      return om_seterr(err, OM_E_UNSUPPORTED, "graph has sparse initializers (not supported)");
    case 11: case 12: case 13: {
      onnx_value_info **arr = f == 11 ? &m->inputs : f == 12 ? &m->outputs : &m->value_info;
      int *n = f == 11 ? &m->ninputs : f == 12 ? &m->noutputs : &m->nvalue_info;
      int *cap = f == 11 ? &capin : f == 12 ? &capout : &capvi;
      const char *what = f == 11 ? "graph.input" : f == 12 ? "graph.output" : "graph.value_info";
      if ((rc = pb_expect_wire(c, w, PB_LEN, what, err)) || (rc = pb_read_sub(c, &sub, err)) ||
          (rc = grow_array((void **)arr, cap, *n, sizeof **arr, err)))
        return om_preferr(err, rc, "%s[%d]", what, *n);
      rc = parse_value_info(&sub, &(*arr)[*n], err);
      (*n)++;
      if (rc) return om_preferr(err, rc, "%s[%d]", what, *n - 1);
      break;
    }
    default: rc = pb_skip(c, w, err); break;
    }
    if (rc) return om_preferr(err, rc, "graph");
  }
  return drop_initializer_inputs(m, err);
}

static int parse_opset(pb_cursor *c, onnx_model *m, int *found, char *err) {
  char *domain = NULL;
  int64_t version = 0;
  int rc = OM_OK;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    if (f == 1) rc = read_string(c, w, "opset domain", &domain, NULL, err);
    else if (f == 2) rc = read_int(c, w, "opset version", &version, err);
    else rc = pb_skip(c, w, err);
  }
  if (!rc && (!domain || !domain[0] || !strcmp(domain, "ai.onnx"))) {
    m->opset = version;
    *found = 1;
  }
  free(domain);
  return rc;
}

static int parse_meta(pb_cursor *c, onnx_model *m, int *cap, char *err) {
  int rc = grow_array((void **)&m->meta_keys, cap, m->nmeta, sizeof(char *), err);
  if (rc) return rc;
  /* meta_values grows in step with meta_keys: realloc to the same capacity. */
  char **nv = realloc(m->meta_values, (size_t)*cap * sizeof(char *));
  if (!nv) return om_seterr(err, OM_E_NOMEM, "out of memory");
  m->meta_values = nv;
  char *k = NULL, *v = NULL;
  while (!pb_at_end(c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(c, &f, &w, err))) break;
    if (f == 1) rc = read_string(c, w, "metadata key", &k, NULL, err);
    else if (f == 2) rc = read_string(c, w, "metadata value", &v, NULL, err);
    else rc = pb_skip(c, w, err);
  }
  if (!rc && (ensure_empty(&k) || ensure_empty(&v))) rc = om_seterr(err, OM_E_NOMEM, "out of memory");
  if (rc) {
    free(k);
    free(v);
    return rc;
  }
  m->meta_keys[m->nmeta] = k;
  m->meta_values[m->nmeta] = v;
  m->nmeta++;
  return OM_OK;
}

/* A friendlier reason when the bytes are clearly some other kind of file. */
static const char *sniff_other_format(const uint8_t *b, size_t len) {
  if (len >= 4 && !memcmp(b, "\x89PNG", 4)) return "a PNG image";
  if (len >= 3 && !memcmp(b, "\xff\xd8\xff", 3)) return "a JPEG image";
  if (len >= 6 && !memcmp(b, "\x93NUMPY", 6)) return "a NumPy .npy file";
  if (len >= 4 && !memcmp(b, "PK\x03\x04", 4)) return "a zip archive (a PyTorch .pt checkpoint?)";
  if (len >= 4 && (!memcmp(b, "GIF8", 4))) return "a GIF image";
  if (len >= 1 && (b[0] == '{' || b[0] == '<' || b[0] == '#')) return "a text file";
  size_t n = len < 64 ? len : 64, printable = 0;
  for (size_t i = 0; i < n; i++) printable += (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' || b[i] == '\t';
  if (n >= 8 && printable == n) return "a text file";
  return NULL;
}

static int parse_model(const uint8_t *buf, size_t len, const limits *lim, onnx_model *m, char *err) {
  pb_cursor c;
  pb_init(&c, buf, len);
  int rc = OM_OK, have_graph = 0, have_opset = 0, capmeta = 0;
  if (len == 0) return om_seterr(err, OM_E_FORMAT, "empty file");
  while (!pb_at_end(&c) && !rc) {
    uint32_t f;
    int w;
    if ((rc = pb_read_tag(&c, &f, &w, err))) break;
    pb_cursor sub;
    switch (f) {
    case 1: rc = read_int(&c, w, "ir_version", &m->ir_version, err); break;
    case 2: rc = read_string(&c, w, "producer_name", &m->producer_name, NULL, err); break;
    case 3: rc = read_string(&c, w, "producer_version", &m->producer_version, NULL, err); break;
    case 6: rc = read_string(&c, w, "doc_string", &m->doc_string, NULL, err); break;
    case 7:
      if (have_graph) {
        rc = om_seterr(err, OM_E_FORMAT, "model has two graph fields (offset %zu)", pb_offset(&c));
        break;
      }
      if ((rc = pb_expect_wire(&c, w, PB_LEN, "graph", err)) || (rc = pb_read_sub(&c, &sub, err))) {
        om_preferr(err, rc, "graph");
        break;
      }
      have_graph = 1;
      rc = parse_graph(&sub, lim, m, err);
      break;
    case 8:
      if (!(rc = pb_expect_wire(&c, w, PB_LEN, "opset_import", err)) && !(rc = pb_read_sub(&c, &sub, err)))
        rc = parse_opset(&sub, m, &have_opset, err);
      if (rc) om_preferr(err, rc, "opset_import");
      break;
    case 14:
      if (!(rc = pb_expect_wire(&c, w, PB_LEN, "metadata_props", err)) && !(rc = pb_read_sub(&c, &sub, err)))
        rc = parse_meta(&sub, m, &capmeta, err);
      if (rc) om_preferr(err, rc, "metadata_props[%d]", m->nmeta);
      break;
    default: rc = pb_skip(&c, w, err); break;
    }
  }
  if (!rc && !have_graph) rc = om_seterr(err, OM_E_FORMAT, "model has no graph");
  if (!rc && !have_opset)
    rc = om_seterr(err, OM_E_FORMAT, "model has no opset_import for the default domain (\"\" / ai.onnx)");
  if (!rc && (ensure_empty(&m->producer_name) || ensure_empty(&m->producer_version) ||
              ensure_empty(&m->graph_name) || ensure_empty(&m->doc_string)))
    rc = om_seterr(err, OM_E_NOMEM, "out of memory");
  if (rc == OM_E_FORMAT) {
    const char *other = sniff_other_format(buf, len);
    if (other) return om_seterr(err, OM_E_FORMAT, "not an ONNX model: the file looks like %s", other);
    om_preferr(err, rc, "not a valid ONNX model");
  }
  return rc;
}

/* Parses buf; when `file` is given the model takes it over (even on failure) and tensors may
 * borrow from it. */
static int load(const uint8_t *buf, size_t len, limits *l, om_mapped *file, onnx_model **out,
                char *err) {
  *out = NULL;
  if (len > l->max_file) {
    if (file) om_unmap_file(file);
    return om_seterr(err, OM_E_LIMIT, "model is %zu bytes, over the limit of %zu bytes", len, l->max_file);
  }
  onnx_model *m = calloc(1, sizeof *m);
  if (!m) {
    if (file) om_unmap_file(file);
    return om_seterr(err, OM_E_NOMEM, "out of memory");
  }
  if (file) {
    m->file_ = *file;
    memset(file, 0, sizeof *file);
    l->borrow = 1;
    l->file = &m->file_;
  }
  int rc = parse_model(buf, len, l, m, err);
  if (rc) {
    onnx_free(m);
    return rc;
  }
  *out = m;
  return OM_OK;
}

int onnx_load_buffer(const uint8_t *buf, size_t len, const onnx_limits *lim, onnx_model **out,
                     char *err) {
  limits l = get_limits(lim);
  return load(buf, len, &l, NULL, out, err); /* the caller keeps buf: copy every tensor */
}

int onnx_load_file(const char *path, const onnx_limits *lim, onnx_model **out, char *err) {
  *out = NULL;
  limits l = get_limits(lim);
  om_mapped f;
  int rc = om_map_file(path, l.max_file, &f, err);
  if (!rc) rc = load(f.data, f.len, &l, &f, out, err);
  if (rc) om_preferr(err, rc, "%s", path);
  return rc;
}

const onnx_attr *onnx_node_attr(const onnx_node *n, const char *name) {
  for (int i = 0; i < n->nattr; i++)
    if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

const char *onnx_meta_get(const onnx_model *m, const char *key) {
  for (int i = 0; i < m->nmeta; i++)
    if (!strcmp(m->meta_keys[i], key)) return m->meta_values[i];
  return NULL;
}

void onnx_release_data(const onnx_model *m, const void *p, size_t n) {
  if (m) om_mapped_release(&m->file_, p, n);
}

const onnx_tensor *onnx_find_init(const onnx_model *m, const char *name) {
  for (int i = 0; i < m->ninit; i++)
    if (!strcmp(m->inits[i].name, name)) return &m->inits[i];
  return NULL;
}
