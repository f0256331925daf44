/* conv_chain.h: a 1x1 Conv feeding a depthwise Conv (the expansion and depthwise layers of the
 * inverted residual blocks of mobilenet_v2 and efficientnet), run as one step, AVX-512.
 *
 * Run as two layers, the expansion writes its whole output (96 x 112 x 112 floats, 4.8 MB, in
 * mobilenet_v2's second block) and the depthwise layer reads it back: both miss the 1 MB L2. Here the
 * output rows go in bands of R: for a group of Mc channels, the expansion computes the input rows a
 * band needs into a small buffer (Mc x cap rows x W, sized for L2), the depthwise kernel turns them
 * into R output rows, and the rows the next band shares (kh - sh of them) move to the top of the
 * buffer instead of being recomputed. The expanded tensor never exists whole.
 *
 * The sums are those of the two layers run apart (om_cdir_rows' k order, om_dw_plane_avx512 on a band
 * is the plane kernel with the band's own top pad), and a channel's result does not depend on the
 * channel groups or the team size. */
#ifndef OM_CONV_CHAIN_H
#define OM_CONV_CHAIN_H

#include "engine/conv_depthwise.h"
#include "engine/conv_direct.h"
#include "engine/gemm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct om_chain {
  om_cdir ex;                          /* the 1x1 expansion, C1 -> M channels, read in place */
  int64_t C1, M, H, W, OH, OW;         /* expansion input channels; depthwise channels; sizes */
  int64_t kh, kw, sh, sw, ph, pw;      /* the depthwise kernel, strides, top / left pads */
  int64_t R, cap, Mc, ldb;             /* output rows per band, buffer rows, channels per group,
                                          floats per buffered channel */
  int64_t nbands;
  const om_dw *band;                   /* per band: the depthwise geometry of its buffered rows */
} om_chain;

/* 1 when this CPU runs AVX-512 and the shapes suit (the depthwise kernel's, strides 1 or 2). */
int om_chain_supported(int64_t C1, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t dh, int64_t dw);
/* Geometry: the per-thread scratch bytes, the int32s of the expansion's index tables and the number
 * of bands (om_chain_index's band table). */
int om_chain_setup(om_chain *c, int64_t C1, int64_t M, int64_t H, int64_t W, int64_t OH, int64_t OW,
                   int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                   size_t *scratch_bytes, size_t *index_ints, size_t *nbands, char *err);
/* The expansion's offsets into mem (index_ints int32s of plan memory) and each band's depthwise
 * geometry into band (nbands of them, plan memory): made once at load, not per image. */
void om_chain_index(om_chain *c, int32_t *mem, om_dw *band);
/* Floats of the packed expansion weights, and their packing from w1 [M][C1]. */
size_t om_chain_weight_floats(const om_chain *c);
void om_chain_pack_weights(const om_chain *c, const float *w1, float *dst);

typedef struct om_chain_args {
  const float *x;                      /* [C1][H][W], one image */
  const float *w1, *b1;                /* packed expansion weights; its bias or NULL */
  int act1;                            /* expansion activation */
  float alpha1, beta1;
  const float *w2, *b2;                /* depthwise weights [M][kh][kw]; bias or NULL */
  const float *sum;                    /* residual [M][OH][OW] or NULL */
  int act2;
  float alpha2, beta2;
  float *y;                            /* [M][OH][OW] */
} om_chain_args;

/* One image on up to team.nthreads threads (channel groups split over them; each thread's buffer in
 * its scratch slice). Bit-identical for every team size. */
void om_chain_run(const om_chain *c, const om_chain_args *a, void *scratch, om_intra team);

#endif
