/* op_util.h: small helpers shared by the op families: ONNX (NumPy-style) broadcasting, axis
 * normalization, reading constant shape-defining inputs, shape strings for messages.
 * Stable interface: other op files depend on it. */
#ifndef OM_OP_UTIL_H
#define OM_OP_UTIL_H

#include "engine/op.h"

/* 1 when an optional input is present (non-NULL and ndim >= 0). */
static inline int om_tensor_present(const om_tensor *t) { return t && t->ndim >= 0; }

/* Element count of a tensor whose shape the planner already checked (never overflows then). */
static inline size_t om_tensor_elems(const om_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->dims[i];
  return n;
}

/* Axis in [-ndim, ndim-1] -> [0, ndim-1] into *out; -1 when out of range. */
int om_norm_axis(int64_t axis, int ndim, int *out);

/* C-order element strides of dims (strides[ndim-1] = 1). */
void om_strides(const int64_t *dims, int ndim, int64_t *strides);

/* Multidirectional (NumPy) broadcast of n shapes into (*ndim, dims). Refuses incompatible shapes
 * with "cannot broadcast 2x3 with 4" in err. Absent tensors (ndim < 0) are skipped. */
int om_broadcast(const om_tensor *const *ts, int n, int *ndim, int64_t *dims, char *err);

/* Element strides of t as seen when broadcast to the output shape (ndim, dims): right-aligned,
 * 0 where t has size 1 (or lacks the dim). Needs t->ndim <= ndim. */
void om_broadcast_strides(const om_tensor *t, int ndim, const int64_t *dims, int64_t *strides);

/* Values of a constant int32/int64 (or, for convenience, uint8/bool/int8) tensor as int64, at most
 * max of them, count in *n. Refuses (naming `what`) when t->data is NULL: shape-defining inputs must
 * be known at load. */
int om_tensor_ints(const om_tensor *t, const char *what, int64_t *v, size_t max, size_t *n,
                   char *err);

/* First element of a constant float/double/int tensor as float; -1 if not constant or empty. */
int om_tensor_scalar_f(const om_tensor *t, float *v);

/* "1x3x224x224" (or "scalar") into buf; returns buf. */
/* Attribute `name` as exactly `want` ints in [minv, 2^24] into out (dflt for each when absent). */
int om_attr_ints_fixed(const om_prep *p, const char *name, int want, int64_t *out, int64_t dflt,
                       int64_t minv, char *err);
/* OM_OK when t is present and float32; else a message naming `what`. */
int om_check_float(const om_tensor *t, const char *what, char *err);
/* The planner's fusion attributes (op.h: om_act, om_act_alpha, om_act_beta, om_sum), checked: the
 * activation is known and a fused sum (input 3) is float32 of the output's shape. */
int om_read_fusion(const om_prep *p, int ndim, const int64_t *ydims, int *act, float *alpha,
                   float *beta, int *has_sum, char *err);
char *om_dims_str(const int64_t *dims, int ndim, char *buf, size_t len);

/* ops_pool.c: one plane's 3x3 stride-2 MaxPool, x [H][W] -> y [OH][OW], top / left pads pt, pl (< 16;
 * windows clipped to the plane, as MaxPool's own kernel does); AVX-512 only (the caller checks).
 * For a Conv that runs its MaxPool in row bands (conv_direct.c). */
void om_maxpool_k3s2_plane(const float *x, int64_t H, int64_t W, float *y, int64_t OH, int64_t OW,
                           int64_t pt, int64_t pl);

#endif
