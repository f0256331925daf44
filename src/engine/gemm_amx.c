/* gemm_amx.c: the bf16 GEMM on Intel AMX (tile registers + TDPBF16PS), which --precision bf16 takes
 * in place of the vdpbf16ps kernel (gemm_bf16.c) where the CPU has AMX-TILE and AMX-BF16 and Linux
 * grants the process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM). Why: on Intel Xeons vdpbf16ps
 * issues no more products per cycle than fp32 FMAs (bf16 was 0.64-0.74x fp32 there), while one
 * TDPBF16PS multiplies a 16 x 32 by a 32 x 16 bf16 block, 16x the products of one FMA.
 *
 * Eight tiles of 16 rows x 64 bytes: C0..C3 (tmm0-3) a 32 x 32 fp32 block, A0/A1 (tmm4-5) its two
 * 16-row halves of 32 k, B0/B1 (tmm6-7) its two 16-column halves of the same 32 k. Layouts:
 *   A (weights, once at load): per KC block (KC = OM_GEMM_BF16_KC), per 32-row panel, per step of
 *     16 k-pairs: rows 0-31 of 16 words each, word (i, q) = (A[i, 2p], A[i, 2p+1]) with p the step's
 *     q-th pair, so each A tile is 1 KB contiguous. The block's pairs are padded with zeros to a
 *     multiple of 16 (only the last block can be short), the rows to a multiple of 32.
 *   B (activations, per call): om_gemm_bf16_pack_b's k-pair x 32-column panels, padded to 16 pairs;
 *     a B tile is 16 pair-rows of 16 words, 128 bytes apart.
 * A whole 32 x 32 block starts from init (or zero) in the tiles and keeps its running total in C as
 * raw tiles between K blocks; after the last one it goes through a 4 KB buffer to the AVX-512 tile
 * epilogue (tile512.h: bias, activation, stores). A block at the matrix's edge is summed per K block
 * and finished each time (running total added, masked stores), as the other kernels do.
 *
 * OM_AMX_EMULATE (tests/unit/test_amx_emu.c includes this file with it) replaces the six tile
 * instructions by C on static tiles, so the layouts and the driver are checked on CPUs without AMX;
 * the public names then get an _emu suffix and file scope. */
#define OM_VMATH_AVX512
#include "engine/gemm.h"

#include "common/om.h"
#include "engine/vmath.h"
#include "engine/tile512.h"

#include <immintrin.h>
#include <string.h>

#define KC OM_GEMM_BF16_KC
#define NR OM_GEMM_BF16_NR /* 32: two B tiles */
#define MRA 32             /* two A tiles */
#define NCB (OM_GEMM_NC / NR * NR)
#define ACC_BYTES (2 * MRA * NR * 4) /* two tile buffers, used in turn */

#ifdef OM_AMX_EMULATE
#define TAMX __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define OM_AMX_API static
#define OM_AMX_NAME(n) n##_emu
static unsigned char emu_tile[8][16 * 64];
static void emu_load(int t, const void *p, int64_t stride) {
  for (int r = 0; r < 16; r++) memcpy(emu_tile[t] + r * 64, (const char *)p + r * stride, 64);
}
static void emu_store(int t, void *p, int64_t stride) {
  for (int r = 0; r < 16; r++) memcpy((char *)p + r * stride, emu_tile[t] + r * 64, 64);
}
static float emu_bf(const unsigned char *p) {
  uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
/* C[m][n] += sum over pairs k of A[m][2k] * B[k][2n] + A[m][2k+1] * B[k][2n+1] (the SDM's TDPBF16PS) */
static void emu_dp(int c, int a, int b) {
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) {
      float s;
      memcpy(&s, emu_tile[c] + m * 64 + n * 4, 4);
      for (int k = 0; k < 16; k++)
        s += emu_bf(emu_tile[a] + m * 64 + k * 4) * emu_bf(emu_tile[b] + k * 64 + n * 4) +
             emu_bf(emu_tile[a] + m * 64 + k * 4 + 2) * emu_bf(emu_tile[b] + k * 64 + n * 4 + 2);
      memcpy(emu_tile[c] + m * 64 + n * 4, &s, 4);
    }
}
#define TL_CONFIG(cfg) (void)(cfg)
#define TL_RELEASE() ((void)0)
#define TL_ZERO(t) memset(emu_tile[t], 0, sizeof emu_tile[t])
#define TL_LOAD(t, p, s) emu_load(t, p, s)
#define TL_STORE(t, p, s) emu_store(t, p, s)
#define TL_DP(c, a, b) emu_dp(c, a, b)
#else
#define TAMX __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,amx-tile,amx-bf16")))
#define OM_AMX_API
#define OM_AMX_NAME(n) n
#define TL_CONFIG(cfg) _tile_loadconfig(cfg)
#define TL_RELEASE() _tile_release()
#define TL_ZERO(t) _tile_zero(t)
#define TL_LOAD(t, p, s) _tile_loadd(t, p, s)
#define TL_STORE(t, p, s) _tile_stored(t, p, s)
#define TL_DP(c, a, b) _tile_dpbf16ps(c, a, b)
#endif

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* k-pairs of a K block as stored: ceil(kc / 2) rounded up to a tile's 16 */
static int64_t pairs_padded(int64_t kc) { return round_up((kc + 1) / 2, 16); }

OM_AMX_API size_t OM_AMX_NAME(om_gemm_amx_packed_a_elems)(int64_t M, int64_t K) {
  if (M < 0 || K < 0 || K > ((int64_t)1 << 40)) return 0;
  int64_t full = K / KC * KC, tail = K - full;
  int64_t per_row = full + (tail ? 2 * pairs_padded(tail) : 0);
  size_t n;
  if (om_mul_size((size_t)round_up(M, MRA), (size_t)per_row, &n)) return 0;
  return n;
}

OM_AMX_API void OM_AMX_NAME(om_gemm_amx_pack_a)(int64_t M, int64_t K, const float *a, int64_t rs,
                                                int64_t cs, float scale, uint16_t *dst) {
  const int64_t mpad = round_up(M, MRA);
  float s = scale == 0.0f ? 1.0f : scale;
  for (int64_t pc = 0; pc < K; pc += KC) {
    int64_t kc = K - pc < KC ? K - pc : KC, kpp = pairs_padded(kc);
    uint16_t *blk = dst + pc * mpad; /* every earlier block is KC deep, KC / 2 pairs (a multiple of 16) */
    for (int64_t r = 0; r < mpad; r += MRA) {
      uint16_t *pan = blk + r * kpp * 2;
      for (int64_t st = 0; st < kpp / 16; st++)
        for (int i = 0; i < MRA; i++)
          for (int q = 0; q < 16; q++) {
            int64_t row = r + i, k = pc + 2 * (st * 16 + q);
            float lo = row < M && k < pc + kc ? a[row * rs + k * cs] * s : 0.0f;
            float hi = row < M && k + 1 < pc + kc ? a[row * rs + (k + 1) * cs] * s : 0.0f;
            uint16_t *w = pan + ((st * MRA + i) * 16 + q) * 2;
            w[0] = om_bf16_round(lo);
            w[1] = om_bf16_round(hi);
          }
    }
  }
}

/* a group of fp32 B panels (OM_GEMM_BF16_FTMP), the bf16 block, the 32 x 32 tile buffer */
static size_t bbuf_bytes(int64_t ncmax) { return OM_ALIGN_UP((size_t)(KC * ncmax) * 2, 64); }

OM_AMX_API size_t OM_AMX_NAME(om_gemm_amx_scratch_bytes)(int64_t M, int64_t N, int64_t K) {
  (void)M;
  (void)K;
  if (N < 0 || N > ((int64_t)1 << 40)) return 0;
  int64_t ncmax = round_up(N < NCB ? N : NCB, NR);
  return OM_GEMM_BF16_FTMP + bbuf_bytes(ncmax) + ACC_BYTES;
}

/* The tile buffer's rows 8g .. 8g+mr-1 through the AVX-512 epilogue into C. */
#define LOAD_ACC(i)                                                                        \
  c##i##a = _mm512_load_ps(acc + (8 * g + (i)) * NR);                                      \
  c##i##b = _mm512_load_ps(acc + (8 * g + (i)) * NR + 16);
TAMX static void finish(const float *acc, int g, float *c, int64_t ldc, int mr, int nr,
                        const float *init, int64_t ldi, int load_c, const om_gemm_epi *epi,
                        int64_t row0) {
  OM_TILE512_BEGIN(nr, mr, init, ldi, c, ldc, load_c)
  LOAD_ACC(0) LOAD_ACC(1) LOAD_ACC(2) LOAD_ACC(3) LOAD_ACC(4) LOAD_ACC(5) LOAD_ACC(6) LOAD_ACC(7)
  OM_TILE512_ADD_SRC(mr)
  OM_TILE512_STORE(c, ldc, mr, epi, row0)
}
#undef LOAD_ACC

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config; /* LDTILECFG's 64-byte operand, palette 1 */
_Static_assert(sizeof(tile_config) == 64, "tile configuration is 64 bytes");

/* The four C tiles (tmm0-3) of the 32 x 32 block at p (floats, rows ld apart) through OP. */
#define C_TILES(OP, p, ld)                                                                 \
  do {                                                                                     \
    OP(0, (p), (ld) * 4);                                                                  \
    OP(1, (p) + 16, (ld) * 4);                                                             \
    OP(2, (p) + 16 * (ld), (ld) * 4);                                                      \
    OP(3, (p) + 16 * (ld) + 16, (ld) * 4);                                                 \
  } while (0)

TAMX static void amx_body(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch) {
  const int64_t M = g->M, N = g->N, K = g->K;
  const int64_t mpad = round_up(M, MRA);
  int64_t ncmax = round_up(N < NCB ? N : NCB, NR);
  float *ftmp = scratch;
  uint16_t *bbuf = (uint16_t *)((char *)scratch + OM_GEMM_BF16_FTMP);
  float *acc = (float *)((char *)scratch + OM_GEMM_BF16_FTMP + bbuf_bytes(ncmax));
  om_gemm_bmat bm = {g->b, g->b_rs, g->b_cs, 1.0f};
  om_gemm_packb_fn packb = g->packb ? g->packb : om_gemm_packb_strided;
  const void *pctx = g->packb ? g->packb_ctx : &bm;

  static const tile_config cfg = {.palette = 1,
                                  .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
                                  .rows = {16, 16, 16, 16, 16, 16, 16, 16}};
  TL_CONFIG(&cfg);
  int flip = 0;

  for (int64_t jc = 0; jc < N; jc += NCB) {
    int64_t nc = N - jc < NCB ? N - jc : NCB;
    /* K == 0 still runs one pass so the epilogue (init, bias, activation) is applied. */
    for (int64_t pc = 0; pc < K || (pc == 0 && K == 0); pc += KC) {
      int64_t kc = K - pc < KC ? K - pc : KC, kpp = kc > 0 ? pairs_padded(kc) : 0;
      int last = pc + kc >= K;
      if (kc > 0) om_gemm_bf16_pack_b(packb, pctx, pc, kc, jc, nc, 16, ftmp, bbuf);
      const uint16_t *ablk = a_bf16 + pc * mpad;
      for (int64_t ir = 0; ir < M; ir += MRA) {
        int m_eff = (int)(M - ir < MRA ? M - ir : MRA);
        const uint16_t *ap = ablk + ir * kpp * 2;
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int n_eff = (int)(nc - jr < NR ? nc - jr : NR);
          const uint16_t *bp = bbuf + jr * kpp * 2;
          int64_t col = jc + jr;
          /* A whole 32 x 32 block keeps its running total in C between K blocks as raw tiles (no
           * epilogue until the last K block) and starts from init, so the sum is one chain in the
           * tiles; an edge block is summed per K block and added to the total by the epilogue. */
          int whole = m_eff == MRA && n_eff == NR;
          float *cb = g->c + ir * g->ldc + col;
          const float *from = !whole ? NULL : pc > 0 ? cb : g->init ? g->init + ir * g->ldi + col : NULL;
          int64_t lds = pc > 0 ? g->ldc : g->ldi;
          if (from) {
            C_TILES(TL_LOAD, from, lds);
          } else {
            TL_ZERO(0);
            TL_ZERO(1);
            TL_ZERO(2);
            TL_ZERO(3);
          }
          /* the tiles past m_eff or n_eff would only multiply zero padding */
          for (int64_t st = 0; st < kpp / 16; st++) {
            const uint16_t *as = ap + st * MRA * 16 * 2, *bs = bp + st * 16 * NR * 2;
            TL_LOAD(4, as, 64);
            TL_LOAD(6, bs, NR * 4);
            TL_DP(0, 4, 6);
            if (n_eff > 16) {
              TL_LOAD(7, bs + 32, NR * 4);
              TL_DP(1, 4, 7);
            }
            if (m_eff > 16) {
              TL_LOAD(5, as + 16 * 16 * 2, 64);
              TL_DP(2, 5, 6);
              if (n_eff > 16) TL_DP(3, 5, 7);
            }
          }
          if (whole && !last) {
            C_TILES(TL_STORE, cb, g->ldc);
            continue;
          }
          /* the other buffer than the last block's, so its epilogue need not wait for this one */
          float *ab = acc + (flip ^= 1) * MRA * NR;
          C_TILES(TL_STORE, ab, NR);
          for (int gr = 0; gr * 8 < m_eff; gr++) {
            int mr = m_eff - gr * 8 < 8 ? m_eff - gr * 8 : 8;
            int64_t row = ir + gr * 8;
            const float *init = !whole && pc == 0 && g->init ? g->init + row * g->ldi + col : NULL;
            finish(ab, gr, g->c + row * g->ldc + col, g->ldc, mr, n_eff, init, g->ldi, !whole && pc > 0,
                   last ? &g->epi : NULL, row);
          }
        }
      }
    }
  }
  TL_RELEASE();
}

OM_AMX_API void OM_AMX_NAME(om_gemm_amx)(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch) {
  if (g->M <= 0 || g->N <= 0) return;
  amx_body(g, a_bf16, scratch);
}

#ifndef OM_AMX_EMULATE
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_ok;

static void amx_detect(void) {
  const char *env = getenv("OM_AMX");
  if (env && strcmp(env, "0") == 0) return;
  /* CPUID leaf 7: EDX bit 24 AMX-TILE, bit 22 AMX-BF16 (read directly: clang 14's
   * __builtin_cpu_supports knows neither name) */
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22)) ||
      !om_gemm_bf16_supported())
    return;
  /* Linux (5.16+) enables the 8 KB tile state only for processes that ask; one ask covers all
   * threads. A kernel that refuses leaves the vdpbf16ps kernel in charge. */
  amx_ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

int om_gemm_amx_supported(void) {
  pthread_once(&amx_once, amx_detect);
  return amx_ok;
}
#endif
