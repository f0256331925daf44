/* reorder.h: the bounded reorder window between the parallel loop and the ordered output.
 *
 * Threads finish inputs in any order; each hands its formatted row (and optional raw float row) to
 * om_reorder_put. Rows are emitted through the sink strictly in index order, as soon as every
 * earlier row is in (streaming). The ring has `window` slots: a thread holding index i waits (on a
 * condition variable) only while i >= next + window, so memory stays bounded and one slow input
 * stalls others only once they run a whole window ahead of it. The thread that fills the slot at
 * `next` drains the ready prefix, calling the sink outside the lock (one drainer at a time). */
#ifndef OM_REORDER_H
#define OM_REORDER_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "common/om.h"

/* Writes one row; `more` is 1 when another ready row follows at once (a chance to delay flushing).
 * Returns OM_OK or an error code (then the reorder buffer fails: later puts are refused). */
typedef int (*om_reorder_sink)(void *ctx, size_t index, const char *text, size_t len,
                               const float *raw, int more);

typedef struct om_reorder om_reorder;

/* Rows start..end-1 are expected; raw_elems floats per raw row (0: none). `stop` (optional) is
 * polled while waiting, so a signal flag releases waiting threads (see om_reorder_stop). */
int om_reorder_new(size_t window, size_t start, size_t end, size_t raw_elems, om_reorder_sink sink,
                   void *ctx, const atomic_int *stop, om_reorder **out, char *err);
void om_reorder_free(om_reorder *r);

/* Hands in row `index` (copied). Returns OM_OK when stored (and possibly written),
 * OM_E_INTERRUPTED when dropped because the buffer was stopped while this row lay beyond the
 * window, or the sink's error code once a write has failed. */
int om_reorder_put(om_reorder *r, size_t index, const char *text, size_t len, const float *raw);
/* No more rows will come for some index: release the waiting threads; rows past the window are
 * dropped from then on, and the output ends at the first missing row. */
void om_reorder_stop(om_reorder *r);
size_t om_reorder_next(om_reorder *r);   /* index of the first row not yet written */
int om_reorder_failed(om_reorder *r);    /* the sink's error code, or OM_OK */
/* How many times a put had to wait for the window, for --verbose and tests. */
size_t om_reorder_waits(om_reorder *r);

#endif
