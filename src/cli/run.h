/* run.h: one whole ompredict run (inputs -> model -> parallel loop -> ordered output), returning
 * the process exit status (0, 1, 2, or 128+signal). Only this layer and main print. */
#ifndef OM_CLI_RUN_H
#define OM_CLI_RUN_H

#include "cli/options.h"

int om_cli_run(const om_cli *c);

/* Top-K of scores[0..n) into cls/score (k <= n), descending; ties go to the lower index. */
void om_topk(const float *scores, int n, int k, int *cls, float *score);
/* In-place softmax (max-subtracted, double accumulation). */
void om_softmax(float *x, int n);

#endif
