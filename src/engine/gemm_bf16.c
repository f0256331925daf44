/* gemm_bf16.c: the opt-in bf16 GEMM (om_plan_opts.precision = OM_PRECISION_BF16) for CPUs with
 * AVX512-BF16: driver, packers and the 8x32 micro-kernel on vdpbf16ps.
 *
 *   C[M,N] = init (or 0) + bf16(A)[M,K] * bf16(B)[K,N], fp32 accumulation, then bias, activation.
 *
 * vdpbf16ps multiplies pairs of bf16 along K and adds both products into one fp32 lane, so both
 * sides are packed as 32-bit words holding (k, k+1):
 *   A (weights, once at load): per KC block, per MR-row panel, kp = ceil(kc/2) words per row,
 *     stored k-pair-major: word (p, i) = (A[i, 2p], A[i, 2p+1]); an odd K gets a zero high half.
 *   B (activations, per call, om_gemm_bf16_pack_b, shared with gemm_amx.c): a row-major B (the 1x1
 *     Conv's image) is rounded and interleaved to kp x NR words straight from its rows; any other
 *     (Conv's implicit im2col) is packed by the fp32 packer a few kc x NR panels at a time into a
 *     small buffer, then rounded and interleaved the same way.
 * Where the CPU has AMX (om_gemm_amx_supported) the public functions below hand over to gemm_amx.c,
 * which has its own A layout.
 * Rounding is round-to-nearest-even everywhere (scalar for A, vcvtne2ps2bf16 for B). The epilogue
 * (init/sum, bias, activation) is the fp32 kernel's. Only compiled code paths under a target
 * attribute touch BF16 instructions; om_gemm_bf16_supported() gates every call. */
#define OM_VMATH_AVX512
#include "engine/gemm.h"

#include "common/om.h"
#include "engine/engine.h"
#include "engine/op.h"
#include "engine/vmath.h"
#include "engine/tile512.h"

#include <immintrin.h>
#include <string.h>

#define TBF __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")))
#define MR OM_GEMM_BF16_MR
#define NR OM_GEMM_BF16_NR
#define KC OM_GEMM_BF16_KC
#define NCB (OM_GEMM_NC / NR * NR)

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

int om_gemm_bf16_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx512bf16");
}

int om_precision_supported(int precision) {
  if (precision == OM_PRECISION_FP32) return 1;
  if (precision == OM_PRECISION_BF16) return om_gemm_bf16_supported();
  return 0;
}

int om_precision_bf16_amx(void) { return om_gemm_bf16_supported() && om_gemm_amx_supported(); }

const char *om_precision_name(int precision) {
  switch (precision) {
  case OM_PRECISION_FP32: return "fp32";
  case OM_PRECISION_BF16: return "bf16";
  default: return "unknown";
  }
}

uint16_t om_bf16_round(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

size_t om_gemm_bf16_packed_a_elems(int64_t M, int64_t K) {
  if (om_gemm_amx_supported()) return om_gemm_amx_packed_a_elems(M, K);
  size_t n;
  if (M < 0 || K < 0 || om_mul_size((size_t)round_up(M, MR), (size_t)round_up(K, 2), &n)) return 0;
  return n;
}

void om_gemm_bf16_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float scale,
                         uint16_t *dst) {
  if (om_gemm_amx_supported()) {
    om_gemm_amx_pack_a(M, K, a, rs, cs, scale, dst);
    return;
  }
  const int64_t mpad = round_up(M, MR);
  float s = scale == 0.0f ? 1.0f : scale;
  for (int64_t pc = 0; pc < K; pc += KC) {
    int64_t kc = K - pc < KC ? K - pc : KC, kp = (kc + 1) / 2;
    uint16_t *blk = dst + pc * mpad; /* every earlier block is KC (even) deep */
    for (int64_t r = 0; r < mpad; r += MR) {
      uint16_t *pan = blk + r * 2 * kp;
      for (int64_t p = 0; p < kp; p++)
        for (int i = 0; i < MR; i++) {
          int64_t row = r + i, k = pc + 2 * p;
          float lo = row < M ? a[row * rs + k * cs] * s : 0.0f;
          float hi = row < M && k + 1 < pc + kc ? a[row * rs + (k + 1) * cs] * s : 0.0f;
          pan[(p * MR + i) * 2] = om_bf16_round(lo);
          pan[(p * MR + i) * 2 + 1] = om_bf16_round(hi);
        }
    }
  }
}

/* a group of fp32 B panels (OM_GEMM_BF16_FTMP) and the bf16 block */
size_t om_gemm_bf16_scratch_bytes(int64_t M, int64_t N, int64_t K) {
  if (om_gemm_amx_supported()) return om_gemm_amx_scratch_bytes(M, N, K);
  if (N < 0 || K < 0 || N > ((int64_t)1 << 40)) return 0;
  int64_t ncmax = round_up(N < NCB ? N : NCB, NR);
  return OM_GEMM_BF16_FTMP + OM_ALIGN_UP((size_t)(KC * ncmax) * 2, 64);
}

/* kc rows of B (row k at b + k * rs, w <= NR valid columns) to ceil(kc/2) bf16 pair-rows of a panel
 * (NR words each). vcvtne2ps2bf16(r1, r0) gives r0's 16 values then r1's; the permute interleaves
 * them into (r0[j], r1[j]) words. */
TBF static void convert_rows(const float *b, int64_t rs, int64_t kc, int w, uint16_t *dst) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                       23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  __mmask16 m[2] = {w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << w) - 1),
                    w >= 32 ? (__mmask16)0xFFFF : w > 16 ? (__mmask16)((1u << (w - 16)) - 1) : 0};
  int64_t kp = (kc + 1) / 2;
  for (int64_t p = 0; p < kp; p++) {
    const float *r0 = b + 2 * p * rs, *r1 = r0 + rs;
    int has1 = 2 * p + 1 < kc;
    for (int h = 0; h < 2; h++) {
      __m512 v0 = _mm512_maskz_loadu_ps(m[h], r0 + 16 * h);
      __m512 v1 = has1 ? _mm512_maskz_loadu_ps(m[h], r1 + 16 * h) : _mm512_setzero_ps();
      __m512i x = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
      _mm512_storeu_si512((void *)(dst + (p * NR + 16 * h) * 2), _mm512_permutexvar_epi16(idx, x));
    }
  }
}

/* The same in C (AMX's emulated test on a CPU without AVX512-BF16). */
static void convert_rows_c(const float *b, int64_t rs, int64_t kc, int w, uint16_t *dst) {
  for (int64_t p = 0; p < (kc + 1) / 2; p++)
    for (int j = 0; j < NR; j++) {
      dst[(p * NR + j) * 2] = j < w ? om_bf16_round(b[2 * p * rs + j]) : 0;
      dst[(p * NR + j) * 2 + 1] = j < w && 2 * p + 1 < kc ? om_bf16_round(b[(2 * p + 1) * rs + j]) : 0;
    }
}

void om_gemm_bf16_pack_b(om_gemm_packb_fn packb, const void *pctx, int64_t pc, int64_t kc, int64_t jc,
                         int64_t nc, int64_t kpad, float *ftmp, uint16_t *bbuf) {
  void (*conv)(const float *, int64_t, int64_t, int, uint16_t *) =
      om_gemm_bf16_supported() ? convert_rows : convert_rows_c;
  const om_gemm_bmat *bm = pctx;
  int direct = packb == om_gemm_packb_strided && bm->cs == 1 && (bm->scale == 0.0f || bm->scale == 1.0f);
  int64_t kp = (kc + 1) / 2, kpp = round_up(kp, kpad), nrow = round_up(nc, NR);
  if (direct) {
    for (int64_t q = 0; q < nc; q += NR)
      conv(bm->b + pc * bm->rs + jc + q, bm->rs, kc, (int)(nc - q < NR ? nc - q : NR), bbuf + q * kpp * 2);
  } else {
    /* one pair of rows at a time across all nc columns: the packer (Conv's im2col) works out each
     * row's source once for the whole row, and its two rows (2 x 512 floats) stay in L1 */
    for (int64_t p = 0; p < kp; p++) {
      int64_t rows = kc - 2 * p < 2 ? kc - 2 * p : 2;
      packb(pctx, pc + 2 * p, rows, jc, nc, (int)nrow, ftmp);
      for (int64_t q = 0; q < nc; q += NR) conv(ftmp + q, nrow, rows, NR, bbuf + (q * kpp + p * NR) * 2);
    }
  }
  for (int64_t q = 0; q < nc; q += NR)
    memset(bbuf + (q * kpp + kp * NR) * 2, 0, (size_t)((kpp - kp) * NR) * 4);
}

/* a: kp x MR words, b: kp x NR words; c tile mr x nr (mr <= 8, nr <= 32), 16 zmm accumulators. */
TBF static void ukr_bf16(int64_t kp, const uint32_t *a, const uint32_t *b, float *c, int64_t ldc,
                         int mr, int nr, const float *init, int64_t ldi, int load_c,
                         const om_gemm_epi *epi, int64_t row0) {
  OM_TILE512_BEGIN(nr, mr, init, ldi, c, ldc, load_c)

#define DPROW(i)                                                                           \
  {                                                                                        \
    __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(i)]);                                \
    c##i##a = _mm512_dpbf16_ps(c##i##a, av, b0);                                           \
    c##i##b = _mm512_dpbf16_ps(c##i##b, av, b1);                                           \
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kp; p++) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)b);
    __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + 16));
    DPROW(0) DPROW(1) DPROW(2) DPROW(3) DPROW(4) DPROW(5) DPROW(6) DPROW(7)
    a += MR;
    b += NR;
  }
#undef DPROW

  OM_TILE512_ADD_SRC(mr)
  OM_TILE512_STORE(c, ldc, mr, epi, row0)
}

TBF static void gemm_bf16_body(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch) {
  const int64_t M = g->M, N = g->N, K = g->K;
  const int64_t mpad = round_up(M, MR);
  float *ftmp = scratch;
  uint16_t *bbuf = (uint16_t *)((char *)scratch + OM_GEMM_BF16_FTMP);
  om_gemm_bmat bm = {g->b, g->b_rs, g->b_cs, 1.0f};
  om_gemm_packb_fn packb = g->packb ? g->packb : om_gemm_packb_strided;
  const void *pctx = g->packb ? g->packb_ctx : &bm;

  for (int64_t jc = 0; jc < N; jc += NCB) {
    int64_t nc = N - jc < NCB ? N - jc : NCB;
    /* K == 0 still runs one pass so the epilogue (init, bias, activation) is applied. */
    for (int64_t pc = 0; pc < K || (pc == 0 && K == 0); pc += KC) {
      int64_t kc = K - pc < KC ? K - pc : KC, kp = (kc + 1) / 2;
      int last = pc + kc >= K;
      if (kc > 0) om_gemm_bf16_pack_b(packb, pctx, pc, kc, jc, nc, 1, ftmp, bbuf);
      const uint16_t *ablk = a_bf16 + pc * mpad;
      for (int64_t ir = 0; ir < M; ir += MR) {
        int m_eff = (int)(M - ir < MR ? M - ir : MR);
        const uint32_t *ap = (const uint32_t *)(const void *)(ablk + ir * kp * 2);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int n_eff = (int)(nc - jr < NR ? nc - jr : NR);
          int64_t col = jc + jr;
          const float *init = (pc == 0 && g->init) ? g->init + ir * g->ldi + col : NULL;
          ukr_bf16(kp, ap, (const uint32_t *)(const void *)(bbuf + jr * kp * 2),
                   g->c + ir * g->ldc + col, g->ldc, m_eff, n_eff, init, g->ldi, pc > 0,
                   last ? &g->epi : NULL, ir);
        }
      }
    }
  }
}

void om_gemm_bf16(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch) {
  if (g->M <= 0 || g->N <= 0) return;
  if (om_gemm_amx_supported()) om_gemm_amx(g, a_bf16, scratch);
  else gemm_bf16_body(g, a_bf16, scratch);
}
