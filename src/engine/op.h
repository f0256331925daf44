/* op.h: the contract between the planner and the op implementations.
 *
 * Each op family lives in one file (ops_conv.c, ops_elementwise.c, ...) and exports a table of
 * om_op entries terminated by {0}; registry.c lists the tables. At load the planner calls the op's
 * prepare() once per node with the input shapes (and data, for inputs known at load); prepare
 * validates everything (attributes, dtypes, shapes), sets the output shapes, and stores whatever the
 * kernel needs (parsed attributes, packed weights) in params. run() then does no checking and cannot
 * fail: every refusal happens at load, with a message naming the reason.
 *
 * Tensors are dense, C order (NCHW for images). */
#ifndef OM_OP_H
#define OM_OP_H

#include "common/om.h"
#include "onnx/onnx.h"

typedef struct om_tensor {
  int dtype;
  int ndim;                      /* -1 marks an absent optional input */
  int64_t dims[OM_MAX_DIMS];
  void *data;                    /* at prepare: non-NULL only when the value is known at load */
} om_tensor;

/* Activation fused into Conv / Gemm / MatMul epilogues by the planner. The planner passes it as
 * internal node attributes: "om_act" (int), "om_act_alpha", "om_act_beta" (float), and "om_sum"
 * (int 1: input[3] is a tensor of the output's shape added to the result before the activation,
 * i.e. y = act(conv(x) + bias + sum)). Ops that accept fusion must honour these. */
typedef enum {
  OM_ACT_NONE = 0,
  OM_ACT_RELU = 1,
  OM_ACT_CLIP = 2,         /* min(max(x, alpha), beta) */
  OM_ACT_LEAKY_RELU = 3,   /* x < 0 ? alpha * x : x */
  OM_ACT_SIGMOID = 4,
  OM_ACT_HARD_SIGMOID = 5, /* max(0, min(1, alpha * x + beta)) */
  OM_ACT_HARD_SWISH = 6,   /* x * max(0, min(1, x / 6 + 0.5)) */
  OM_ACT_SILU = 7          /* x * sigmoid(x) */
} om_act;

float om_act_apply(int act, float alpha, float beta, float x); /* scalar reference */

typedef struct om_prep {
  const onnx_node *node;
  int opset;                     /* default-domain opset of the model */
  int nin;
  const om_tensor *in[OM_MAX_IO]; /* NULL (or ndim -1) for an absent optional input */
  int nout;
  om_tensor out[OM_MAX_IO];      /* prepare fills dtype, ndim, dims; may set data (constant output)
                                    with memory from om_prep_alloc: the planner then folds the node */
  void *params;                  /* op-private, from om_prep_alloc */
  size_t scratch_bytes;          /* per-run scratch the kernel needs (one per workspace, shared by
                                    all steps, 64-byte aligned) */
  int alias_input;               /* >= 0: output 0 is a view of input alias_input (same bytes,
                                    new shape); run() is then not called (Reshape, Flatten, ...) */
  int kernel_path;               /* OM_KERNEL_* chosen for this plan (never AUTO here) */
  void *planner;                 /* planner-private */
  int shapes_only;               /* 1: a throw-away pass that only needs out[] (dtype, shape, and
                                    data for constant outputs) and alias_input; params and
                                    scratch_bytes are ignored and never run, so an op may skip
                                    costly work such as packing weights. The planner runs this pass
                                    before fusion and also presents Conv/ConvTranspose/Gemm/MatMul
                                    weights (inputs 1, 2) as run-time values (data NULL) in it. */
  int precision;                 /* OM_PRECISION_* from the plan options; BF16 only when the CPU
                                    has it (the planner downgrades otherwise) */
  int no_winograd;               /* om_plan_opts.no_winograd */
  int threads;                   /* om_plan_opts.threads: OpenMP threads prepare may pack weights on
                                    (the packed bytes must not depend on it) */
  unsigned consumed;             /* set by prepare: bit k when constant input k went into params
                                    (packed weights) and run() never reads it; the planner then
                                    neither copies nor passes it (data NULL at run time) and lets
                                    the model's copy leave memory */
} om_prep;

/* Memory that lives as long as the plan: zeroed, 64-byte aligned. NULL on failure (prepare
 * should then return om_seterr(err, OM_E_NOMEM, ...)). */
void *om_prep_alloc(om_prep *p, size_t bytes);

/* Attribute helpers (by name, on p->node). */
const onnx_attr *om_attr(const om_prep *p, const char *name);
int64_t om_attr_int(const om_prep *p, const char *name, int64_t dflt);
float om_attr_float(const om_prep *p, const char *name, float dflt);
const char *om_attr_string(const om_prep *p, const char *name, const char *dflt);
/* Number of ints (and *v), or -1 if absent. */
int om_attr_ints(const om_prep *p, const char *name, const int64_t **v);
int om_attr_floats(const om_prep *p, const char *name, const float **v);

/* Error helper: prefixes "Op: " is done by the planner, which also adds the node's index and name;
 * ops just describe the problem ("kernel_shape has 3 values for a 2-D input"). */

typedef int (*om_prepare_fn)(om_prep *p, char *err);
/* in[i].data is NULL for an absent optional input; outputs are preallocated with their shapes. */
typedef void (*om_run_fn)(const void *params, const om_tensor *in, int nin, om_tensor *out, int nout,
                          void *scratch);

typedef struct om_op {
  const char *name;              /* ONNX op_type, default domain */
  int min_opset;                 /* lowest opset version this entry handles */
  int max_opset;                 /* highest (inclusive); use 99 when current */
  om_prepare_fn prepare;
  om_run_fn run;
} om_op;

/* Registry (registry.c): finds the entry for op_type at this opset, or NULL. */
const om_op *om_op_find(const char *op_type, const char *domain, int opset);
/* Iterate all entries (for --list-ops and the conformance report). */
int om_op_count(void);
const om_op *om_op_at(int i);

/* Family tables, one per ops_*.c file. */
extern const om_op om_ops_conv[];        /* Conv, ConvTranspose */
extern const om_op om_ops_gemm[];        /* Gemm, MatMul */
extern const om_op om_ops_pool[];        /* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LRN */
extern const om_op om_ops_norm[];        /* BatchNormalization, LayerNormalization, Softmax, LogSoftmax */
extern const om_op om_ops_elementwise[]; /* unary/binary math, activations, Clip, Where, Cast */
extern const om_op om_ops_shape[];       /* Reshape, Flatten, Transpose, Concat, Split, Slice, Squeeze,
                                            Unsqueeze, Gather, Shape, Constant, ConstantOfShape,
                                            Identity, Dropout, Expand, Pad */
extern const om_op om_ops_reduce[];      /* ReduceMean and friends */
extern const om_op om_ops_resize[];      /* Resize, Upsample */

#endif
