/* test_pb.c: the protobuf wire reader on hand-built byte strings (expected values worked out from
 * the protobuf encoding spec by hand, not from the reader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/pb.h"
#include "check.h"


#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int varint_of(const uint8_t *b, size_t n, uint64_t *v, char *err) {
  pb_cursor c;
  pb_init(&c, b, n);
  return pb_read_varint(&c, v, err);
}

static void test_varints(void) {
  char err[OM_ERR_LEN];
  uint64_t v = 0;
  CHECK(!varint_of(BYTES(0x00), &v, err) && v == 0, "0");
  CHECK(!varint_of(BYTES(0x7f), &v, err) && v == 127, "127");
  CHECK(!varint_of(BYTES(0xac, 0x02), &v, err) && v == 300, "300 -> %llu", (unsigned long long)v);
  CHECK(!varint_of(BYTES(0x80, 0x80, 0x01), &v, err) && v == 16384, "16384");
  /* -1 as int64: ten bytes, 9 x 0xff then 0x01. */
  CHECK(!varint_of(BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), &v, err) &&
            v == UINT64_MAX, "10-byte max");
  CHECK(!varint_of(BYTES(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), &v, err) &&
            v == (uint64_t)1 << 63, "bit 63");
  /* Non-minimal encodings are legal: 0x80 0x00 is 0. */
  CHECK(!varint_of(BYTES(0x80, 0x00), &v, err) && v == 0, "padded zero");
  /* Overflow: 10th byte 0x02 would set bit 64. */
  CHECK(varint_of(BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), &v, err) == OM_E_FORMAT &&
            strstr(err, "64 bits"), "overflow: %s", err);
  CHECK(varint_of(BYTES(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), &v, err) == OM_E_FORMAT,
        "11 bytes");
  CHECK(varint_of(BYTES(0x80, 0x80), &v, err) == OM_E_FORMAT && strstr(err, "truncated varint at offset 0"),
        "truncated: %s", err);
  CHECK(varint_of((const uint8_t *)"", 0, &v, err) == OM_E_FORMAT, "empty");
  /* The offset in the message is absolute. */
  pb_cursor c;
  const uint8_t b[] = {0x01, 0x02, 0x03, 0x80};
  pb_init(&c, b, sizeof b);
  for (int i = 0; i < 3; i++) pb_read_varint(&c, &v, err);
  CHECK(pb_read_varint(&c, &v, err) == OM_E_FORMAT && strstr(err, "offset 3"), "offset: %s", err);
}

static void test_tags_and_fixed(void) {
  char err[OM_ERR_LEN];
  pb_cursor c;
  uint32_t f = 0, u32 = 0;
  int w = -1;
  uint64_t u64 = 0;
  /* field 1 varint 150 ("08 96 01" from the protobuf docs), field 2 fixed32, field 3 fixed64. */
  const uint8_t b[] = {0x08, 0x96, 0x01, 0x15, 0x78, 0x56, 0x34, 0x12, 0x19, 1, 2, 3, 4, 5, 6, 7, 8};
  pb_init(&c, b, sizeof b);
  CHECK(!pb_read_tag(&c, &f, &w, err) && f == 1 && w == PB_VARINT, "tag1");
  CHECK(!pb_read_varint(&c, &u64, err) && u64 == 150, "150");
  CHECK(!pb_read_tag(&c, &f, &w, err) && f == 2 && w == PB_FIXED32, "tag2");
  CHECK(!pb_read_fixed32(&c, &u32, err) && u32 == 0x12345678u, "fixed32 %x", u32);
  CHECK(!pb_read_tag(&c, &f, &w, err) && f == 3 && w == PB_FIXED64, "tag3");
  CHECK(!pb_read_fixed64(&c, &u64, err) && u64 == 0x0807060504030201ull, "fixed64");
  CHECK(pb_at_end(&c), "end");
  /* Field number 0 and wire types 6/7 are invalid. */
  pb_init(&c, BYTES(0x00));
  CHECK(pb_read_tag(&c, &f, &w, err) == OM_E_FORMAT && strstr(err, "field number"), "field 0: %s", err);
  pb_init(&c, BYTES(0x0e));
  CHECK(pb_read_tag(&c, &f, &w, err) == OM_E_FORMAT && strstr(err, "wire type 6"), "wire 6: %s", err);
  /* Truncated fixed. */
  pb_init(&c, BYTES(1, 2, 3));
  CHECK(pb_read_fixed32(&c, &u32, err) == OM_E_FORMAT && strstr(err, "truncated fixed32"), "%s", err);
  pb_init(&c, BYTES(1, 2, 3, 4, 5, 6, 7));
  CHECK(pb_read_fixed64(&c, &u64, err) == OM_E_FORMAT && strstr(err, "truncated fixed64"), "%s", err);
}

static void test_bytes_and_skip(void) {
  char err[OM_ERR_LEN];
  pb_cursor c, sub;
  const uint8_t *d;
  size_t n;
  pb_init(&c, BYTES(0x03, 'a', 'b', 'c', 0x07));
  CHECK(!pb_read_bytes(&c, &d, &n, err) && n == 3 && !memcmp(d, "abc", 3), "bytes");
  CHECK(pb_offset(&c) == 4, "offset after bytes");
  /* Length beyond the end. */
  pb_init(&c, BYTES(0x05, 'a', 'b'));
  CHECK(pb_read_bytes(&c, &d, &n, err) == OM_E_FORMAT && strstr(err, "length 5") && strstr(err, "2 bytes remain"),
        "short bytes: %s", err);
  /* Huge length must not wrap the pointer. */
  pb_init(&c, BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'));
  CHECK(pb_read_bytes(&c, &d, &n, err) == OM_E_FORMAT, "huge length");
  /* A sub-message cannot read past its own end even if the outer buffer goes on. */
  pb_init(&c, BYTES(0x02, 0x08, 0x80, 0x01));
  CHECK(!pb_read_sub(&c, &sub, err), "sub");
  uint32_t f;
  int w;
  uint64_t v;
  CHECK(!pb_read_tag(&sub, &f, &w, err) && f == 1, "sub tag");
  CHECK(pb_read_varint(&sub, &v, err) == OM_E_FORMAT && strstr(err, "offset 2"), "sub bound: %s", err);
  /* Skipping each wire type. */
  const uint8_t msg[] = {0x08, 0xff, 0x01,       /* 1: varint */
                         0x11, 1, 2, 3, 4, 5, 6, 7, 8, /* 2: fixed64 */
                         0x1a, 0x02, 'h', 'i',   /* 3: bytes */
                         0x25, 1, 2, 3, 4,       /* 4: fixed32 */
                         0x28, 0x2a};            /* 5: varint 42 */
  pb_init(&c, msg, sizeof msg);
  int skipped = 0;
  while (!pb_at_end(&c)) {
    CHECK(!pb_read_tag(&c, &f, &w, err), "tag");
    if (f == 5) {
      CHECK(!pb_read_varint(&c, &v, err) && v == 42, "after skips");
    } else {
      CHECK(!pb_skip(&c, w, err), "skip wire %d: %s", w, err);
      skipped++;
    }
  }
  CHECK(skipped == 4, "skipped %d", skipped);
  /* Groups are refused. */
  pb_init(&c, BYTES(0x0b, 0x0c));
  CHECK(!pb_read_tag(&c, &f, &w, err) && w == PB_SGROUP, "sgroup tag");
  CHECK(pb_skip(&c, w, err) == OM_E_FORMAT && strstr(err, "group"), "group: %s", err);
  CHECK(pb_expect_wire(&c, PB_VARINT, PB_LEN, "name", err) == OM_E_FORMAT && strstr(err, "name"), "expect");
}

static void test_repeated(void) {
  char err[OM_ERR_LEN];
  pb_cursor c;
  uint32_t f;
  int w;
  /* ints: unpacked 1, then packed [3, 270, 86942] (protobuf docs example "22 06 03 8E 02 9E A7 05"). */
  pb_init(&c, BYTES(0x20, 0x01, 0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05));
  uint64_t *v = NULL;
  size_t n = 0, cap = 0;
  while (!pb_at_end(&c)) {
    CHECK(!pb_read_tag(&c, &f, &w, err) && f == 4, "tag");
    CHECK(!pb_append_varints(&c, w, &v, &n, &cap, err), "append: %s", err);
  }
  CHECK(n == 4 && v[0] == 1 && v[1] == 3 && v[2] == 270 && v[3] == 86942, "varints n=%zu", n);
  free(v);
  /* Packed varints with a truncated last value. */
  v = NULL, n = cap = 0;
  pb_init(&c, BYTES(0x02, 0x01, 0x80));
  CHECK(pb_append_varints(&c, PB_LEN, &v, &n, &cap, err) == OM_E_FORMAT && strstr(err, "truncated varint"),
        "packed trunc: %s", err);
  free(v);
  /* Fixed32: unpacked 1.0f then packed [2.0f, -0.5f]. */
  pb_init(&c, BYTES(0x00, 0x00, 0x80, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0xbf));
  uint32_t *u = NULL;
  n = cap = 0;
  CHECK(!pb_append_fixed32s(&c, PB_FIXED32, &u, &n, &cap, err), "f32 one");
  CHECK(!pb_append_fixed32s(&c, PB_LEN, &u, &n, &cap, err), "f32 packed");
  float fl[3];
  if (n == 3) memcpy(fl, u, sizeof fl);
  CHECK(n == 3 && fl[0] == 1.0f && fl[1] == 2.0f && fl[2] == -0.5f, "fixed32 values");
  free(u);
  /* Packed fixed32 whose length is not a multiple of 4. */
  u = NULL, n = cap = 0;
  pb_init(&c, BYTES(0x03, 1, 2, 3));
  CHECK(pb_append_fixed32s(&c, PB_LEN, &u, &n, &cap, err) == OM_E_FORMAT && strstr(err, "multiple of 4"), "%s", err);
  free(u);
  /* Fixed64 packed: 1.0 and 2.0 as doubles. */
  uint64_t *d = NULL;
  n = cap = 0;
  pb_init(&c, BYTES(0x10, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40));
  CHECK(!pb_append_fixed64s(&c, PB_LEN, &d, &n, &cap, err), "f64");
  double dd[2];
  if (n == 2) memcpy(dd, d, sizeof dd);
  CHECK(n == 2 && dd[0] == 1.0 && dd[1] == 2.0, "fixed64 values");
  free(d);
  /* Wrong wire type for a repeated field. */
  d = NULL, n = cap = 0;
  pb_init(&c, BYTES(1, 2, 3, 4));
  CHECK(pb_append_fixed64s(&c, PB_FIXED32, &d, &n, &cap, err) == OM_E_FORMAT, "wire");
  free(d);
  /* Many appends grow the array correctly. */
  uint8_t big[3000];
  for (int i = 0; i < 3000; i++) big[i] = (uint8_t)(i % 100);
  v = NULL, n = cap = 0;
  for (int i = 0; i < 3000; i++) {
    pb_init(&c, big + i, 1);
    pb_append_varints(&c, PB_VARINT, &v, &n, &cap, err);
  }
  int ok = n == 3000;
  for (size_t i = 0; ok && i < n; i++) ok = v[i] == i % 100;
  CHECK(ok, "3000 appends");
  free(v);
}

int main(void) {
  test_varints();
  test_tags_and_fixed();
  test_bytes_and_skip();
  test_repeated();
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
