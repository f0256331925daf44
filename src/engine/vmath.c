/* vmath.c: array entry points of vmath.h (AVX-512 loops with masked tails, scalar libm fallback). */
#define OM_VMATH_AVX512
#include "engine/vmath.h"

#include "engine/engine.h"
#include "engine/gemm.h"

#include <math.h>

/* The same formulas as vmath.h's vector ones. */
float om_vm_sigmoid1(float x) {
  float e = expf(-fabsf(x));
  return (x < 0.0f ? e : 1.0f) / (1.0f + e);
}
float om_vm_silu1(float x) {
  float e = expf(-fabsf(x));
  return (x < 0.0f ? x * e : x) / (1.0f + e);
}

static int use512(int path) {
  static int have = -1; /* CPU features do not change; racing threads store the same value
                          * (relaxed atomics keep that race well-defined for TSan) */
  if (path != OM_KERNEL_AVX512 && path != OM_KERNEL_AUTO) return 0;
  int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
  if (h < 0) {
    h = om_gemm_path_supported(OM_KERNEL_AVX512);
    __atomic_store_n(&have, h, __ATOMIC_RELAXED);
  }
  return h;
}

enum { VM_EXP, VM_SIGMOID, VM_SILU };

__attribute__((target("avx512f,avx512dq,fma")))
static void run512(int f, float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    v = f == VM_EXP ? om_vm_exp512(v) : f == VM_SIGMOID ? om_vm_sigmoid512(v) : om_vm_silu512(v);
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

void om_vm_exp(float *y, const float *x, int64_t n, int path) {
  if (use512(path)) run512(VM_EXP, y, x, n);
  else for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

void om_vm_sigmoid(float *y, const float *x, int64_t n, int path) {
  if (use512(path)) run512(VM_SIGMOID, y, x, n);
  else for (int64_t i = 0; i < n; i++) y[i] = om_vm_sigmoid1(x[i]);
}

void om_vm_silu(float *y, const float *x, int64_t n, int path) {
  if (use512(path)) run512(VM_SILU, y, x, n);
  else for (int64_t i = 0; i < n; i++) y[i] = om_vm_silu1(x[i]);
}
