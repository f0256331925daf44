/* conv_direct.h: stride-1 2-D Conv without im2col ("shifted rows"), AVX-512.
 *
 * The image is copied once into zero-padded planes (Hp x Wp per channel). On the grid of padded width,
 * p = oy*Wp + ox, the input element that weight (c, ky, kx) meets is at c*Hp*Wp + ky*dh*Wp + kx*dw + p:
 * row k of the GEMM's B operand is the padded image shifted by off[k]. The micro-kernel (8 output
 * channels x 32 grid columns, weights pre-packed as in gemm.h) loads B straight from the padded image,
 * so nothing is packed per K block. Grid columns ox >= OW are computed and dropped: stores compress the
 * valid lanes into the NCHW output, and partial sums / the residual are expanded back on load.
 * Summation order per output element is that of om_gemm over the same packed weights (K blocks of
 * OM_GEMM_KC, k in order inside), whatever the team size. */
#ifndef OM_CONV_DIRECT_H
#define OM_CONV_DIRECT_H

#include "engine/gemm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct om_cdir {
  int64_t C, M, H, W, OH, OW;         /* per group: input channels, output channels */
  int64_t Hp, Wp, pt, pl;             /* padded plane and the top / left pads */
  int64_t K;                          /* C * kh * kw */
  int64_t tiles;                      /* 32-column tiles of the OH x Wp grid */
  const int32_t *off;                 /* K offsets into the padded image */
  size_t plane_floats;                /* C*Hp*Wp + read slack */
} om_cdir;

/* 1 when the shape suits it: 2-D, stride 1, this CPU runs AVX-512, offsets fit 32 bits, and the
 * grid wastes little (Wp - OW columns per row). */
int om_cdir_supported(int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t dh, int64_t dw,
                      int64_t pt, int64_t pb, int64_t pl, int64_t pr);
/* Geometry and offsets (off: C*kh*kw int32 from the caller's plan memory); the per-run scratch bytes
 * of one thread (the padded image lives in team slice 0 and is shared by the team). */
int om_cdir_setup(om_cdir *d, int32_t *off, int64_t C, int64_t M, int64_t H, int64_t W, int64_t kh,
                  int64_t kw, int64_t dh, int64_t dw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                  size_t *scratch_bytes, char *err);
/* One image and group: x [C][H][W] -> y [M][OH][OW] = act(W x + bias + sum), a = the group's weights
 * packed by om_gemm_pack_a for the AVX-512 kernel; bias / sum may be NULL. On up to team.nthreads
 * threads; bit-identical for every team size. */
void om_cdir_run(const om_cdir *d, const float *x, const float *a, const float *bias, const float *sum,
                 int act, float alpha, float beta, float *y, void *scratch, om_intra team);

#endif
