/* test_image.c: image decoding against Pillow (tools/pillow_ref.py dumps Pillow's pixels at test
 * time): every photo in $OM_SHARED/photos in RGB and L, EXIF orientation (the shared file and all 8
 * orientations of a generated JPEG), DCT downscale sizes, and bad inputs (empty, truncated, text,
 * zero and huge dimensions) giving the right error without crashing. Files made here with known
 * pixels (RLE TGA, PSD, HDR, PIC; Netpbm P1..P6 written by hand) against those pixels and Pillow,
 * and every stb format and Netpbm cut inside its pixel data giving a "truncated" error. Exit 77
 * when OM_SHARED, python3 or PIL is missing. */
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

/* ---- Generated files with known pixels (TGA RLE, PSD raw/RLE, HDR flat/RLE, PIC, Netpbm P1..P6)
 * and truncations of every format stb decodes. ---- */

typedef struct {
  uint8_t b[4096];
  size_t n;
} bytes;

static void bput(bytes *o, const void *p, size_t n) {
  if (o->n + n > sizeof o->b) abort();
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void bput8(bytes *o, unsigned v) {
  uint8_t c = (uint8_t)v;
  bput(o, &c, 1);
}
static void bput16be(bytes *o, unsigned v) { bput8(o, v >> 8), bput8(o, v & 255); }
static void bput32be(bytes *o, uint32_t v) { bput16be(o, v >> 16), bput16be(o, v & 0xffff); }
static void bputs(bytes *o, const char *s) { bput(o, s, strlen(s)); }

/* The known image: 9x3 RGB, every sample one of 4 levels, the first 4 pixels of a row alike (runs
 * for the RLE encoders). 9 wide, so HDR uses its run-length scanlines. */
enum { GW = 9, GH = 3 };
static int level(int x, int y, int c) { return x < 4 ? 3 : (x + 2 * y + c) % 4; }
static const uint8_t level8[4] = {15, 95, 175, 255};
/* HDR: mantissas 0, 32, 64, 128 with exponent 129 are 0, 0.25, 0.5, 1.0; stb's tonemap,
 * (v^(1/2.2)) * 255 + 0.5 truncated, makes them these. */
static const uint8_t level_hdr_mant[4] = {0, 32, 64, 128}, level_hdr8[4] = {0, 136, 186, 255};

/* For the run-length encoders below: how many samples of `stride` bytes from sample i on (of n)
 * are alike, at most maxrun. They write a run for 2 or more, else a literal of one sample. */
static size_t run_len(const uint8_t *p, size_t i, size_t n, size_t stride, size_t maxrun) {
  size_t k = 1;
  while (i + k < n && k < maxrun && memcmp(p + i * stride, p + (i + k) * stride, stride) == 0) k++;
  return k;
}

static void sample_row(int y, int c, uint8_t *row, const uint8_t *map) {
  for (int x = 0; x < GW; x++) row[x] = map[level(x, y, c)];
}

static void make_tga_rle(bytes *o, int variant) {
  (void)variant;
  uint8_t hdr[18] = {0, 0, 10}; /* no id, no colour map, RLE true colour */
  hdr[12] = GW, hdr[14] = GH, hdr[16] = 24, hdr[17] = 0x20; /* top-left origin */
  bput(o, hdr, sizeof hdr);
  for (int y = 0; y < GH; y++) {
    uint8_t bgr[GW * 3];
    for (int x = 0; x < GW; x++)
      for (int c = 0; c < 3; c++) bgr[x * 3 + 2 - c] = level8[level(x, y, c)];
    for (size_t x = 0; x < GW;) {
      size_t k = run_len(bgr, x, GW, 3, 128);
      bput8(o, k > 1 ? 0x80 | (unsigned)(k - 1) : 0); /* a run, or a raw packet of one pixel */
      bput(o, bgr + x * 3, 3);
      x += k;
    }
  }
}

static void make_psd(bytes *o, int rle) {
  bputs(o, "8BPS");
  bput16be(o, 1);
  bput(o, "\0\0\0\0\0\0", 6);
  bput16be(o, 3), bput32be(o, GH), bput32be(o, GW), bput16be(o, 8), bput16be(o, 3); /* RGB */
  bput32be(o, 0), bput32be(o, 0), bput32be(o, 0); /* colour mode data, resources, layers */
  bput16be(o, (unsigned)rle);
  uint8_t rows[3][GH][GW], packed[3][GH][2 * GW];
  size_t plen[3][GH];
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < GH; y++) {
      sample_row(y, c, rows[c][y], level8);
      size_t n = 0;
      for (size_t x = 0; x < GW;) { /* PackBits: 1-k then the byte for a run, 0 then one byte */
        size_t k = run_len(rows[c][y], x, GW, 1, 128);
        packed[c][y][n++] = (uint8_t)(k > 1 ? 257 - k : 0);
        packed[c][y][n++] = rows[c][y][x];
        x += k;
      }
      plen[c][y] = n;
    }
  if (!rle) {
    bput(o, rows, sizeof rows); /* planar: all of R, then G, then B */
    return;
  }
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < GH; y++) bput16be(o, (unsigned)plen[c][y]);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < GH; y++) bput(o, packed[c][y], plen[c][y]);
}

static void make_hdr(bytes *o, int rle) {
  char head[96];
  snprintf(head, sizeof head, "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n", GH, GW);
  bputs(o, head);
  for (int y = 0; y < GH; y++) {
    uint8_t comp[4][GW];
    for (int c = 0; c < 3; c++) sample_row(y, c, comp[c], level_hdr_mant);
    memset(comp[3], 129, GW);
    if (!rle) { /* flat: the first pixel's R is not 2, so stb reads the whole image flat */
      for (int x = 0; x < GW; x++)
        for (int c = 0; c < 4; c++) bput8(o, comp[c][x]);
      continue;
    }
    bput8(o, 2), bput8(o, 2), bput16be(o, GW);
    for (int c = 0; c < 4; c++)
      for (size_t x = 0; x < GW;) { /* 128+k then the byte for a run, 1 then one byte */
        size_t k = run_len(comp[c], x, GW, 1, 127);
        bput8(o, k > 1 ? 128 + (unsigned)k : 1);
        bput8(o, comp[c][x]);
        x += k;
      }
  }
}

static void make_pic(bytes *o, int variant) {
  (void)variant;
  bputs(o, "\x53\x80\xf6\x34");
  for (int i = 0; i < 84; i++) bput8(o, 0);
  bputs(o, "PICT");
  bput16be(o, GW), bput16be(o, GH), bput32be(o, 0x3f800000), bput16be(o, 3), bput16be(o, 0);
  bput8(o, 0), bput8(o, 8), bput8(o, 2), bput8(o, 0xe0); /* one packet: mixed RLE, R G B */
  for (int y = 0; y < GH; y++) {
    uint8_t rgb[GW * 3];
    for (int x = 0; x < GW; x++)
      for (int c = 0; c < 3; c++) rgb[x * 3 + c] = level8[level(x, y, c)];
    for (size_t x = 0; x < GW;) { /* 127+k then the pixel for a run, 0 then one pixel */
      size_t k = run_len(rgb, x, GW, 3, 127);
      bput8(o, k > 1 ? 127 + (unsigned)k : 0);
      bput(o, rgb + x * 3, 3);
      x += k;
    }
  }
}

typedef struct {
  const char *name;
  void (*make)(bytes *o, int variant);
  int variant;
  const uint8_t *map; /* level -> expected 8-bit sample */
  int pillow;         /* Pillow reads it: compare with Pillow too */
  size_t header;      /* bytes before the pixel data */
} gen_case;

static const gen_case gen_cases[] = {
    {"gen_rle.tga", make_tga_rle, 0, level8, 1, 18},
    {"gen_raw.psd", make_psd, 0, level8, 1, 40},
    {"gen_rle.psd", make_psd, 1, level8, 1, 40},
    {"gen_flat.hdr", make_hdr, 0, level_hdr8, 0, 45},
    {"gen_rle.hdr", make_hdr, 1, level_hdr8, 0, 45},
    {"gen_mixed.pic", make_pic, 0, level8, 0, 108},
};

/* Netpbm files written by hand, with the 8-bit samples they must give (Pillow's mapping,
 * round(v / maxval * 255), ties to even). pillow: 1 where Pillow's convert() gives the same bytes
 * (not for 16-bit gray, which Pillow clips, nor a comment right after maxval, which it
 * misreads). */
typedef struct {
  const char *name, *data;
  size_t len;
  int w, h, c;
  uint8_t want[18];
  int pillow;
} pnm_case;

#define PNM(name, lit, w, h, c, pillow, ...)                                                     \
  {name, lit, sizeof lit - 1, w, h, c, {__VA_ARGS__}, pillow}
static const pnm_case pnm_cases[] = {
    PNM("p1_packed.pbm", "P1\n# a comment\n3 2\n101\n010\n", 3, 2, 1, 1, 0, 255, 0, 255, 0, 255),
    PNM("p1_spaced.pbm", "P1 3\t2\r\n1 0 1\r\n0 1 0\r\n", 3, 2, 1, 1, 0, 255, 0, 255, 0, 255),
    /* row padding bits set, to be ignored */
    PNM("p4.pbm", "P4\n#c\n3 2\n\xbf\x5f", 3, 2, 1, 1, 0, 255, 0, 255, 0, 255),
    PNM("p4_wide.pbm", "P4 9 1\n\x80\x80", 9, 1, 1, 1, 0, 255, 255, 255, 255, 255, 255, 255, 0),
    PNM("p2_255.pgm", "P2\n3 2\n255\n0 1 2\n128 254 255\n", 3, 2, 1, 1, 0, 1, 2, 128, 254, 255),
    PNM("p2_15.pgm", "P2\n# c\n3 2\n15\n0 1 2 # in the raster\n3 14 15", 3, 2, 1, 1, 0, 17, 34, 51,
        238, 255),
    /* 500/1000*255 = 127.5: to even, 128 */
    PNM("p2_1000.pgm", "P2 3 2 1000 0 500 1000 4 2 998\n", 3, 2, 1, 0, 0, 128, 255, 1, 1, 254),
    PNM("p3_255.ppm", "P3\n2 1\n255\n1 2 3  250 251 252\n", 2, 1, 3, 1, 1, 2, 3, 250, 251, 252),
    PNM("p3_65535.ppm", "P3\n2 1\n65535\n0 65535 257 514 32896 65280\n", 2, 1, 3, 1, 0, 255, 1, 2,
        128, 254),
    PNM("p5_255.pgm", "P5\n3 2\n255\n\x00\x01\x02\x80\xfe\xff", 3, 2, 1, 1, 0, 1, 2, 128, 254, 255),
    PNM("p5_15.pgm", "P5 3 2 15\n\x00\x01\x02\x03\x0e\x0f", 3, 2, 1, 1, 0, 17, 34, 51, 238, 255),
    PNM("p5_65535.pgm", "P5\n3 1\n65535\n\x00\x00\x01\x01\xff\xff", 3, 1, 1, 0, 0, 1, 255),
    PNM("p6_255.ppm", "P6\n2 1\n255\n\x01\x02\x03\xfa\xfb\xfc", 2, 1, 3, 1, 1, 2, 3, 250, 251, 252),
    /* 512/1023*255 = 127.6 */
    PNM("p6_1023.ppm", "P6 1 1 1023\n\x00\x00\x03\xff\x02\x00", 1, 1, 3, 1, 0, 255, 128),
    /* libnetpbm: a comment may end the header; its line end is the one whitespace */
    PNM("p6_comment.ppm", "P6 1 1 255#x\n\x07\x08\x09", 1, 1, 3, 0, 7, 8, 9),
};

static void write_file(const char *name, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(p, 1, n, f) == n, "cannot write %s", path);
  if (f) fclose(f);
}

/* Writes the generated files into tmpdir and the Pillow reference commands for them into cf. */
static void write_generated(FILE *cf) {
  for (size_t i = 0; i < OM_ARRAY_LEN(gen_cases); i++) {
    bytes o = {.n = 0};
    gen_cases[i].make(&o, gen_cases[i].variant);
    write_file(gen_cases[i].name, o.b, o.n);
    if (gen_cases[i].pillow)
      fprintf(cf, "decode RGB %s/%s %s/%s.RGB\n", tmpdir, gen_cases[i].name, tmpdir,
              gen_cases[i].name);
  }
  for (size_t i = 0; i < OM_ARRAY_LEN(pnm_cases); i++) {
    write_file(pnm_cases[i].name, pnm_cases[i].data, pnm_cases[i].len);
    if (pnm_cases[i].pillow)
      for (int m = 0; m < 2; m++)
        fprintf(cf, "decode %s %s/%s %s/%s.%s\n", m ? "L" : "RGB", tmpdir, pnm_cases[i].name,
                tmpdir, pnm_cases[i].name, m ? "L" : "RGB");
  }
}

/* Decodes a private copy of exactly n bytes (so ASan sees any read past the end). */
static int decode_exact(const uint8_t *p, size_t n, int channels, om_image *img, char *err) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  om_decode_opts o;
  om_decode_opts_default(&o);
  o.channels = channels;
  int rc = om_image_decode(copy, n, &o, img, err);
  free(copy);
  return rc;
}

static int compare_ref(const om_image *img, const char *name, const char *mode) {
  char path[512];
  raw_img ref = {0};
  snprintf(path, sizeof path, "%s/%s.%s", tmpdir, name, mode);
  CHECK(read_raw(path, &ref) == 0, "cannot read reference %s", path);
  int d = ref.px ? max_diff(img, &ref) : -1;
  free(ref.px);
  return d;
}

static void test_generated(void) {
  for (size_t i = 0; i < OM_ARRAY_LEN(gen_cases); i++) {
    const gen_case *g = &gen_cases[i];
    bytes o = {.n = 0};
    g->make(&o, g->variant);
    om_image img;
    char err[OM_ERR_LEN];
    int rc = decode_exact(o.b, o.n, 3, &img, err);
    CHECK(rc == OM_OK, "%s: %s", g->name, err);
    if (rc != OM_OK) continue;
    int bad = img.w != GW || img.h != GH;
    for (int y = 0; y < GH && !bad; y++)
      for (int x = 0; x < GW; x++)
        for (int c = 0; c < 3; c++)
          bad += img.px[(y * GW + x) * 3 + c] != g->map[level(x, y, c)];
    int dp = g->pillow ? compare_ref(&img, g->name, "RGB") : -2;
    printf("generated %-14s %-4s %dx%d: %s known pixels, diff vs Pillow %d\n", g->name, img.format,
           img.w, img.h, bad ? "NOT the" : "the", dp);
    CHECK(!bad, "%s: decoded pixels differ from the known ones", g->name);
    CHECK(!g->pillow || dp == 0, "%s: differs from Pillow by %d", g->name, dp);
    om_image_free(&img);
  }
}

static void test_pnm(void) {
  printf("netpbm:\n");
  for (size_t i = 0; i < OM_ARRAY_LEN(pnm_cases); i++) {
    const pnm_case *p = &pnm_cases[i];
    for (int m = 0; m < 2; m++) {
      om_image img;
      char err[OM_ERR_LEN];
      int rc = decode_exact((const uint8_t *)p->data, p->len, m ? 1 : 3, &img, err);
      CHECK(rc == OM_OK, "%s: %s", p->name, err);
      if (rc != OM_OK) continue;
      /* the known samples, converted as Pillow's convert("RGB") / convert("L") would */
      int bad = img.w != p->w || img.h != p->h || strcmp(img.format, "pnm") != 0;
      for (int k = 0; k < p->w * p->h && !bad; k++) {
        const uint8_t *s = p->want + k * p->c;
        if (m == 1)
          bad += img.px[k] != (p->c == 1 ? s[0]
                                         : (uint8_t)((s[0] * 19595u + s[1] * 38470u +
                                                      s[2] * 7471u + 0x8000u) >> 16));
        else
          for (int c = 0; c < 3; c++) bad += img.px[k * 3 + c] != s[p->c == 1 ? 0 : c];
      }
      int dp = p->pillow ? compare_ref(&img, p->name, m ? "L" : "RGB") : -2;
      if (m == 0)
        printf("  %-16s %dx%d: %s known samples, diff vs Pillow %d\n", p->name, img.w, img.h,
               bad ? "NOT the" : "the", dp);
      CHECK(!bad, "%s (%s): decoded samples differ from the known ones", p->name, m ? "L" : "RGB");
      CHECK(!p->pillow || dp == 0, "%s (%s): differs from Pillow by %d", p->name, m ? "L" : "RGB",
            dp);
      om_image_free(&img);
    }
  }
  struct {
    const char *what, *data, *needle;
    int code;
  } bad[] = {
      {"P1 sample 2", "P1\n2 2\n1 0 2 1\n", "bad sample '2' in a P1 raster", OM_E_FORMAT},
      {"P2 sample over maxval", "P2\n2 1\n255\n3 300\n", "sample 300 over maxval 255", OM_E_FORMAT},
      {"P2 sample not a number", "P2\n2 1\n255\n3 x\n", "bad sample 'x'", OM_E_FORMAT},
      {"P3 sample 12a", "P3\n1 1\n255\n1 2 12a\n", "bad sample 'a'", OM_E_FORMAT},
      {"P2 sample of 10 digits", "P2\n2 1\n255\n3 1234567890\n", "more than 9 digits",
       OM_E_FORMAT},
      {"P5 maxval 0", "P5\n1 1\n0\n\x01", "maxval 0 outside 1..65535", OM_E_FORMAT},
      {"P6 maxval 65536", "P6\n1 1\n65536\n\x01\x02\x03\x04\x05\x06", "maxval 65536 outside",
       OM_E_FORMAT},
      {"P6 width of 11 digits", "P6 99999999999 1 255\n", "header number with more than 9 digits",
       OM_E_FORMAT},
      {"P5 4x4", "P5 4x4 255\n", "bad header (the width is not a number)", OM_E_FORMAT},
      {"P4 zero width", "P4\n0 5\n", "pnm: image has zero size (0x5)", OM_E_FORMAT},
      {"P4 60000x60000", "P4\n60000 60000\n", "60000x60000 (3600 megapixels), over the limit",
       OM_E_LIMIT},
      {"P6 header cut", "P6\n3", "truncated file (header ends before the height)", OM_E_FORMAT},
      {"P2 no samples", "P2\n1 1 255\n# only a comment",
       "truncated file (raster ends after 0 of 1 samples)", OM_E_FORMAT},
      {"P5 short raster", "P5 3 1 255\n\x01\x02", "truncated file (raster of 3 bytes, 2 present)",
       OM_E_FORMAT},
      {"P4 short raster", "P4 9 2\n\xff\x80\x01", "truncated file (raster of 4 bytes, 3 present)",
       OM_E_FORMAT},
  };
  for (size_t i = 0; i < OM_ARRAY_LEN(bad); i++)
    expect_error((const uint8_t *)bad[i].data, strlen(bad[i].data), bad[i].code, bad[i].needle,
                 bad[i].what);
  /* Not Netpbm: the magic number must end at whitespace. */
  expect_error((const uint8_t *)"P1: results\n", 12, OM_E_FORMAT, "not an image", "P1: text");
}

/* A truncated copy must be an error saying so, never a padded image. */
static void expect_truncated(const uint8_t *p, size_t cut, size_t len, const char *name) {
  om_image img;
  char err[OM_ERR_LEN] = "";
  int rc = decode_exact(p, cut, 3, &img, err);
  CHECK(rc == OM_E_FORMAT && strstr(err, "truncated"), "%s cut to %zu of %zu bytes: %s", name, cut,
        len, rc == OM_OK ? "decoded" : err);
  if (rc == OM_OK) om_image_free(&img);
}

/* Cuts every file at 4 places inside its pixel data (and at `last`, a cut that removes only the
 * last pixel byte); `data` is where the pixel data starts. */
static void cut_file(const uint8_t *p, size_t len, size_t data, size_t last, const char *name) {
  size_t span = last - data, cuts[] = {data + 1, data + span / 3, data + span / 2,
                                       data + span * 9 / 10, last};
  for (size_t i = 0; i < OM_ARRAY_LEN(cuts); i++) expect_truncated(p, cuts[i], len, name);
  /* the intact file still decodes */
  om_image img;
  char err[OM_ERR_LEN];
  int rc = decode_exact(p, len, 3, &img, err);
  CHECK(rc == OM_OK, "%s (whole): %s", name, err);
  if (rc == OM_OK) om_image_free(&img);
}

static void test_truncated(void) {
  printf("truncated files (5 cuts each inside the pixel data):\n");
  struct {
    const char *dir, *name;
  } files[] = {{"corpus", "img.bmp"}, {"corpus", "img.gif"}, {"corpus", "img.tga"},
               {"corpus", "img.ppm"}, {"corpus", "img.pgm"}, {"photos", "chelsea.bmp"},
               {"photos", "rocket.gif"}, {"photos", "coffee.ppm"}};
  for (size_t i = 0; i < OM_ARRAY_LEN(files); i++) {
    char path[1024];
    if (strcmp(files[i].dir, "corpus") == 0)
      snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", srcdir, files[i].name);
    else
      snprintf(path, sizeof path, "%s/photos/%s", shared, files[i].name);
    size_t len;
    uint8_t *b = slurp(path, &len);
    CHECK(b != NULL, "cannot read %s", path);
    if (!b) continue;
    const char *ext = strrchr(files[i].name, '.') + 1;
    size_t data = 0, last = len - 1;
    if (strcmp(ext, "bmp") == 0) { /* bottom-up rows: the last one in the file may be padded */
      unsigned w = b[18] | b[19] << 8, bpp = b[28], stride = (w * bpp + 31) / 32 * 4;
      data = b[10] | b[11] << 8;
      last = len - (stride - w * bpp / 8) - 1;
    } else if (strcmp(ext, "gif") == 0) { /* ends with a 0 sub-block and the 0x3B trailer */
      data = 13 + 3 * (2u << (b[10] & 7)) + 10;
      last = len - 3;
    } else if (strcmp(ext, "tga") == 0) { /* Pillow writes a 26-byte footer */
      data = 18;
      last = len - 26 - 1;
    } else { /* Netpbm: after the third line */
      for (int nl = 0; data < len && nl < 3; data++) nl += b[data] == '\n';
    }
    cut_file(b, len, data, last, files[i].name);
    printf("  %-14s %7zu bytes: cut at %zu..%zu\n", files[i].name, len, data + 1, last);
    free(b);
  }
  for (size_t i = 0; i < OM_ARRAY_LEN(gen_cases); i++) {
    bytes o = {.n = 0};
    gen_cases[i].make(&o, gen_cases[i].variant);
    cut_file(o.b, o.n, gen_cases[i].header, o.n - 1, gen_cases[i].name);
    printf("  %-14s %7zu bytes: cut at %zu..%zu\n", gen_cases[i].name, o.n,
           gen_cases[i].header + 1, o.n - 1);
  }
  for (size_t i = 0; i < OM_ARRAY_LEN(pnm_cases); i++) {
    const pnm_case *p = &pnm_cases[i];
    const uint8_t *b = (const uint8_t *)p->data;
    /* plain: cut before the last sample's first character (a cut inside the last number cannot
     * be told from a shorter number, for Pillow either); raw: before the last byte. And a cut in
     * the header. */
    size_t last = p->len - 1;
    if (p->data[1] <= '3') {
      while (last > 0 && (b[last] == ' ' || b[last] == '\n' || b[last] == '\r')) last--;
      while (last > 0 && b[last - 1] >= '0' && b[last - 1] <= '9') last--;
    }
    expect_truncated(b, last, p->len, p->name);
    expect_truncated(b, 3, p->len, p->name);
  }
  printf("  %zu netpbm files: cut in the header and before the last sample\n",
         OM_ARRAY_LEN(pnm_cases));
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
  write_generated(cf);
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
  test_generated();
  test_pnm();
  test_truncated();

  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
  for (int i = 0; i < nn; i++) free(names[i]);
  printf(failures ? "%d FAILURES\n" : "all image tests passed\n", failures);
  return failures ? 1 : 0;
}
