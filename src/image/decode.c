/* decode.c: om_image_decode entry points: sniffs the format from the first bytes, dispatches to
 * libjpeg-turbo, libpng, our Netpbm reader or stb_image, and owns the shared helpers (header size
 * limit, allocation, Pillow-compatible channel conversion). */
#include "image/image_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OM_DEFAULT_MAX_PIXELS (100ull * 1000 * 1000)
/* Files larger than this are not images we want to read whole into memory. */
#define OM_MAX_IMAGE_FILE ((size_t)1 << 31)

void om_decode_opts_default(om_decode_opts *o) {
  memset(o, 0, sizeof *o);
  o->channels = 3;
  o->max_pixels = OM_DEFAULT_MAX_PIXELS;
}

int om_image_check_dims(const char *format, uint64_t w, uint64_t h, const om_decode_opts *o,
                        char *err) {
  uint64_t lim = o->max_pixels ? o->max_pixels : OM_DEFAULT_MAX_PIXELS;
  if (w == 0 || h == 0)
    return om_seterr(err, OM_E_FORMAT, "%s: image has zero size (%llux%llu)", format,
                     (unsigned long long)w,
                     (unsigned long long)h);
  /* w, h come from 32-bit header fields, so the product fits in 64 bits. */
  uint64_t px = w * h;
  if (px > lim || w > (uint64_t)1 << 30 || h > (uint64_t)1 << 30)
    return lim >= 1000000
               ? om_seterr(err, OM_E_LIMIT, "image is %llux%llu (%.6g megapixels), over the limit of %.6g "
                           "megapixels (--max-pixels)", (unsigned long long)w, (unsigned long long)h,
                           (double)px / 1e6, (double)lim / 1e6)
               : om_seterr(err, OM_E_LIMIT, "image is %llux%llu (%llu pixels), over the limit of %llu pixels "
                           "(--max-pixels)", (unsigned long long)w, (unsigned long long)h,
                           (unsigned long long)px, (unsigned long long)lim);
  return OM_OK;
}

int om_image_alloc(om_image *img, int w, int h, int c, char *err) {
  size_t n;
  if (w <= 0 || h <= 0 || c <= 0 || om_mul_size((size_t)w, (size_t)h, &n) ||
      om_mul_size(n, (size_t)c, &n))
    return om_seterr(err, OM_E_LIMIT, "image size %dx%dx%d overflows", w, h, c);
  img->px = malloc(n);
  if (!img->px)
    return om_seterr(err, OM_E_NOMEM, "out of memory for a %dx%d image", w, h);
  img->w = w;
  img->h = h;
  img->c = c;
  return OM_OK;
}

static uint8_t blend(unsigned v, unsigned a, unsigned bg) {
  return (uint8_t)((v * a + bg * (255u - a) + 127u) / 255u);
}

void om_px_convert_row(const uint8_t *in, int in_c, uint8_t *out, int out_c, size_t n,
                       const om_decode_opts *o) {
  int comp = o && o->composite_alpha && (in_c == 2 || in_c == 4);
  if (in_c == out_c && (in_c == 1 || in_c == 3)) { /* nothing to convert */
    memmove(out, in, n * (size_t)in_c);
    return;
  }
  const uint8_t *bg = o ? o->background : (const uint8_t *)"\0\0\0";
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = in + i * (size_t)in_c;
    unsigned r, g, b;
    if (in_c <= 2) {
      r = g = b = p[0];
    } else {
      r = p[0];
      g = p[1];
      b = p[2];
    }
    if (comp) {
      unsigned a = p[in_c - 1];
      r = blend(r, a, bg[0]);
      g = blend(g, a, bg[1]);
      b = blend(b, a, bg[2]);
    }
    if (out_c == 3) {
      out[i * 3] = (uint8_t)r;
      out[i * 3 + 1] = (uint8_t)g;
      out[i * 3 + 2] = (uint8_t)b;
    } else {
      /* Pillow's L->L and LA->L keep the gray value as is (luma of r=g=b is r anyway). */
      out[i] = (in_c <= 2 && !comp) ? (uint8_t)r : om_px_luma(r, g, b);
    }
  }
}

/* Printable start of a non-image file for the error message ('<!DOCTYPE'). */
static void describe_start(const uint8_t *buf, size_t len, char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < len && i < 9 && k + 5 < n; i++) {
    if (isprint(buf[i]) && buf[i] != '\'' && buf[i] != '\\')
      s[k++] = (char)buf[i];
    else
      k += (size_t)snprintf(s + k, n - k, "\\x%02x", buf[i]);
  }
  s[k] = 0;
}

static int starts(const uint8_t *buf, size_t len, const char *magic, size_t m) {
  return len >= m && memcmp(buf, magic, m) == 0;
}

/* The format from the magic bytes; NULL when unknown (stb then gets a last try, for TGA). */
static const char *sniff(const uint8_t *b, size_t len) {
  /* SOI alone is enough: anything starting like a JPEG goes to libjpeg, never to stb's JPEG
   * decoder, which has out-of-bounds reads on corrupt Huffman tables (found by fuzz_image). */
  if (starts(b, len, "\xff\xd8", 2)) return "jpeg";
  /* stb's JPEG test also skips 0xFF fill bytes before SOI: "FF FF .. D8" must not reach it
   * either (fuzz_image: assertion and OOB reads in stbi__jpeg_huff_decode). libjpeg refuses it. */
  if (len >= 2 && b[0] == 0xff) {
    size_t i = 0;
    while (i < len && b[i] == 0xff) i++;
    if (i < len && b[i] == 0xd8) return "jpeg";
  }
  if (starts(b, len, "\x89PNG\r\n\x1a\n", 8)) return "png";
  if (starts(b, len, "GIF87a", 6) || starts(b, len, "GIF89a", 6)) return "gif";
  if (starts(b, len, "BM", 2)) return "bmp";
  if (starts(b, len, "8BPS", 4)) return "psd";
  if (starts(b, len, "#?RADIANCE\n", 11) || starts(b, len, "#?RGBE\n", 7)) return "hdr";
  /* Netpbm P1..P6: the magic number must end at whitespace, so text starting "P1:" is not one. */
  if (len >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' &&
      (b[2] == ' ' || (b[2] >= '\t' && b[2] <= '\r')))
    return "pnm";
  if (starts(b, len, "S\x80\xf6\x34", 4)) return "pic";
  return NULL;
}

int om_image_decode(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out,
                    char *err) {
  om_decode_opts def;
  if (!o) {
    om_decode_opts_default(&def);
    o = &def;
  }
  memset(out, 0, sizeof *out);
  if (o->channels != 1 && o->channels != 3)
    return om_seterr(err, OM_E_INVALID, "decode: channels must be 1 or 3, not %d", o->channels);
  if (!buf || len == 0)
    return om_seterr(err, OM_E_FORMAT, "empty file");
  const char *fmt = sniff(buf, len);
  int rc;
  if (fmt && !o->force_stb && strcmp(fmt, "jpeg") == 0)
    rc = om_decode_jpeg(buf, len, o, out, err);
  else if (fmt && !o->force_stb && strcmp(fmt, "png") == 0)
    rc = om_decode_png(buf, len, o, out, err);
  else if (fmt && strcmp(fmt, "pnm") == 0) /* stb is built without PNM */
    rc = om_decode_pnm(buf, len, o, out, err);
  else
    rc = om_decode_stb(buf, len, o, fmt, out, err);
  if (rc == OM_E_UNSUPPORTED && !fmt) {
    char s[64];
    describe_start(buf, len, s, sizeof s);
    rc = om_seterr(err, OM_E_FORMAT, "not an image (starts with '%s')", s);
  }
  if (rc != OM_OK) {
    om_image_free(out);
    return rc;
  }
  if (out->exif_orientation < 1 || out->exif_orientation > 8) out->exif_orientation = 1;
  if (o->apply_exif && out->exif_orientation != 1) {
    rc = om_image_orient(out, out->exif_orientation, err);
    if (rc != OM_OK) om_image_free(out);
  }
  return rc;
}

int om_image_decode_file(const char *path, const om_decode_opts *o, om_image *out, char *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  memset(out, 0, sizeof *out);
  int rc = om_read_file(path, OM_MAX_IMAGE_FILE, &buf, &len, err);
  if (rc != OM_OK) return rc;
  rc = om_image_decode(buf, len, o, out, err);
  free(buf);
  return rc;
}

void om_image_free(om_image *img) {
  if (!img) return;
  free(img->px);
  img->px = NULL;
}
