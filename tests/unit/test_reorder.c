/* test_reorder.c: the reorder window. Many OpenMP threads hand in rows in scrambled order with
 * random delays; the sink must see 0..n-1 in order, each once, the row text intact, and no thread
 * may ever hold an index >= next + window (checked inside the sink's view of `next`). A stop
 * releases waiting threads, and a failing sink fails later puts. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/reorder.h"

static int fails = 0;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);   \
      fails++;                                                                \
    }                                                                         \
  } while (0)

typedef struct {
  size_t expect, bad, fail_at;
  size_t raw_bad;
} sink_state;

static int sink(void *ctx, size_t index, const char *text, size_t len, const float *raw, int more) {
  (void)more;
  sink_state *s = ctx;
  char want[64];
  int n = snprintf(want, sizeof want, "row %zu\n", index);
  if (index != s->expect || len != (size_t)n || memcmp(text, want, len) != 0) s->bad++;
  if (raw && (raw[0] != (float)index || raw[1] != -(float)index)) s->raw_bad++;
  if (index == s->fail_at) return OM_E_IO;
  s->expect++;
  return OM_OK;
}

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

/* Runs n rows through `threads` threads with window w; rows are processed in a scrambled order
 * (each thread takes indices from a shared counter, so order is by completion time). */
static void run_case(size_t n, int threads, size_t w, int slow_every) {
  sink_state s = {0, 0, (size_t)-1, 0};
  om_reorder *r;
  char err[OM_ERR_LEN];
  CHECK(om_reorder_new(w, 0, n, 2, sink, &s, NULL, &r, err) == OM_OK);
  size_t max_ahead = 0;
#pragma omp parallel num_threads(threads)
  {
    unsigned seed = (unsigned)omp_get_thread_num() * 7919u + 1;
#pragma omp for schedule(monotonic : dynamic, 1)
    for (size_t i = 0; i < n; i++) {
      long d = (long)(rand_r(&seed) % 200);
      if (slow_every && i % (size_t)slow_every == 3) d += 20000; /* one slow input now and then */
      sleep_us(d);
      char t[64];
      int len = snprintf(t, sizeof t, "row %zu\n", i);
      float raw[2] = {(float)i, -(float)i};
      size_t next = om_reorder_next(r);
      if (i >= next) {
#pragma omp critical
        if (i - next > max_ahead) max_ahead = i - next;
      }
      CHECK(om_reorder_put(r, i, t, (size_t)len, raw) == OM_OK);
    }
  }
  CHECK(s.expect == n);
  CHECK(s.bad == 0 && s.raw_bad == 0);
  CHECK(om_reorder_next(r) == n);
  /* A thread starts an index at most window + threads ahead of the written prefix: the put
   * blocks, so dynamic scheduling cannot hand out far-ahead indices. */
  CHECK(max_ahead < w + (size_t)threads);
  if (slow_every) CHECK(om_reorder_waits(r) > 0);
  fprintf(stderr, "n=%zu threads=%d window=%zu: max ahead %zu, waits %zu\n", n, threads, w,
          max_ahead, om_reorder_waits(r));
  om_reorder_free(r);
}

int main(void) {
  run_case(2000, 8, 512, 0);
  run_case(3000, 8, 8, 0);
  run_case(400, 4, 4, 50);
  run_case(1, 1, 1, 0);

  /* Stop: a thread beyond the window is released and its row dropped; rows in the window are
   * still stored; the output ends at the first missing row. */
  {
    sink_state s = {10, 0, (size_t)-1, 0};
    om_reorder *r;
    char err[OM_ERR_LEN];
    CHECK(om_reorder_new(4, 10, 100, 0, sink, &s, NULL, &r, err) == OM_OK);
    CHECK(om_reorder_put(r, 10, "row 10\n", 7, NULL) == OM_OK);
    CHECK(om_reorder_put(r, 12, "row 12\n", 7, NULL) == OM_OK); /* 11 missing */
    int dropped = -1;
#pragma omp parallel num_threads(2)
    {
      if (omp_get_thread_num() == 0) {
        dropped = om_reorder_put(r, 20, "row 20\n", 7, NULL); /* waits: 20 >= 11 + 4 */
      } else {
        sleep_us(100000);
        om_reorder_stop(r);
      }
    }
    CHECK(dropped == OM_E_INTERRUPTED);
    CHECK(om_reorder_next(r) == 11 && s.expect == 11 && s.bad == 0);
    om_reorder_free(r);
  }
  /* The stop flag (a signal) also releases waiters, without anyone calling stop. */
  {
    sink_state s = {0, 0, (size_t)-1, 0};
    atomic_int flag = 1;
    om_reorder *r;
    char err[OM_ERR_LEN];
    CHECK(om_reorder_new(2, 0, 10, 0, sink, &s, &flag, &r, err) == OM_OK);
    CHECK(om_reorder_put(r, 5, "row 5\n", 6, NULL) == OM_E_INTERRUPTED);
    om_reorder_free(r);
  }
  /* Sink failure: reported to the putter and to every later put. */
  {
    sink_state s = {0, 0, 2, 0};
    om_reorder *r;
    char err[OM_ERR_LEN];
    CHECK(om_reorder_new(8, 0, 10, 0, sink, &s, NULL, &r, err) == OM_OK);
    CHECK(om_reorder_put(r, 1, "row 1\n", 6, NULL) == OM_OK);
    CHECK(om_reorder_put(r, 2, "row 2\n", 6, NULL) == OM_OK);
    CHECK(om_reorder_put(r, 0, "row 0\n", 6, NULL) == OM_E_IO);
    CHECK(om_reorder_failed(r) == OM_E_IO);
    CHECK(om_reorder_put(r, 3, "row 3\n", 6, NULL) == OM_E_IO);
    CHECK(om_reorder_next(r) == 2);
    om_reorder_free(r);
  }
  if (fails) fprintf(stderr, "%d checks failed\n", fails);
  return fails ? 1 : 0;
}
