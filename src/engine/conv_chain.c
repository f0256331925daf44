/* conv_chain.c: 1x1 Conv -> depthwise Conv in row bands (see conv_chain.h). */
#include "engine/conv_chain.h"

#include "common/om.h"
#include "engine/engine.h"
#include "engine/op.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MR 8
#define BAND_ROWS 8      /* output rows per band: the depthwise kernel's register block (7 or 8 rows) */
#define BUF_BYTES 196608 /* one channel group's buffer: with the band's input rows and the output rows
                            it writes, well inside a 1 MB L2 */

int om_chain_supported(int64_t C1, int64_t M, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t dh, int64_t dw) {
  if (!om_gemm_path_supported(OM_KERNEL_AVX512) || !om_dw_supported(1, dh, dw, sw, kh, kw)) return 0;
  if (C1 < 1 || M < 1 || sh < 1 || sh > 2 || kh < sh) return 0;
  return om_cdir_supported(C1, H, W, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
}

int om_chain_setup(om_chain *c, int64_t C1, int64_t M, int64_t H, int64_t W, int64_t OH, int64_t OW,
                   int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                   size_t *scratch_bytes, size_t *index_ints, size_t *nbands, char *err) {
  memset(c, 0, sizeof *c);
  if (!om_chain_supported(C1, M, H, W, kh, kw, sh, sw, 1, 1))
    return om_seterr(err, OM_E_UNSUPPORTED, "1x1 + depthwise chain does not apply to this shape");
  /* every band reads at least one image row: pads shorter than the kernel */
  if (ph < 0 || ph >= kh || (OH - 1) * sh + kh - ph - H >= kh || OH < 1 || OW < 1)
    return om_seterr(err, OM_E_UNSUPPORTED, "1x1 + depthwise chain needs pads shorter than the kernel");
  size_t exs;
  int rc = om_cdir_setup(&c->ex, C1, M, H, W, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, &exs, index_ints, err);
  if (rc) return rc;
  c->C1 = C1; c->M = M; c->H = H; c->W = W; c->OH = OH; c->OW = OW;
  c->kh = kh; c->kw = kw; c->sh = sh; c->sw = sw; c->ph = ph; c->pw = pw;
  const char *e = getenv("OM_CHAIN_ROWS"); /* tuning runs */
  c->R = e && atoi(e) > 0 ? atoi(e) : BAND_ROWS;
  if (c->R > OH) c->R = OH;
  c->cap = (c->R - 1) * sh + kh;
  if (c->cap > H) c->cap = H;
  c->ldb = OM_ALIGN_UP(c->cap * W, 16);
  const char *kb = getenv("OM_CHAIN_KB");
  size_t budget = kb && atoi(kb) > 0 ? (size_t)atoi(kb) * 1024 : BUF_BYTES;
  int64_t mc = (int64_t)(budget / ((size_t)c->ldb * sizeof(float))) / MR * MR;
  if (mc < MR) mc = MR;
  /* equal groups, each a multiple of MR (the expansion's row panels) */
  int64_t groups = (M + mc - 1) / mc;
  c->Mc = ((M + groups - 1) / groups + MR - 1) / MR * MR;
  c->nbands = (OH + c->R - 1) / c->R;
  *scratch_bytes = ((size_t)c->Mc * (size_t)c->ldb + 64) * sizeof(float);
  *nbands = (size_t)c->nbands;
  return OM_OK;
}

/* Band b's output rows [oy0, oy1) and the image rows [lo, hi) they read. */
static void band_rows(const om_chain *c, int64_t b, int64_t *oy0, int64_t *oy1, int64_t *lo, int64_t *hi) {
  *oy0 = b * c->R;
  *oy1 = *oy0 + c->R < c->OH ? *oy0 + c->R : c->OH;
  *lo = *oy0 * c->sh - c->ph;
  *hi = (*oy1 - 1) * c->sh - c->ph + c->kh;
  if (*lo < 0) *lo = 0;
  if (*hi > c->H) *hi = c->H;
}

void om_chain_index(om_chain *c, int32_t *mem, om_dw *band) {
  om_cdir_index(&c->ex, mem, 1, 1, 1, 1);
  /* the buffer holds image rows [lo, hi): the band's own top pad is what lies above lo */
  for (int64_t b = 0; b < c->nbands; b++) {
    int64_t oy0, oy1, lo, hi;
    band_rows(c, b, &oy0, &oy1, &lo, &hi);
    om_dw_setup(&band[b], hi - lo, c->W, oy1 - oy0, c->OW, c->kh, c->kw, c->sh, c->sw,
                c->ph + lo - oy0 * c->sh, c->pw);
  }
  c->band = band;
}

size_t om_chain_weight_floats(const om_chain *c) { return om_cdir_weight_floats(&c->ex); }

void om_chain_pack_weights(const om_chain *c, const float *w1, float *dst) {
  om_cdir_pack_weights(&c->ex, w1, dst);
}

/* Channels [m0, m1) (m0 a multiple of MR), every band, buf holding (m1 - m0) x cap rows. */
static void chain_group(const om_chain *c, const om_chain_args *a, int64_t m0, int64_t m1, float *buf) {
  const int64_t W = c->W, OW = c->OW, ohw = c->OH * OW, kk = c->kh * c->kw;
  const om_gemm_epi epi = {a->b1, a->act1, a->alpha1, a->beta1};
  int64_t plo = 0, phi = 0; /* the image rows the buffer holds, from its row 0 */
  for (int64_t b = 0; b < c->nbands; b++) {
    int64_t oy0, oy1, lo, hi;
    band_rows(c, b, &oy0, &oy1, &lo, &hi);
    int64_t keep = phi > lo && lo >= plo ? phi - lo : 0;
    if (keep && lo > plo)
      for (int64_t m = m0; m < m1; m++) {
        float *r = buf + (m - m0) * c->ldb;
        memmove(r, r + (lo - plo) * W, (size_t)(keep * W) * sizeof(float));
      }
    if (hi > lo + keep)
      om_cdir_rows(&c->ex, a->x, a->w1, &epi, (lo + keep) * W, hi * W, m0, m1, buf + keep * W, c->ldb);
    plo = lo;
    phi = hi;
    for (int64_t m = m0; m < m1; m++)
      om_dw_plane_avx512(&c->band[b], buf + (m - m0) * c->ldb, a->w2 + m * kk, a->b2 ? a->b2[m] : 0.0f,
                         a->sum ? a->sum + m * ohw + oy0 * OW : NULL, a->act2, a->alpha2, a->beta2,
                         a->y + m * ohw + oy0 * OW);
  }
}

void om_chain_run(const om_chain *c, const om_chain_args *a, void *scratch, om_intra team) {
  const int64_t groups = (c->M + c->Mc - 1) / c->Mc;
  int nt = team.nthreads < groups ? team.nthreads : (int)groups;
  if (nt <= 1) {
    for (int64_t g = 0; g < groups; g++)
      chain_group(c, a, g * c->Mc, (g + 1) * c->Mc < c->M ? (g + 1) * c->Mc : c->M, scratch);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    float *buf = om_intra_slice(scratch, &team, t);
    for (int64_t g = groups * t / n; g < groups * (t + 1) / n; g++)
      chain_group(c, a, g * c->Mc, (g + 1) * c->Mc < c->M ? (g + 1) * c->Mc : c->M, buf);
  }
}
