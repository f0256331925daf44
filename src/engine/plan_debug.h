/* plan_debug.h: read-only views into a built plan's memory layout, for tests and --verbose tools.
 * Owned by the planner (plan.c). */
#ifndef OM_PLAN_DEBUG_H
#define OM_PLAN_DEBUG_H

#include "engine/engine.h"

typedef struct om_plan_slot {
  const char *name;
  size_t offset, bytes;          /* place in the arena */
  int first, last;               /* steps that produce / last read it (-1 .. nsteps for inputs) */
} om_plan_slot;

/* Number of arena tensors, and the i-th one (0 on success, -1 out of range). */
int om_plan_nslots(const om_plan *p);
int om_plan_slot_at(const om_plan *p, int i, om_plan_slot *out);
size_t om_plan_arena_bytes(const om_plan *p);
size_t om_plan_tensor_bytes(const om_plan *p); /* sum of all arena tensors (no reuse) */

#endif
