/* ops_gemm.c: Gemm (transA, transB, alpha, beta, C broadcast to [M,N]) and MatMul (NumPy
 * semantics: 1-D promotion, batched with broadcast batch dims), float32, on the packed SGEMM of
 * gemm.h, with the planner's fused epilogue (om_act, om_act_alpha, om_act_beta, om_sum = input 3).
 * Constant B (weights) is packed at prepare (with alpha folded in). Gemm's C and the fused sum are
 * written into Y first and the GEMM accumulates onto them (init aliases Y). */
#include "engine/engine.h"
#include "engine/gemm.h"
#include "engine/op.h"
#include "engine/op_util.h"

#include <string.h>

typedef struct mm_params {
  const om_gemm_kernel *k;
  int64_t batch;                  /* output matrices */
  int64_t M, N, K;
  int64_t a_rs, a_cs, b_rs, b_cs; /* element strides inside one matrix */
  int bnd;                        /* batch dims (output) */
  int64_t bdims[OM_MAX_DIMS], a_bs[OM_MAX_DIMS], b_bs[OM_MAX_DIMS]; /* batch strides (elements) */
  const float *bpacked;
  const float *gemv;              /* M = 1, one batch, AVX-512: B^T packed for om_gemv_avx512 */
  float alpha, beta;
  int has_c;
  int cnd;
  int64_t c_strides[2];           /* C broadcast over [M, N] */
  int act;
  float act_alpha, act_beta;
  int has_sum;
} mm_params;

static int read_fusion(om_prep *p, mm_params *c, const om_tensor *Y, char *err) {
  return om_read_fusion(p, Y->ndim, Y->dims, &c->act, &c->act_alpha, &c->act_beta, &c->has_sum, err);
}

/* Packs constant B (one matrix) when present; sets scratch. One row of A times a constant B (a
 * classifier on one image) on AVX-512: y^T = B^T a^T, a matrix-vector product (gemm.h). */
static int finish(om_prep *p, mm_params *c, const om_tensor *B, int b_single, char *err) {
  if (B->data && b_single && c->M == 1 && c->batch == 1 && c->N > 0 && c->K > 0 &&
      c->k->path == OM_KERNEL_AVX512) {
    size_t nf = om_gemv_packed_floats(c->N, c->K), bytes;
    float *wp = !nf || om_mul_size(nf, sizeof(float), &bytes) ? NULL : om_prep_alloc(p, bytes);
    if (!wp) return om_seterr(err, OM_E_NOMEM, "out of memory packing B (%zu floats)", nf);
    om_gemv_pack(c->N, c->K, B->data, c->b_cs, c->b_rs, c->alpha, wp);
    c->gemv = wp;
    p->consumed |= 1u << 1;
    p->scratch_bytes = 0;
    p->params = c;
    return OM_OK;
  }
  if (B->data && b_single && c->M > 0 && c->N > 0 && c->K > 0) {
    size_t nf = om_gemm_packed_b_floats(c->k, c->K, c->N), bytes;
    if (!nf || om_mul_size(nf, sizeof(float), &bytes))
      return om_seterr(err, OM_E_LIMIT, "packed B size overflows");
    float *bp = om_prep_alloc(p, bytes);
    if (!bp) return om_seterr(err, OM_E_NOMEM, "out of memory packing B (%zu bytes)", bytes);
    om_gemm_pack_b(c->k, c->K, c->N, B->data, c->b_rs, c->b_cs, c->alpha, bp);
    c->bpacked = bp;
    p->consumed |= 1u << 1;
  }
  p->scratch_bytes = om_gemm_scratch_bytes(c->k, c->M, c->N, c->K, 0, c->bpacked != NULL);
  p->params = c;
  return OM_OK;
}

static void run_one(const mm_params *c, const float *a, const float *b, float *y, int init,
                    void *scratch) {
  if (c->gemv) { /* M = 1: A's one row is contiguous, Gemm's transposed or not */
    const om_gemm_epi epi = {NULL, c->act, c->act_alpha, c->act_beta};
    om_gemv_par(c->N, c->K, c->gemv, a, init ? y : NULL, &epi, y, om_intra_get());
    return;
  }
  om_gemm_args g = {0};
  g.M = c->M; g.N = c->N; g.K = c->K;
  g.a = a; g.a_rs = c->a_rs; g.a_cs = c->a_cs;
  if (c->bpacked) {
    g.b_packed = c->bpacked;
  } else {
    g.b = b; g.b_rs = c->b_rs; g.b_cs = c->b_cs;
    g.a_scale = c->alpha;
  }
  g.c = y; g.ldc = c->N;
  if (init) { g.init = y; g.ldi = c->N; }
  g.epi.act = c->act; g.epi.alpha = c->act_alpha; g.epi.beta = c->act_beta;
  om_gemm_par(c->k, &g, scratch, om_intra_get());
}

/* ---- Gemm ---- */
static int gemm_prepare(om_prep *p, char *err) {
  const om_tensor *A = p->in[0], *B = p->nin > 1 ? p->in[1] : NULL, *C = p->nin > 2 ? p->in[2] : NULL;
  int rc;
  if ((rc = om_check_float(A, "A", err)) || (rc = om_check_float(B, "B", err))) return rc;
  if (A->ndim != 2 || B->ndim != 2)
    return om_seterr(err, OM_E_INVALID, "A and B must be 2-D (got %d-D and %d-D)", A->ndim, B->ndim);
  mm_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for Gemm parameters");
  int ta = om_attr_int(p, "transA", 0) != 0, tb = om_attr_int(p, "transB", 0) != 0;
  c->alpha = om_attr_float(p, "alpha", 1.0f);
  c->beta = om_attr_float(p, "beta", 1.0f);
  c->M = ta ? A->dims[1] : A->dims[0];
  c->K = ta ? A->dims[0] : A->dims[1];
  int64_t kb = tb ? B->dims[1] : B->dims[0];
  c->N = tb ? B->dims[0] : B->dims[1];
  if (kb != c->K)
    return om_seterr(err, OM_E_INVALID, "inner dimensions differ: A gives K=%lld, B gives %lld",
                     (long long)c->K, (long long)kb);
  c->a_rs = ta ? 1 : A->dims[1];
  c->a_cs = ta ? A->dims[1] : 1;
  c->b_rs = tb ? 1 : B->dims[1];
  c->b_cs = tb ? B->dims[1] : 1;
  c->batch = 1;
  if (om_tensor_present(C)) {
    if ((rc = om_check_float(C, "C", err))) return rc;
    if (C->ndim > 2)
      return om_seterr(err, OM_E_INVALID, "C has %d dims; at most 2", C->ndim);
    int64_t want[2] = {c->M, c->N};
    for (int i = 0; i < C->ndim; i++) {
      int64_t d = C->dims[C->ndim - 1 - i], w = want[1 - i];
      if (d != 1 && d != w) {
        char s[128];
        return om_seterr(err, OM_E_INVALID, "C of shape %s does not broadcast to %lldx%lld",
                         om_dims_str(C->dims, C->ndim, s, sizeof s), (long long)c->M, (long long)c->N);
      }
    }
    c->has_c = 1;
    om_broadcast_strides(C, 2, want, c->c_strides);
  }
  om_tensor *Y = &p->out[0];
  Y->dtype = OM_DT_FLOAT;
  Y->ndim = 2;
  Y->dims[0] = c->M;
  Y->dims[1] = c->N;
  if ((rc = read_fusion(p, c, Y, err))) return rc;
  c->k = om_gemm_kernel_best(p->kernel_path);
  return finish(p, c, B, 1, err);
}

static void gemm_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                     void *scratch) {
  const mm_params *c = params;
  float *y = out[0].data;
  const float *C = c->has_c ? in[2].data : NULL, *S = c->has_sum ? in[3].data : NULL;
  if (C || S) {
    for (int64_t i = 0; i < c->M; i++)
      for (int64_t j = 0; j < c->N; j++) {
        float v = C ? c->beta * C[i * c->c_strides[0] + j * c->c_strides[1]] : 0.0f;
        if (S) v += S[i * c->N + j];
        y[i * c->N + j] = v;
      }
  }
  run_one(c, in[0].data, in[1].data, y, C || S, scratch);
}

/* ---- MatMul ---- */
static int matmul_prepare(om_prep *p, char *err) {
  const om_tensor *A = p->in[0], *B = p->nin > 1 ? p->in[1] : NULL;
  int rc;
  if ((rc = om_check_float(A, "A", err)) || (rc = om_check_float(B, "B", err))) return rc;
  if (A->ndim < 1 || B->ndim < 1)
    return om_seterr(err, OM_E_INVALID, "MatMul inputs must have at least 1 dim");
  mm_params *c = om_prep_alloc(p, sizeof *c);
  if (!c) return om_seterr(err, OM_E_NOMEM, "out of memory for MatMul parameters");
  c->alpha = 1.0f;
  /* promoted views: A [..., M, K], B [..., K, N] */
  om_tensor a = *A, b = *B;
  if (a.ndim == 1) { a.ndim = 2; a.dims[1] = a.dims[0]; a.dims[0] = 1; }
  if (b.ndim == 1) { b.ndim = 2; b.dims[1] = 1; }
  c->M = a.dims[a.ndim - 2];
  c->K = a.dims[a.ndim - 1];
  c->N = b.dims[b.ndim - 1];
  if (b.dims[b.ndim - 2] != c->K) {
    char s1[128], s2[128];
    return om_seterr(err, OM_E_INVALID, "MatMul shapes %s and %s: inner dimensions differ",
                     om_dims_str(A->dims, A->ndim, s1, sizeof s1), om_dims_str(B->dims, B->ndim, s2, sizeof s2));
  }
  om_tensor ab = a, bb = b; /* batch parts */
  ab.ndim = a.ndim - 2;
  bb.ndim = b.ndim - 2;
  const om_tensor *bt[2] = {&ab, &bb};
  int bnd;
  int64_t bd[OM_MAX_DIMS];
  if (ab.ndim == 0 && bb.ndim == 0) {
    bnd = 0;
  } else if ((rc = om_broadcast(bt, 2, &bnd, bd, err))) {
    return om_preferr(err, rc, "MatMul batch dimensions");
  }
  c->bnd = bnd;
  c->batch = 1;
  for (int i = 0; i < bnd; i++) {
    c->bdims[i] = bd[i];
    c->batch *= bd[i];
  }
  /* batch strides in elements of whole matrices */
  int64_t sa[OM_MAX_DIMS] = {0}, sb[OM_MAX_DIMS] = {0};
  if (bnd) {
    om_tensor ma = ab, mb = bb;
    om_broadcast_strides(&ma, bnd, bd, sa);
    om_broadcast_strides(&mb, bnd, bd, sb);
  }
  for (int i = 0; i < bnd; i++) {
    c->a_bs[i] = sa[i] * c->M * c->K;
    c->b_bs[i] = sb[i] * c->K * c->N;
  }
  c->a_rs = c->K; c->a_cs = 1; c->b_rs = c->N; c->b_cs = 1;
  om_tensor *Y = &p->out[0];
  Y->dtype = OM_DT_FLOAT;
  int nd = 0;
  for (int i = 0; i < bnd; i++) Y->dims[nd++] = bd[i];
  if (A->ndim > 1) Y->dims[nd++] = c->M;
  if (B->ndim > 1) Y->dims[nd++] = c->N;
  Y->ndim = nd;
  if ((rc = read_fusion(p, c, Y, err))) return rc;
  c->k = om_gemm_kernel_best(p->kernel_path);
  int b_single = 1;
  for (int i = 0; i < bnd; i++) b_single &= c->b_bs[i] == 0;
  /* B shared by every batch and A contiguous: fold the batch into M (one tall GEMM). */
  int a_dense = 1;
  for (int i = 0; i < bnd; i++) a_dense &= (ab.ndim == bnd && bd[i] == ab.dims[i]) || bd[i] == 1;
  if (b_single && a_dense && bnd) {
    c->M *= c->batch;
    c->batch = 1;
    c->bnd = 0;
  }
  return finish(p, c, B, b_single, err);
}

static void matmul_run(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                       void *scratch) {
  const mm_params *c = params;
  const float *A = in[0].data, *B = in[1].data, *S = c->has_sum ? in[3].data : NULL;
  float *Y = out[0].data;
  int64_t mn = c->M * c->N;
  if (S) memcpy(Y, S, (size_t)(c->batch * mn) * sizeof(float));
  int64_t idx[OM_MAX_DIMS] = {0};
  for (int64_t t = 0; t < c->batch; t++) {
    int64_t ao = 0, bo = 0;
    for (int i = 0; i < c->bnd; i++) {
      ao += idx[i] * c->a_bs[i];
      bo += idx[i] * c->b_bs[i];
    }
    run_one(c, A + ao, B + bo, Y + t * mn, S != NULL, scratch);
    for (int i = c->bnd - 1; i >= 0; i--) {
      if (++idx[i] < c->bdims[i]) break;
      idx[i] = 0;
    }
  }
}

const om_op om_ops_gemm[] = {
  {"Gemm", 7, 99, gemm_prepare, gemm_run},
  {"MatMul", 1, 99, matmul_prepare, matmul_run},
  {0},
};
