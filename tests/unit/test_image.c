/* test_image.c: image decoding against Pillow (tools/pillow_ref.py dumps Pillow's pixels at test
 * time): every photo in $OM_SHARED/photos in RGB and L, EXIF orientation (the shared file and all 8
 * orientations of a generated JPEG), DCT downscale sizes, and bad inputs (empty, truncated, text,
 * zero and huge dimensions) giving the right error without crashing. Exit 77 when OM_SHARED,
 * python3 or PIL is missing. */
#include "image/image.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      failures++;                                                                                  \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                  \
      printf(__VA_ARGS__);                                                                         \
      printf("\n");                                                                                \
    }                                                                                              \
  } while (0)

typedef struct {
  int w, h, c;
  uint8_t *px;
} raw_img;

/* Reads a pillow_ref.py dump: "W H C\n" + bytes. */
static int read_raw(const char *path, raw_img *r) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int ok = fscanf(f, "%d %d %d", &r->w, &r->h, &r->c) == 3 && fgetc(f) == '\n' && r->w > 0 &&
           r->h > 0 && r->c > 0;
  size_t n = ok ? (size_t)r->w * r->h * r->c : 0;
  r->px = ok ? malloc(n) : NULL;
  ok = ok && r->px && fread(r->px, 1, n, f) == n;
  fclose(f);
  return ok ? 0 : -1;
}

static char tmpdir[256];
static const char *shared, *srcdir;

static int is_image_name(const char *n) {
  size_t l = strlen(n);
  return n[0] != '.' && !(l > 4 && strcmp(n + l - 4, ".npy") == 0) &&
         !(l > 3 && strcmp(n + l - 3, ".py") == 0);
}

/* Max abs difference, -1 when sizes differ. */
static int max_diff(const om_image *a, const raw_img *b) {
  if (a->w != b->w || a->h != b->h || a->c != b->c) return -1;
  int m = 0;
  for (size_t i = 0; i < (size_t)a->w * a->h * a->c; i++) {
    int d = abs((int)a->px[i] - (int)b->px[i]);
    if (d > m) m = d;
  }
  return m;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static uint32_t crc32_naive(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return c ^ 0xffffffffu;
}

static void put32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A PNG signature + IHDR chunk (valid CRC) with the given size, then nothing else. */
static size_t make_png_header(uint8_t *b, uint32_t w, uint32_t h) {
  memcpy(b, "\x89PNG\r\n\x1a\n", 8);
  put32be(b + 8, 13);
  memcpy(b + 12, "IHDR", 4);
  put32be(b + 16, w);
  put32be(b + 20, h);
  b[24] = 8; b[25] = 2; b[26] = 0; b[27] = 0; b[28] = 0;
  put32be(b + 29, crc32_naive(b + 12, 17));
  return 33;
}

static int expect_error(const uint8_t *buf, size_t len, int code, const char *needle,
                        const char *what) {
  om_decode_opts o;
  om_decode_opts_default(&o);
  om_image img;
  char err[OM_ERR_LEN] = "";
  int rc = om_image_decode(buf, len, &o, &img, err);
  int ok = rc != OM_OK && (code < 0 || rc == code) && (!needle || strstr(err, needle));
  CHECK(ok, "%s: expected error %d containing '%s', got rc=%d '%s'", what, code,
        needle ? needle : "", rc, err);
  printf("  bad input %-34s -> %s\n", what, rc == OM_OK ? "(decoded!)" : err);
  if (rc == OM_OK) om_image_free(&img);
  return ok;
}

static void test_bad_inputs(void) {
  printf("bad inputs:\n");
  expect_error((const uint8_t *)"", 0, OM_E_FORMAT, "empty file", "empty");
  const char *html = "<!DOCTYPE html><html><body>404</body></html>\n";
  expect_error((const uint8_t *)html, strlen(html), OM_E_FORMAT,
               "not an image (starts with '<!DOCTYPE')", "html");
  expect_error((const uint8_t *)"\x01\x02", 2, OM_E_FORMAT, "not an image", "two bytes");

  char path[1024];
  size_t len;
  snprintf(path, sizeof path, "%s/photos/chelsea.jpg", shared);
  uint8_t *jpg = slurp(path, &len);
  CHECK(jpg != NULL, "cannot read %s", path);
  if (jpg) {
    size_t cuts[] = {3, 10, 100, 620, len / 3, len / 2, len - 200};
    for (size_t i = 0; i < OM_ARRAY_LEN(cuts); i++) {
      char what[64];
      snprintf(what, sizeof what, "jpeg truncated at %zu/%zu", cuts[i], len);
      expect_error(jpg, cuts[i], -1, cuts[i] > 1000 ? "Premature end of JPEG file" : "jpeg",
                   what);
    }
    /* SOF0 dimensions patched to 60000x60000 */
    uint8_t *big = malloc(len);
    memcpy(big, jpg, len);
    for (size_t i = 2; i + 9 < len; i++) {
      if (big[i] == 0xff && (big[i + 1] == 0xc0 || big[i + 1] == 0xc2)) {
        big[i + 5] = 60000 >> 8; big[i + 6] = 60000 & 255;
        big[i + 7] = 60000 >> 8; big[i + 8] = 60000 & 255;
        break;
      }
    }
    expect_error(big, len, OM_E_LIMIT, "image is 60000x60000 (3600 megapixels), over the limit "
                 "of 100 megapixels", "jpeg 60000x60000 header");
    free(big);
    /* max_pixels is honoured */
    om_decode_opts o;
    om_decode_opts_default(&o);
    o.max_pixels = 1000;
    om_image img;
    char err[OM_ERR_LEN];
    CHECK(om_image_decode(jpg, len, &o, &img, err) == OM_E_LIMIT, "max_pixels=1000 not enforced");
    free(jpg);
  }

  snprintf(path, sizeof path, "%s/photos/coffee.png", shared);
  uint8_t *png = slurp(path, &len);
  CHECK(png != NULL, "cannot read %s", path);
  if (png) {
    size_t cuts[] = {8, 20, 40, 200, len / 2, len - 20};
    for (size_t i = 0; i < OM_ARRAY_LEN(cuts); i++) {
      char what[64];
      snprintf(what, sizeof what, "png truncated at %zu/%zu", cuts[i], len);
      expect_error(png, cuts[i], OM_E_FORMAT, cuts[i] > 33 ? "truncated" : "libpng", what);
    }
    uint8_t flip[256];
    memcpy(flip, png, 256);
    flip[20] ^= 0x55; /* IHDR content: CRC no longer matches */
    expect_error(flip, 256, OM_E_FORMAT, "CRC", "png IHDR bad CRC");
    free(png);
  }
  uint8_t b[64];
  size_t n = make_png_header(b, 60000, 60000);
  expect_error(b, n, OM_E_LIMIT, "60000x60000 (3600 megapixels)", "png 60000x60000 header");
  n = make_png_header(b, 0, 10);
  expect_error(b, n, OM_E_FORMAT, "libpng", "png zero width");

  /* BMP header claiming 0x5 and 40000x40000 */
  uint8_t bmp[54 + 16] = {'B', 'M'};
  bmp[10] = 54;
  bmp[14] = 40;
  bmp[26] = 1;
  bmp[28] = 24;
  bmp[22] = 5;
  expect_error(bmp, sizeof bmp, OM_E_FORMAT, "bmp: image has zero size", "bmp zero width");
  bmp[18] = 0x40; bmp[19] = 0x9c; /* 40000 */
  bmp[22] = 0x40; bmp[23] = 0x9c;
  expect_error(bmp, sizeof bmp, OM_E_LIMIT, "40000x40000 (1600 megapixels)", "bmp 40000x40000");
  expect_error((const uint8_t *)"GIF89a\x10\x00\x10\x00", 10, OM_E_FORMAT, "gif", "gif truncated");
}

int main(void) {
  shared = getenv("OM_SHARED");
  srcdir = getenv("OM_SOURCE_DIR");
  char path[1024], cmd[4096];
  if (!shared || !srcdir) {
    printf("SKIP: OM_SHARED / OM_SOURCE_DIR not set\n");
    return 77;
  }
  snprintf(path, sizeof path, "%s/photos", shared);
  DIR *d = opendir(path);
  if (!d) {
    printf("SKIP: no %s\n", path);
    return 77;
  }
  if (system("/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null") != 0) {
    printf("SKIP: /usr/bin/python3 with PIL and numpy is needed for the reference pixels\n");
    closedir(d);
    return 77;
  }
  snprintf(tmpdir, sizeof tmpdir, "/tmp/om_test_image_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    printf("FAIL: mkdtemp\n");
    return 1;
  }

  char *names[128];
  int nn = 0;
  struct dirent *e;
  while ((e = readdir(d)) && nn < 128)
    if (is_image_name(e->d_name)) names[nn++] = strdup(e->d_name);
  closedir(d);

  /* One python run writes every reference dump. */
  char cmdfile[512];
  snprintf(cmdfile, sizeof cmdfile, "%s/cmds", tmpdir);
  FILE *cf = fopen(cmdfile, "w");
  for (int i = 0; i < nn; i++) {
    if (strstr(names[i], "gray16")) {
      fprintf(cf, "gray16 %s/photos/%s %s/%s.L\n", shared, names[i], tmpdir, names[i]);
      continue;
    }
    fprintf(cf, "decode RGB %s/photos/%s %s/%s.RGB\n", shared, names[i], tmpdir, names[i]);
    fprintf(cf, "decode L %s/photos/%s %s/%s.L\n", shared, names[i], tmpdir, names[i]);
  }
  const char *corpus[] = {"rgb.png", "rgb_interlaced.png", "rgba.png", "gray.png", "gray_alpha.png",
                          "palette_trns.png", "bilevel.png", "base.jpg", "prog.jpg", "gray.jpg",
                          "cmyk.jpg", "sub444.jpg", "img.gif", "img.bmp", "img.ppm", "img.pgm",
                          "img.tga"};
  for (size_t i = 0; i < OM_ARRAY_LEN(corpus); i++)
    fprintf(cf, "decode RGB %s/tests/fuzz/corpus/image/%s %s/c_%s.RGB\n", srcdir, corpus[i], tmpdir,
            corpus[i]);
  fprintf(cf, "exif %s/photos/chelsea_exif6.jpg %s/exif6.RGB\n", shared, tmpdir);
  for (int k = 1; k <= 8; k++) fprintf(cf, "mkexif %d %s/o%d.jpg %s/o%d.RGB\n", k, tmpdir, k, tmpdir, k);
  fclose(cf);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/pillow_ref.py < %s", srcdir, cmdfile);
  if (system(cmd) != 0) {
    printf("FAIL: %s\n", cmd);
    return 1;
  }

  printf("%-28s %-6s %-10s %8s %8s %10s\n", "file", "format", "size", "RGB diff", "L diff",
         "stb diff");
  for (int i = 0; i < nn; i++) {
    const char *n = names[i];
    int is16 = strstr(n, "gray16") != NULL;
    int diffs[3] = {-2, -2, -2}; /* RGB, L, stb RGB */
    const char *fmt = "?";
    int w = 0, h = 0;
    for (int mode = 0; mode < 3; mode++) {
      if (is16 && mode != 1) continue;
      om_decode_opts o;
      om_decode_opts_default(&o);
      o.channels = mode == 1 ? 1 : 3;
      o.force_stb = mode == 2;
      om_image img;
      char err[OM_ERR_LEN];
      snprintf(path, sizeof path, "%s/photos/%s", shared, n);
      int rc = om_image_decode_file(path, &o, &img, err);
      CHECK(rc == OM_OK, "%s (mode %d): %s", n, mode, err);
      if (rc != OM_OK) continue;
      fmt = mode == 2 ? fmt : img.format;
      w = img.w;
      h = img.h;
      raw_img ref = {0};
      snprintf(path, sizeof path, "%s/%s.%s", tmpdir, n, mode == 1 ? "L" : "RGB");
      CHECK(read_raw(path, &ref) == 0, "cannot read reference %s", path);
      diffs[mode] = ref.px ? max_diff(&img, &ref) : -1;
      free(ref.px);
      om_image_free(&img);
    }
    printf("%-28s %-6s %4dx%-5d %8d %8d %10d\n", n, fmt, w, h, diffs[0], diffs[1], diffs[2]);
    /* libjpeg-turbo / libpng / stb for BMP, GIF, PPM: exactly Pillow's pixels. */
    if (!is16) CHECK(diffs[0] == 0, "%s: RGB differs from Pillow by %d", n, diffs[0]);
    CHECK(diffs[1] == 0, "%s: L differs from Pillow by %d", n, diffs[1]);
    /* stb's own JPEG decoder differs by a few levels (reported, loosely bounded); PNG/BMP exact. */
    if (!is16 && strcmp(fmt, "jpeg") != 0)
      CHECK(diffs[2] == 0, "%s: stb_image differs from Pillow by %d", n, diffs[2]);
    if (!is16 && strcmp(fmt, "jpeg") == 0 && !strstr(n, "cmyk"))
      CHECK(diffs[2] >= 0 && diffs[2] <= 64, "%s: stb JPEG differs by %d", n, diffs[2]);
  }

  /* Small generated files (the fuzz seed corpus): interlaced, 1-bit, palette+tRNS, TGA, PGM. */
  for (size_t i = 0; i < OM_ARRAY_LEN(corpus); i++) {
    om_decode_opts o;
    om_decode_opts_default(&o);
    om_image img;
    char err[OM_ERR_LEN];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", srcdir, corpus[i]);
    int rc = om_image_decode_file(path, &o, &img, err);
    CHECK(rc == OM_OK, "%s: %s", corpus[i], err);
    if (rc != OM_OK) continue;
    raw_img ref = {0};
    snprintf(path, sizeof path, "%s/c_%s.RGB", tmpdir, corpus[i]);
    read_raw(path, &ref);
    int dd = max_diff(&img, &ref);
    printf("corpus %-20s %-5s %dx%d diff vs Pillow %d\n", corpus[i], img.format, img.w, img.h, dd);
    CHECK(dd == 0, "%s: differs from Pillow by %d", corpus[i], dd);
    free(ref.px);
    om_image_free(&img);
  }

  /* EXIF: the shared file is stored rotated with orientation 6. */
  {
    om_decode_opts o;
    om_decode_opts_default(&o);
    om_image img;
    char err[OM_ERR_LEN];
    snprintf(path, sizeof path, "%s/photos/chelsea_exif6.jpg", shared);
    CHECK(om_image_decode_file(path, &o, &img, err) == OM_OK, "exif6: %s", err);
    CHECK(img.exif_orientation == 6 && img.w == 300 && img.h == 451,
          "exif6 without apply: orientation %d size %dx%d", img.exif_orientation, img.w, img.h);
    om_image_free(&img);
    o.apply_exif = 1;
    CHECK(om_image_decode_file(path, &o, &img, err) == OM_OK, "exif6: %s", err);
    raw_img ref = {0};
    snprintf(path, sizeof path, "%s/exif6.RGB", tmpdir);
    read_raw(path, &ref);
    int dd = max_diff(&img, &ref);
    CHECK(img.w == 451 && img.h == 300 && dd == 0, "exif6 applied: %dx%d diff %d", img.w, img.h, dd);
    printf("chelsea_exif6.jpg applied: %dx%d, diff vs Pillow exif_transpose %d\n", img.w, img.h, dd);
    free(ref.px);
    om_image_free(&img);
  }
  for (int k = 1; k <= 8; k++) {
    om_decode_opts o;
    om_decode_opts_default(&o);
    o.apply_exif = 1;
    om_image img;
    char err[OM_ERR_LEN];
    snprintf(path, sizeof path, "%s/o%d.jpg", tmpdir, k);
    int rc = om_image_decode_file(path, &o, &img, err);
    CHECK(rc == OM_OK, "orientation %d: %s", k, err);
    if (rc != OM_OK) continue;
    raw_img ref = {0};
    snprintf(path, sizeof path, "%s/o%d.RGB", tmpdir, k);
    read_raw(path, &ref);
    int dd = max_diff(&img, &ref);
    CHECK(img.exif_orientation == k && dd == 0, "orientation %d: found %d, %dx%d, diff %d", k,
          img.exif_orientation, img.w, img.h, dd);
    free(ref.px);
    om_image_free(&img);
  }
  printf("EXIF orientations 1..8 vs Pillow exif_transpose: checked\n");

  /* DCT downscale: the largest 1/2^k reduction that still covers the minimum. */
  {
    struct { int minw, minh, ew, eh; } cases[] = {
        {256, 256, 750, 500}, {300, 200, 375, 250}, {0, 0, 3000, 2000}, {1600, 10, 3000, 2000},
        {1500, 1000, 1500, 1000}};
    snprintf(path, sizeof path, "%s/photos/astronaut_3000x2000.jpg", shared);
    for (size_t i = 0; i < OM_ARRAY_LEN(cases); i++) {
      om_decode_opts o;
      om_decode_opts_default(&o);
      o.jpeg_min_w = cases[i].minw;
      o.jpeg_min_h = cases[i].minh;
      om_image img;
      char err[OM_ERR_LEN];
      int rc = om_image_decode_file(path, &o, &img, err);
      CHECK(rc == OM_OK && img.w == cases[i].ew && img.h == cases[i].eh && img.src_w == 3000 &&
                img.src_h == 2000,
            "DCT scale min %dx%d: got %dx%d (src %dx%d), want %dx%d", cases[i].minw, cases[i].minh,
            img.w, img.h, img.src_w, img.src_h, cases[i].ew, cases[i].eh);
      if (rc == OM_OK) om_image_free(&img);
    }
  }

  test_bad_inputs();

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
  for (int i = 0; i < nn; i++) free(names[i]);
  printf(failures ? "%d FAILURES\n" : "all image tests passed\n", failures);
  return failures ? 1 : 0;
}
