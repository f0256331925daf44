/* decode_png.c: PNG through libpng: 1/2/4/8/16-bit, palette (+tRNS), gray, gray+alpha, RGB, RGBA,
 * interlaced. 16-bit samples are scaled to 8 bits with png_set_scale_16, which rounds exactly
 * (v * 255 / 65535 to nearest; v = g * 257 gives back g), unlike Pillow's truncation to the high
 * byte (RGB;16) or clipping (I -> RGB). libpng's error text is captured; its warnings are not
 * fatal; running out of data is an error. */
#include "image/image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
  png_structp png;
  png_infop info;
  const uint8_t *buf;
  size_t len, pos;
  char msg[256];
  uint8_t *tmp;         /* decoded image in libpng's channel layout */
  png_bytep *rows;
} png_state;

static void on_error(png_structp png, png_const_charp msg) {
  png_state *st = png_get_error_ptr(png);
  snprintf(st->msg, sizeof st->msg, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_read(png_structp png, png_bytep data, size_t n) {
  png_state *st = png_get_io_ptr(png);
  if (n > st->len - st->pos) png_error(png, "truncated file (data ends early)");
  memcpy(data, st->buf + st->pos, n);
  st->pos += n;
}

static int decode_body(png_state *st, const om_decode_opts *o, om_image *out, char *err) {
  png_structp png = st->png;
  png_infop info = st->info;
  png_set_read_fn(png, st, on_read);
  png_read_info(png, info);
  png_uint_32 w, h;
  int depth, ctype, interlace;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
  out->format = "png";
  out->src_w = (int)w;
  out->src_h = (int)h;
  out->exif_orientation = 1;
  int rc = om_image_check_dims("png", w, h, o, err);
  if (rc != OM_OK) return rc;

  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  /* Pillow ignores tRNS on convert("RGB"); only compositing needs it as alpha. */
  if (o->composite_alpha && png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (depth == 16) png_set_scale_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  int nc = png_get_channels(png, info);
  size_t rb = png_get_rowbytes(png, info);
  if (nc < 1 || nc > 4 || png_get_bit_depth(png, info) != 8 || rb != (size_t)w * (size_t)nc)
    return om_seterr(err, OM_E_UNSUPPORTED, "png: unexpected layout after transforms (%d channels)",
                     nc);
  size_t total;
  if (om_mul_size(rb, h, &total)) return om_seterr(err, OM_E_LIMIT, "png: image too large");
  st->tmp = malloc(total);
  st->rows = malloc((size_t)h * sizeof *st->rows);
  if (!st->tmp || !st->rows) return om_seterr(err, OM_E_NOMEM, "png: out of memory for %ux%u", w, h);
  for (png_uint_32 y = 0; y < h; y++) st->rows[y] = st->tmp + (size_t)y * rb;
  png_read_image(png, st->rows);

  rc = om_image_alloc(out, (int)w, (int)h, o->channels, err);
  if (rc != OM_OK) return rc;
  for (png_uint_32 y = 0; y < h; y++)
    om_px_convert_row(st->rows[y], nc, out->px + (size_t)y * w * (size_t)o->channels, o->channels,
                      w, o);
  return OM_OK;
}

/* CRC-32 of a PNG chunk (bitwise: only the 17-byte IHDR is checked here). */
static uint32_t chunk_crc(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int om_decode_png(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out,
                  char *err) {
  /* The size limit is checked on the raw IHDR before libpng reads further chunks, so a huge
   * header is refused as such even when the rest of the file is missing. */
  if (len >= 33 && be32(buf + 8) == 13 && memcmp(buf + 12, "IHDR", 4) == 0 &&
      chunk_crc(buf + 12, 17) == be32(buf + 29)) {
    uint32_t w = be32(buf + 16), h = be32(buf + 20);
    if (w != 0 && h != 0) {
      int rc0 = om_image_check_dims("png", w, h, o, err);
      if (rc0 != OM_OK) return rc0;
    }
  }
  png_state *st = calloc(1, sizeof *st);
  if (!st) return om_seterr(err, OM_E_NOMEM, "png: out of memory");
  int rc;
  st->buf = buf;
  st->len = len;
  st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, on_error, on_warning);
  if (st->png) st->info = png_create_info_struct(st->png);
  if (!st->png || !st->info) {
    rc = om_seterr(err, OM_E_NOMEM, "png: cannot create libpng reader");
  } else if (setjmp(png_jmpbuf(st->png))) {
    rc = om_seterr(err, OM_E_FORMAT, "libpng: %s", st->msg);
  } else {
    rc = decode_body(st, o, out, err);
  }
  if (st->png) png_destroy_read_struct(&st->png, st->info ? &st->info : NULL, NULL);
  free(st->tmp);
  free(st->rows);
  free(st);
  if (rc != OM_OK) om_image_free(out);
  return rc;
}
