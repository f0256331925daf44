/* test_mask.c: io/mask.h against independent references written here: a naive per-pixel argmax,
 * nearest resize by floating-point centre mapping, the VOC colour map's published first entries,
 * the file-name mapping (injective, length limit) and a PNG round trip through libpng's reader. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/mask.h"

#include "check.h"

static unsigned rnd_state = 12345u;
static unsigned rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return rnd_state >> 8;
}

static void test_argmax(void) {
  enum { C = 5, H = 7, W = 9 };
  static float l[C * H * W];
  uint8_t got[H * W];
  char err[OM_ERR_LEN];
  for (int i = 0; i < C * H * W; i++) l[i] = (float)(rnd() % 7); /* many ties */
  l[0] = NAN;                                                    /* pixel 0: class 0 is NaN */
  l[2 * H * W + 1] = NAN;
  CHECK(om_mask_argmax(l, C, H, W, got, err) == OM_OK, "argmax: %s", err);
  for (int p = 0; p < H * W; p++) {
    int best = -1; /* first maximum over the non-NaN values */
    for (int c = 0; c < C; c++) {
      float v = l[c * H * W + p];
      if (v != v) continue;
      if (best < 0 || v > l[best * H * W + p]) best = c;
    }
    CHECK(got[p] == best, "argmax pixel %d: got %d want %d", p, got[p], best);
  }
  CHECK(om_mask_argmax(l, 257, 1, 1, got, err) == OM_E_UNSUPPORTED, "257 classes accepted");
  CHECK(strstr(err, "257") != NULL, "message: %s", err);
}

static void test_resize(void) {
  const int sizes[][4] = {{11, 11, 32, 32}, {5, 7, 451, 300}, {7, 5, 3, 2}, {1, 1, 4, 3}, {9, 4, 9, 4}};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    int sw = sizes[s][0], sh = sizes[s][1], dw = sizes[s][2], dh = sizes[s][3];
    uint8_t *src = malloc((size_t)sw * sh), *dst = malloc((size_t)dw * dh);
    for (int i = 0; i < sw * sh; i++) src[i] = (uint8_t)rnd();
    om_mask_resize_nearest(src, sw, sh, dst, dw, dh);
    int bad = 0;
    for (int y = 0; y < dh; y++)
      for (int x = 0; x < dw; x++) {
        int sx = (int)floor((x + 0.5) * sw / dw), sy = (int)floor((y + 0.5) * sh / dh);
        if (sx > sw - 1) sx = sw - 1;
        if (sy > sh - 1) sy = sh - 1;
        bad += dst[y * dw + x] != src[sy * sw + sx];
      }
    CHECK(bad == 0, "resize %dx%d -> %dx%d: %d pixels differ", sw, sh, dw, dh, bad);
    free(src);
    free(dst);
  }
}

static void test_palette(void) {
  /* The VOC colour map as printed in the dataset's devkit (VOClabelcolormap.m) for classes 0..8,
   * and 255 (the "void" label, (224,224,192)). */
  static const uint8_t want[][3] = {{0, 0, 0},     {128, 0, 0},   {0, 128, 0},
                                    {128, 128, 0}, {0, 0, 128},   {128, 0, 128},
                                    {0, 128, 128}, {128, 128, 128}, {64, 0, 0}};
  uint8_t pal[768];
  om_mask_voc_palette(pal);
  for (int c = 0; c < 9; c++)
    CHECK(memcmp(pal + 3 * c, want[c], 3) == 0, "palette %d: %d,%d,%d", c, pal[3 * c],
          pal[3 * c + 1], pal[3 * c + 2]);
  CHECK(pal[765] == 224 && pal[766] == 224 && pal[767] == 192, "palette 255: %d,%d,%d", pal[765],
        pal[766], pal[767]);
}

static void test_names(void) {
  char err[OM_ERR_LEN], *a = NULL, *b = NULL;
  CHECK(om_mask_path("d", "a/b.jpg", &a, err) == OM_OK && strcmp(a, "d/a%2Fb.jpg.png") == 0, "%s", a);
  CHECK(om_mask_path("d", "a%2Fb.jpg", &b, err) == OM_OK && strcmp(b, "d/a%252Fb.jpg.png") == 0, "%s", b);
  CHECK(a && b && strcmp(a, b) != 0, "a/b and a%%2Fb collide");
  free(a);
  free(b);
  CHECK(om_mask_path("d", "/x/..", &a, err) == OM_OK && strcmp(a, "d/%2Fx%2F...png") == 0, "%s", a);
  free(a);
  /* a leading '.' (inputs "./a.png", "../a.png" from expanding "."): no hidden mask file */
  CHECK(om_mask_path("d", "./a.png", &a, err) == OM_OK && strcmp(a, "d/%2E%2Fa.png.png") == 0, "%s", a);
  free(a);
  CHECK(om_mask_path("d", "..%2E", &a, err) == OM_OK && strcmp(a, "d/%2E.%252E.png") == 0, "%s", a);
  free(a);
  char longp[300];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  a = NULL;
  CHECK(om_mask_path("d", longp, &a, err) == OM_E_LIMIT && !a, "long name accepted");
  longp[251] = 0; /* 251 + ".png" = 255: the limit itself is fine */
  CHECK(om_mask_path("d", longp, &a, err) == OM_OK, "255-byte name refused: %s", err);
  free(a);
}

/* a mask name at the 255-byte limit is written: its temporary file is not named after it */
static void test_long_name_write(void) {
  char dir[] = "/tmp/om_test_mask_XXXXXX", err[OM_ERR_LEN], longp[252];
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp failed");
    return;
  }
  memset(longp, 'y', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  char *path = NULL;
  uint8_t idx[4] = {0, 1, 2, 3};
  CHECK(om_mask_path(dir, longp, &path, err) == OM_OK, "%s", err);
  CHECK(path && om_mask_write_png(path, idx, 2, 2, err) == OM_OK, "255-byte mask name not written: %s", err);
  if (path) unlink(path);
  free(path);
  rmdir(dir);
}

static void test_png_roundtrip(void) {
  char dir[] = "/tmp/om_test_mask_XXXXXX", path[128], err[OM_ERR_LEN];
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp failed");
    return;
  }
  snprintf(path, sizeof path, "%s/m.png", dir);
  enum { W = 13, H = 6 };
  uint8_t idx[W * H];
  for (int i = 0; i < W * H; i++) idx[i] = (uint8_t)(rnd() % 21);
  CHECK(om_mask_write_png(path, idx, W, H, err) == OM_OK, "write: %s", err);
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  CHECK(png_image_begin_read_from_file(&im, path), "read: %s", im.message);
  CHECK(im.width == W && im.height == H && (im.format & PNG_FORMAT_FLAG_COLORMAP),
        "%ux%u format %u", im.width, im.height, im.format);
  im.format = PNG_FORMAT_RGB;
  uint8_t rgb[W * H * 3], pal[768];
  CHECK(png_image_finish_read(&im, NULL, rgb, 0, NULL), "decode: %s", im.message);
  om_mask_voc_palette(pal);
  int bad = 0;
  for (int i = 0; i < W * H; i++) bad += memcmp(rgb + 3 * i, pal + 3 * idx[i], 3) != 0;
  CHECK(bad == 0, "%d pixels have the wrong colour", bad);
  CHECK(om_mask_write_png("/nonexistent_dir_om/m.png", idx, W, H, err) == OM_E_IO &&
            strstr(err, "nonexistent_dir_om"), "unwritable dir: %s", err);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  test_argmax();
  test_resize();
  test_palette();
  test_names();
  test_long_name_write();
  test_png_roundtrip();
  if (failures) fprintf(stderr, "test_mask: %d failures\n", failures);
  else printf("test_mask: ok\n");
  return failures ? 1 : 0;
}
