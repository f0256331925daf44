/* test_resize.c: the resampler's AVX-512BW horizontal pass (RGB) against its scalar twin, which
 * test_preprocess checks against Pillow itself. Random sizes (shrinking and enlarging, bilinear and
 * bicubic, 1 to 16+ taps), random output windows (the image's last row included), every byte of the
 * output compared. Each image ends at a page boundary with an unreadable page after it, so a gather
 * that read past the image would crash the test instead of passing unnoticed.
 * Exit 77 when the CPU lacks AVX-512BW (nothing to compare). */
#include "common/om.h"
#include "image/image.h"
#include "image/image_internal.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static int pick(int lo, int hi) { return lo + (int)(next() % (uint32_t)(hi - lo + 1)); }

/* bytes of memory ending at a page boundary, followed by a PROT_NONE page */
typedef struct { uint8_t *p, *map; size_t len; } guarded;
static int guarded_alloc(guarded *g, size_t bytes) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = (bytes + pg - 1) / pg * pg;
  g->len = body + pg;
  g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED) return -1;
  if (mprotect(g->map + body, pg, PROT_NONE) != 0) return -1;
  g->p = g->map + body - bytes;
  return 0;
}

static void one_case(int w, int h, int c, int rw, int rh, int interp, int x0, int y0, int x1, int y1) {
  guarded img;
  size_t n = (size_t)w * h * c;
  if (guarded_alloc(&img, n)) {
    CHECK(0, "mmap failed");
    return;
  }
  for (size_t i = 0; i < n; i++) img.p[i] = (uint8_t)next();
  /* mostly smooth with some hard edges: clipped sums at 0 and 255 get exercised too */
  if (next() % 2)
    for (size_t i = 0; i < n; i++) img.p[i] = (i / (size_t)c) % 7 < 3 ? 255 : (uint8_t)(img.p[i] & 7);
  size_t ss = om_resample_scratch_size(w, h, c, rw, rh, interp, x0, y0, x1, y1);
  size_t out = (size_t)(x1 - x0) * (y1 - y0) * c;
  uint8_t *sa = malloc(ss), *sb = malloc(ss), *a = malloc(out), *b = malloc(out);
  CHECK(ss && sa && sb && a && b, "allocation");
  if (ss && sa && sb && a && b) {
    memset(a, 0xA5, out);
    memset(b, 0x5A, out);
    om_resample_window_path(img.p, w, h, c, rw, rh, interp, x0, y0, x1, y1, a, sa, 0);
    om_resample_window_path(img.p, w, h, c, rw, rh, interp, x0, y0, x1, y1, b, sb, 1);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < out; i++)
      if (a[i] != b[i] && !bad++) first = i;
    CHECK(bad == 0,
          "%dx%dx%d -> %dx%d %s window [%d,%d)x[%d,%d): %zu bytes differ, first at %zu (%u vs %u)", w,
          h, c, rw, rh, interp == OM_INTERP_BICUBIC ? "bicubic" : "bilinear", x0, x1, y0, y1, bad,
          first, bad ? a[first] : 0, bad ? b[first] : 0);
  }
  free(sa);
  free(sb);
  free(a);
  free(b);
  munmap(img.map, img.len);
}

int main(void) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) {
    printf("skip: this CPU lacks AVX-512BW; the resampler runs only its scalar passes\n");
    return 77;
  }
  int cases = 0;
  /* the preprocessing shapes: photos to 256 on the shorter side, then the 224 centre */
  const int fixed[][4] = {{500, 375, 341, 256}, {375, 500, 256, 341}, {3000, 2000, 384, 256},
                          {224, 224, 256, 256}, {7, 5, 224, 224},     {1, 1, 5, 3},
                          {17, 1, 3, 1},        {1, 17, 1, 3},        {640, 480, 299, 224}};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    for (int interp = 0; interp < 2; interp++) {
      int w = fixed[i][0], h = fixed[i][1], rw = fixed[i][2], rh = fixed[i][3];
      int cw = rw < 224 ? rw : 224, ch = rh < 224 ? rh : 224;
      int it = interp ? OM_INTERP_BICUBIC : OM_INTERP_BILINEAR;
      one_case(w, h, 3, rw, rh, it, (rw - cw) / 2, (rh - ch) / 2, (rw - cw) / 2 + cw, (rh - ch) / 2 + ch);
      one_case(w, h, 3, rw, rh, it, 0, 0, rw, rh); /* whole output: the source's last row too */
      cases += 2;
    }
  for (int t = 0; t < 400; t++) {
    int w = pick(1, t % 10 == 0 ? 1200 : 300), h = pick(1, 120);
    int rw = pick(1, 2 * w + 8), rh = pick(1, 2 * h + 8);
    if (t % 3 == 0) rw = pick(1, w); /* shrinking: wide filters, many taps */
    int x0 = pick(0, rw - 1), x1 = pick(x0 + 1, rw), y0 = pick(0, rh - 1), y1 = pick(y0 + 1, rh);
    if (t % 4 == 0) y1 = rh; /* down to the last output row */
    int c = t % 8 == 7 ? (t % 16 == 7 ? 1 : 4) : 3; /* gray / RGBA stay scalar: same bytes either way */
    one_case(w, h, c, rw, rh, t % 2 ? OM_INTERP_BICUBIC : OM_INTERP_BILINEAR, x0, y0, x1, y1);
    cases++;
  }
  printf("%d resample cases, AVX-512BW horizontal pass against the scalar one: %d failures\n", cases,
         failures);
  return failures ? 1 : 0;
}
