/* test_preprocess.c: om_preprocess against independent references: the torchvision tensors in
 * $OM_SHARED/photos/FILE.torchvision.npy (Resize(256) + CenterCrop(224) + ToTensor + Normalize on
 * Pillow's decode), Pillow's resize for NEAREST/BILINEAR/BICUBIC (dumped at test time by
 * tools/pillow_ref.py), hand-computed values for presets, padding and layouts, and the spec
 * parser. Also reports what JPEG DCT downscaling costs in fidelity. Exit 77 without OM_SHARED. */
#include "image/image.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char *shared, *srcdir;
static char tmpdir[256];
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

/* Minimal .npy reader for the references: '<f4', C order, returns element count or -1. */
static long read_npy_f32(const char *path, float **data) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char pre[12];
  long n = -1;
  if (fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0) {
    size_t hl = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] >= 2) {
      if (fread(pre + 10, 1, 2, f) == 2) hl |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    char *hdr = calloc(1, hl + 1);
    if (hdr && fread(hdr, 1, hl, f) == hl && strstr(hdr, "'<f4'") &&
        strstr(hdr, "'fortran_order': False")) {
      char *s = strstr(hdr, "'shape': (");
      long cnt = 1;
      if (s) {
        s += 10;
        while (*s && *s != ')') {
          char *e;
          long v = strtol(s, &e, 10);
          if (e == s) break;
          cnt *= v;
          s = e;
          while (*s == ',' || *s == ' ') s++;
        }
        *data = malloc((size_t)cnt * sizeof(float));
        if (*data && fread(*data, sizeof(float), (size_t)cnt, f) == (size_t)cnt) n = cnt;
      }
    }
    free(hdr);
  }
  fclose(f);
  return n;
}

typedef struct {
  int w, h, c;
  uint8_t *px;
} raw_img;

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

/* Decode + torchvision preset vs every reference tensor; dct: allow JPEG DCT downscaling. */
static void test_torchvision_refs(int dct, om_preproc_scratch *scr) {
  char path[1024];
  snprintf(path, sizeof path, "%s/photos", shared);
  DIR *d = opendir(path);
  if (!d) return;
  om_preproc pp;
  char err[OM_ERR_LEN];
  CHECK(om_preproc_preset("torchvision", &pp, err) == OM_OK, "%s", err);
  float *out = malloc(3 * 224 * 224 * sizeof(float));
  double worst = 0, worst_lv = 0;
  printf("\ntorchvision preset vs FILE.torchvision.npy%s\n", dct ? " (JPEG DCT-downscaled decode)" : "");
  printf("%-28s %-10s %14s %12s %14s\n", "file", "decoded", "max |diff|", "in levels",
         "mean |diff|");
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    size_t l = strlen(n);
    const char *suf = ".torchvision.npy";
    if (l <= strlen(suf) || strcmp(n + l - strlen(suf), suf) != 0) continue;
    char img_name[512];
    snprintf(img_name, sizeof img_name, "%.*s", (int)(l - strlen(suf)), n);
    if (dct && !strstr(img_name, ".jpg")) continue;
    float *ref = NULL;
    snprintf(path, sizeof path, "%s/photos/%s", shared, n);
    long cnt = read_npy_f32(path, &ref);
    CHECK(cnt == 3 * 224 * 224, "%s: bad reference (%ld elements)", n, cnt);
    if (cnt != 3 * 224 * 224) {
      free(ref);
      continue;
    }
    om_decode_opts o;
    om_decode_opts_default(&o);
    if (dct) o.jpeg_min_w = o.jpeg_min_h = 256;
    om_image img;
    snprintf(path, sizeof path, "%s/photos/%s", shared, img_name);
    int rc = om_image_decode_file(path, &o, &img, err);
    CHECK(rc == OM_OK, "%s: %s", img_name, err);
    if (rc == OM_OK) {
      rc = om_preprocess(&img, &pp, out, scr, err);
      CHECK(rc == OM_OK, "%s: preprocess: %s", img_name, err);
      double md = 0, ml = 0, sum = 0;
      for (int c = 0; c < 3; c++)
        for (int i = 0; i < 224 * 224; i++) {
          double dd = fabs((double)out[c * 224 * 224 + i] - ref[c * 224 * 224 + i]);
          if (dd > md) md = dd;
          sum += dd;
          if (dd * imagenet_std[c] * 255.0 > ml) ml = dd * imagenet_std[c] * 255.0;
        }
      char dims[32];
      snprintf(dims, sizeof dims, "%dx%d", img.w, img.h);
      printf("%-28s %-10s %14.3g %12.3g %14.3g\n", img_name, dims, md, ml, sum / (3 * 224 * 224));
      if (md > worst) worst = md;
      if (ml > worst_lv) worst_lv = ml;
      /* Exact pixels before normalisation: only float32 rounding may differ (it does not). */
      if (!dct) CHECK(md <= 1e-6, "%s: max diff %g (%.3g levels) over 1e-6", img_name, md, ml);
      om_image_free(&img);
    }
    free(ref);
  }
  closedir(d);
  printf("worst: %.3g normalized, %.3g levels\n", worst, worst_lv);
  free(out);
}

/* om_preprocess in stretch mode with scale 1, mean 0, std 1 returns the resized pixels. */
static void test_resize_vs_pillow(om_preproc_scratch *scr) {
  struct {
    const char *file, *mode;
    int w, h;
    const char *filter;
  } cases[] = {
      {"chelsea.jpg", "RGB", 224, 224, "bilinear"}, {"chelsea.jpg", "RGB", 100, 37, "bilinear"},
      {"chelsea.jpg", "RGB", 900, 601, "bilinear"}, {"chelsea.jpg", "RGB", 451, 150, "bilinear"},
      {"chelsea.jpg", "RGB", 200, 300, "bilinear"}, {"chelsea.jpg", "RGB", 224, 224, "bicubic"},
      {"chelsea.jpg", "RGB", 97, 333, "bicubic"},   {"chelsea.jpg", "RGB", 1000, 700, "bicubic"},
      {"chelsea.jpg", "RGB", 224, 224, "nearest"},  {"chelsea.jpg", "RGB", 97, 333, "nearest"},
      {"chelsea.jpg", "RGB", 1000, 700, "nearest"}, {"tiny_7x5.png", "RGB", 224, 224, "bilinear"},
      {"tiny_7x5.png", "RGB", 224, 224, "bicubic"}, {"tiny_7x5.png", "RGB", 3, 2, "bicubic"},
      {"coffee.png", "L", 28, 28, "bilinear"},      {"hubble_deep_field.jpg", "RGB", 13, 11, "bicubic"},
      {"coffee.png", "L", 600, 400, "nearest"},
  };
  char path[1024], cmd[2048];
  snprintf(path, sizeof path, "%s/cmds", tmpdir);
  FILE *cf = fopen(path, "w");
  for (size_t i = 0; i < OM_ARRAY_LEN(cases); i++)
    fprintf(cf, "resize %s %s/photos/%s %d %d %s %s/r%zu\n", cases[i].mode, shared, cases[i].file,
            cases[i].w, cases[i].h, cases[i].filter, tmpdir, i);
  fclose(cf);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/pillow_ref.py < %s", srcdir, path);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  printf("\nresize vs Pillow Image.resize (max diff in levels):\n");
  for (size_t i = 0; i < OM_ARRAY_LEN(cases); i++) {
    int ch = strcmp(cases[i].mode, "L") == 0 ? 1 : 3;
    om_decode_opts o;
    om_decode_opts_default(&o);
    om_image img;
    char err[OM_ERR_LEN], spec[256];
    snprintf(path, sizeof path, "%s/photos/%s", shared, cases[i].file);
    if (om_image_decode_file(path, &o, &img, err) != OM_OK) {
      CHECK(0, "%s: %s", path, err);
      continue;
    }
    om_preproc pp;
    snprintf(spec, sizeof spec,
             "preset=none,size=%dx%d,mode=stretch,interp=%s,scale=1,mean=0,std=1,channels=%d",
             cases[i].w, cases[i].h, cases[i].filter, ch);
    om_preproc_preset("none", &pp, err);
    CHECK(om_preproc_parse(spec, &pp, err) == OM_OK, "%s: %s", spec, err);
    size_t n = (size_t)cases[i].w * cases[i].h * ch;
    float *out = malloc(n * sizeof(float));
    int rc = om_preprocess(&img, &pp, out, scr, err);
    CHECK(rc == OM_OK, "%s: %s", spec, err);
    raw_img ref = {0};
    snprintf(path, sizeof path, "%s/r%zu", tmpdir, i);
    int md = -1;
    if (rc == OM_OK && read_raw(path, &ref) == 0 && ref.w == cases[i].w && ref.h == cases[i].h &&
        ref.c == ch) {
      md = 0;
      for (int y = 0; y < ref.h; y++)
        for (int x = 0; x < ref.w; x++)
          for (int c = 0; c < ch; c++) {
            float v = out[((size_t)c * ref.h + y) * ref.w + x];
            int d = abs((int)v - ref.px[((size_t)y * ref.w + x) * ch + c]);
            if (d > md || v != floorf(v)) md = d > md ? d : md + (v != floorf(v));
          }
    }
    printf("  %-22s %-3s -> %4dx%-4d %-8s diff %d\n", cases[i].file, cases[i].mode, cases[i].w,
           cases[i].h, cases[i].filter, md);
    CHECK(md == 0, "%s %s %dx%d %s: differs from Pillow by %d", cases[i].file, cases[i].mode,
          cases[i].w, cases[i].h, cases[i].filter, md);
    free(ref.px);
    free(out);
    om_image_free(&img);
  }
}

static void fill(om_image *img, int w, int h, int c, uint8_t r, uint8_t g, uint8_t b) {
  img->w = w;
  img->h = h;
  img->c = c;
  img->px = malloc((size_t)w * h * c);
  for (size_t i = 0; i < (size_t)w * h; i++) {
    img->px[i * c] = r;
    if (c == 3) {
      img->px[i * c + 1] = g;
      img->px[i * c + 2] = b;
    }
  }
}

static void test_presets_and_layouts(om_preproc_scratch *scr) {
  char err[OM_ERR_LEN];
  om_preproc pp;
  om_image img = {0};
  fill(&img, 300, 200, 3, 10, 20, 30);
  static float out[3 * 299 * 299], out2[3 * 299 * 299];

  /* caffe: BGR, 0-255 minus per-channel (B, G, R) mean, std 1. */
  CHECK(om_preproc_preset("caffe", &pp, err) == OM_OK, "%s", err);
  CHECK(om_preprocess(&img, &pp, out, scr, err) == OM_OK, "caffe: %s", err);
  CHECK(out[0] == 30.0f - 103.939f && out[224 * 224] == 20.0f - 116.779f &&
            out[2 * 224 * 224 + 5] == 10.0f - 123.68f,
        "caffe: got %g %g %g", out[0], out[224 * 224], out[2 * 224 * 224 + 5]);
  /* tf: x / 127.5 - 1 */
  om_image_free(&img);
  fill(&img, 300, 200, 3, 0, 255, 51);
  CHECK(om_preproc_preset("tf", &pp, err) == OM_OK, "%s", err);
  CHECK(om_preprocess(&img, &pp, out, scr, err) == OM_OK, "tf: %s", err);
  CHECK(out[7] == -1.0f && out[224 * 224 + 7] == 1.0f &&
            out[2 * 224 * 224 + 7] == 51.0f / 127.5f - 1.0f,
        "tf: got %g %g %g", out[7], out[224 * 224 + 7], out[2 * 224 * 224 + 7]);
  /* inception: 299 output */
  CHECK(om_preproc_preset("inception", &pp, err) == OM_OK && pp.out_w == 299 && pp.resize == 342,
        "inception preset");
  CHECK(om_preprocess(&img, &pp, out, scr, err) == OM_OK, "inception: %s", err);
  CHECK(out[298] == (0.0f / 255.0f - 0.485f) / 0.229f, "inception value %g", out[298]);
  /* fashion-mnist: RGB image to one gray plane, L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 */
  CHECK(om_preproc_preset("fashion-mnist", &pp, err) == OM_OK && pp.channels == 1, "fmnist");
  CHECK(om_preprocess(&img, &pp, out, scr, err) == OM_OK, "fashion-mnist: %s", err);
  {
    int L = (0 * 19595 + 255 * 38470 + 51 * 7471 + 0x8000) >> 16;
    float want = ((float)L / 255.0f - 0.2860f) / 0.3530f;
    CHECK(out[0] == want && out[28 * 28 - 1] == want, "fashion-mnist: %g want %g", out[0], want);
  }
  om_image_free(&img);

  /* NHWC is the transpose of NCHW; BGR reverses channels; gray input repeats the plane. */
  {
    om_image g = {0};
    fill(&g, 61, 47, 3, 0, 0, 0);
    for (size_t i = 0; i < (size_t)61 * 47 * 3; i++) g.px[i] = (uint8_t)(i * 7 + i / 3);
    CHECK(om_preproc_parse("preset=torchvision,size=32x24,resize=40", &pp, err) == OM_OK, "%s", err);
    CHECK(om_preprocess(&g, &pp, out, scr, err) == OM_OK, "%s", err);
    CHECK(om_preproc_parse("layout=nhwc,order=bgr", &pp, err) == OM_OK, "%s", err);
    CHECK(om_preprocess(&g, &pp, out2, scr, err) == OM_OK, "%s", err);
    int bad = 0;
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 32 * 24; i++) {
        /* out2 channel c holds source channel 2-c normalised with mean[c]/std[c] */
        float px = out[(2 - c) * 32 * 24 + i] * imagenet_std[2 - c] + pp.mean[2 - c];
        float want = (px - pp.mean[c]) / pp.std[c];
        if (fabsf(out2[i * 3 + c] - want) > 1e-4f) bad++;
      }
    CHECK(bad == 0, "nhwc/bgr: %d values differ", bad);
    om_image_free(&g);
  }

  /* mode=none smaller than the crop: zero padding, left/top get (crop - size) // 2. */
  {
    om_image s = {0};
    fill(&s, 5, 3, 1, 0, 0, 0);
    for (int i = 0; i < 15; i++) s.px[i] = (uint8_t)(100 + i);
    CHECK(om_preproc_parse("preset=none,size=8x6,mode=none,channels=3,scale=1", &pp, err) == OM_OK,
          "%s", err);
    CHECK(om_preprocess(&s, &pp, out, scr, err) == OM_OK, "%s", err);
    int bad = 0;
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++) {
          int sx = x - 1, sy = y - 1; /* (8-5)//2 = 1, (6-3)//2 = 1 */
          float want = (sx >= 0 && sx < 5 && sy >= 0 && sy < 3) ? (float)s.px[sy * 5 + sx] : 0.0f;
          if (out[(c * 6 + y) * 8 + x] != want) bad++;
        }
    CHECK(bad == 0, "padding: %d values differ", bad);
    /* crop offset uses Python's round-half-even: (9 - 6) / 2 = 1.5 -> 2, (7 - 6) / 2 = 0.5 -> 0 */
    om_image_free(&s);
    fill(&s, 9, 7, 1, 0, 0, 0);
    for (int i = 0; i < 63; i++) s.px[i] = (uint8_t)i;
    CHECK(om_preproc_parse("size=6,mode=none,channels=1", &pp, err) == OM_OK, "%s", err);
    CHECK(om_preprocess(&s, &pp, out, scr, err) == OM_OK, "%s", err);
    CHECK(out[0] == (float)(0 * 9 + 2), "crop offset: got %g want 2", out[0]);
    om_image_free(&s);
  }
}

/* A 60000x11 strip: torchvision resizes it to 1396363x256; only the 224x224 window is computed. */
static void test_extreme_aspect(om_preproc_scratch *scr) {
  char err[OM_ERR_LEN];
  om_preproc pp;
  om_image img = {0};
  fill(&img, 60000, 11, 3, 40, 80, 120);
  static float out[3 * 224 * 224];
  om_preproc_preset("torchvision", &pp, err);
  int rc = om_preprocess(&img, &pp, out, scr, err);
  CHECK(rc == OM_OK, "60000x11: %s", err);
  float want = (120.0f / 255.0f - 0.406f) / 0.225f;
  CHECK(rc != OM_OK || out[2 * 224 * 224 + 100] == want, "60000x11: %g want %g",
        out[2 * 224 * 224 + 100], want);
  om_image_free(&img);
}

static void test_spec(void) {
  char err[OM_ERR_LEN], buf[512], buf2[512];
  om_preproc a, b;
  const char *const *names = om_preproc_preset_names();
  for (int i = 0; names[i]; i++) {
    CHECK(om_preproc_preset(names[i], &a, err) == OM_OK, "preset %s: %s", names[i], err);
    om_preproc_format(&a, buf, sizeof buf);
    memset(&b, 0, sizeof b);
    CHECK(om_preproc_parse(buf, &b, err) == OM_OK, "re-parse '%s': %s", buf, err);
    om_preproc_format(&b, buf2, sizeof buf2);
    CHECK(strcmp(buf, buf2) == 0 && memcmp(a.mean, b.mean, sizeof a.mean) == 0 &&
              a.scale == b.scale && a.out_w == b.out_w && a.resize == b.resize,
          "round trip of %s: '%s' vs '%s'", names[i], buf, buf2);
  }
  om_preproc_preset("torchvision", &a, err);
  printf("\ntorchvision spec: %s\n", om_preproc_format(&a, buf, sizeof buf));
  CHECK(om_preproc_parse("size=320x240,scale=1/255,mean=0.5,std=0.25/0.5/1,interp=bicubic,"
                         "preset=caffe",
                         &a, err) == OM_OK,
        "%s", err);
  CHECK(a.out_w == 320 && a.out_h == 240 && a.scale == 1.0f / 255.0f && a.mean[2] == 0.5f &&
            a.std[1] == 0.5f && a.interp == OM_INTERP_BICUBIC && a.bgr == 1,
        "parse applied preset after keys or misparsed values");
  const char *bad[] = {"size=0", "sizes=3", "mode=zoom", "mean=1/2", "std=0", "channels=2",
                       "preset=nope", "scale=abc", "size=10x", "layout", "order=gbr"};
  for (size_t i = 0; i < OM_ARRAY_LEN(bad); i++) {
    om_preproc_preset("torchvision", &a, err);
    b = a;
    err[0] = 0;
    int rc = om_preproc_parse(bad[i], &b, err);
    CHECK(rc == OM_E_INVALID && err[0] && memcmp(&a, &b, sizeof a) == 0,
          "bad spec '%s' accepted or *pp changed (rc %d)", bad[i], rc);
    printf("  bad spec %-12s -> %s\n", bad[i], err);
  }
  /* the smallest decoded side --fast-jpeg may shrink a JPEG to (hand-computed per mode) */
  struct { const char *spec; int want; } mins[] = {
      {"preset=torchvision", 256}, {"preset=inception", 342}, {"preset=torchvision,resize=0", 224},
      {"preset=torchvision,mode=stretch,size=300x200", 300}, {"preset=torchvision,mode=none", 0}};
  for (size_t i = 0; i < OM_ARRAY_LEN(mins); i++) {
    memset(&a, 0, sizeof a);
    CHECK(om_preproc_parse(mins[i].spec, &a, err) == OM_OK, "%s: %s", mins[i].spec, err);
    int got = om_preproc_decode_min_side(&a);
    CHECK(got == mins[i].want, "decode min side of '%s' = %d, want %d", mins[i].spec, got, mins[i].want);
  }
}

int main(void) {
  shared = getenv("OM_SHARED");
  srcdir = getenv("OM_SOURCE_DIR");
  if (!shared || !srcdir) {
    printf("SKIP: OM_SHARED / OM_SOURCE_DIR not set\n");
    return 77;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/photos/chelsea.jpg", shared);
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("SKIP: no %s\n", path);
    return 77;
  }
  fclose(f);
  om_preproc_scratch scr = {0};
  test_spec();
  test_presets_and_layouts(&scr);
  test_extreme_aspect(&scr);
  test_torchvision_refs(0, &scr);
  test_torchvision_refs(1, &scr);
  if (system("/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null") == 0) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/om_test_pre_XXXXXX");
    if (mkdtemp(tmpdir)) {
      test_resize_vs_pillow(&scr);
      char cmd[512];
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
      if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    }
  } else {
    printf("note: no /usr/bin/python3 with PIL: resize-vs-Pillow cases skipped\n");
  }
  om_preproc_scratch_free(&scr);
  printf(failures ? "%d FAILURES\n" : "all preprocess tests passed\n", failures);
  return failures ? 1 : 0;
}
