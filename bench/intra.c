/* bench/intra.c: latency of one image through a whole model with a workspace for 1..T cooperating
 * threads (om_workspace_new_threads), wall-clock median of several om_run calls after a warm-up,
 * process CPU time per run (all threads: spinning shows there), and a byte comparison of every thread count's output with the 1-thread output.
 * Usage: intra MODEL.onnx [maxthreads (2)] [runs (9)] */
#include "common/om.h"
#include "engine/engine.h"
#include "onnx/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu(void) { /* all threads of the process */
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
         (double)u.ru_stime.tv_usec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  char err[OM_ERR_LEN];
  if (argc < 2) {
    fprintf(stderr, "usage: intra MODEL.onnx [maxthreads] [runs]\n");
    return 2;
  }
  int maxt = argc > 2 ? atoi(argv[2]) : 2, runs = argc > 3 ? atoi(argv[3]) : 9;
  if (maxt < 1 || maxt > 256 || runs < 1 || runs > 1000) {
    fprintf(stderr, "intra: bad thread count or runs\n");
    return 2;
  }
  onnx_model *m = NULL;
  om_plan *p = NULL;
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  if (onnx_load_file(argv[1], NULL, &m, err) || om_plan_build(m, &o, &p, err)) {
    fprintf(stderr, "intra: %s: %s\n", argv[1], err);
    return 2;
  }
  const om_tensor_info *ti = om_plan_input(p, 0), *to = om_plan_output(p, 0);
  float *ref = malloc(to->nbytes);
  double *t = malloc(sizeof(double) * (size_t)runs);
  if (!ref || !t) return 2;
  int rc = 0;
  for (int n = 1; n <= maxt; n++) {
    om_workspace *w;
    if (om_workspace_new_threads(p, n, &w, err)) {
      fprintf(stderr, "intra: %s\n", err);
      return 2;
    }
    float *in = om_workspace_input(w, 0);
    for (size_t i = 0; i < ti->nbytes / 4; i++) in[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    om_run(p, w, err); /* warm-up: first touch, thread creation */
    double c0 = cpu();
    for (int r = 0; r < runs; r++) {
      double t0 = now();
      om_run(p, w, err);
      t[r] = now() - t0;
    }
    double cpums = (cpu() - c0) / runs * 1e3;
    qsort(t, (size_t)runs, sizeof(double), cmp_d);
    const void *out = om_workspace_output(w, 0);
    int same = 1;
    if (n == 1) memcpy(ref, out, to->nbytes);
    else same = memcmp(ref, out, to->nbytes) == 0;
    printf("%d thread(s): median %.2f ms, min %.2f ms, CPU %.2f ms per run%s\n", n, t[runs / 2] * 1e3,
           t[0] * 1e3, cpums,
           n == 1 ? "" : same ? ", output bit-identical to 1 thread" : ", OUTPUT DIFFERS");
    if (!same) rc = 1;
    om_workspace_free(w);
  }
  free(ref);
  free(t);
  om_plan_free(p);
  onnx_free(m);
  return rc;
}
