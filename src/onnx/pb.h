/* pb.h: a minimal protobuf wire-format reader (no generated code, no protobuf library).
 *
 * A pb_cursor walks (p, end) inside one buffer; `base` is the start of the whole buffer so every
 * error can name an absolute file offset ("truncated varint at offset 1234"). Nested messages are
 * read by opening a sub-cursor over a length-delimited field (pb_read_sub). Every read checks the
 * bytes that remain; nothing here allocates except the pb_append_* helpers, which grow a caller
 * owned array (free it with free()). Errors are OM_E_FORMAT (malformed) or OM_E_NOMEM. */
#ifndef OM_PB_H
#define OM_PB_H

#include "common/om.h"

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_SGROUP = 3, PB_EGROUP = 4, PB_FIXED32 = 5 };

typedef struct pb_cursor {
  const uint8_t *base; /* start of the whole buffer (offsets in messages are relative to it) */
  const uint8_t *p;    /* next byte to read */
  const uint8_t *end;  /* one past the last readable byte of this (sub)message */
} pb_cursor;

void pb_init(pb_cursor *c, const uint8_t *buf, size_t len);
static inline int pb_at_end(const pb_cursor *c) { return c->p >= c->end; }
static inline size_t pb_offset(const pb_cursor *c) { return (size_t)(c->p - c->base); }

/* Base-128 varint, at most 10 bytes; a 10th byte above 1 overflows 64 bits and is an error. */
int pb_read_varint(pb_cursor *c, uint64_t *v, char *err);
/* A field key: field number (1 .. 2^29-1) and wire type (0..5; 3/4 groups are read but callers
 * will get an error from pb_skip). */
int pb_read_tag(pb_cursor *c, uint32_t *field, int *wire, char *err);
int pb_read_fixed32(pb_cursor *c, uint32_t *v, char *err);
int pb_read_fixed64(pb_cursor *c, uint64_t *v, char *err);
/* Length-delimited payload: *data points into the buffer (not copied). */
int pb_read_bytes(pb_cursor *c, const uint8_t **data, size_t *len, char *err);
/* Length-delimited payload as a sub-cursor sharing c's base. */
int pb_read_sub(pb_cursor *c, pb_cursor *sub, char *err);
/* Skips one field value of the given wire type; groups (3, 4) and unknown types are errors. */
int pb_skip(pb_cursor *c, int wire, char *err);
/* Checks that a field has the wire type the schema expects; `what` names the field in the error. */
int pb_expect_wire(const pb_cursor *c, int wire, int expected, const char *what, char *err);

/* Repeated scalars, packed (wire 2) or one value unpacked (wire 0/5/1): appends to *v (n used,
 * cap allocated), growing it with realloc. */
int pb_append_varints(pb_cursor *c, int wire, uint64_t **v, size_t *n, size_t *cap, char *err);
int pb_append_fixed32s(pb_cursor *c, int wire, uint32_t **v, size_t *n, size_t *cap, char *err);
int pb_append_fixed64s(pb_cursor *c, int wire, uint64_t **v, size_t *n, size_t *cap, char *err);

#endif
