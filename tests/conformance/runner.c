/* runner.c: ONNX's own node conformance tests through ompredict's planner and ops.
 *
 * For every OM_SHARED/onnx-node-tests/{node,simple}/test_* whose ops are all registered, loads
 * model.onnx, binds non-float inputs as constants (they usually define shapes) and float inputs as
 * run-time inputs, builds a plan, runs each test_data_set_* and compares with output_K.pb
 * (|a-b| <= 1e-7 + 1e-3*|b|, NaN == NaN, exact for integers and bools). If the plan cannot be built
 * with run-time float inputs, it retries with every input bound (the constant-folding path).
 * Prints and writes a pass/total table per op, and the failures with reasons.
 * Usage: conformance_runner REPORT_FILE [EXPECTED_FAILURES_FILE]. Exit 0 ok, 1 unexpected failures,
 * 77 when OM_SHARED is absent. */
#include "engine/engine.h"
#include "engine/op.h"
#include "onnx/onnx.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAXT 2048

typedef struct {
  char op[64];
  int pass, total, xfail, unclaimed;
} row;

static row rows[512];
static int nrows;
static char *xf_names[256], *xf_reasons[256];
static int nxf;
static char fails[MAXT][700];
static int nfails;

static row *row_for(const char *op) {
  for (int i = 0; i < nrows; i++)
    if (strcmp(rows[i].op, op) == 0) return &rows[i];
  if (nrows == (int)(sizeof rows / sizeof rows[0])) return &rows[nrows - 1];
  row *r = &rows[nrows++];
  memset(r, 0, sizeof *r);
  snprintf(r->op, sizeof r->op, "%s", op);
  return r;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_tensor(const char *path, onnx_tensor *t, char *err) {
  uint8_t *buf;
  size_t len;
  memset(t, 0, sizeof *t);
  int rc = om_read_file(path, 0, &buf, &len, err);
  if (rc) return rc;
  rc = onnx_parse_tensor(buf, len, NULL, t, err);
  free(buf);
  return rc;
}

static double elem_d(const void *d, int dt, size_t i) {
  switch (dt) {
  case OM_DT_FLOAT: return ((const float *)d)[i];
  case OM_DT_DOUBLE: return ((const double *)d)[i];
  default: return 0;
  }
}

/* 0 equal; else writes why into why. */
static int compare(const om_tensor_info *info, const void *got, const onnx_tensor *want, char *why,
                   size_t wl) {
  if (info->dtype != want->dtype) {
    snprintf(why, wl, "dtype %s, expected %s", om_dtype_name(info->dtype), om_dtype_name(want->dtype));
    return 1;
  }
  int same = info->ndim == want->ndim;
  for (int i = 0; same && i < info->ndim; i++) same = info->dims[i] == want->dims[i];
  if (!same) {
    char a[128] = "", b[128] = "";
    for (int i = 0; i < info->ndim; i++)
      snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? "x" : "", (long long)info->dims[i]);
    for (int i = 0; i < want->ndim; i++)
      snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", i ? "x" : "", (long long)want->dims[i]);
    snprintf(why, wl, "shape [%s], expected [%s]", a, b);
    return 1;
  }
  size_t es = om_dtype_size(want->dtype), n = es ? want->nbytes / es : 0;
  if (want->dtype == OM_DT_FLOAT || want->dtype == OM_DT_DOUBLE) {
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
      double a = elem_d(got, want->dtype, i), b = elem_d(want->data, want->dtype, i);
      if (isnan(a) && isnan(b)) continue;
      if (a == b) continue;
      double diff = fabs(a - b);
      if (!(diff <= 1e-7 + 1e-3 * fabs(b))) {
        if (!bad) first = i;
        bad++;
        if (!(diff <= worst)) worst = diff;
      }
    }
    if (bad) {
      snprintf(why, wl, "%zu of %zu values differ; first at %zu: %.9g vs %.9g; worst diff %.3g", bad, n,
               first, elem_d(got, want->dtype, first), elem_d(want->data, want->dtype, first), worst);
      return 1;
    }
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (memcmp((const uint8_t *)got + i * es, (const uint8_t *)want->data + i * es, es)) {
      snprintf(why, wl, "element %zu of %zu differs (exact compare, %s)", i, n, om_dtype_name(want->dtype));
      return 1;
    }
  return 0;
}

/* Runs one data set. Returns 0 pass, 1 fail (why filled). */
static int run_set(const onnx_model *m, const char *setdir, char *why, size_t wl) {
  char path[4600], err[OM_ERR_LEN];
  onnx_tensor ins[OM_MAX_IO], outs[OM_MAX_IO];
  int nin = m->ninputs, nout = m->noutputs, rc = 1;
  memset(ins, 0, sizeof ins);
  memset(outs, 0, sizeof outs);
  om_plan *plan = NULL;
  om_workspace *ws = NULL;
  if (nin > OM_MAX_IO || nout > OM_MAX_IO) {
    snprintf(why, wl, "too many inputs/outputs");
    return 1;
  }
  for (int i = 0; i < nin; i++) {
    snprintf(path, sizeof path, "%s/input_%d.pb", setdir, i);
    if (load_tensor(path, &ins[i], err)) {
      snprintf(why, wl, "input_%d.pb: %s", i, err);
      goto done;
    }
  }
  for (int i = 0; i < nout; i++) {
    snprintf(path, sizeof path, "%s/output_%d.pb", setdir, i);
    if (load_tensor(path, &outs[i], err)) {
      snprintf(why, wl, "output_%d.pb: %s", i, err);
      goto done;
    }
  }
  for (int attempt = 0; attempt < 2 && !plan; attempt++) {
    om_plan_opts o;
    memset(&o, 0, sizeof o);
    o.nspecs = nin;
    for (int i = 0; i < nin; i++) {
      om_input_spec *s = &o.specs[i];
      s->name = m->inputs[i].name;
      s->ndim = ins[i].ndim;
      memcpy(s->dims, ins[i].dims, sizeof s->dims);
      if (attempt == 1 || ins[i].dtype != OM_DT_FLOAT) {
        s->data = ins[i].data ? ins[i].data : (const void *)"";
        s->nbytes = ins[i].nbytes;
      }
    }
    if (om_plan_build(m, &o, &plan, err) != OM_OK) {
      plan = NULL;
      if (attempt == 1) {
        snprintf(why, wl, "plan: %s", err);
        goto done;
      }
    }
  }
  if (om_workspace_new(plan, &ws, err)) {
    snprintf(why, wl, "workspace: %s", err);
    goto done;
  }
  for (int i = 0; i < om_plan_ninputs(plan); i++) {
    const om_tensor_info *ti = om_plan_input(plan, i);
    for (int k = 0; k < nin; k++)
      if (strcmp(m->inputs[k].name, ti->name) == 0) {
        if (ins[k].nbytes != ti->nbytes) {
          snprintf(why, wl, "input '%s': %zu bytes, plan wants %zu", ti->name, ins[k].nbytes, ti->nbytes);
          goto done;
        }
        if (ti->nbytes) memcpy(om_workspace_input(ws, i), ins[k].data, ti->nbytes);
      }
  }
  if (om_run(plan, ws, err)) {
    snprintf(why, wl, "run: %s", err);
    goto done;
  }
  if (om_plan_noutputs(plan) != nout) {
    snprintf(why, wl, "plan has %d outputs, test %d", om_plan_noutputs(plan), nout);
    goto done;
  }
  for (int i = 0; i < nout; i++) {
    char w2[400];
    if (compare(om_plan_output(plan, i), om_workspace_output(ws, i), &outs[i], w2, sizeof w2)) {
      snprintf(why, wl, "output %d '%s': %s", i, om_plan_output(plan, i)->name, w2);
      goto done;
    }
  }
  rc = 0;
done:
  om_workspace_free(ws);
  om_plan_free(plan);
  for (int i = 0; i < OM_MAX_IO; i++) {
    onnx_tensor_clear(&ins[i]);
    onnx_tensor_clear(&outs[i]);
  }
  return rc;
}

static const char *xfail_reason(const char *name) {
  for (int i = 0; i < nxf; i++)
    if (strcmp(xf_names[i], name) == 0) return xf_reasons[i];
  return NULL;
}

/* dtype 0: a sequence, optional or map value, not a tensor. */
static int supported_dtype(int dt) { return om_dtype_size(dt) > 0; }

/* Returns 1 when an unexpected failure happened. */
static int run_test(const char *root, const char *name, const char *kind) {
  char dir[4096], path[4200], err[OM_ERR_LEN], key[64];
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  onnx_model *m = NULL;
  if (onnx_load_file(path, NULL, &m, err)) {
    row_for("(load error)")->unclaimed++;
    return 0;
  }
  /* Key: the op of a one-node test; the kind for graphs. */
  if (m->nnodes == 1 && strcmp(kind, "node") == 0) snprintf(key, sizeof key, "%s", m->nodes[0].op_type);
  else snprintf(key, sizeof key, "%s graph", kind);
  const char *missing = NULL;
  for (int i = 0; i < m->nnodes && !missing; i++)
    if (!om_op_find(m->nodes[i].op_type, m->nodes[i].domain, (int)m->opset)) missing = m->nodes[i].op_type;
  for (int i = 0; i < m->ninputs && !missing; i++)
    if (!supported_dtype(m->inputs[i].dtype)) missing = "dtype";
  for (int i = 0; i < m->noutputs && !missing; i++)
    if (!supported_dtype(m->outputs[i].dtype)) missing = "dtype";
  row *r = row_for(key);
  if (missing) {
    r->unclaimed++;
    onnx_free(m);
    return 0;
  }
  r->total++;
  DIR *d = opendir(dir);
  char *sets[64];
  int nsets = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strncmp(e->d_name, "test_data_set_", 14) == 0 && nsets < 64) sets[nsets++] = strdup(e->d_name);
  if (d) closedir(d);
  qsort(sets, (size_t)nsets, sizeof *sets, cmp_str);
  char why[600] = "no test_data_set";
  int ok = nsets > 0;
  for (int s = 0; s < nsets && ok; s++) {
    char sd[4400];
    snprintf(sd, sizeof sd, "%s/%s", dir, sets[s]);
    if (run_set(m, sd, why, sizeof why)) ok = 0;
  }
  for (int s = 0; s < nsets; s++) free(sets[s]);
  onnx_free(m);
  const char *xr = xfail_reason(name);
  if (ok) {
    r->pass++;
    if (xr && nfails < MAXT) snprintf(fails[nfails++], sizeof fails[0], "XPASS %s (listed as: %s)", name, xr);
    return 0;
  }
  if (xr) {
    r->xfail++;
    if (nfails < MAXT) snprintf(fails[nfails++], sizeof fails[0], "xfail %s: %s [expected: %s]", name, why, xr);
    return 0;
  }
  if (nfails < MAXT) snprintf(fails[nfails++], sizeof fails[0], "FAIL  %s: %s", name, why);
  return 1;
}

static int run_dir(const char *root, const char *kind) {
  DIR *d = opendir(root);
  if (!d) return 0;
  char **names = malloc(sizeof(char *) * MAXT);
  int n = 0, bad = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < MAXT)
    if (strncmp(e->d_name, "test_", 5) == 0) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    bad += run_test(root, names[i], kind);
    free(names[i]);
  }
  free(names);
  return bad;
}

static void load_xfail(const char *path) {
  FILE *f = path ? fopen(path, "r") : NULL;
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f) && nxf < 256) {
    line[strcspn(line, "\r\n")] = 0;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    char *sp = p + strcspn(p, " \t");
    char *reason = *sp ? sp + 1 : sp;
    *sp = 0;
    while (*reason == ' ' || *reason == '\t') reason++;
    xf_names[nxf] = strdup(p);
    xf_reasons[nxf] = strdup(*reason ? reason : "(no reason given)");
    nxf++;
  }
  fclose(f);
}

static int cmp_row(const void *a, const void *b) { return strcmp(((const row *)a)->op, ((const row *)b)->op); }

int main(int argc, char **argv) {
  const char *shared = getenv("OM_SHARED");
  char root[4096];
  if (!shared || !*shared) shared = "../shared";
  snprintf(root, sizeof root, "%s/onnx-node-tests/node", shared);
  if (!is_dir(root)) {
    fprintf(stderr, "skipped: %s not found\n", root);
    return 77;
  }
  load_xfail(argc > 2 ? argv[2] : NULL);
  int bad = run_dir(root, "node");
  snprintf(root, sizeof root, "%s/onnx-node-tests/simple", shared);
  bad += run_dir(root, "simple");
  qsort(rows, (size_t)nrows, sizeof rows[0], cmp_row);
  FILE *rep = argc > 1 ? fopen(argv[1], "w") : NULL;
  int tp = 0, tt = 0, tx = 0, tu = 0;
  for (int pass = 0; pass < 2; pass++) {
    FILE *f = pass ? rep : stdout;
    if (!f) continue;
    fprintf(f, "%-28s %6s %6s %6s %10s\n", "op", "pass", "total", "xfail", "unclaimed");
    for (int i = 0; i < nrows; i++) {
      row *r = &rows[i];
      if (r->total)
        fprintf(f, "%-28s %6d %6d %6d %10d%s\n", r->op, r->pass, r->total, r->xfail, r->unclaimed,
                r->pass + r->xfail < r->total ? "  <-- FAIL" : "");
      if (!pass) {
        tp += r->pass;
        tt += r->total;
        tx += r->xfail;
        tu += r->unclaimed;
      }
    }
    fprintf(f, "%-28s %6d %6d %6d %10d\n", "TOTAL", tp, tt, tx, tu);
    fprintf(f, "not claimed (op or dtype outside the registry):");
    for (int i = 0; i < nrows; i++)
      if (!rows[i].total) fprintf(f, " %s(%d)", rows[i].op, rows[i].unclaimed);
    fprintf(f, "\n\n");
    for (int i = 0; i < nfails; i++) fprintf(f, "%s\n", fails[i]);
  }
  if (rep) fclose(rep);
  printf("%d unexpected failure(s)\n", bad);
  return bad ? 1 : 0;
}
