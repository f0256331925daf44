/* gemm.h: packed single-precision GEMM used by Conv, ConvTranspose, Gemm and MatMul.
 *
 *   C[M,N] = A[M,K] * B[K,N] + init[M,N] (or 0), then per-row bias, then activation,
 * summed in K blocks of at most OM_GEMM_KC: (block 2 + (block 1 + init)) ...
 *
 * BLIS-style: B is packed in blocks of KC rows into panels of NR columns (kc x NR, zero padded),
 * A into panels of MR rows (kc x MR); a register-blocked micro-kernel computes one MR x NR tile.
 * Either side may be packed once at load (weights: om_gemm_pack_a / om_gemm_pack_b) or packed per
 * call into the caller's scratch (om_gemm_scratch_bytes tells how much). B may also be produced by a
 * callback (Conv's implicit im2col). Three kernel paths share this driver: portable C (ref), AVX2+FMA
 * (6x16) and AVX-512 (8x32); the SIMD ones are compiled with target attributes and only chosen when
 * the CPU has the features (om_gemm_path_supported). */
#ifndef OM_GEMM_H
#define OM_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define OM_GEMM_KC 256 /* rows of a packed B block: A micro-panel (KC x MR) stays in L1 */
#define OM_GEMM_NC 512 /* columns of a packed B block: KC x NC floats stay in L2 */
#define OM_GEMM_MC 256 /* rows of A packed per call when A is not pre-packed */
#define OM_GEMM_MAX_MR 8
#define OM_GEMM_MAX_NR 32

typedef struct om_gemm_epi {
  const float *bias; /* one value per row of C, or NULL */
  int act;           /* om_act */
  float alpha, beta; /* activation parameters */
} om_gemm_epi;

/* Micro-kernel: one mr x nr tile (mr <= MR, nr <= NR; the packed panels are zero padded).
 * acc = sum of a * b over kc, from zero; then acc += init tile (when init != NULL) or C tile
 * (load_c) -- blocked summation: each K block's products are summed before they meet the running
 * total, so float32 error grows with the block length (<= OM_GEMM_KC), not with K;
 * when epi != NULL (last K block): acc += bias[row0 + i], activation; store mr x nr into c. */
typedef void (*om_gemm_ukr)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                            int mr, int nr, const float *init, int64_t ldi, int load_c,
                            const om_gemm_epi *epi, int64_t row0);

typedef struct om_gemm_kernel {
  int path; /* OM_KERNEL_REF / AVX2 / AVX512 */
  int mr, nr;
  om_gemm_ukr ukr;
  const char *name;
} om_gemm_kernel;

/* Fills dst (kc rows x nc columns of B starting at (k0, j0)) in the packed panel layout:
 * panel q (columns j0 + q*nr ...) is kc x nr floats, columns past nc are zero. */
typedef void (*om_gemm_packb_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                                 int nr, float *dst);

typedef struct om_gemm_args {
  int64_t M, N, K;
  const float *a_packed;      /* whole A from om_gemm_pack_a, or NULL: */
  const float *a;             /* A[i,k] = a[i*a_rs + k*a_cs] */
  int64_t a_rs, a_cs;
  float a_scale;              /* multiplies A when packed per call (Gemm's alpha); 0 means 1 */
  const float *b_packed;      /* whole B from om_gemm_pack_b, or NULL: */
  om_gemm_packb_fn packb;     /* B from a callback, or NULL: */
  const void *packb_ctx;
  const float *b;             /* B[k,j] = b[k*b_rs + j*b_cs] */
  int64_t b_rs, b_cs;
  float *c;                   /* C[i,j] = c[i*ldc + j] */
  int64_t ldc;
  const float *init;          /* optional start value (residual / Gemm's C); may alias c */
  int64_t ldi;
  int accumulate;             /* 1 (no init): C += A * B, A * B summed first and then added to C,
                                 as a later K block is: a caller splitting a long reduction into
                                 short ones keeps the blocked summation */
  om_gemm_epi epi;
} om_gemm_args;

/* 1 when this CPU can run the path (REF always). */
int om_gemm_path_supported(int path);
/* Kernel for a path (REF, AVX2, AVX512); NULL for an unknown path. Does not check the CPU. */
const om_gemm_kernel *om_gemm_kernel_get(int path);
/* The kernel for the wanted path, falling back AVX-512 -> AVX2 -> reference to what this CPU runs. */
const om_gemm_kernel *om_gemm_kernel_best(int path);

/* Floats needed by a whole packed A (M x K) / B (K x N); 0 on overflow. */
size_t om_gemm_packed_a_floats(const om_gemm_kernel *k, int64_t M, int64_t K);
size_t om_gemm_packed_b_floats(const om_gemm_kernel *k, int64_t K, int64_t N);
/* Pack all of A (A[i,k] = a[i*rs + k*cs]) / B, multiplied by scale, into dst. */
/* om_gemm_pack_a with its row panels spread over up to `threads` OpenMP threads (weights at load;
 * the same bytes for any count). */
void om_gemm_pack_a_par(const om_gemm_kernel *k, int64_t M, int64_t K, const float *a, int64_t rs,
                        int64_t cs, float scale, float *dst, int threads);
void om_gemm_pack_a(const om_gemm_kernel *k, int64_t M, int64_t K, const float *a, int64_t rs,
                    int64_t cs, float scale, float *dst);
void om_gemm_pack_b(const om_gemm_kernel *k, int64_t K, int64_t N, const float *b, int64_t rs,
                    int64_t cs, float scale, float *dst);

/* Scratch bytes om_gemm needs for these sizes, given which sides come pre-packed; 0 on overflow
 * (callers check sizes first, so 0 only means nothing is needed when both are pre-packed). */
size_t om_gemm_scratch_bytes(const om_gemm_kernel *k, int64_t M, int64_t N, int64_t K,
                             int a_prepacked, int b_prepacked);
/* Runs the product; scratch is 64-byte aligned, om_gemm_scratch_bytes long. Never fails. */
void om_gemm(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch);

/* ---- intra-op threads: several threads cooperate on one image ----
 * om_run sets, for the calling thread, how many threads the kernels may use and how far apart the
 * threads' scratch slices are (a workspace from om_workspace_new_threads: nthreads slices of the
 * plan's scratch, each stride bytes, slice t for team thread t). Kernels read it with om_intra_get;
 * nthreads <= 1 means run serially and open no OpenMP region. Work is always split over output
 * elements (rows, columns, tiles, channels), never over a reduction, so results are bit-identical
 * whatever the thread count. */
typedef struct om_intra {
  int nthreads;
  size_t stride;
} om_intra;
om_intra om_intra_get(void);
void om_intra_set(om_intra v);
/* Scratch slice of team thread t. */
static inline void *om_intra_slice(void *scratch, const om_intra *in, int t) {
  return (char *)scratch + (size_t)t * in->stride;
}
/* om_gemm on up to in.nthreads threads (an OpenMP region; serial when in.nthreads <= 1 or the
 * product is small): output tiles split over rows and/or columns, thread t packing into its own
 * scratch slice (each om_gemm_scratch_bytes long). Bit-identical to om_gemm. */
void om_gemm_par(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch, om_intra in);
/* om_gemv_avx512 on up to in.nthreads threads (an OpenMP region when the product is large enough):
 * its 64-row panels split over the team, each output computed whole by one thread, so the bytes do
 * not depend on the team size. */
void om_gemv_par(int64_t M, int64_t K, const float *wp, const float *x, const float *init,
                 const om_gemm_epi *epi, float *y, om_intra in);
/* The same on a sub-range of C: rows [i0, i1) (i0 a multiple of mr), columns [j0, j1) (j0 a multiple
 * of nr); what a team thread calls when the caller already runs inside its own parallel region. */
void om_gemm_range(const om_gemm_kernel *k, const om_gemm_args *g, void *scratch, int64_t i0,
                   int64_t i1, int64_t j0, int64_t j1);

/* Applies an activation to n floats in place (scalar; used by kernels for the rare activations
 * they do not vectorize: sigmoid, silu). */
void om_gemm_act_inplace(float *x, int64_t n, int act, float alpha, float beta);

/* Generic strided B packer usable as packb for a plain matrix: ctx is an om_gemm_bmat. */
typedef struct om_gemm_bmat {
  const float *b;
  int64_t rs, cs;
  float scale;
} om_gemm_bmat;
void om_gemm_packb_strided(const void *ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                           float *dst);

/* ---- matrix-vector product, AVX-512: y[M] = act(W[M,K] x[K] + init + bias) ----
 * A 1x1 Conv on a 1x1 map (the squeeze-excitation layers of efficientnet) is a GEMM with N = 1, where
 * the tile's 32 columns hold one live value and the epilogue runs 32 times the activations it needs;
 * a classifier Gemm on one image (M = 1) is the same product with its weights transposed.
 * Here W is packed once into panels of OM_GEMV_ROWS rows, k-major (panel p: K x OM_GEMV_ROWS floats,
 * rows past M zero), so each k reads one contiguous line of the panel and the sums run over whole
 * vectors of outputs: k = 0 .. K-1 in order per output, then init (a residual), bias, activation. */
#define OM_GEMV_ROWS 64
size_t om_gemv_packed_floats(int64_t M, int64_t K); /* 0 on overflow */
/* W[i][k] = w[i*rs + k*cs] * scale */
void om_gemv_pack(int64_t M, int64_t K, const float *w, int64_t rs, int64_t cs, float scale, float *dst);
void om_gemv_avx512(int64_t M, int64_t K, const float *wp, const float *x, const float *init,
                    const om_gemm_epi *epi, float *y);

/* Micro-kernels, one per file (gemm_ref.c, gemm_avx2.c, gemm_avx512.c). */
void om_gemm_ukr_ref(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                     int nr, const float *init, int64_t ldi, int load_c, const om_gemm_epi *epi,
                     int64_t row0);
void om_gemm_ukr_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                      int nr, const float *init, int64_t ldi, int load_c, const om_gemm_epi *epi,
                      int64_t row0);
void om_gemm_ukr_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                        int nr, const float *init, int64_t ldi, int load_c, const om_gemm_epi *epi,
                        int64_t row0);

/* ---- bf16 path (gemm_bf16.c): AVX512-BF16 (vdpbf16ps), opt-in via om_plan_opts.precision ----
 * A (weights) is packed once at load as bf16 pairs along K (per OM_GEMM_BF16_KC block and 8-row
 * panel: ceil(kc/2) x 8 words of (A[i,k], A[i,k+1])); B is packed per call by the fp32 packer
 * (g->packb, or strided from g->b; g->b_packed and g->a* are ignored) and rounded to bf16 pairs.
 * Rounding is round-to-nearest-even; products accumulate in fp32; the epilogue is the fp32 one.
 * Callers must check om_gemm_bf16_supported() before calling om_gemm_bf16. */
#define OM_GEMM_BF16_MR 8
#define OM_GEMM_BF16_NR 32
#define OM_GEMM_BF16_KC 256 /* even, so K pairs never straddle a block */
/* 1 when this CPU has AVX-512 F/BW/DQ/VL + FMA + BF16. */
int om_gemm_bf16_supported(void);
/* float -> bf16 bits, round to nearest even (NaN stays NaN). */
uint16_t om_bf16_round(float x);
/* uint16 elements of a whole packed bf16 A (M x K); 0 on overflow. */
size_t om_gemm_bf16_packed_a_elems(int64_t M, int64_t K);
/* Packs A[i,k] = a[i*rs + k*cs] * scale (scale 0 means 1) into dst. Portable C (load time). */
void om_gemm_bf16_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float scale,
                         uint16_t *dst);
/* Scratch bytes om_gemm_bf16 needs (fp32 B block + its bf16 copy); 0 on overflow. */
size_t om_gemm_bf16_scratch_bytes(int64_t M, int64_t N, int64_t K);
/* C = init + A * B with A from om_gemm_bf16_pack_a; scratch 64-byte aligned. Never fails.
 * The four functions above take the AMX kernel (gemm_amx.c) where om_gemm_amx_supported(), with its
 * own layout of A: that choice is made once per process, so a plan packs and runs the same one. */
void om_gemm_bf16(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch);
/* B's block [pc, pc+kc) x [jc, jc+nc) (nc <= OM_GEMM_NC) rounded to bf16 pairs in bbuf: per 32-column
 * panel ceil(kc/2) pair-rows, zero rows up to a multiple of kpad. A row-major B (packb
 * om_gemm_packb_strided, unit column stride) is rounded straight from its rows; otherwise packb fills
 * ftmp (fp32, OM_GEMM_BF16_FTMP bytes) with two rows across the block at a time, rounded at once. */
#define OM_GEMM_BF16_FTMP (2 * OM_GEMM_NC * 4)
void om_gemm_bf16_pack_b(om_gemm_packb_fn packb, const void *pctx, int64_t pc, int64_t kc, int64_t jc,
                         int64_t nc, int64_t kpad, float *ftmp, uint16_t *bbuf);

/* ---- AMX (gemm_amx.c): the same contract as om_gemm_bf16 on tile registers ----
 * 1 when the CPU has AMX-TILE + AMX-BF16 (+ the AVX512-BF16 set above) and the OS granted the tile
 * state; OM_AMX=0 in the environment turns it off (checked once per process). */
int om_gemm_amx_supported(void);
size_t om_gemm_amx_packed_a_elems(int64_t M, int64_t K);
void om_gemm_amx_pack_a(int64_t M, int64_t K, const float *a, int64_t rs, int64_t cs, float scale,
                        uint16_t *dst);
size_t om_gemm_amx_scratch_bytes(int64_t M, int64_t N, int64_t K);
void om_gemm_amx(const om_gemm_args *g, const uint16_t *a_bf16, void *scratch);

#endif
