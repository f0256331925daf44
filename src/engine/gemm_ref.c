/* gemm_ref.c: the GEMM driver shared by every kernel path (blocking, packing, tile loop), the
 * portable C micro-kernel (OM_KERNEL_REF, the reference the SIMD paths are tested against) and the
 * table of kernels. See gemm.h for the layout. */
#include "engine/gemm.h"

#include "common/om.h"
#include "engine/engine.h"
#include "engine/op.h"

#include <omp.h>
#include <string.h>

#define REF_MR 4
#define REF_NR 16

void om_gemm_act_inplace(float *x, int64_t n, int act, float alpha, float beta) {
  if (act == OM_ACT_NONE) return;
  for (int64_t i = 0; i < n; i++) x[i] = om_act_apply(act, alpha, beta, x[i]);
}

void om_gemm_ukr_ref(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                     int nr, const float *init, int64_t ldi, int load_c, const om_gemm_epi *epi,
                     int64_t row0) {
  float acc[REF_MR][REF_NR];
  memset(acc, 0, sizeof acc);
  for (int64_t k = 0; k < kc; k++) {
    const float *ak = a + k * REF_MR, *bk = b + k * REF_NR;
    for (int i = 0; i < REF_MR; i++)
      for (int j = 0; j < REF_NR; j++) acc[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < mr; i++) {
    float bias = (epi && epi->bias) ? epi->bias[row0 + i] : 0.0f;
    for (int j = 0; j < nr; j++) {
      float v = acc[i][j];
      if (init) v += init[i * ldi + j]; /* the running total after the block's products */
      else if (load_c) v += c[i * ldc + j];
      if (epi) v = om_act_apply(epi->act, epi->alpha, epi->beta, v + bias);
      c[i * ldc + j] = v;
    }
  }
}

static const om_gemm_kernel kernels[] = {
  {OM_KERNEL_REF, REF_MR, REF_NR, om_gemm_ukr_ref, "ref"},
  {OM_KERNEL_AVX2, 6, 16, om_gemm_ukr_avx2, "avx2"},
  {OM_KERNEL_AVX512, 8, 32, om_gemm_ukr_avx512, "avx512"},
};

const om_gemm_kernel *om_gemm_kernel_get(int path) {
  for (size_t i = 0; i < OM_ARRAY_LEN(kernels); i++)
    if (kernels[i].path == path) return &kernels[i];
  return NULL;
}

int om_gemm_path_supported(int path) {
  __builtin_cpu_init();
  switch (path) {
  case OM_KERNEL_REF: return 1;
  case OM_KERNEL_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case OM_KERNEL_AVX512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
  default: return 0;
  }
}

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

size_t om_gemm_packed_a_floats(const om_gemm_kernel *k, int64_t M, int64_t K) {
  size_t n;
  if (M < 0 || K < 0 || om_mul_size((size_t)round_up(M, k->mr), (size_t)K, &n)) return 0;
  return n;
}

size_t om_gemm_packed_b_floats(const om_gemm_kernel *k, int64_t K, int64_t N) {
  size_t n;
  if (N < 0 || K < 0 || om_mul_size((size_t)round_up(N, k->nr), (size_t)K, &n)) return 0;
  return n;
}

/* Rows [i0, i0+mc) x cols [k0, k0+kc) of A into MR-row panels (kc x MR each, zero padded). */
static void pack_a_block(int mr_, int64_t M, const float *a, int64_t rs, int64_t cs, float scale,
                         int64_t i0, int64_t mc, int64_t k0, int64_t kc, float *dst) {
  for (int64_t p = 0; p < mc; p += mr_) {
    for (int64_t kk = 0; kk < kc; kk++) {
      const float *src = a + (k0 + kk) * cs;
      for (int i = 0; i < mr_; i++) {
        int64_t row = i0 + p + i;
        dst[kk * mr_ + i] = (p + i < mc && row < M) ? src[row * rs] * scale : 0.0f;
      }
    }
    dst += kc * mr_;
  }
}

void om_gemm_packb_strided(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                           float *dst) {
  const om_gemm_bmat *m = ctx;
  float s = m->scale == 0.0f ? 1.0f : m->scale;
  for (int64_t q = 0; q < nc; q += nr) {
    int64_t w = nc - q < nr ? nc - q : nr;
    for (int64_t kk = 0; kk < kc; kk++) {
      const float *src = m->b + (k0 + kk) * m->rs + (j0 + q) * m->cs;
      float *d = dst + kk * nr;
      if (m->cs == 1 && s == 1.0f) {
        memcpy(d, src, (size_t)w * sizeof(float));
      } else {
        for (int64_t j = 0; j < w; j++) d[j] = src[j * m->cs] * s;
      }
      for (int64_t j = w; j < nr; j++) d[j] = 0.0f;
    }
    dst += kc * nr;
  }
}

void om_gemm_pack_a_par(const om_gemm_kernel *k, int64_t M, int64_t K, const float *a, int64_t rs,
                        int64_t cs, float scale, float *dst, int threads) {
  const int64_t mr = k->mr, mpad = round_up(M, mr), panels = mpad / mr;
  /* each row panel of each K block on its own: K block pc holds mpad x kc floats, panel p of it
   * mr x kc of them at p * mr * kc */
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && M * K >= 65536)
  for (int64_t p = 0; p < panels; p++)
    for (int64_t pc = 0; pc < K; pc += OM_GEMM_KC) {
      int64_t kc = K - pc < OM_GEMM_KC ? K - pc : OM_GEMM_KC;
      pack_a_block((int)mr, M, a, rs, cs, scale, p * mr, mr, pc, kc, dst + pc * mpad + p * mr * kc);
    }
}

void om_gemm_pack_a(const om_gemm_kernel *k, int64_t M, int64_t K, const float *a, int64_t rs,
                    int64_t cs, float scale, float *dst) {
  om_gemm_pack_a_par(k, M, K, a, rs, cs, scale, dst, 1);
}

void om_gemm_pack_b(const om_gemm_kernel *k, int64_t K, int64_t N, const float *b, int64_t rs,
                    int64_t cs, float scale, float *dst) {
  int64_t npad = round_up(N, k->nr);
  om_gemm_bmat m = {b, rs, cs, scale};
  for (int64_t pc = 0; pc < K; pc += OM_GEMM_KC) {
    int64_t kc = K - pc < OM_GEMM_KC ? K - pc : OM_GEMM_KC;
    om_gemm_packb_strided(&m, pc, kc, 0, N, k->nr, dst + pc * npad);
  }
}

static int64_t nc_block(const om_gemm_kernel *k) { return OM_GEMM_NC / k->nr * k->nr; }
static int64_t mc_block(const om_gemm_kernel *k) { return OM_GEMM_MC / k->mr * k->mr; }

size_t om_gemm_scratch_bytes(const om_gemm_kernel *k, int64_t M, int64_t N, int64_t K,
                             int a_prepacked, int b_prepacked) {
  int64_t kc = K < OM_GEMM_KC ? K : OM_GEMM_KC;
  int64_t nc = round_up(N < nc_block(k) ? N : nc_block(k), k->nr);
  int64_t mc = round_up(M < mc_block(k) ? M : mc_block(k), k->mr);
  size_t bytes = 0;
  if (!b_prepacked) bytes += OM_ALIGN_UP((size_t)(kc * nc) * sizeof(float), 64);
  if (!a_prepacked) bytes += OM_ALIGN_UP((size_t)(kc * mc) * sizeof(float), 64);
  return bytes;
}

void om_gemm_range(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch, int64_t i0,
                   int64_t i1, int64_t j0, int64_t j1) {
  const int64_t M = g->M, N = g->N, K = g->K, mr = k->mr, nr = k->nr;
  if (i1 > M) i1 = M;
  if (j1 > N) j1 = N;
  if (i0 >= i1 || j0 >= j1) return;
  const int64_t NCB = nc_block(k), MCB = mc_block(k);
  const int64_t mpad = round_up(M, mr), npad = round_up(N, nr), w = j1 - j0;
  int64_t kc0 = K < OM_GEMM_KC ? K : OM_GEMM_KC;
  int64_t ncmax = round_up(w < NCB ? w : NCB, nr);
  float *bbuf = scratch, *abuf = scratch;
  if (!g->b_packed) abuf = bbuf + OM_ALIGN_UP((size_t)(kc0 * ncmax) * sizeof(float), 64) / 4;
  om_gemm_bmat bm = {g->b, g->b_rs, g->b_cs, 1.0f};
  om_gemm_packb_fn packb = g->packb ? g->packb : om_gemm_packb_strided;
  const void *pctx = g->packb ? g->packb_ctx : &bm;
  float ascale = g->a_scale == 0.0f ? 1.0f : g->a_scale;

  for (int64_t jc = j0; jc < j1; jc += NCB) {
    int64_t nc = j1 - jc < NCB ? j1 - jc : NCB;
    /* K == 0 still runs one pass so the epilogue (init, bias, activation) is applied. */
    for (int64_t pc = 0; pc < K || (pc == 0 && K == 0); pc += OM_GEMM_KC) {
      int64_t kc = K - pc < OM_GEMM_KC ? K - pc : OM_GEMM_KC;
      int last = pc + kc >= K;
      const float *bblk;
      if (g->b_packed) {
        bblk = g->b_packed + pc * npad + jc * kc;
      } else {
        packb(pctx, pc, kc, jc, nc, (int)nr, bbuf);
        bblk = bbuf;
      }
      for (int64_t ic = i0; ic < i1; ic += MCB) {
        int64_t mc = i1 - ic < MCB ? i1 - ic : MCB;
        const float *ablk;
        if (g->a_packed) {
          ablk = g->a_packed + pc * mpad + ic * kc;
        } else {
          pack_a_block((int)mr, M, g->a, g->a_rs, g->a_cs, ascale, ic, round_up(mc, mr), pc, kc,
                       abuf);
          ablk = abuf;
        }
        /* Tile order. Column panels outer: the kc x nr B micro-panel stays in L1 while the A
         * micro-panels (kc x mr each) stream past it from L2. With a short K block (the 1x1 layers on
         * 64 or 128 channels) row panels outer instead, so each tile's C and residual rows are read
         * and written as 8 sequential streams the prefetcher follows, rather than every row of the
         * block touched once per column panel; the small A micro-panel stays in L1 and the B block
         * (<= 128 x 512) in L2. */
        const int rows_outer = kc <= 128;
        const int64_t nir = (mc + mr - 1) / mr, njr = (nc + nr - 1) / nr;
        for (int64_t t = 0; t < nir * njr; t++) {
          int64_t ir = (rows_outer ? t / njr : t % nir) * mr, jr = (rows_outer ? t % njr : t / nir) * nr;
          int m_eff = (int)(mc - ir < mr ? mc - ir : mr), n_eff = (int)(nc - jr < nr ? nc - jr : nr);
          int64_t row = ic + ir, col = jc + jr;
          const float *init = (pc == 0 && g->init) ? g->init + row * g->ldi + col : NULL;
          if (rows_outer && t + 1 < nir * njr) {
            /* short K: a tile's arithmetic is brief next to its C and residual rows (8 short
             * streams the hardware prefetcher is slow to pick up), so the next tile's are
             * requested now */
            int64_t t1 = t + 1, nrow = ic + (t1 / njr) * mr, ncol = jc + (t1 % njr) * nr;
            int64_t nm = mc - (t1 / njr) * mr < mr ? mc - (t1 / njr) * mr : mr;
            int64_t nn = nc - (t1 % njr) * nr < nr ? nc - (t1 % njr) * nr : nr; /* stay inside C */
            for (int64_t i = 0; i < nm; i++) {
              const float *cp = g->c + (nrow + i) * g->ldc + ncol;
              __builtin_prefetch(cp, 1, 3);
              __builtin_prefetch(cp + nn - 1, 1, 3);
              if (init) {
                const float *ip = g->init + (nrow + i) * g->ldi + ncol;
                __builtin_prefetch(ip, 0, 3);
                __builtin_prefetch(ip + nn - 1, 0, 3);
              }
            }
          }
          k->ukr(kc, ablk + ir * kc, bblk + jr * kc, g->c + row * g->ldc + col, g->ldc, m_eff, n_eff,
                 init, g->ldi, pc > 0 || g->accumulate, last ? &g->epi : NULL, row);
        }
      }
    }
  }
}

void om_gemm(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch) {
  om_gemm_range(k, g, scratch, 0, g->M, 0, g->N);
}

/* ---- intra-op threads ---- */
static _Thread_local om_intra tl_intra = {1, 0};

om_intra om_intra_get(void) { return tl_intra; }
void om_intra_set(om_intra v) { tl_intra = v; }

/* Relative cost of a tm x tn split of the output tiles over tm*tn threads: tiles per thread, plus
 * packing (a packed B panel costs about half a tile; every thread packs the B panels of its
 * columns, and the A panels of its rows when A is not pre-packed). */
static double split_cost(int64_t mp, int64_t np, int tm, int tn, int apack, int bpack) {
  int64_t pm = (mp + tm - 1) / tm, pn = (np + tn - 1) / tn;
  return (double)(pm * pn) + (bpack ? 0.5 * (double)pn : 0.0) + (apack ? 0.5 * (double)pm : 0.0);
}

void om_gemm_par(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch, om_intra in) {
  const int64_t M = g->M, N = g->N;
  double work = (double)M * (double)N * (double)(g->K > 0 ? g->K : 1);
  /* a parallel region costs a few microseconds: not worth it for tiny products */
  if (in.nthreads <= 1 || M <= 0 || N <= 0 || work < 262144.0) {
    om_gemm(k, g, scratch);
    return;
  }
  const int64_t mp = (M + k->mr - 1) / k->mr, np = (N + k->nr - 1) / k->nr;
#pragma omp parallel num_threads(in.nthreads)
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int best_tm = 1;
    double best = -1.0;
    for (int tm = 1; tm <= nt; tm++) {
      if (nt % tm) continue;
      double c = split_cost(mp, np, tm, nt / tm, g->a_packed == NULL, g->b_packed == NULL);
      if (best < 0 || c < best - 1e-9) {
        best = c;
        best_tm = tm;
      }
    }
    int tm = best_tm, tn = nt / tm, r = t / tn, q = t % tn;
    int64_t pi0 = mp * r / tm, pi1 = mp * (r + 1) / tm, pj0 = np * q / tn, pj1 = np * (q + 1) / tn;
    om_gemm_range(k, g, om_intra_slice(scratch, &in, t), pi0 * k->mr, pi1 * k->mr, pj0 * k->nr,
                  pj1 * k->nr);
  }
}

const om_gemm_kernel *om_gemm_kernel_best(int path) {
  if (path == OM_KERNEL_AVX512 && om_gemm_path_supported(OM_KERNEL_AVX512))
    return om_gemm_kernel_get(OM_KERNEL_AVX512);
  if ((path == OM_KERNEL_AVX512 || path == OM_KERNEL_AVX2) && om_gemm_path_supported(OM_KERNEL_AVX2))
    return om_gemm_kernel_get(OM_KERNEL_AVX2);
  return om_gemm_kernel_get(OM_KERNEL_REF);
}

size_t om_gemv_packed_floats(int64_t M, int64_t K) {
  if (M < 1 || K < 1) return 0;
  size_t panels = (size_t)((M + OM_GEMV_ROWS - 1) / OM_GEMV_ROWS), n;
  if (om_mul_size(panels, (size_t)K, &n) || om_mul_size(n, OM_GEMV_ROWS, &n)) return 0;
  return n;
}

void om_gemv_pack(int64_t M, int64_t K, const float *w, int64_t rs, int64_t cs, float scale, float *dst) {
  for (int64_t p0 = 0; p0 < M; p0 += OM_GEMV_ROWS)
    for (int64_t k = 0; k < K; k++)
      for (int64_t i = 0; i < OM_GEMV_ROWS; i++) *dst++ = p0 + i < M ? w[(p0 + i) * rs + k * cs] * scale : 0.0f;
}

/* Panels [p0, p1) of the product: om_gemv_avx512 on their rows. */
static void gemv_panels(int64_t M, int64_t K, const float *wp, const float *x, const float *init,
                        const om_gemm_epi *epi, float *y, int64_t p0, int64_t p1) {
  int64_t r0 = p0 * OM_GEMV_ROWS, r1 = p1 * OM_GEMV_ROWS < M ? p1 * OM_GEMV_ROWS : M;
  if (r1 <= r0) return;
  om_gemm_epi e = *epi;
  if (e.bias) e.bias += r0;
  om_gemv_avx512(r1 - r0, K, wp + r0 * K, x, init ? init + r0 : NULL, &e, y + r0);
}

void om_gemv_par(int64_t M, int64_t K, const float *wp, const float *x, const float *init,
                 const om_gemm_epi *epi, float *y, om_intra in) {
  const int64_t panels = (M + OM_GEMV_ROWS - 1) / OM_GEMV_ROWS;
  int nt = in.nthreads < panels ? in.nthreads : (int)panels;
  /* a classifier's 1000 x 2048 weights are worth splitting; a squeeze-excitation layer's are not */
  if (nt <= 1 || (double)M * (double)K < 262144.0) {
    om_gemv_avx512(M, K, wp, x, init, epi, y);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    gemv_panels(M, K, wp, x, init, epi, y, panels * t / n, panels * (t + 1) / n);
  }
}
