/* mask.c: segmentation masks: argmax, nearest resize, VOC palette, PNG writing (see mask.h). */
#include "io/mask.h"

#include <errno.h>
#include <png.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int om_mask_argmax(const float *logits, int C, int H, int W, uint8_t *cls, char *err) {
  if (C < 1 || C > 256 || H < 1 || W < 1)
    return om_seterr(err, OM_E_UNSUPPORTED, "mask: %d classes of %dx%d (need 1..256 classes)", C, H, W);
  size_t plane = (size_t)H * (size_t)W;
  float *best = malloc(plane * sizeof *best);
  if (!best) return om_seterr(err, OM_E_NOMEM, "mask: out of memory for %zu pixels", plane);
  /* Class-major sweep: reads each plane contiguously instead of striding by H*W per pixel. */
  memcpy(best, logits, plane * sizeof *best);
  memset(cls, 0, plane);
  for (int c = 1; c < C; c++) {
    const float *p = logits + (size_t)c * plane;
    for (size_t i = 0; i < plane; i++)
      if (p[i] > best[i] || (best[i] != best[i] && p[i] == p[i])) {
        best[i] = p[i];
        cls[i] = (uint8_t)c;
      }
  }
  free(best);
  return OM_OK;
}

void om_mask_resize_nearest(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
  for (int y = 0; y < dh; y++) {
    long long sy = ((2LL * y + 1) * sh) / (2LL * dh);
    if (sy > sh - 1) sy = sh - 1;
    const uint8_t *row = src + (size_t)sy * (size_t)sw;
    uint8_t *out = dst + (size_t)y * (size_t)dw;
    for (int x = 0; x < dw; x++) {
      long long sx = ((2LL * x + 1) * sw) / (2LL * dw);
      if (sx > sw - 1) sx = sw - 1;
      out[x] = row[sx];
    }
  }
}

void om_mask_voc_palette(uint8_t pal[768]) {
  for (int i = 0; i < 256; i++) {
    int c = i, r = 0, g = 0, b = 0;
    for (int j = 0; j < 8; j++) {
      r |= (c & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    pal[3 * i] = (uint8_t)r;
    pal[3 * i + 1] = (uint8_t)g;
    pal[3 * i + 2] = (uint8_t)b;
  }
}

/* '%' -> %25, '/' -> %2F and a leading '.' -> %2E (an input "./a.png" or "../a.png" would
 * otherwise give a hidden file): one-to-one, so distinct inputs never share a mask. */
static int esc_len(const char *in, const char *p) { return (*p == '/' || *p == '%' || (p == in && *p == '.')) ? 3 : 1; }

int om_mask_path(const char *dir, const char *input, char **out, char *err) {
  size_t n = 0;
  for (const char *p = input; *p; p++) n += (size_t)esc_len(input, p);
  n += 4; /* ".png" */
  if (n > 255)
    return om_seterr(err, OM_E_LIMIT, "mask file name for this path would be %zu bytes (limit 255)", n);
  size_t dl = strlen(dir);
  char *s = malloc(dl + 1 + n + 1);
  if (!s) return om_seterr(err, OM_E_NOMEM, "out of memory for a mask file name");
  memcpy(s, dir, dl);
  char *q = s + dl;
  *q++ = '/';
  for (const char *p = input; *p; p++) {
    if (esc_len(input, p) == 1) {
      *q++ = *p;
    } else {
      memcpy(q, *p == '/' ? "%2F" : *p == '%' ? "%25" : "%2E", 3);
      q += 3;
    }
  }
  memcpy(q, ".png", 5);
  *out = s;
  return OM_OK;
}

typedef struct {
  char msg[200];
} png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
  png_err_ctx *e = png_get_error_ptr(png);
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Encodes into an open FILE; 0 or -1 with e->msg set. Kept apart so setjmp sees no locals that
 * change after it. */
static int encode_png(FILE *f, const uint8_t *idx, int w, int h, png_err_ctx *e) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, on_png_error, on_png_warning);
  if (!png) {
    snprintf(e->msg, sizeof e->msg, "cannot create a libpng writer");
    return -1;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    if (!info) snprintf(e->msg, sizeof e->msg, "cannot create a libpng info struct");
    png_destroy_write_struct(&png, info ? &info : NULL);
    return -1;
  }
  uint8_t pal[768];
  png_color colors[256];
  om_mask_voc_palette(pal);
  for (int i = 0; i < 256; i++) {
    colors[i].red = pal[3 * i];
    colors[i].green = pal[3 * i + 1];
    colors[i].blue = pal[3 * i + 2];
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_PALETTE,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_PLTE(png, info, colors, 256);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(idx + (size_t)y * (size_t)w));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

int om_mask_write_png(const char *path, const uint8_t *idx, int w, int h, char *err) {
  static atomic_uint counter;
  if (w < 1 || h < 1) return om_seterr(err, OM_E_INVALID, "mask %s: empty size %dx%d", path, w, h);
  const char *slash = strrchr(path, '/');
  size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
  size_t cap = dl + 64;
  char *tmp = malloc(cap);
  if (!tmp) return om_seterr(err, OM_E_NOMEM, "out of memory for a mask file name");
  /* pid + a process-wide counter: two threads never share a temp file. Not named after the mask,
   * whose name may already be near the 255-byte limit. */
  snprintf(tmp, cap, "%.*s.ompredict-mask.tmp.%ld.%u", (int)dl, path, (long)getpid(),
           atomic_fetch_add(&counter, 1u));
  FILE *f = fopen(tmp, "wbx");
  if (!f) {
    int st = om_seterr(err, OM_E_IO, "mask %s: cannot create a temporary file %s: %s", path, tmp,
                       strerror(errno));
    free(tmp);
    return st;
  }
  png_err_ctx e = {""};
  int bad = encode_png(f, idx, w, h, &e);
  int st = OM_OK;
  if (bad) st = om_seterr(err, OM_E_IO, "mask %s: libpng: %s", path, e.msg);
  else if (fflush(f) != 0 || ferror(f))
    st = om_seterr(err, OM_E_IO, "mask %s: write error: %s", path, strerror(errno));
  if (fclose(f) != 0 && !st)
    st = om_seterr(err, OM_E_IO, "mask %s: write error: %s", path, strerror(errno));
  if (!st && rename(tmp, path) != 0)
    st = om_seterr(err, OM_E_IO, "mask %s: cannot rename the temporary file: %s", path, strerror(errno));
  if (st) unlink(tmp);
  free(tmp);
  return st;
}

int om_mask_write(const char *dir, const char *input, const float *logits, int C, int H, int W,
                  int out_w, int out_h, char *err) {
  size_t src_n, dst_n;
  if (out_w < 1 || out_h < 1 || H < 1 || W < 1 || om_mul_size((size_t)H, (size_t)W, &src_n) ||
      om_mul_size((size_t)out_w, (size_t)out_h, &dst_n))
    return om_seterr(err, OM_E_LIMIT, "mask: bad size %dx%d -> %dx%d", W, H, out_w, out_h);
  char *path = NULL;
  int st = om_mask_path(dir, input, &path, err);
  if (st) return st;
  uint8_t *cls = malloc(src_n), *big = (out_w == W && out_h == H) ? NULL : malloc(dst_n);
  if (!cls || (!big && !(out_w == W && out_h == H))) {
    st = om_seterr(err, OM_E_NOMEM, "mask: out of memory for %zu pixels", dst_n);
    goto done;
  }
  if ((st = om_mask_argmax(logits, C, H, W, cls, err))) goto done;
  if (big) om_mask_resize_nearest(cls, W, H, big, out_w, out_h);
  st = om_mask_write_png(path, big ? big : cls, out_w, out_h, err);
done:
  free(cls);
  free(big);
  free(path);
  return st;
}
