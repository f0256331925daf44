/* fuzz_onnx.c: libFuzzer target for the ONNX reader: any bytes as a model and as a TensorProto.
 * A crash, leak or sanitizer report is a bug; refusals are expected. Lookups are exercised on
 * whatever loaded, so every pointer the reader hands out is touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[OM_ERR_LEN];
  onnx_limits lim = {1 << 24, 1 << 20, 1}; /* small limits: the fuzzer looks for bugs, not OOMs */
  onnx_model *m = NULL;
  if (onnx_load_buffer(data, size, &lim, &m, err) == OM_OK) {
    size_t sum = 0;
    for (int i = 0; i < m->nnodes; i++) {
      const onnx_node *n = &m->nodes[i];
      sum += strlen(n->op_type) + strlen(n->name) + strlen(n->domain);
      for (int k = 0; k < n->nin; k++) sum += strlen(n->inputs[k]) + (onnx_find_init(m, n->inputs[k]) != NULL);
      for (int k = 0; k < n->nout; k++) sum += strlen(n->outputs[k]);
      for (int k = 0; k < n->nattr; k++) {
        const onnx_attr *a = onnx_node_attr(n, n->attrs[k].name);
        if (a->type == ONNX_ATTR_INTS) for (int j = 0; j < a->n; j++) sum += (size_t)a->ints[j];
        if (a->type == ONNX_ATTR_FLOATS) for (int j = 0; j < a->n; j++) sum += (size_t)(a->floats[j] != 0);
        if (a->type == ONNX_ATTR_STRINGS) for (int j = 0; j < a->n; j++) sum += strlen(a->strings[j]);
        if (a->type == ONNX_ATTR_STRING) sum += strlen(a->s);
        if (a->t && a->t->nbytes) sum += ((const uint8_t *)a->t->data)[a->t->nbytes - 1];
      }
    }
    for (int i = 0; i < m->ninit; i++)
      if (m->inits[i].nbytes) sum += ((const uint8_t *)m->inits[i].data)[m->inits[i].nbytes - 1];
    for (int i = 0; i < m->ninputs; i++) sum += strlen(m->inputs[i].name);
    for (int i = 0; i < m->nmeta; i++) sum += strlen(onnx_meta_get(m, m->meta_keys[i]));
    if (sum == 0xdeadbeef) abort(); /* keeps the reads from being optimised away */
    onnx_free(m);
  } else if (!err[0]) {
    abort(); /* every refusal must say why */
  }
  onnx_tensor t;
  if (onnx_parse_tensor(data, size, &lim, &t, err) == OM_OK) {
    if (t.nbytes && ((const uint8_t *)t.data)[t.nbytes - 1] == 0xde && t.nbytes == 0xdeadbeef) abort();
    onnx_tensor_clear(&t);
  }
  return 0;
}
