/* reorder.c: the bounded in-order emission window (see reorder.h). One mutex guards the slot
 * states and `next`; the sink runs outside it so other threads keep depositing while a row is
 * being written. */
#include "io/reorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *text;
  size_t len, cap;
  float *raw;
  int ready;
} slot;

struct om_reorder {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t window, next, end, raw_elems;
  slot *slots;
  om_reorder_sink sink;
  void *ctx;
  const atomic_int *stop_flag;
  int stopped, failed, draining;
  size_t waits;
};

int om_reorder_new(size_t window, size_t start, size_t end, size_t raw_elems, om_reorder_sink sink,
                   void *ctx, const atomic_int *stop, om_reorder **out, char *err) {
  *out = NULL;
  if (window == 0) return om_seterr(err, OM_E_INVALID, "reorder window must be at least 1");
  size_t raw_bytes;
  if (om_mul_size(raw_elems, sizeof(float), &raw_bytes))
    return om_seterr(err, OM_E_LIMIT, "raw rows of %zu floats are too large", raw_elems);
  om_reorder *r = calloc(1, sizeof *r);
  if (!r) return om_seterr(err, OM_E_NOMEM, "out of memory for the reorder buffer");
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->window = window;
  r->next = start;
  r->end = end;
  r->raw_elems = raw_elems;
  r->sink = sink;
  r->ctx = ctx;
  r->stop_flag = stop;
  r->slots = calloc(window, sizeof *r->slots);
  if (!r->slots) {
    om_reorder_free(r);
    return om_seterr(err, OM_E_NOMEM, "out of memory for %zu reorder slots", window);
  }
  for (size_t i = 0; raw_elems && i < window; i++) {
    r->slots[i].raw = malloc(raw_bytes);
    if (!r->slots[i].raw) {
      om_reorder_free(r);
      return om_seterr(err, OM_E_NOMEM, "out of memory for %zu raw rows of %zu floats", window,
                       raw_elems);
    }
  }
  *out = r;
  return OM_OK;
}

void om_reorder_free(om_reorder *r) {
  if (!r) return;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  for (size_t i = 0; r->slots && i < r->window; i++) {
    free(r->slots[i].text);
    free(r->slots[i].raw);
  }
  free(r->slots);
  free(r);
}

static void timed_wait(om_reorder *r) {
  /* Bounded wait: the signal handler cannot broadcast, so the stop flag is polled. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 50 * 1000 * 1000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

int om_reorder_put(om_reorder *r, size_t index, const char *text, size_t len, const float *raw) {
  pthread_mutex_lock(&r->mu);
  int counted = 0;
  while (index >= r->next + r->window && !r->stopped && !r->failed) {
    if (r->stop_flag && atomic_load_explicit(r->stop_flag, memory_order_relaxed)) {
      r->stopped = 1;
      pthread_cond_broadcast(&r->cv);
      break;
    }
    if (!counted) {
      r->waits++;
      counted = 1;
    }
    timed_wait(r);
  }
  if (r->failed || index < r->next || index >= r->end) {
    int st = r->failed ? r->failed : OM_E_INVALID;
    pthread_mutex_unlock(&r->mu);
    return st;
  }
  if (index >= r->next + r->window) {
    pthread_mutex_unlock(&r->mu);
    return OM_E_INTERRUPTED;
  }
  slot *s = &r->slots[index % r->window];
  /* The slot belongs to this index alone until it is marked ready; copying under the lock keeps
   * the code simple and rows are short next to an inference. */
  if (len + 1 > s->cap) {
    size_t nc = len + 1 > 256 ? len + 1 : 256;
    char *t = realloc(s->text, nc);
    if (!t) {
      r->failed = OM_E_NOMEM;
      pthread_cond_broadcast(&r->cv);
      pthread_mutex_unlock(&r->mu);
      return OM_E_NOMEM;
    }
    s->text = t;
    s->cap = nc;
  }
  memcpy(s->text, text, len);
  s->text[len] = 0;
  s->len = len;
  if (r->raw_elems && raw) memcpy(s->raw, raw, r->raw_elems * sizeof(float));
  s->ready = 1;
  if (!r->draining) {
    r->draining = 1;
    while (!r->failed && r->slots[r->next % r->window].ready && r->next < r->end) {
      slot *w = &r->slots[r->next % r->window];
      size_t idx = r->next;
      int more = r->next + 1 < r->end && r->slots[(r->next + 1) % r->window].ready;
      pthread_mutex_unlock(&r->mu);
      int st = r->sink(r->ctx, idx, w->text, w->len, r->raw_elems ? w->raw : NULL, more);
      pthread_mutex_lock(&r->mu);
      w->ready = 0;
      if (st != OM_OK) {
        r->failed = st;
      } else {
        r->next++;
      }
      pthread_cond_broadcast(&r->cv);
    }
    r->draining = 0;
  }
  int st = r->failed;
  pthread_mutex_unlock(&r->mu);
  return st;
}

void om_reorder_stop(om_reorder *r) {
  pthread_mutex_lock(&r->mu);
  r->stopped = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

size_t om_reorder_next(om_reorder *r) {
  pthread_mutex_lock(&r->mu);
  size_t n = r->next;
  pthread_mutex_unlock(&r->mu);
  return n;
}

int om_reorder_failed(om_reorder *r) {
  pthread_mutex_lock(&r->mu);
  int f = r->failed;
  pthread_mutex_unlock(&r->mu);
  return f;
}

size_t om_reorder_waits(om_reorder *r) {
  pthread_mutex_lock(&r->mu);
  size_t w = r->waits;
  pthread_mutex_unlock(&r->mu);
  return w;
}
