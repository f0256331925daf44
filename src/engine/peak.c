/* peak.c: the calling core's FP32 FMA peak, measured: 12 independent accumulator chains (enough to
 * hide the FMA latency on the cores we know) of the widest FMA this CPU runs, nothing else in the
 * loop, best of 5 passes in thread CPU time. --profile and bench/kernels report speed as a share of
 * it, since the nominal figure differs by core (a Zen 5 core about 244 GFLOP/s, a Zen 4 core, which
 * splits each 512-bit FMA in two, about 117) and by clock. */
#include "engine/engine.h"
#include "engine/gemm.h"

#include <immintrin.h>
#include <string.h>
#include <time.h>

static double thread_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define PEAK_ITERS 2000000L

/* The asm statement keeps the twelve chains in registers and the loop as written; the sum at the
 * end keeps them alive. */
#define PEAK_BODY(T, SET1, FMA, ADD, LANES)                                                        \
  const T a = SET1(0.999999f), b = SET1(1e-7f);                                                   \
  T c0 = SET1(0.f), c1 = SET1(1.f), c2 = SET1(2.f), c3 = SET1(3.f), c4 = SET1(4.f),               \
    c5 = SET1(5.f), c6 = SET1(6.f), c7 = SET1(7.f), c8 = SET1(8.f), c9 = SET1(9.f),               \
    c10 = SET1(10.f), c11 = SET1(11.f);                                                           \
  double best = 1e30;                                                                             \
  for (int rep = 0; rep < 5; rep++) {                                                             \
    double t0 = thread_seconds();                                                                 \
    for (long it = 0; it < PEAK_ITERS; it++) {                                                    \
      c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);             \
      c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);             \
      c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);         \
      __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),           \
                       "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));             \
    }                                                                                             \
    t0 = thread_seconds() - t0;                                                                   \
    if (t0 > 0 && t0 < best) best = t0;                                                           \
  }                                                                                               \
  c0 = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                         \
  c0 = ADD(c0, ADD(ADD(c8, c9), ADD(c10, c11)));                                                  \
  float sink[LANES];                                                                              \
  memcpy(sink, &c0, sizeof sink);                                                                 \
  volatile float keep = sink[0];                                                                  \
  (void)keep;                                                                                     \
  return 2.0 * 12.0 * LANES * (double)PEAK_ITERS / best / 1e9;

__attribute__((target("avx512f"))) static double peak512(void) {
  PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
}

__attribute__((target("avx2,fma"))) static double peak256(void) {
  PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
}

double om_fp32_peak_gflops(void) {
  if (om_gemm_path_supported(OM_KERNEL_AVX512)) return peak512();
  if (om_gemm_path_supported(OM_KERNEL_AVX2)) return peak256();
  return 0.0;
}
