/* ops_gemm.c: placeholder table; the family's ops are added here. */
#include "engine/op.h"

const om_op om_ops_gemm[] = {
  {0},
};
