/* engine.h: the inference engine's public face.
 *
 *   onnx_model (parsed file, immutable)
 *      --om_plan_build-->  om_plan (immutable, shared by every thread): concrete shapes for every
 *                          tensor, constants folded, Conv+BN+activation(+residual Add) fused, weights
 *                          packed for the kernels, a static memory plan (offset of every tensor in
 *                          one arena).
 *      --om_workspace_new--> om_workspace (one per thread, allocated once): the arena + scratch.
 *      --om_run-->           runs the plan on the workspace's input buffers; no allocation.
 */
#ifndef OM_ENGINE_H
#define OM_ENGINE_H

#include "common/om.h"
#include "onnx/onnx.h"

typedef struct om_plan om_plan;
typedef struct om_workspace om_workspace;

typedef struct om_tensor_info {
  const char *name;
  int dtype;
  int ndim;
  int64_t dims[OM_MAX_DIMS];
  size_t nbytes;
  const char *producer_op;      /* op_type of the node that produced it ("" for graph inputs) */
} om_tensor_info;

typedef struct om_input_spec {
  const char *name;             /* graph input name */
  int ndim;                     /* 0: take the model's own shape (dynamic dims -> error, except batch) */
  int64_t dims[OM_MAX_DIMS];
  const void *data;             /* optional: bind this input to constant data (copied at build);
                                   it is then folded like an initializer (tests use this) */
  size_t nbytes;
} om_input_spec;

typedef struct om_plan_opts {
  int64_t batch;                /* value for a dynamic leading dim; 0 means 1 */
  int nspecs;
  om_input_spec specs[OM_MAX_IO];
  int nextra_outputs;           /* intermediate tensors to expose as outputs (--output-name) */
  const char *extra_outputs[OM_MAX_IO];
  int outputs_only_extra;       /* 1: the plan's outputs are just extra_outputs */
  int no_fusion;                /* 1: disable Conv/BN/activation fusion (debugging, tests) */
  int kernel_path;              /* 0 auto (CPU features), else an OM_KERNEL_* value (tests) */
  uint64_t max_tensor_elems;    /* 0: default 1<<31 */
  int precision;                /* OM_PRECISION_*: BF16 runs Conv GEMMs on bf16 weights and
                                   activations where om_precision_supported() (else fp32);
                                   Winograd Convs stay fp32 */
  int no_winograd;              /* 1: 3x3 stride-1 Convs direct, never Winograd F(4x4 / 2x2, 3x3)
                                   (about 1.5x the float32 rounding error of direct; slower) */
  int threads;                  /* > 1: the build may use this many OpenMP threads (to fault in
                                   the packed weights' pages); 0 or 1: the calling thread alone.
                                   The plan is the same whatever the value */
} om_plan_opts;

/* The newest default-domain opset whose operator definitions the ops were written and checked against
 * (ONNX 1.16). The registry accepts newer models (most later versions add types, not semantics), so a
 * model stamped with a newer opset is for the caller to warn about: an operator redefined after it
 * would run with its opset-21 meaning. */
#define OM_OPSET_NEWEST 21

enum { OM_KERNEL_AUTO = 0, OM_KERNEL_REF = 1, OM_KERNEL_AVX2 = 2, OM_KERNEL_AVX512 = 3 };
enum { OM_PRECISION_FP32 = 0, OM_PRECISION_BF16 = 1 };
/* 1 when this CPU runs the precision natively (FP32 always; BF16 needs AVX512-BF16). */
int om_precision_supported(int precision);
const char *om_precision_name(int precision); /* "fp32", "bf16" */
/* 1 when BF16's products run on AMX tiles (AMX-BF16 CPU, tile state granted by the OS, OM_AMX not 0),
 * 0 when on vdpbf16ps (or bf16 is unsupported). */
int om_precision_bf16_amx(void);
/* This core's FP32 FMA peak in GFLOP/s, measured now on the calling thread (peak.c; 20-50 ms): the
 * widest FMA the CPU runs, 0 where it has none. For reports (--profile), not for decisions. */
double om_fp32_peak_gflops(void);

/* Build a plan. Refusals name the node: "node 12 'conv1' (Conv): group 3 does not divide 64 channels". */
int om_plan_build(const onnx_model *m, const om_plan_opts *opts, om_plan **out, char *err);
void om_plan_free(om_plan *p);

int om_plan_ninputs(const om_plan *p);
const om_tensor_info *om_plan_input(const om_plan *p, int i);
int om_plan_noutputs(const om_plan *p);
const om_tensor_info *om_plan_output(const om_plan *p, int i);
size_t om_plan_workspace_bytes(const om_plan *p);  /* arena + scratch of one workspace */
int om_plan_nsteps(const om_plan *p);
/* One line per step ("conv 64x3x7x7 s2 +relu -> 1x64x112x112"), for --verbose and tests. */
void om_plan_describe(const om_plan *p, void (*emit)(void *ctx, const char *line), void *ctx);

/* Workspace: call from the thread that will use it, so its pages are first touched there. */
int om_workspace_new(const om_plan *p, om_workspace **out, char *err);
/* A workspace for nthreads cooperating threads (1..4096): one arena and nthreads scratch slices.
 * om_run with it opens OpenMP regions of up to nthreads threads inside the heavy kernels (the
 * caller enables nesting, omp_set_max_active_levels, when it runs om_run inside a parallel loop).
 * Results are bit-identical to a 1-thread workspace. om_workspace_new is nthreads = 1. */
int om_workspace_new_threads(const om_plan *p, int nthreads, om_workspace **out, char *err);
void om_workspace_free(om_workspace *w);
void *om_workspace_input(om_workspace *w, int i);         /* write input i here (dense, C order) */
const void *om_workspace_output(const om_workspace *w, int i);
int om_run(const om_plan *p, om_workspace *w, char *err);

/* Profiling (--profile): with it on, om_run adds each step's wall time to a per-workspace table
 * (one clock read per step; off by default). */
int om_workspace_profile(om_workspace *w, int on);               /* OM_OK or OM_E_NOMEM */
const double *om_workspace_step_seconds(const om_workspace *w); /* om_plan_nsteps entries, or NULL */
typedef struct om_step_info {
  char op[32];                  /* op type of the step ("Conv" also for fused Conv+BN+Relu) */
  const char *line;             /* the describe line */
  double flops;                 /* 2 x multiply-adds for Conv/ConvTranspose/Gemm/MatMul, else 0 */
} om_step_info;
int om_plan_step_info(const om_plan *p, int s, om_step_info *out); /* 0, or -1 out of range */

/* Which kernel path auto-selection picks on this CPU ("avx512", "avx2", "ref"). */
const char *om_kernel_path_name(int path);
int om_kernel_path_detect(void);

/* Flush denormal floats to zero (x86 MXCSR FTZ and DAZ) in the calling thread, or restore IEEE
 * gradual underflow (on = 0); threads created afterwards inherit the setting. Intel cores take a
 * microcode assist of ~100 cycles for every SIMD multiply on a denormal operand, which turned
 * efficientnet_b0 (its squeeze-excitation gates produce them) 20x slower on a Xeon. No-op elsewhere.
 * Returns 1 when the flags are now set as asked, 0 when the CPU has no such control. */
int om_fp_flush_denormals(int on);

#endif
