/* conv_direct.h: 2-D Conv (stride 1 or 2) without im2col ("shifted rows"), AVX-512.
 *
 * The image is copied once into zero-padded planes, split by stride phase: plane (c, qy, qx) holds
 * the padded pixels (qy + sh*i, qx + sw*j), Hq x Wq of them (stride 1: one phase, the padded plane).
 * On the grid p = oy*Wq + ox, the input element that weight (c, ky, kx) meets is in phase
 * (ky*dh % sh, kx*dw % sw) at row oy + ky*dh/sh, column ox + kx*dw/sw: at a fixed offset off[k] from p,
 * so row k of the GEMM's B operand is the phase planes shifted by off[k]. A 1x1 stride-1 unpadded
 * Conv reads the image itself (nothing copied; grid tiles only). The micro-kernel (8 output
 * channels x 32 grid columns, weights pre-packed as in gemm.h) loads B straight from the padded image,
 * so nothing is packed per K block. Grid columns ox >= OW are computed and dropped: stores compress the
 * valid lanes into the NCHW output, and partial sums / the residual are expanded back on load.
 * Summation order per output element is that of om_gemm: k = 0 .. K-1 in order (K blocks only split
 * where the running sum is parked in C), whatever the team size. */
#ifndef OM_CONV_DIRECT_H
#define OM_CONV_DIRECT_H

#include "engine/gemm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct om_cdir {
  int64_t C, M, H, W, OH, OW;         /* per group: input channels, output channels */
  int64_t sh, sw, py, px;             /* strides; phases copied per dimension (1 for a 1-wide kernel) */
  int64_t Hq, Wq, pt, pl;             /* phase plane size; top / left pads */
  int64_t K;                          /* C * kh * kw */
  int64_t kcb;                        /* grid: K block (equal blocks of at most OM_GEMM_KC) */
  int64_t grid, tiles;                /* OH * Wq grid columns; 32-column tiles of them */
  int tr;                             /* 1: transposed tiles (small images, see conv_direct.c) */
  int64_t R, ptiles, ldt;             /* tr: pixels per tile, pixel tiles; channel stride of T
                                         (also the packed weights' column count) */
  const int32_t *off;                 /* K offsets into the phase planes */
  const uint32_t *tvalid;             /* grid: per tile, the lanes on valid outputs */
  const int32_t *tdst;                /* grid: per tile, the output index of its first valid lane */
  const int32_t *pix;                 /* tr: per output pixel, its grid position */
  size_t plane_floats;                /* C*py*px*Hq*Wq + read slack; 0 when zc */
  int zc;                             /* 1x1, stride 1, unpadded: the image is its own phase plane
                                         (read in place, nothing copied) */
} om_cdir;

/* 1 when the shape suits it: 2-D, stride 1 or 2, this CPU runs AVX-512, offsets fit 32 bits, and the
 * grid wastes little (Wq - OW columns per row). */
int om_cdir_supported(int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                      int64_t dh, int64_t dw, int64_t pt, int64_t pb, int64_t pl, int64_t pr);
/* Geometry; the per-run scratch bytes of one thread (the phase planes live in team slice 0 and are
 * shared by the team) and the int32s of the index tables om_cdir_index fills. */
int om_cdir_setup(om_cdir *d, int64_t C, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pb, int64_t pl,
                  int64_t pr, size_t *scratch_bytes, size_t *index_ints, char *err);
/* Offsets and per-tile tables into mem (index_ints int32s of the caller's plan memory). */
void om_cdir_index(om_cdir *d, int32_t *mem, int64_t kh, int64_t kw, int64_t dh, int64_t dw);
/* Floats of one group's packed weights, and the packing of W [M][C*kh*kw] into them. */
size_t om_cdir_weight_floats(const om_cdir *d);
void om_cdir_pack_weights(const om_cdir *d, const float *w, float *dst);
/* The same on up to `threads` OpenMP threads (weights at load; the same bytes for any count). */
void om_cdir_pack_weights_par(const om_cdir *d, const float *w, float *dst, int threads);
/* One image and group: x [C][H][W] -> y [M][OH][OW] = act(W x + bias + sum), a = the group's weights
 * from om_cdir_pack_weights; bias / sum may be NULL. On up to team.nthreads
 * threads; bit-identical for every team size. */
void om_cdir_run(const om_cdir *d, const float *x, const float *a, const float *bias, const float *sum,
                 int act, float alpha, float beta, float *y, void *scratch, om_intra team);

/* o[t] = src[ix + t*sw] for t < run where 0 <= ix + t*sw < W, else 0 (sw 1 or 2): one padded row of
 * a phase plane or of an im2col panel. AVX-512. */
void om_row_gather512(float *o, const float *src, int64_t ix, int64_t run, int64_t sw, int64_t W);
/* zc geometry only (a 1x1 stride-1 unpadded Conv): outputs at flattened pixels [p0, p1) of channels
 * [m0, m1) (m0 a multiple of 8) into y[m - m0][p - p0] (rows ldy apart), bias and activation from epi;
 * serial. The same sums as om_cdir_run's. */
void om_cdir_rows(const om_cdir *d, const float *x, const float *a, const om_gemm_epi *epi, int64_t p0,
                  int64_t p1, int64_t m0, int64_t m1, float *y, int64_t ldy);

/* A 3x3 stride-2 MaxPool run with the Conv (plan.c fuse_pool): the Conv's rows are computed in bands
 * into a per-thread buffer [M][cap][OW] (grid mode only: !tr) and each band pooled while it is in
 * cache; a band's first rows are the previous band's last, kept rather than recomputed. The Conv
 * values are those of om_cdir_run (same tiles' sums, same epilogue), so the output is the bytes of
 * the two layers run apart. */
typedef struct om_cdir_pool {
  int64_t POH, POW, pt, pl;           /* pooled size; the pool's top / left pads */
  int64_t R, cap;                     /* pooled rows per band; buffered Conv rows */
} om_cdir_pool;
/* Band geometry (q->R, q->cap) for the pool q->POH, POW, pt, pl (pads 0..2); returns the per-thread
 * buffer bytes, 0 where bands do not apply (transposed tiles). */
size_t om_cdir_pool_bands(const om_cdir *d, om_cdir_pool *q);
/* One image: x [C][H][W] -> y [M][POH][POW] = maxpool(act(W x + bias)); the band buffer at buf_off
 * bytes into each team thread's scratch slice (after om_cdir_setup's scratch). */
void om_cdir_run_pool(const om_cdir *d, const om_cdir_pool *q, const float *x, const float *a,
                      const float *bias, int act, float alpha, float beta, float *y, void *scratch,
                      size_t buf_off, om_intra team);

#endif
