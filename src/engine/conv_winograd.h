/* conv_winograd.h: Winograd F(4x4, 3x3) and F(2x2, 3x3) convolution for 2-D, stride 1, dilation 1,
 * group 1 Conv.
 *
 * Y = A^T [ (G g G^T) .* (B^T d B) ] A per (m+2)x(m+2) input tile d (m x m outputs, tiles overlap by
 * 2; m = 4, or 2 on maps too small for 4x4 tiles to pay: resnets' 7x7 stage). The weight transform
 * U = G g G^T is done once at prepare (in double) and stored as np = (m+2)^2 GEMM A operands [K x C]
 * in the packed layout of gemm.h, in blocks of 64 channels. At run, tiles are processed in blocks of
 * TB (so V and M stay in L2): input transform -> V[np][C][TB], np GEMMs M[xi] = U[xi] * V[xi],
 * output transform fused with bias, the residual (om_sum) and the activation. */
#ifndef OM_CONV_WINOGRAD_H
#define OM_CONV_WINOGRAD_H

#include "engine/gemm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct om_wino {
  const om_gemm_kernel *k;
  int m, np;                          /* output tile m x m; np = (m + 2)^2 transformed planes */
  int64_t C, K, H, W, OH, OW, ph, pw; /* pads: top / left */
  int64_t TH, TW, T, TB;              /* tile rows, tile columns, tiles, tiles per block */
  int64_t vs, ms;                     /* floats between the np planes of V and of M */
  const float *U;                     /* np x nkc packed [K x <=64] operands (uchunk floats apart
                                         within one of the np, ustride floats between them) */
  size_t ustride, uchunk;
  int64_t nkc;                        /* channel blocks of the GEMMs (conv_winograd.c: WKC) */
  size_t off_m, off_d, off_g;         /* scratch offsets (bytes): M, input rows, GEMM packing */
} om_wino;

/* The output tile size m worth using for this shape: 4, 2, or 0 when direct convolution is faster
 * (0 for every shape under the environment OM_WINOGRAD=0, and never 2 under OM_WINOGRAD=4, meant for
 * A/B runs; --no-winograd is the user's switch, in the plan options). */
int om_wino_profitable(int64_t C, int64_t K, int64_t OH, int64_t OW);
/* Fills w's geometry for output tiles of m x m (4 or 2) and tells the floats the transformed weights
 * need (*u_floats) and the per-run scratch bytes; OM_E_LIMIT when a size overflows. */
int om_wino_setup(om_wino *w, const om_gemm_kernel *k, int m, int64_t C, int64_t K, int64_t H,
                  int64_t W, int64_t OH, int64_t OW, int64_t ph, int64_t pw, size_t *u_floats,
                  size_t *scratch_bytes, char *err);
/* U = G g G^T of wt [K][C][3][3] (computed in double) into u (u_floats, 64-byte aligned); sets w->U.
 * On up to `threads` OpenMP threads (the same bytes for any count). Uses a temporary K*C floats
 * (OM_E_NOMEM when that fails). */
int om_wino_transform_weights(om_wino *w, const float *wt, float *u, int threads, char *err);
/* One image: x [C][H][W] -> y [K][OH][OW] = act(conv + bias + sum); bias / sum may be NULL. */
void om_wino_run(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                 float alpha, float beta, float *y, void *scratch);
/* The same on a team of up to team.nthreads threads (an OpenMP region; serial when 1): scratch holds
 * team.nthreads slices team.stride bytes apart, each at least the om_wino_setup size. Bit-identical
 * to om_wino_run. */
void om_wino_run_par(const om_wino *w, const float *x, const float *bias, const float *sum, int act,
                     float alpha, float beta, float *y, void *scratch, om_intra team);

#endif
