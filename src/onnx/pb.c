/* pb.c: the protobuf wire-format reader declared in pb.h. */
#include "onnx/pb.h"

#include <stdlib.h>
#include <string.h>

void pb_init(pb_cursor *c, const uint8_t *buf, size_t len) {
  c->base = buf;
  c->p = buf;
  c->end = buf + len;
}

static size_t remaining(const pb_cursor *c) { return (size_t)(c->end - c->p); }

int pb_read_varint(pb_cursor *c, uint64_t *v, char *err) {
  size_t start = pb_offset(c);
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (c->p >= c->end) return om_seterr(err, OM_E_FORMAT, "truncated varint at offset %zu", start);
    uint8_t b = *c->p++;
    /* The 10th byte holds only bit 63: anything above 1 does not fit in 64 bits. */
    if (i == 9 && b > 1) return om_seterr(err, OM_E_FORMAT, "varint over 64 bits at offset %zu", start);
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return OM_OK;
    }
  }
  return om_seterr(err, OM_E_FORMAT, "varint longer than 10 bytes at offset %zu", start);
}

int pb_read_tag(pb_cursor *c, uint32_t *field, int *wire, char *err) {
  size_t start = pb_offset(c);
  uint64_t k = 0;
  int rc = pb_read_varint(c, &k, err);
  if (rc) return om_preferr(err, rc, "field key");
  uint64_t f = k >> 3;
  int w = (int)(k & 7);
  if (f == 0 || f > 0x1fffffffu)
    return om_seterr(err, OM_E_FORMAT, "invalid field number %llu at offset %zu",
                     (unsigned long long)f, start);
  if (w > 5) return om_seterr(err, OM_E_FORMAT, "unknown wire type %d at offset %zu", w, start);
  *field = (uint32_t)f;
  *wire = w;
  return OM_OK;
}

int pb_read_fixed32(pb_cursor *c, uint32_t *v, char *err) {
  if (remaining(c) < 4)
    return om_seterr(err, OM_E_FORMAT, "truncated fixed32 at offset %zu", pb_offset(c));
  const uint8_t *b = c->p;
  *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  c->p += 4;
  return OM_OK;
}

int pb_read_fixed64(pb_cursor *c, uint64_t *v, char *err) {
  if (remaining(c) < 8)
    return om_seterr(err, OM_E_FORMAT, "truncated fixed64 at offset %zu", pb_offset(c));
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--) x = x << 8 | c->p[i];
  *v = x;
  c->p += 8;
  return OM_OK;
}

int pb_read_bytes(pb_cursor *c, const uint8_t **data, size_t *len, char *err) {
  size_t start = pb_offset(c);
  uint64_t n = 0;
  int rc = pb_read_varint(c, &n, err);
  if (rc) return om_preferr(err, rc, "length prefix");
  if (n > remaining(c))
    return om_seterr(err, OM_E_FORMAT,
                     "truncated field at offset %zu: length %llu but only %zu bytes remain", start,
                     (unsigned long long)n, remaining(c));
  *data = c->p;
  *len = (size_t)n;
  c->p += n;
  return OM_OK;
}

int pb_read_sub(pb_cursor *c, pb_cursor *sub, char *err) {
  const uint8_t *d = NULL;
  size_t n = 0;
  int rc = pb_read_bytes(c, &d, &n, err);
  if (rc) return rc;
  sub->base = c->base;
  sub->p = d;
  sub->end = d + n;
  return OM_OK;
}

int pb_skip(pb_cursor *c, int wire, char *err) {
  uint64_t v = 0;
  uint32_t v32 = 0;
  const uint8_t *d = NULL;
  size_t n = 0;
  switch (wire) {
  case PB_VARINT: return pb_read_varint(c, &v, err);
  case PB_FIXED64: return pb_read_fixed64(c, &v, err);
  case PB_LEN: return pb_read_bytes(c, &d, &n, err);
  case PB_FIXED32: return pb_read_fixed32(c, &v32, err);
  case PB_SGROUP:
  case PB_EGROUP:
    return om_seterr(err, OM_E_FORMAT, "protobuf groups (wire type %d) are not valid here, at offset %zu",
                     wire, pb_offset(c));
  default:
    return om_seterr(err, OM_E_FORMAT, "unknown wire type %d at offset %zu", wire, pb_offset(c));
  }
}

static const char *wire_name(int w) {
  switch (w) {
  case PB_VARINT: return "varint";
  case PB_FIXED64: return "fixed64";
  case PB_LEN: return "length-delimited";
  case PB_FIXED32: return "fixed32";
  default: return "group";
  }
}

int pb_expect_wire(const pb_cursor *c, int wire, int expected, const char *what, char *err) {
  if (wire == expected) return OM_OK;
  return om_seterr(err, OM_E_FORMAT, "%s has wire type %s, expected %s (near offset %zu)", what,
                   wire_name(wire), wire_name(expected), pb_offset(c));
}

/* Makes room for `more` elements of `elem` bytes; doubles so n appends stay O(n). */
static int grow(void **v, size_t *n, size_t *cap, size_t more, size_t elem, char *err) {
  size_t need;
  if (om_add_size(*n, more, &need)) return om_seterr(err, OM_E_NOMEM, "repeated field too long");
  if (need <= *cap) return OM_OK;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (om_mul_size(ncap, 2, &ncap)) return om_seterr(err, OM_E_NOMEM, "repeated field too long");
  }
  size_t bytes;
  if (om_mul_size(ncap, elem, &bytes)) return om_seterr(err, OM_E_NOMEM, "repeated field too long");
  void *nv = realloc(*v, bytes);
  if (!nv) return om_seterr(err, OM_E_NOMEM, "out of memory for %zu repeated values", ncap);
  *v = nv;
  *cap = ncap;
  return OM_OK;
}

int pb_append_varints(pb_cursor *c, int wire, uint64_t **v, size_t *n, size_t *cap, char *err) {
  int rc;
  if (wire == PB_VARINT) {
    uint64_t x = 0;
    if ((rc = pb_read_varint(c, &x, err))) return rc;
    if ((rc = grow((void **)v, n, cap, 1, sizeof **v, err))) return rc;
    (*v)[(*n)++] = x;
    return OM_OK;
  }
  if (wire != PB_LEN)
    return om_seterr(err, OM_E_FORMAT, "repeated varint field has wire type %s at offset %zu",
                     wire_name(wire), pb_offset(c));
  pb_cursor s;
  if ((rc = pb_read_sub(c, &s, err))) return rc;
  /* Each varint ends with one byte below 0x80: count them to grow once. */
  size_t count = 0;
  for (const uint8_t *q = s.p; q < s.end; q++) count += (*q < 0x80);
  if ((rc = grow((void **)v, n, cap, count, sizeof **v, err))) return rc;
  while (!pb_at_end(&s)) {
    uint64_t x = 0;
    if ((rc = pb_read_varint(&s, &x, err))) return om_preferr(err, rc, "packed varints");
    (*v)[(*n)++] = x;
  }
  return OM_OK;
}

int pb_append_fixed32s(pb_cursor *c, int wire, uint32_t **v, size_t *n, size_t *cap, char *err) {
  int rc;
  if (wire == PB_FIXED32) {
    uint32_t x = 0;
    if ((rc = pb_read_fixed32(c, &x, err))) return rc;
    if ((rc = grow((void **)v, n, cap, 1, sizeof **v, err))) return rc;
    (*v)[(*n)++] = x;
    return OM_OK;
  }
  if (wire != PB_LEN)
    return om_seterr(err, OM_E_FORMAT, "repeated fixed32 field has wire type %s at offset %zu",
                     wire_name(wire), pb_offset(c));
  size_t start = pb_offset(c);
  const uint8_t *d = NULL;
  size_t len;
  if ((rc = pb_read_bytes(c, &d, &len, err))) return rc;
  if (len % 4)
    return om_seterr(err, OM_E_FORMAT, "packed fixed32 field at offset %zu has %zu bytes (not a multiple of 4)",
                     start, len);
  if ((rc = grow((void **)v, n, cap, len / 4, sizeof **v, err))) return rc;
  for (size_t i = 0; i < len; i += 4)
    (*v)[(*n)++] = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
                   (uint32_t)d[i + 3] << 24;
  return OM_OK;
}

int pb_append_fixed64s(pb_cursor *c, int wire, uint64_t **v, size_t *n, size_t *cap, char *err) {
  int rc;
  if (wire == PB_FIXED64) {
    uint64_t x = 0;
    if ((rc = pb_read_fixed64(c, &x, err))) return rc;
    if ((rc = grow((void **)v, n, cap, 1, sizeof **v, err))) return rc;
    (*v)[(*n)++] = x;
    return OM_OK;
  }
  if (wire != PB_LEN)
    return om_seterr(err, OM_E_FORMAT, "repeated fixed64 field has wire type %s at offset %zu",
                     wire_name(wire), pb_offset(c));
  size_t start = pb_offset(c);
  const uint8_t *d = NULL;
  size_t len;
  if ((rc = pb_read_bytes(c, &d, &len, err))) return rc;
  if (len % 8)
    return om_seterr(err, OM_E_FORMAT, "packed fixed64 field at offset %zu has %zu bytes (not a multiple of 8)",
                     start, len);
  if ((rc = grow((void **)v, n, cap, len / 8, sizeof **v, err))) return rc;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t x = 0;
    for (int k = 7; k >= 0; k--) x = x << 8 | d[i + (size_t)k];
    (*v)[(*n)++] = x;
  }
  return OM_OK;
}
