/* ref_act.h: the unit tests' independent scalar activation, in double, spelled out from op.h's
 * comments (not the engine's om_act_apply), for the references the kernels are checked against.
 * Header-only: each test is its own executable. */
#ifndef OM_TEST_REF_ACT_H
#define OM_TEST_REF_ACT_H

#include "engine/op.h"

#include <math.h>

static double ref_act(int act, double a, double b, double x) {
  switch (act) {
  case OM_ACT_RELU: return x > 0 ? x : 0;
  case OM_ACT_CLIP: return x < a ? a : x > b ? b : x;
  case OM_ACT_LEAKY_RELU: return x < 0 ? a * x : x;
  case OM_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case OM_ACT_HARD_SIGMOID: { double t = a * x + b; return t < 0 ? 0 : t > 1 ? 1 : t; }
  case OM_ACT_HARD_SWISH: { double t = x / 6 + 0.5; return x * (t < 0 ? 0 : t > 1 ? 1 : t); }
  case OM_ACT_SILU: return x / (1.0 + exp(-x));
  default: return x;
  }
}

#endif
