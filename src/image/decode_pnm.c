/* decode_pnm.c: Netpbm images, all six kinds: P1/P4 bitmaps, P2/P5 gray, P3/P6 RGB, plain (ASCII
 * samples) and raw (binary), maxval 1..65535, '#' comments. Ours rather than stb_image's, which
 * reads only P5/P6, ignores maxval (a P5 with maxval 15 came out nearly black) and leaves a short
 * raster uninitialised. Samples become 8 bits as Pillow maps them, round(v / maxval * 255) in
 * double precision with ties to even (Python's round), so maxval 255 is the identity; 16-bit gray
 * is scaled the same way where Pillow would clip it (as for PNG, see decode_png.c). */
#include "image/image_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t *b;
  size_t len, pos;
} pnm_in;

static int is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static void skip_comment(pnm_in *in) {
  while (in->pos < in->len && in->b[in->pos] != '\n' && in->b[in->pos] != '\r') in->pos++;
}

/* Whitespace and '#' comments (to the end of the line) between header fields and plain samples;
 * Pillow skips comments among plain samples too. */
static void skip_space(pnm_in *in) {
  while (in->pos < in->len) {
    if (is_space(in->b[in->pos]))
      in->pos++;
    else if (in->b[in->pos] == '#')
      skip_comment(in);
    else
      break;
  }
}

enum { NUM_OK = 1, NUM_EOF = 0, NUM_BAD = -1, NUM_LONG = -2 };

/* One decimal number after optional whitespace. At most 9 digits, so it fits in 32 bits and cannot
 * overflow (Pillow refuses tokens over 10 characters); it must end at whitespace, '#' or EOF. */
static int read_number(pnm_in *in, uint32_t *v) {
  skip_space(in);
  if (in->pos >= in->len) return NUM_EOF;
  uint32_t x = 0;
  int digits = 0;
  while (in->pos < in->len && in->b[in->pos] >= '0' && in->b[in->pos] <= '9') {
    if (++digits > 9) return NUM_LONG;
    x = x * 10 + (uint32_t)(in->b[in->pos++] - '0');
  }
  if (digits == 0 || (in->pos < in->len && !is_space(in->b[in->pos]) && in->b[in->pos] != '#'))
    return NUM_BAD;
  *v = x;
  return NUM_OK;
}

/* The offending byte for a message: itself when printable, else \xNN. */
static const char *show_byte(uint8_t c, char s[8]) {
  if (c > ' ' && c < 127 && c != '\'' && c != '\\')
    s[0] = (char)c, s[1] = 0;
  else
    snprintf(s, 8, "\\x%02x", c);
  return s;
}

/* The next plain sample as 8 bits, or an error; *eof set when the raster has run out. P1 samples
 * are single '0'/'1' characters (separators optional), 1 black; P2/P3 samples are numbers. */
static int plain_sample(pnm_in *in, int kind, uint32_t maxval, const uint8_t *lut, uint8_t *out,
                        int *eof, char *err) {
  char s[8];
  if (kind == 1) {
    skip_space(in);
    if (in->pos >= in->len) return *eof = 1, OM_E_FORMAT;
    uint8_t c = in->b[in->pos++];
    if (c != '0' && c != '1')
      return om_seterr(err, OM_E_FORMAT, "pnm: bad sample '%s' in a P1 raster", show_byte(c, s));
    *out = c == '1' ? 0 : 255;
    return OM_OK;
  }
  uint32_t v = 0;
  switch (read_number(in, &v)) {
  case NUM_EOF:
    return *eof = 1, OM_E_FORMAT;
  case NUM_LONG:
    return om_seterr(err, OM_E_FORMAT, "pnm: sample with more than 9 digits in the raster");
  case NUM_BAD:
    return om_seterr(err, OM_E_FORMAT, "pnm: bad sample '%s' in the raster",
                     show_byte(in->pos < in->len ? in->b[in->pos] : 0, s));
  default:
    break;
  }
  if (v > maxval) return om_seterr(err, OM_E_FORMAT, "pnm: sample %u over maxval %u", v, maxval);
  *out = lut ? lut[v] : (uint8_t)v;
  return OM_OK;
}

int om_decode_pnm(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out,
                  char *err) {
  if (len < 2 || buf[0] != 'P' || buf[1] < '1' || buf[1] > '6')
    return om_seterr(err, OM_E_FORMAT, "pnm: no P1..P6 magic number");
  int kind = buf[1] - '0';
  int plain = kind <= 3, bitmap = kind == 1 || kind == 4;
  int nc = kind == 3 || kind == 6 ? 3 : 1;
  static const char *const field[3] = {"width", "height", "maxval"};
  uint32_t hv[3] = {0, 0, 1}; /* bitmaps have no maxval */
  pnm_in in = {buf, len, 2};
  for (int i = 0; i < (bitmap ? 2 : 3); i++) {
    switch (read_number(&in, &hv[i])) {
    case NUM_EOF:
      return om_seterr(err, OM_E_FORMAT, "pnm: truncated file (header ends before the %s)",
                       field[i]);
    case NUM_LONG:
      return om_seterr(err, OM_E_FORMAT, "pnm: header number with more than 9 digits");
    case NUM_BAD:
      return om_seterr(err, OM_E_FORMAT, "pnm: bad header (the %s is not a number)", field[i]);
    default:
      break;
    }
  }
  uint32_t w = hv[0], h = hv[1], maxval = hv[2];
  out->format = "pnm";
  out->src_w = (int)w; /* at most 9 digits: fits */
  out->src_h = (int)h;
  out->exif_orientation = 1;
  int rc = om_image_check_dims("pnm", w, h, o, err);
  if (rc != OM_OK) return rc;
  if (maxval < 1 || maxval > 65535)
    return om_seterr(err, OM_E_FORMAT, "pnm: maxval %u outside 1..65535", maxval);
  int wide = maxval > 255; /* raw samples of 2 bytes, big-endian */

  /* A raw raster starts after exactly one whitespace byte (or a comment's line end). */
  uint64_t rowbytes = 0;
  if (!plain) {
    if (in.pos < len && buf[in.pos] == '#') skip_comment(&in);
    if (in.pos < len) in.pos++;
    rowbytes = bitmap ? ((uint64_t)w + 7) / 8 : (uint64_t)w * (uint64_t)nc * (wide ? 2u : 1u);
    /* w, h <= 2^30 (om_image_check_dims): no overflow. */
    if (rowbytes * h > len - in.pos)
      return om_seterr(err, OM_E_FORMAT, "pnm: truncated file (raster of %llu bytes, %zu present)",
                       (unsigned long long)(rowbytes * h), len - in.pos);
  }

  uint8_t *lut = NULL, *tmp = NULL;
  if (!bitmap && maxval != 255) {
    lut = malloc(wide ? 65536 : 256);
    if (!lut) return om_seterr(err, OM_E_NOMEM, "pnm: out of memory");
    /* Raw samples over maxval clip to 255, as in Pillow; plain ones are refused before this. */
    for (uint32_t v = 0; v < (wide ? 65536u : 256u); v++)
      lut[v] = v > maxval ? 255 : (uint8_t)rint((double)v / (double)maxval * 255.0);
  }
  rc = om_image_alloc(out, (int)w, (int)h, o->channels, err);
  if (rc == OM_OK && !(tmp = malloc((size_t)w * (size_t)nc)))
    rc = om_seterr(err, OM_E_NOMEM, "pnm: out of memory for a %ux%u image", w, h);
  size_t n = (size_t)w * (size_t)nc, done = 0;
  for (uint32_t y = 0; rc == OM_OK && y < h; y++) {
    const uint8_t *src = tmp;
    if (plain) {
      int eof = 0;
      for (size_t i = 0; i < n && rc == OM_OK; i++) {
        rc = plain_sample(&in, kind, maxval, lut, &tmp[i], &eof, err);
        done += rc == OM_OK;
      }
      if (eof)
        rc = om_seterr(err, OM_E_FORMAT,
                       "pnm: truncated file (raster ends after %zu of %llu samples)", done,
                       (unsigned long long)n * h);
    } else {
      const uint8_t *p = buf + in.pos + (size_t)y * rowbytes;
      if (bitmap)
        for (size_t x = 0; x < n; x++) tmp[x] = (p[x >> 3] >> (7 - (x & 7))) & 1 ? 0 : 255;
      else if (wide)
        for (size_t i = 0; i < n; i++) tmp[i] = lut[(unsigned)p[2 * i] << 8 | p[2 * i + 1]];
      else if (lut)
        for (size_t i = 0; i < n; i++) tmp[i] = lut[p[i]];
      else
        src = p; /* maxval 255: the bytes are the samples */
    }
    if (rc == OM_OK)
      om_px_convert_row(src, nc, out->px + (size_t)y * w * (size_t)o->channels, o->channels, w, o);
  }
  free(tmp);
  free(lut);
  if (rc != OM_OK) om_image_free(out);
  return rc;
}
