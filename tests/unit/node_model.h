/* node_model.h: unit-test plumbing for one-node models built by hand (test_ops_conv, test_bf16):
 * input descriptions, attribute makers, and run_node, which plans and runs op(inputs) -> Y through
 * the real planner. Header-only: each test is its own executable. */
#ifndef OM_TEST_NODE_MODEL_H
#define OM_TEST_NODE_MODEL_H

#include "common/om.h"
#include "engine/engine.h"
#include "onnx/onnx.h"

#include <stdlib.h>
#include <string.h>

typedef struct tin {
  const char *name;
  int ndim;
  int64_t dims[OM_MAX_DIMS];
  float *data;
  int is_init;
} tin;

static inline size_t count(const int64_t *d, int n) {
  size_t c = 1;
  for (int i = 0; i < n; i++) c *= (size_t)d[i];
  return c;
}

static inline onnx_attr a_int(const char *name, int64_t v) {
  onnx_attr a = {0};
  a.name = (char *)name; a.type = ONNX_ATTR_INT; a.i = v;
  return a;
}
static inline onnx_attr a_float(const char *name, float v) {
  onnx_attr a = {0};
  a.name = (char *)name; a.type = ONNX_ATTR_FLOAT; a.f = v;
  return a;
}
static inline onnx_attr a_ints(const char *name, int n, int64_t *v) {
  onnx_attr a = {0};
  a.name = (char *)name; a.type = ONNX_ATTR_INTS; a.n = n; a.ints = v;
  return a;
}
static inline onnx_attr a_str(const char *name, const char *s) {
  onnx_attr a = {0};
  a.name = (char *)name; a.type = ONNX_ATTR_STRING; a.s = (char *)s; a.s_len = strlen(s);
  return a;
}

/* Builds op(ins) -> Y as a one-node model, plans it with the given options and runs it; returns 0
 * and fills yd, yn and y (malloc'ed) or -1 with err. Inputs with is_init are constant
 * initializers, the others graph inputs; an input with an empty name is an absent optional one. */
static inline int run_node(const char *op, onnx_attr *attrs, int nattr, tin *ins, int nin,
                           const om_plan_opts *o, int *yn, int64_t *yd, float **y, char *err) {
  onnx_model m = {0};
  onnx_node node = {0};
  char *innames[8], *outnames[1] = {"Y"};
  onnx_tensor inits[8];
  onnx_value_info inputs[8], outputs[1];
  memset(inits, 0, sizeof inits);
  memset(inputs, 0, sizeof inputs);
  memset(outputs, 0, sizeof outputs);
  for (int i = 0; i < nin; i++) {
    innames[i] = (char *)ins[i].name;
    if (!ins[i].name[0]) continue;
    if (ins[i].is_init) {
      onnx_tensor *t = &inits[m.ninit++];
      t->name = (char *)ins[i].name; t->dtype = OM_DT_FLOAT; t->ndim = ins[i].ndim;
      memcpy(t->dims, ins[i].dims, sizeof t->dims);
      t->data = ins[i].data; t->nbytes = count(ins[i].dims, ins[i].ndim) * 4;
    } else {
      onnx_value_info *v = &inputs[m.ninputs++];
      v->name = (char *)ins[i].name; v->dtype = OM_DT_FLOAT; v->has_shape = 1; v->ndim = ins[i].ndim;
      memcpy(v->dims, ins[i].dims, sizeof v->dims);
    }
  }
  node.name = "n0"; node.op_type = (char *)op; node.domain = "";
  node.nin = nin; node.inputs = innames; node.nout = 1; node.outputs = outnames;
  node.nattr = nattr; node.attrs = attrs;
  outputs[0].name = "Y";
  m.opset = 17; m.nnodes = 1; m.nodes = &node; m.inits = inits; m.inputs = inputs;
  m.noutputs = 1; m.outputs = outputs;
  om_plan *p = NULL;
  om_workspace *w = NULL;
  if (om_plan_build(&m, o, &p, err)) return -1;
  if (om_workspace_new(p, &w, err)) { om_plan_free(p); return -1; }
  for (int i = 0; i < om_plan_ninputs(p); i++) {
    const om_tensor_info *ti = om_plan_input(p, i);
    for (int j = 0; j < nin; j++)
      if (strcmp(ins[j].name, ti->name) == 0) memcpy(om_workspace_input(w, i), ins[j].data, ti->nbytes);
  }
  int rc = om_run(p, w, err);
  if (!rc) {
    const om_tensor_info *to = om_plan_output(p, 0);
    *yn = to->ndim;
    memcpy(yd, to->dims, sizeof(int64_t) * (size_t)to->ndim);
    *y = malloc(to->nbytes + 4);
    memcpy(*y, om_workspace_output(w, 0), to->nbytes);
  }
  om_workspace_free(w);
  om_plan_free(p);
  return rc ? -1 : 0;
}

#endif
