/* registry.c: the one table of ops. Each family file exports its own table; this file only joins
 * them and answers look-ups by (op_type, domain, opset). */
#include "engine/op.h"

#include <string.h>

static const om_op *const families[] = {
  om_ops_conv, om_ops_gemm, om_ops_pool, om_ops_norm,
  om_ops_elementwise, om_ops_shape, om_ops_reduce, om_ops_resize,
};

const om_op *om_op_find(const char *op_type, const char *domain, int opset) {
  if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return NULL;
  for (size_t f = 0; f < OM_ARRAY_LEN(families); f++)
    for (const om_op *o = families[f]; o->name; o++)
      if (strcmp(o->name, op_type) == 0 && opset >= o->min_opset && opset <= o->max_opset) return o;
  return NULL;
}

int om_op_count(void) {
  int n = 0;
  for (size_t f = 0; f < OM_ARRAY_LEN(families); f++)
    for (const om_op *o = families[f]; o->name; o++) n++;
  return n;
}

const om_op *om_op_at(int i) {
  for (size_t f = 0; f < OM_ARRAY_LEN(families); f++)
    for (const om_op *o = families[f]; o->name; o++)
      if (i-- == 0) return o;
  return NULL;
}
