/* atomic.h: output files that appear complete or not at all.
 *
 * Writes go to "<dir>/.<name>.tmp.<pid>" in the target's directory; om_atomic_commit flushes,
 * fsyncs and renames it onto the target. om_atomic_abort removes the temporary file and leaves the
 * target untouched. om_atomic_keep_partial (after an interruption) renames it to "<target>.partial"
 * instead, which om_atomic_resume can later reopen, truncated to the bytes worth keeping, to append
 * the rest (--resume). A target that exists and is not a regular file (a device such as /dev/full
 * or /dev/stdout, a FIFO) is opened and written in place: there is nothing to rename onto. */
#ifndef OM_ATOMIC_H
#define OM_ATOMIC_H

#include <stdio.h>

#include "common/om.h"

typedef struct om_atomic_file {
  FILE *f;
  char *target;
  char *tmp;
} om_atomic_file;

/* Creates the temporary file (exclusive create, mode 0666 & ~umask) opened "w+b". */
int om_atomic_open(om_atomic_file *a, const char *target, char *err);
/* Takes over "<target>.partial": renamed to the temporary name, truncated to keep_bytes, opened
 * "r+b" and positioned at its end. */
int om_atomic_resume(om_atomic_file *a, const char *target, long long keep_bytes, char *err);
int om_atomic_commit(om_atomic_file *a, char *err);
int om_atomic_keep_partial(om_atomic_file *a, char *err);
void om_atomic_abort(om_atomic_file *a);  /* safe on a zeroed or already finished struct */
/* "<target>.partial" (malloc'd). */
char *om_atomic_partial_name(const char *target);

#endif
