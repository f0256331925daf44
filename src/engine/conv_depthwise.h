/* conv_depthwise.h: AVX-512 depthwise (one input channel per output channel) 2-D Conv for stride 1
 * or 2 along W, any stride along H, dilation 1, any kernel size and pads, with bias, residual sum
 * and activation fused. The plane is read in place, the zero padding being the load mask (stride 2:
 * the 32 columns under 16 outputs, even lanes kept), so the inner loop is branch-free 16-wide FMAs
 * over output columns. Square 3x3 and 5x5 kernels with equal strides (the mobile networks' cases)
 * take a register-blocked variant: 7 or 8 output rows a pass, each input row loaded once per pass
 * and used by every output row under it, the weights held in registers. Small same-size planes
 * (7x7: H*W <= 64) run flattened, the plane as four vectors and each tap one masked load per vector;
 * small stride-2 outputs (7x7 from 14x14) too, once the plane is split into its parity phases.
 * ops_conv.c keeps the portable loop as the reference twin. */
#ifndef OM_CONV_DEPTHWISE_H
#define OM_CONV_DEPTHWISE_H

#include <stddef.h>
#include <stdint.h>

#define OM_DW_FLAT_VECS 4  /* small planes (H*W <= 64) run flattened: see om_dw_setup */
#define OM_DW_FLAT_TAPS 25
#define OM_DW_SQ_BLOCKS 16 /* 256 output columns */
#define OM_DW_S2_PHASE 256 /* floats a stride-2 phase plane may hold (PH * PW) */

typedef struct om_dw {
  int64_t H, W, OH, OW, kh, kw, sh, sw, ph, pw; /* pads: top / left */
  /* flattened small planes (stride 1, same size out as in, H*W <= 64, kh*kw <= 25): the plane as
   * one array of up to 4 vectors; tap t reads x[q + foff[t]] where fmask[v][t] has lane q - 16v */
  int flat;
  int32_t foff[OM_DW_FLAT_TAPS];
  uint16_t fmask[OM_DW_FLAT_VECS][OM_DW_FLAT_TAPS];
  /* square 3x3 / 5x5 kernels: per 16-column output block, the lane masks of each tap column (the
   * lanes whose input column is inside the plane; high: lanes 16-31 of a stride-2 pair), for the
   * first OM_DW_SQ_BLOCKS blocks */
  uint16_t sqmask[OM_DW_SQ_BLOCKS][5], sqmaskh[OM_DW_SQ_BLOCKS][5];
  /* stride-2 small planes (7x7 out of 14x14: the mobile networks' last downsampling): the padded
   * input split into its four (row, column) parity phases, PH x PW each (PW <= 16), every tap a shift
   * within one phase, so the outputs run flattened like the stride-1 small planes: output (oy, ox) is
   * lane oy*PW + ox of four vectors (lanes with ox >= OW are dropped when stored) */
  int s2flat;
  int32_t s2pw, s2ph;
  int32_t s2off[OM_DW_FLAT_TAPS];            /* tap t: its phase * OM_DW_S2_PHASE + shift */
  int32_t s2idx[2][16];                      /* even / odd phase columns: input column + pads */
  uint16_t s2min[2];                         /* ... lanes whose column lies inside the row */
  uint16_t s2lanes[OM_DW_FLAT_VECS];         /* lanes below (OH-1)*PW + OW: read and computed */
  uint16_t s2out[OM_DW_FLAT_VECS];           /* ... and with ox < OW: stored */
} om_dw;

/* 1 when the shape is handled (D == 1, dilations 1, sw 1 or 2, kernel <= 15 each way). */
int om_dw_supported(int64_t kd, int64_t dh, int64_t dw, int64_t sw, int64_t kh, int64_t kw);
/* Fills d (no scratch is needed: the plane is read in place). */
void om_dw_setup(om_dw *d, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t kh, int64_t kw,
                 int64_t sh, int64_t sw, int64_t ph, int64_t pw);
/* One plane: y[OH][OW] = act(sum_{ky,kx} w[ky][kx] * x[oy*sh + ky - ph][ox*sw + kx - pw] + bias
 * (+ sum)). Only call when om_gemm_path_supported(OM_KERNEL_AVX512). */
void om_dw_plane_avx512(const om_dw *d, const float *x, const float *w, float bias, const float *sum,
                        int act, float alpha, float beta, float *y);

/* Two adjacent planes (x and x + H*W, weights w and w + kh*kw, outputs y and y + OH*OW, sum likewise):
 * the same results as two om_dw_plane_avx512 calls; small flattened planes run interleaved. */
void om_dw_plane2_avx512(const om_dw *d, const float *x, const float *w, float bias0, float bias1,
                         const float *sum, int act, float alpha, float beta, float *y);

#endif
