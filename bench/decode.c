/* bench/decode.c: decode timings for one image: libjpeg-turbo full size, libjpeg-turbo with DCT
 * downscale to cover a minimum size, stb_image, and decode + torchvision preprocessing.
 * Build: cc -O2 -Isrc bench/decode.c -Lbuild-X -lompredict -ljpeg -lpng16 -lm -fopenmp
 * Usage: decode_bench FILE [min_side=256] [reps=10]   (prints the median of reps, in ms) */
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [min_side] [reps]\n", argv[0]);
    return 2;
  }
  int min_side = argc > 2 ? atoi(argv[2]) : 256, reps = argc > 3 ? atoi(argv[3]) : 10;
  if (reps < 1 || reps > 1000) reps = 10;
  uint8_t *buf;
  size_t len;
  char err[OM_ERR_LEN];
  if (om_read_file(argv[1], 0, &buf, &len, err) != OM_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  const char *names[] = {"libjpeg-turbo full", "libjpeg-turbo DCT-scaled", "stb_image",
                         "full + torchvision preprocess", "DCT-scaled + torchvision preprocess"};
  om_preproc pp;
  om_preproc_preset("torchvision", &pp, err);
  om_preproc_scratch scr = {0};
  static float out[3 * 224 * 224];
  for (int mode = 0; mode < 5; mode++) {
    double *t = malloc(sizeof(double) * (size_t)reps);
    int w = 0, h = 0;
    for (int r = 0; r < reps; r++) {
      om_decode_opts o;
      om_decode_opts_default(&o);
      if (mode == 1 || mode == 4) o.jpeg_min_w = o.jpeg_min_h = min_side;
      o.force_stb = mode == 2;
      om_image img;
      double t0 = now_ms();
      if (om_image_decode(buf, len, &o, &img, err) != OM_OK) {
        fprintf(stderr, "%s: %s\n", names[mode], err);
        return 1;
      }
      if (mode >= 3 && om_preprocess(&img, &pp, out, &scr, err) != OM_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
      }
      t[r] = now_ms() - t0;
      w = img.w;
      h = img.h;
      om_image_free(&img);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%-38s %5dx%-5d median %8.2f ms  (min %.2f)\n", names[mode], w, h, t[reps / 2], t[0]);
    free(t);
  }
  om_preproc_scratch_free(&scr);
  free(buf);
  return 0;
}
