/* onnx.h: an ONNX ModelProto decoded into plain C structs (no protobuf library).
 *
 * onnx_load_* read the protobuf wire format (see pb.h) and keep only what inference needs: the main
 * graph's nodes, initializers (decoded into dense little-endian arrays), inputs/outputs with their
 * shapes, value_info, the default-domain opset and metadata_props. Everything is owned by the
 * onnx_model and freed by onnx_free. The struct is read-only after loading.
 *
 * onnx_load_file maps the file (om_map_file) and keeps the mapping in the model: a raw_data tensor
 * whose bytes sit at an offset aligned to its element size is used in place (borrowed), not
 * copied; only misaligned or typed-field tensors get their own 64-byte aligned copy. So a model's
 * tensor data is valid exactly as long as the model, and must not be written. */
#ifndef OM_ONNX_H
#define OM_ONNX_H

#include "common/om.h"

typedef struct onnx_tensor {
  char *name;
  int dtype;                   /* om_dtype */
  int ndim;
  int64_t dims[OM_MAX_DIMS];
  void *data;                  /* dense, C order, native little-endian; NULL when nbytes == 0;
                                  aligned to at least the element size (64 bytes when copied) */
  size_t nbytes;               /* element count * om_dtype_size(dtype) */
  int borrowed;                /* 1: data points into the model's file image (onnx_model.file_),
                                  not a separate allocation; read-only, lives as long as the model */
} onnx_tensor;

typedef enum {
  ONNX_ATTR_UNDEFINED = 0,
  ONNX_ATTR_FLOAT = 1,
  ONNX_ATTR_INT = 2,
  ONNX_ATTR_STRING = 3,
  ONNX_ATTR_TENSOR = 4,
  ONNX_ATTR_GRAPH = 5,
  ONNX_ATTR_FLOATS = 6,
  ONNX_ATTR_INTS = 7,
  ONNX_ATTR_STRINGS = 8
} onnx_attr_type;

typedef struct onnx_attr {
  char *name;
  int type;                    /* onnx_attr_type */
  float f;
  int64_t i;
  char *s;                     /* NUL-terminated copy (STRING) */
  size_t s_len;
  onnx_tensor *t;              /* TENSOR */
  int n;                       /* count for FLOATS / INTS / STRINGS */
  float *floats;
  int64_t *ints;
  char **strings;
} onnx_attr;

typedef struct onnx_node {
  char *name;                  /* "" when the file has none */
  char *op_type;
  char *domain;                /* "" for the default ai.onnx domain */
  int nin, nout;
  char **inputs;               /* "" marks an absent optional input */
  char **outputs;
  int nattr;
  onnx_attr *attrs;
} onnx_node;

typedef struct onnx_value_info {
  char *name;
  int dtype;                   /* 0 when unknown */
  int has_shape;
  int ndim;
  int64_t dims[OM_MAX_DIMS];   /* -1 for a dimension that is symbolic or unknown */
  char *dim_params[OM_MAX_DIMS]; /* symbolic name ("batch_size") or NULL */
} onnx_value_info;

typedef struct onnx_model {
  int64_t ir_version;
  int64_t opset;               /* version of the default ("" / "ai.onnx") domain */
  char *producer_name, *producer_version, *graph_name, *doc_string;
  int nnodes;
  onnx_node *nodes;            /* in file order (ONNX requires topological order; we re-check) */
  int ninit;
  onnx_tensor *inits;
  int ninputs;                 /* graph inputs that are NOT initializers */
  onnx_value_info *inputs;
  int noutputs;
  onnx_value_info *outputs;
  int nvalue_info;
  onnx_value_info *value_info;
  int nmeta;
  char **meta_keys, **meta_values;
  om_mapped file_;             /* private: the file image that borrowed tensors point into */
} onnx_model;

typedef struct onnx_limits {
  size_t max_file_bytes;       /* 0: default 2 GiB */
  uint64_t max_tensor_elems;   /* 0: default 1<<31 elements per tensor */
  int threads;                 /* > 1: big tensors that must be copied (misaligned raw_data) are
                                  copied on this many OpenMP threads; same result for any value */
} onnx_limits;

/* Parse a model file / buffer. On failure *out is NULL and err says what and where
 * ("graph.node[12] (Conv 'conv1'): attribute 'pads': truncated varint"). */
int onnx_load_file(const char *path, const onnx_limits *lim, onnx_model **out, char *err);
int onnx_load_buffer(const uint8_t *buf, size_t len, const onnx_limits *lim, onnx_model **out,
                     char *err);
void onnx_free(onnx_model *m);

/* A serialized TensorProto on its own (the ONNX test data sets' input_K.pb / output_K.pb). */
int onnx_parse_tensor(const uint8_t *buf, size_t len, const onnx_limits *lim, onnx_tensor *out,
                      char *err);
void onnx_tensor_clear(onnx_tensor *t);  /* frees the contents, not the struct */

const onnx_attr *onnx_node_attr(const onnx_node *n, const char *name);
const char *onnx_meta_get(const onnx_model *m, const char *key); /* NULL if absent */
const onnx_tensor *onnx_find_init(const onnx_model *m, const char *name);
/* A consumer done with tensor data that may be borrowed from the model file (a planner that packed
 * the weights) lets its pages leave memory; they are read back from the file if touched again. No-op
 * for data the model allocated. */
void onnx_release_data(const onnx_model *m, const void *p, size_t n);

#endif
