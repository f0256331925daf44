/* run.c: one ompredict run: expand inputs, load the model, build the plan and preprocessing, run
 * the OpenMP loop (one workspace per thread, dynamic schedule), stream rows through the reorder
 * window into atomic outputs, handle signals, --resume, --mask-dir and the summary; with MPI
 * (cli/mpi.h) rank 0 hands out chunks and writes, the other ranks compute. Decides the exit status. */
#include "cli/run.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/mpi.h"
#include "engine/engine.h"
#include "image/image.h"
#include "io/atomic.h"
#include "io/inputs.h"
#include "io/mask.h"
#include "io/npy.h"
#include "io/output.h"
#include "io/reorder.h"
#include "onnx/onnx.h"

/* Set by the signal handler, read by every thread: a lock-free atomic is both async-signal-safe
 * and race-free between threads (volatile sig_atomic_t is only the former). */
static atomic_int g_signal = 0;

static int signalled(void) { return atomic_load_explicit(&g_signal, memory_order_relaxed); }

static void on_signal(int sig) {
  int none = 0;
  atomic_compare_exchange_strong(&g_signal, &none, sig);
}

static double now_s(void) { return om_now(); }

/* A NaN score stays NaN and takes no share (so it never displaces a number in the top-k); the
 * others are normalized among themselves. +inf logits share the whole mass; all -inf: equal shares
 * (the limit of equal logits). */
void om_softmax(float *x, int n) {
  double mx = -INFINITY;
  int live = 0, ninf = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(x[i])) continue;
    live++;
    ninf += x[i] == INFINITY;
    if (x[i] > mx) mx = x[i];
  }
  if (ninf || mx == -INFINITY) {
    for (int i = 0; i < n; i++)
      if (!isnan(x[i])) x[i] = ninf ? (x[i] == INFINITY ? 1.0f / (float)ninf : 0.0f) : 1.0f / (float)live;
    return;
  }
  double sum = 0;
  for (int i = 0; i < n; i++)
    if (!isnan(x[i])) sum += exp((double)x[i] - mx);
  for (int i = 0; i < n; i++)
    if (!isnan(x[i])) x[i] = (float)(exp((double)x[i] - mx) / sum);
}

void om_topk(const float *s, int n, int k, int *cls, float *score) {
  /* Insertion into a sorted list of k: O(n*k), fine for k << n; strict '>' keeps lower indices
   * first on ties, and NaN never displaces a number. */
  int m = 0;
  for (int i = 0; i < n; i++) {
    float v = s[i];
    if (m == k && !(v > score[m - 1])) continue;
    int j = m < k ? m++ : k - 1;
    while (j > 0 && (v > score[j - 1] || (isnan(score[j - 1]) && !isnan(v)))) {
      score[j] = score[j - 1];
      cls[j] = cls[j - 1];
      j--;
    }
    score[j] = v;
    cls[j] = i;
  }
}

/* ---- labels ---- */

typedef struct {
  char *buf;
  char **v;
  int n;
} labels;

static int labels_parse(const char *text, size_t len, labels *L, char *err) {
  L->buf = malloc(len + 1);
  if (!L->buf) return om_seterr(err, OM_E_NOMEM, "out of memory for labels");
  memcpy(L->buf, text, len);
  L->buf[len] = 0;
  size_t lines = 1;
  for (size_t i = 0; i < len; i++) lines += L->buf[i] == '\n';
  L->v = calloc(lines, sizeof *L->v);
  if (!L->v) return om_seterr(err, OM_E_NOMEM, "out of memory for labels");
  char *p = L->buf, *end = L->buf + len;
  if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* a UTF-8 byte order mark */
  /* line ends and blank lines at the end (an editor's habit) are not labels */
  while (end > p && (end[-1] == '\n' || end[-1] == '\r')) end--;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *e = nl ? nl : end;
    *e = 0;
    if (e > p && e[-1] == '\r') e[-1] = 0;
    L->v[L->n++] = p;
    p = e + 1;
  }
  return OM_OK;
}

static void labels_free(labels *L) {
  free(L->buf);
  free(L->v);
  memset(L, 0, sizeof *L);
}

/* ---- preprocessing ---- */

static int build_preproc(const om_cli *c, const onnx_model *m, const onnx_value_info *vi,
                         om_preproc *pp, char *err) {
  int C = 3, H = 0, W = 0;
  if (vi->has_shape && vi->ndim == 4) {
    if (vi->dims[1] > 0 && vi->dims[1] <= 4) C = (int)vi->dims[1];
    if (vi->dims[2] > 0 && vi->dims[2] < 1 << 20) H = (int)vi->dims[2];
    if (vi->dims[3] > 0 && vi->dims[3] < 1 << 20) W = (int)vi->dims[3];
  }
  int st = om_preproc_preset(C == 3 ? "torchvision" : "none", pp, err);
  if (st) return st;
  pp->channels = C;
  if (H > 0 && W > 0 && (H != pp->out_h || W != pp->out_w)) {
    if (C == 3) pp->resize = (int)lround((H < W ? H : W) * 256.0 / 224.0);
    pp->out_h = H;
    pp->out_w = W;
  }
  const char *meta = onnx_meta_get(m, "ompredict.preprocess");
  if (meta && (st = om_preproc_parse(meta, pp, err)))
    return om_preferr(err, st, "model metadata \"ompredict.preprocess\"");
  if (c->preset && (st = om_preproc_preset(c->preset, pp, err))) return om_preferr(err, st, "--preset");
  if (c->preprocess && (st = om_preproc_parse(c->preprocess, pp, err)))
    return om_preferr(err, st, "--preprocess");
  for (int i = 0; i < c->npp_flags; i++)
    if ((st = om_preproc_parse(c->pp_flags[i], pp, err))) return om_preferr(err, st, "option");
  return OM_OK;
}

/* ---- output sink ---- */

typedef struct {
  FILE *out;
  const char *out_name;
  om_npy_writer *raw;
  int write_errno;
  char raw_err[OM_ERR_LEN];
  int progress;
  double last;
  size_t lo, hi;
} sink_ctx;

static int sink_write(void *ctx, size_t index, const char *text, size_t len, const float *raw,
                      int more) {
  sink_ctx *s = ctx;
  errno = 0;
  if (fwrite(text, 1, len, s->out) != len || (!more && fflush(s->out) != 0)) {
    s->write_errno = errno ? errno : EIO;
    return OM_E_IO;
  }
  if (s->raw && raw && om_npy_writer_row(s->raw, raw, s->raw_err) != OM_OK) {
    s->write_errno = -1;
    return OM_E_IO;
  }
  if (s->progress) {
    double t = now_s();
    if (t - s->last >= 0.1 || index + 1 == s->hi) {
      s->last = t;
      fprintf(stderr, "\rompredict: %zu/%zu", index + 1 - s->lo, s->hi - s->lo);
    }
  }
  return OM_OK;
}

/* ---- --resume: whole rows of FILE.partial ---- */

static int resume_scan(const char *buf, size_t len, const char *header, size_t hlen, int fmt,
                       const om_inputs *in, size_t first, size_t max_rows, const char *name,
                       size_t *keep, size_t *rows, size_t *failed, char *err) {
  size_t pos = 0, r = 0;
  om_buf pre = {0};
  *keep = 0;
  *rows = 0;
  *failed = 0;
  if (hlen) {
    if (len < hlen) {
      if (memcmp(buf, header, len) == 0) return OM_OK; /* stopped inside the header */
      return om_seterr(err, OM_E_FORMAT, "%s: its header differs from this run's", name);
    }
    if (memcmp(buf, header, hlen) != 0)
      return om_seterr(err, OM_E_FORMAT, "%s: its header differs from this run's", name);
    pos = hlen;
  }
  while (pos < len && r < max_rows) {
    size_t e = pos;
    int inq = 0;
    for (; e < len; e++) {
      if (fmt == OM_FMT_CSV && buf[e] == '"') inq = !inq;
      else if (buf[e] == '\n' && !inq) break;
    }
    if (e >= len) break; /* a torn last row is dropped */
    /* Each kept row must start with this run's index and path: a partial file from another
     * input list, shard or format is refused rather than spliced. */
    char ix[48];
    const char *path = om_inputs_get(in, first + r);
    pre.len = 0;
    int st = OM_OK;
    if (fmt == OM_FMT_JSONL) {
      snprintf(ix, sizeof ix, "{\"index\":%zu,\"path\":", first + r);
      st = om_buf_append(&pre, ix, strlen(ix));
      if (!st) st = om_json_string(&pre, path, strlen(path));
    } else {
      snprintf(ix, sizeof ix, "%zu%c", first + r, fmt == OM_FMT_TSV ? '\t' : ',');
      st = om_buf_append(&pre, ix, strlen(ix));
      if (!st) st = (fmt == OM_FMT_TSV ? om_tsv_field : om_csv_field)(&pre, path, strlen(path));
    }
    if (st) {
      om_buf_free(&pre);
      return om_seterr(err, OM_E_NOMEM, "out of memory checking %s", name);
    }
    if (e - pos < pre.len || memcmp(buf + pos, pre.s, pre.len) != 0) {
      om_buf_free(&pre);
      return om_seterr(err, OM_E_FORMAT,
                       "%s: row %zu is not input %zu of this run: it comes from another input "
                       "list, shard or format; remove it or run without --resume",
                       name, r + 1, first + r);
    }
    /* the kept error rows count toward this run's exit status, as if it had never stopped */
    static const char *const err_status[3] = {",error", "\terror", ",\"status\":\"error\""};
    const char *es = err_status[fmt == OM_FMT_JSONL ? 2 : fmt == OM_FMT_TSV ? 1 : 0];
    size_t el = strlen(es);
    if (e - pos >= pre.len + el && memcmp(buf + pos + pre.len, es, el) == 0) (*failed)++;
    r++;
    pos = e + 1;
  }
  om_buf_free(&pre);
  *keep = pos;
  *rows = r;
  return OM_OK;
}

/* The complete target supersedes a TARGET.partial an earlier interrupted run left (a later
 * --resume would continue that one); a resumed run has already taken its own over. */
static int commit_target(om_atomic_file *f, const char *target, char *err) {
  int st = om_atomic_commit(f, err);
  char *stale = st ? NULL : om_atomic_partial_name(target);
  if (stale) unlink(stale);
  free(stale);
  return st;
}

/* ---- outputs that are also inputs ---- */

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* -o or --raw naming an input would replace it when the result is renamed into place, and -o and
 * --raw naming one file would write two things to it: refused before anything runs. Only inputs
 * with the target's base name are stat()ed (a million-file list costs string compares, not
 * a million metadata calls on a parallel file system); a hard link under another name escapes. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (strcmp(a, b) == 0) return 1;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int check_targets(const om_cli *c, const om_inputs *in, char *err) {
  const char *t[2] = {c->output, c->raw}, *opt[2] = {"-o", "--raw"};
  if (t[0] && t[1] && same_file(t[0], t[1]))
    return om_seterr(err, OM_E_INVALID, "-o and --raw name the same file (%s)", t[0]);
  for (int k = 0; k < 2; k++) {
    if (!t[k]) continue;
    const char *b = base_name(t[k]);
    for (size_t i = 0; i < in->n; i++) {
      const char *p = om_inputs_get(in, i);
      if (strcmp(base_name(p), b) == 0 && same_file(p, t[k]))
        return om_seterr(err, OM_E_INVALID, "%s %s is input %zu (%s): refusing to replace an input",
                         opt[k], t[k], i, p);
    }
  }
  return OM_OK;
}

/* ---- the loop ---- */

typedef struct {
  const om_plan *plan;
  const om_preproc *pp;
  om_decode_opts dopts;
  const om_inputs *in;
  om_out_format fmt;
  om_reorder *reorder;
  int nclasses, k, softmax_done;
  size_t raw_elems;
  long delay_ms;
  int fatal;
  char fatal_err[OM_ERR_LEN];
  size_t failed, exif_rotated;
  const char *mask_dir;          /* NULL: no masks */
  int mask_c, mask_h, mask_w;    /* result [1, C, H, W] */
  /* MPI rank 0: the index dispenser shared by its compute threads and its communication thread. */
  size_t disp_next, disp_hi, window;
  int stopped;                   /* a worker reported rows it did not compute (signal) */
  int send_raw;
  double *prof;                  /* --profile: per-step seconds summed over threads, or NULL */
  size_t prof_runs;              /* network runs those cover */
  int flush_denormals;           /* FTZ/DAZ in every loop thread (OM_DENORMALS=keep: 0) */
} run_ctx;

typedef struct {
  om_workspace *ws;
  om_preproc_scratch scratch;
  om_buf row;
  float *probs, *raw, *score;
  int *cls;
  size_t runs;                   /* om_run calls (for --profile) */
} thread_ctx;

static int ends_with_npy(const char *p) {
  size_t n = strlen(p);
  return n >= 4 && strcasecmp(p + n - 4, ".npy") == 0;
}

static int load_npy(run_ctx *R, const char *path, float *dst, char *err) {
  const om_tensor_info *ti = om_plan_input(R->plan, 0);
  om_npy a;
  int st = om_npy_read_file_into(path, dst, ti->nbytes / sizeof(float), &a, err);
  if (st) return st;
  int off = a.ndim == ti->ndim ? 0 : a.ndim == ti->ndim - 1 ? 1 : -1;
  int ok = off >= 0 && (off == 1 || a.dims[0] == ti->dims[0]);
  for (int d = 1; ok && d < ti->ndim; d++) ok = a.dims[d - off] == ti->dims[d];
  if (!ok) {
    char got[128] = "()", want[128] = ""; /* () : a 0-d (scalar) array */
    if (a.ndim > 0) got[0] = 0;
    for (int d = 0; d < a.ndim; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)a.dims[d]);
    for (int d = 0; d < ti->ndim; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)ti->dims[d]);
    return om_seterr(err, OM_E_FORMAT, "npy shape %s does not match the model input %s", got, want);
  }
  return OM_OK;
}

/* Predicts one input into t->probs / t->raw / t->cls / t->score. */
static int predict_one(run_ctx *R, thread_ctx *t, const char *path, char *err) {
  struct stat st;
  if (stat(path, &st) != 0) return om_seterr(err, OM_E_IO, "%s", strerror(errno));
  /* Refused before opening: opening a FIFO would block. */
  if (S_ISDIR(st.st_mode)) {
    /* a directory the expansion could not read became an input of its own: say why */
    DIR *d = opendir(path);
    if (!d) return om_seterr(err, OM_E_IO, "cannot read directory: %s", strerror(errno));
    closedir(d);
    return om_seterr(err, OM_E_IO, "is a directory");
  }
  if (!S_ISREG(st.st_mode)) return om_seterr(err, OM_E_IO, "not a regular file");
  float *in = om_workspace_input(t->ws, 0);
  int s, ow = R->mask_w, oh = R->mask_h; /* mask size: the image's (an .npy input: the result's) */
  if (ends_with_npy(path)) {
    if ((s = load_npy(R, path, in, err))) return s;
  } else {
    om_image img;
    if ((s = om_image_decode_file(path, &R->dopts, &img, err))) return s;
    ow = img.src_w;
    oh = img.src_h;
    if (img.exif_orientation != 1) {
      if (R->dopts.apply_exif && img.exif_orientation >= 5) {
        ow = img.src_h;
        oh = img.src_w;
      }
#pragma omp atomic
      R->exif_rotated++;
    }
    s = om_preprocess(&img, R->pp, in, &t->scratch, err);
    om_image_free(&img);
    if (s) return s;
  }
  if ((s = om_run(R->plan, t->ws, err))) return s;
  t->runs++;
  const float *out = om_workspace_output(t->ws, 0);
  if (R->mask_dir &&
      (s = om_mask_write(R->mask_dir, path, out, R->mask_c, R->mask_h, R->mask_w, ow, oh, err)))
    return s;
  memcpy(t->raw, out, R->raw_elems * sizeof(float));
  memcpy(t->probs, out, (size_t)R->nclasses * sizeof(float));
  if (!R->softmax_done) om_softmax(t->probs, R->nclasses);
  om_topk(t->probs, R->nclasses, R->k, t->cls, t->score);
  return OM_OK;
}

static void set_fatal(run_ctx *R, const char *msg) {
#pragma omp critical(om_fatal)
  {
    if (!R->fatal) {
      snprintf(R->fatal_err, sizeof R->fatal_err, "%s", msg);
      R->fatal = 1;
    }
  }
}

static int is_fatal(run_ctx *R) {
  int f;
#pragma omp atomic read
  f = R->fatal;
  return f;
}

/* Per-thread buffers and workspace; 0, or -1 after set_fatal. The workspace is created in this
 * thread: its pages are first touched here (NUMA locality). */
static int thread_init_n(run_ctx *R, thread_ctx *t, int inner);
#ifdef OMPREDICT_MPI
static int thread_init(run_ctx *R, thread_ctx *t) { return thread_init_n(R, t, 1); }
#endif

/* The same with a workspace for `inner` cooperating threads (om_workspace_new_threads). */
static int thread_init_n(run_ctx *R, thread_ctx *t, int inner) {
  char err[OM_ERR_LEN];
  memset(t, 0, sizeof *t);
  /* main set it before any thread existed, so new threads inherit it; a pooled thread is set here */
  om_fp_flush_denormals(R->flush_denormals);
  size_t nc = (size_t)R->nclasses;
  t->probs = malloc(nc * sizeof(float));
  t->raw = malloc(R->raw_elems * sizeof(float));
  t->score = malloc((size_t)R->k * sizeof(float));
  t->cls = malloc((size_t)R->k * sizeof(int));
  if (!t->probs || !t->raw || !t->score || !t->cls) {
    set_fatal(R, "out of memory for per-thread buffers");
    return -1;
  }
  if (om_workspace_new_threads(R->plan, inner, &t->ws, err) != OM_OK) {
    set_fatal(R, err);
    return -1;
  }
  if (R->prof && om_workspace_profile(t->ws, 1) != OM_OK) {
    set_fatal(R, "out of memory for the profile");
    return -1;
  }
  return 0;
}

static void thread_free(run_ctx *R, thread_ctx *t) {
  const double *sec = t->ws ? om_workspace_step_seconds(t->ws) : NULL;
  if (R->prof && sec) {
    int n = om_plan_nsteps(R->plan);
#pragma omp critical(om_prof)
    {
      for (int i = 0; i < n; i++) R->prof[i] += sec[i];
      R->prof_runs += t->runs;
    }
  }
  om_workspace_free(t->ws);
  om_preproc_scratch_free(&t->scratch);
  om_buf_free(&t->row);
  free(t->probs);
  free(t->raw);
  free(t->score);
  free(t->cls);
}

/* --profile: where the time went, per op type and per layer (seconds summed over threads, so
 * GFLOP/s is per thread: one core's share when threads = cores), and that rate as a share of this
 * core's FP32 peak, measured after the run (peak.c). */
typedef struct {
  char op[32];
  double sec, flops;
  int steps;
} prof_group;

static int cmp_sec_desc(const void *a, const void *b) {
  double x = ((const prof_group *)a)->sec, y = ((const prof_group *)b)->sec;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* GFLOP/s and its share of the peak (left empty when there is no peak) as table cells. */
static void rate_str(double gflops, double peak, char rate[32], char pct[16]) {
  snprintf(rate, 32, "%.1f", gflops);
  if (peak > 0) snprintf(pct, 16, "%.0f%%", 100 * gflops / peak);
}

static void print_profile(const run_ctx *R, int all) {
  int n = om_plan_nsteps(R->plan);
  double runs = (double)(R->prof_runs ? R->prof_runs : 1), total = 0;
  prof_group *g = calloc((size_t)n + 1, sizeof *g), *l = calloc((size_t)n + 1, sizeof *l);
  if (!g || !l) {
    free(g);
    free(l);
    return;
  }
  int ng = 0;
  for (int i = 0; i < n; i++) {
    om_step_info si;
    if (om_plan_step_info(R->plan, i, &si)) continue;
    total += R->prof[i];
    int j = 0;
    while (j < ng && strcmp(g[j].op, si.op)) j++;
    if (j == ng) snprintf(g[ng++].op, sizeof g->op, "%s", si.op);
    g[j].sec += R->prof[i];
    g[j].flops += si.flops;
    g[j].steps++;
    snprintf(l[i].op, sizeof l->op, "%d", i);
    l[i].sec = R->prof[i];
    l[i].flops = si.flops;
  }
  qsort(g, (size_t)ng, sizeof *g, cmp_sec_desc);
  qsort(l, (size_t)n, sizeof *l, cmp_sec_desc);
  double peak = om_fp32_peak_gflops();
  fprintf(stderr, "ompredict: profile over %zu network runs: %.3f ms per image per thread\n",
          R->prof_runs, 1e3 * total / runs);
  if (peak > 0)
    fprintf(stderr, "  this core's FP32 peak: %.1f GFLOP/s (measured: 12 FMA chains, one thread); Winograd "
                    "layers count direct-convolution FLOPs, so they can exceed 100%%\n", peak);
  fprintf(stderr, "  %-22s %6s %10s %6s %12s %9s %6s\n", "op", "layers", "ms/image", "share",
          "GFLOP/image", "GFLOP/s", "%peak");
  for (int j = 0; j < ng; j++) {
    char rate[32] = "", pct[16] = "";
    if (g[j].flops > 0 && g[j].sec > 0) rate_str(g[j].flops * runs / g[j].sec / 1e9, peak, rate, pct);
    fprintf(stderr, "  %-22s %6d %10.3f %5.1f%% %12.3f %9s %6s\n", g[j].op, g[j].steps,
            1e3 * g[j].sec / runs, total > 0 ? 100 * g[j].sec / total : 0, g[j].flops / 1e9, rate, pct);
  }
  int top = all || n < 15 ? n : 15;
  fprintf(stderr, "  slowest %d layers:\n  %10s %6s %9s %6s  %s\n", top, "ms/image", "share", "GFLOP/s", "%peak",
          "layer");
  for (int j = 0; j < top; j++) {
    om_step_info si;
    if (om_plan_step_info(R->plan, atoi(l[j].op), &si)) continue;
    char rate[32] = "", pct[16] = "";
    if (l[j].flops > 0 && l[j].sec > 0) rate_str(l[j].flops * runs / l[j].sec / 1e9, peak, rate, pct);
    fprintf(stderr, "  %10.3f %5.1f%% %9s %6s  %s\n", 1e3 * l[j].sec / runs,
            total > 0 ? 100 * l[j].sec / total : 0, rate, pct, si.line);
  }
  free(g);
  free(l);
}

/* Predicts input i and formats its row into t->row (its raw row in t->raw): 0 an ok row, 1 an
 * error row, -1 fatal (set). */
static int process_index(run_ctx *R, thread_ctx *t, size_t i) {
  char err[OM_ERR_LEN];
  if (R->delay_ms > 0) {
    struct timespec ts = {R->delay_ms / 1000, (R->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  const char *path = om_inputs_get(R->in, i);
  om_result_row row = {i, path, NULL, R->k, t->cls, t->score};
  if (predict_one(R, t, path, err) != OM_OK) {
    row.error = err;
    row.k = 0;
    for (size_t j = 0; j < R->raw_elems; j++) t->raw[j] = NAN;
  }
  t->row.len = 0;
  if (om_format_row(&t->row, &R->fmt, &row) != OM_OK) {
    set_fatal(R, "out of memory formatting a row");
    return -1;
  }
  return row.error != NULL;
}

static void put_row(run_ctx *R, size_t i, const char *text, size_t len, const float *raw, int error) {
  if (om_reorder_put(R->reorder, i, text, len, raw) == OM_OK && error) {
#pragma omp atomic
    R->failed++;
  }
}

/* `threads` loop threads over the images; with fewer images than the `team` threads available, the
 * spare threads are handed out as inner threads (loop thread i gets team/threads, plus one for the
 * first team%threads), which split the heavy kernels of its image (nested regions). With as many
 * images as threads every inner count is 1: no nested region is ever opened. */
static void loop_index(run_ctx *R, thread_ctx *t, size_t i) {
  if (is_fatal(R) || om_reorder_failed(R->reorder)) return;
  if (signalled()) {
    om_reorder_stop(R->reorder);
    return;
  }
  int e = process_index(R, t, i);
  if (e >= 0) put_row(R, i, t->row.s, t->row.len, t->raw, e);
}

static void run_loop(run_ctx *R, int threads, int team, size_t start, size_t end) {
  if (team < threads) team = threads;
  int base = team / threads, extra = team % threads;
  if (threads == 1) {
    /* one loop thread: no outer region, so the kernels' regions are top level (libgomp reuses
     * its idle threads only for non-nested regions) */
    thread_ctx t;
    thread_init_n(R, &t, team);
    for (size_t i = start; i < end; i++) loop_index(R, &t, i);
    thread_free(R, &t);
    return;
  }
  omp_set_max_active_levels(base + (extra > 0) > 1 ? 2 : 1);
#pragma omp parallel num_threads(threads)
  {
    thread_ctx t;
    int me = omp_get_thread_num();
    thread_init_n(R, &t, base + (me < extra));
#pragma omp barrier
    /* monotonic: each thread takes the next index in increasing order, which the reorder window
     * relies on; LLVM's libomp implements plain (nonmonotonic) dynamic as stealing from per-thread
     * ranges, which would park every thread but one at the window's edge. */
#pragma omp for schedule(monotonic : dynamic, 1)
    for (size_t i = start; i < end; i++) loop_index(R, &t, i);
    thread_free(R, &t);
  }
}

#ifdef OMPREDICT_MPI
/* ---- MPI: rank 0 serves chunks and writes; workers compute (protocol in cli/mpi.h) ---- */

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000L};
  nanosleep(&ts, NULL);
}

static int is_stopping(run_ctx *R) {
  int stopped;
#pragma omp atomic read
  stopped = R->stopped;
  if (signalled()) om_reorder_stop(R->reorder);
  return stopped || signalled() || is_fatal(R) || om_reorder_failed(R->reorder);
}

/* Up to max indices from the dispenser, never past the reorder window, so that every index handed
 * out can be put without waiting: the communication thread must never block in om_reorder_put
 * (the rows it waits for could only arrive through itself). 0: none now (window full); -1: no
 * more (all handed out, or stopping). */
static long take(run_ctx *R, size_t max, size_t *first) {
  if (is_stopping(R)) return -1;
  size_t limit = om_reorder_next(R->reorder) + R->window;
  long got;
#pragma omp critical(om_disp)
  {
    if (R->disp_next >= R->disp_hi) {
      got = -1;
    } else {
      size_t n = R->disp_hi - R->disp_next;
      size_t room = limit > R->disp_next ? limit - R->disp_next : 0;
      if (n > room) n = room;
      if (n > max) n = max;
      *first = R->disp_next;
      R->disp_next += n;
      got = (long)n;
    }
  }
  return got;
}

static void mpi_fail(const char *msg) {
  fprintf(stderr, "ompredict: MPI: %s\n", msg);
  om_mpi_abort(2);
}

/* Unpacks one worker message (layout in cli/mpi.h) into the reorder window. */
static void accept_results(run_ctx *R, const uint8_t *p, size_t len, uint64_t *want) {
  uint64_t h[4];
  if (len < sizeof h) mpi_fail("a result message is shorter than its header");
  memcpy(h, p, sizeof h);
  uint64_t first = h[0], count = h[1];
  *want = h[3] ? h[3] : 1;
  if (count > (len - sizeof h) / 9 || first > R->disp_hi || count > R->disp_hi - first)
    mpi_fail("a result message has a bad row count");
  const uint8_t *lens = p + sizeof h, *flags = lens + count * 8, *text = flags + count;
  size_t text_len = 0, rem = len - sizeof h - (size_t)count * 9;
  for (uint64_t j = 0; j < count; j++) {
    uint64_t l;
    memcpy(&l, lens + j * 8, 8);
    if (l != OM_MPI_MISSING && (l > rem || om_add_size(text_len, (size_t)l, &text_len)))
      mpi_fail("a result message has bad row lengths");
  }
  size_t raw_bytes = R->send_raw ? (size_t)count * R->raw_elems * sizeof(float) : 0;
  if (text_len > rem || rem - text_len != raw_bytes) mpi_fail("a result message has a bad size");
  const uint8_t *raw = text + text_len;
  float *row_raw = NULL;
  if (R->send_raw && count && !(row_raw = malloc(R->raw_elems * sizeof(float))))
    mpi_fail("out of memory for a raw row");
  for (uint64_t j = 0; j < count; j++) {
    uint64_t l;
    memcpy(&l, lens + j * 8, 8);
    if (l == OM_MPI_MISSING) { /* the worker was interrupted: end the output before this row */
#pragma omp atomic write
      R->stopped = 1;
      om_reorder_stop(R->reorder);
      continue;
    }
    if (row_raw) memcpy(row_raw, raw + j * R->raw_elems * sizeof(float), R->raw_elems * sizeof(float));
    put_row(R, (size_t)(first + j), (const char *)text, (size_t)l, row_raw ? row_raw : NULL,
            flags[j] & OM_MPI_ROW_ERROR);
    text += l;
  }
  free(row_raw);
#pragma omp atomic
  R->exif_rotated += (size_t)h[2];
}

/* Rank 0's communication thread: answers requests until every worker was told to stop. */
static void mpi_serve(run_ctx *R, const om_mpi *m) {
  char err[OM_ERR_LEN];
  int active = m->size - 1;
  uint8_t *pending = calloc((size_t)m->size, 1);
  uint64_t *want = calloc((size_t)m->size, sizeof *want);
  if (!pending || !want) mpi_fail("out of memory");
  while (active > 0) {
    int did = 0, src = 0;
    void *pl = NULL;
    size_t len = 0;
    int p = om_mpi_poll(&src, &pl, &len, err);
    if (p < 0) mpi_fail(err);
    if (p > 0) {
      accept_results(R, pl, len, &want[src]);
      free(pl);
      pending[src] = 1;
      did = 1;
    }
    for (int r = 1; r < m->size; r++) {
      if (!pending[r]) continue;
      /* Guided: shrinking chunks balance the tail; never more than the worker asked for. */
      size_t left = R->disp_hi > R->disp_next ? R->disp_hi - R->disp_next : 0;
      size_t g = left / (2 * (size_t)m->size);
      if (g > want[r]) g = (size_t)want[r];
      if (g < 1) g = 1;
      size_t first = 0;
      long n = take(R, g, &first);
      if (n == 0) continue;
      if (om_mpi_send_work(r, first, n > 0 ? (uint64_t)n : 0, err)) mpi_fail(err);
      pending[r] = 0;
      did = 1;
      if (n < 0) active--;
    }
    if (!did) sleep_us(100);
  }
  free(pending);
  free(want);
}

/* Rank 0: thread 0 communicates, threads 1..threads compute indices from the dispenser. */
static void mpi_run_master(run_ctx *R, const om_mpi *m, int threads, size_t start, size_t end) {
  R->disp_next = start;
  R->disp_hi = end;
#pragma omp parallel num_threads(threads + 1)
  {
    if (omp_get_thread_num() == 0) {
      mpi_serve(R, m);
    } else {
      thread_ctx t;
      if (thread_init(R, &t) == 0) {
        for (;;) {
          size_t i = 0;
          long n = take(R, 1, &i);
          if (n < 0) break;
          if (n == 0) {
            sleep_us(200);
            continue;
          }
          int e = process_index(R, &t, i);
          if (e < 0) break;
          put_row(R, i, t.row.s, t.row.len, t.raw, e);
        }
      }
      thread_free(R, &t);
    }
  }
}

/* A worker rank: its master thread exchanges results for chunks; all threads compute them. */
static void mpi_run_worker(run_ctx *R, int threads) {
  size_t want = 4 * (size_t)threads, rb = R->send_raw ? R->raw_elems * sizeof(float) : 0;
  if (want > 64) want = 64;
  if (rb && want > ((size_t)1 << 28) / rb) want = ((size_t)1 << 28) / rb; /* messages < 256 MiB */
  if (want < 1) want = 1;
  om_buf *rows = calloc(want, sizeof *rows);
  uint64_t *lens = calloc(want, sizeof *lens);
  uint8_t *flags = calloc(want, 1);
  float *raws = rb ? malloc(want * rb) : NULL;
  if (!rows || !lens || !flags || (rb && !raws)) mpi_fail("out of memory for a worker's chunk");
  uint64_t first = 0, count = 0;
  size_t exif_before = 0;
  om_buf msg = {0};
#pragma omp parallel num_threads(threads)
  {
    thread_ctx t;
    thread_init(R, &t);
    for (;;) {
#pragma omp barrier
#pragma omp master
      {
        char err[OM_ERR_LEN];
        if (is_fatal(R)) mpi_fail(R->fatal_err);
        uint64_t h[4] = {first, count, R->exif_rotated - exif_before, want};
        msg.len = 0;
        int st = om_buf_append(&msg, (const char *)h, sizeof h);
        if (!st) st = om_buf_append(&msg, (const char *)lens, count * 8);
        if (!st) st = om_buf_append(&msg, (const char *)flags, count);
        for (uint64_t j = 0; !st && j < count; j++)
          if (lens[j] != OM_MPI_MISSING) st = om_buf_append(&msg, rows[j].s, rows[j].len);
        if (!st && rb) st = om_buf_append(&msg, (const char *)raws, count * rb);
        if (st) mpi_fail("out of memory for a result message");
        if (om_mpi_request(msg.s, msg.len, &first, &count, err)) mpi_fail(err);
        if (count > want) mpi_fail("rank 0 sent a larger chunk than asked for");
        exif_before = R->exif_rotated;
      }
#pragma omp barrier
      if (count == 0) break;
#pragma omp for schedule(monotonic : dynamic, 1)
      for (uint64_t j = 0; j < count; j++) {
        lens[j] = OM_MPI_MISSING;
        if (is_fatal(R) || signalled()) continue;
        int e = process_index(R, &t, (size_t)(first + j));
        if (e < 0) continue;
        rows[j].len = 0;
        if (om_buf_append(&rows[j], t.row.s, t.row.len)) {
          set_fatal(R, "out of memory for a result row");
          continue;
        }
        if (rb) memcpy((char *)raws + j * rb, t.raw, rb);
        flags[j] = e ? OM_MPI_ROW_ERROR : 0;
        lens[j] = t.row.len;
      }
    }
    thread_free(R, &t);
  }
  for (size_t j = 0; j < want; j++) om_buf_free(&rows[j]);
  free(rows);
  free(lens);
  free(flags);
  free(raws);
  om_buf_free(&msg);
}
#endif

/* ---- the run ---- */

static void warn_cb(void *ctx, const char *msg) {
  if (!*(const int *)ctx) fprintf(stderr, "ompredict: warning: %s\n", msg);
}

static void emit_line(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "ompredict:   %s\n", line);
}

static void dims_str(const int64_t *d, int n, char *buf, size_t cap) {
  buf[0] = 0;
  for (int i = 0; i < n; i++)
    snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", i ? "x" : "", (long long)d[i]);
}

int om_cli_run(const om_cli *c) {
  char err[OM_ERR_LEN];
  int rc = 2;
  om_inputs in;
  om_inputs_init(&in);
  onnx_model *model = NULL;
  om_plan *plan = NULL;
  om_reorder *reorder = NULL;
  labels L = {0};
  om_atomic_file outf = {0}, rawf = {0};
  om_npy_writer npw;
  FILE *out = stdout;
  const char *out_name = c->output ? c->output : "standard output";
  om_buf head = {0};
  uint8_t *partial_buf = NULL;
  double *prof = NULL; /* --profile's per-step seconds (declared here: every goto done frees it) */
  int worker = 0;                /* an MPI rank other than 0: computes, writes nothing */
#ifdef OMPREDICT_MPI
  om_mpi mpi;
  int synced = 1;                /* 0 between the input broadcast and the start broadcast */
  if (om_mpi_init(&mpi, err) != OM_OK) {
    fprintf(stderr, "ompredict: MPI: %s\n", err);
    return 2;
  }
  worker = mpi.active && mpi.rank != 0;
#endif

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  double t0 = now_s();
  double t_loaded = t0; /* set once the plan is built: the summary separates load from the loop */

  om_inputs_opts io = {c->recursive, NULL, warn_cb, (void *)&c->quiet};
  int inputs_ok = 1;
  for (int i = 0; !worker && i < c->ninputs; i++) {
    if (om_inputs_add(&in, c->inputs[i], &io, err) != OM_OK) {
      if (signalled()) { /* SIGINT while reading a list (from a terminal, say): 130, not a read error */
        fprintf(stderr, "ompredict: interrupted while expanding the inputs\n");
        rc = 128 + signalled();
      } else {
        fprintf(stderr, "ompredict: %s\n", err);
      }
      inputs_ok = 0;
      break;
    }
  }
  if (!worker && inputs_ok && in.n == 0) {
    fprintf(stderr, "ompredict: no inputs\n");
    inputs_ok = 0;
  }
  if (!worker && inputs_ok && !c->list && check_targets(c, &in, err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\n", err);
    inputs_ok = 0;
  }
#ifdef OMPREDICT_MPI
  /* Rank 0 expands the inputs (only it sees standard input for "-") and sends the list to all. */
  if (mpi.active) {
    uint64_t ok = (uint64_t)inputs_ok;
    void *arena = in.arena;
    size_t alen = inputs_ok ? in.len : 0;
    if (om_mpi_bcast_u64(&mpi, &ok, 1) || (ok && om_mpi_bcast_bytes(&mpi, &arena, &alen, err)))
      mpi_fail(ok ? err : "MPI_Bcast failed");
    inputs_ok = (int)ok;
    for (size_t p = 0; worker && ok && p < alen; p += strlen((char *)arena + p) + 1)
      if (om_inputs_push(&in, (char *)arena + p, err) != OM_OK) mpi_fail(err);
    if (worker) free(arena);
    synced = !inputs_ok || c->list;
  }
#endif
  if (!inputs_ok) goto done;
  size_t lo = 0, hi = in.n;
  if (c->shard_n) om_shard_range(in.n, c->shard_k, c->shard_n, &lo, &hi);
  if (c->list && worker) {
    rc = 0;
    goto done;
  }
  if (c->list) {
    for (size_t i = lo; i < hi && !ferror(stdout); i++) printf("%s\n", om_inputs_get(&in, i));
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 2;
    /* a closed pipe (`| head`) ends quietly, as the main output does */
    if (rc && errno != EPIPE) fprintf(stderr, "ompredict: write error on standard output: %s\n", strerror(errno));
    goto done;
  }

  /* Model, preprocessing, labels, plan; the image loop's threads share the load's page faults. */
  const char *tsrc = "-j";
  int threads = c->threads ? c->threads : om_cli_default_threads(&tsrc);
  onnx_limits mlim = {(size_t)c->max_model_bytes, 0, threads};
  if (onnx_load_file(c->model, &mlim, &model, err) != OM_OK) {
    fprintf(stderr, "ompredict: cannot load model %s: %s\n", c->model, err);
    goto done;
  }
  if (model->opset > OM_OPSET_NEWEST && !c->quiet && !worker)
    fprintf(stderr,
            "ompredict: warning: model %s imports opset %lld; ompredict's operators follow ONNX up to "
            "opset %d, so an operator redefined since then runs with its opset-%d meaning\n",
            c->model, (long long)model->opset, OM_OPSET_NEWEST, OM_OPSET_NEWEST);
  if (model->ninputs != 1) {
    fprintf(stderr, "ompredict: model %s has %d inputs; ompredict feeds exactly one image tensor\n",
            c->model, model->ninputs);
    goto done;
  }
  const onnx_value_info *vi = &model->inputs[0];
  om_preproc pp;
  if (build_preproc(c, model, vi, &pp, err) != OM_OK) {
    fprintf(stderr, "ompredict: preprocessing: %s\n", err);
    goto done;
  }
  om_plan_opts po;
  memset(&po, 0, sizeof po);
  po.threads = threads;
  po.batch = 1;
  po.nspecs = 1;
  po.precision = c->precision;
  po.no_winograd = c->no_winograd;
  if (c->precision == OM_PRECISION_BF16 && !om_precision_supported(OM_PRECISION_BF16) && !c->quiet)
    fprintf(stderr, "ompredict: warning: --precision bf16: this CPU lacks AVX512-BF16; running fp32\n");
  po.specs[0].name = vi->name;
  po.specs[0].ndim = 4;
  int64_t want[4] = {1, pp.channels, pp.out_h, pp.out_w};
  if (pp.nhwc) {
    want[1] = pp.out_h;
    want[2] = pp.out_w;
    want[3] = pp.channels;
  }
  /* Tensors only: .npy files are fed as they are, so a model input whose C, H, W are all fixed
   * (a feature extractor's head, a 4-channel model) is planned at its own shape, not the image
   * preprocessing's. */
  int all_npy = in.n > 0; /* the whole list, not this shard: every shard decides alike */
  for (size_t i = 0; all_npy && i < in.n; i++) all_npy = ends_with_npy(om_inputs_get(&in, i));
  if (all_npy && vi->has_shape && vi->ndim == 4 && vi->dims[1] > 0 && vi->dims[2] > 0 && vi->dims[3] > 0)
    for (int d = 1; d < 4; d++) want[d] = vi->dims[d];
  memcpy(po.specs[0].dims, want, sizeof want);
  if (vi->has_shape && vi->ndim == 4) {
    for (int d = 1; d < 4; d++) {
      if (vi->dims[d] > 0 && vi->dims[d] != want[d]) {
        char a[96], b[96];
        dims_str(want, 4, a, sizeof a);
        dims_str(vi->dims, 4, b, sizeof b);
        fprintf(stderr, "ompredict: preprocessing gives %s but model input '%s' is %s (-1: any); "
                        "use --size/--gray/--preset\n", a, vi->name, b);
        goto done;
      }
    }
  } else if (vi->has_shape && vi->ndim != 4) {
    fprintf(stderr, "ompredict: model input '%s' has %d dimensions; an image model takes 4\n",
            vi->name, vi->ndim);
    goto done;
  }
  if (c->output_name) {
    po.nextra_outputs = 1;
    po.extra_outputs[0] = c->output_name;
    po.outputs_only_extra = 1;
  }
  if (om_plan_build(model, &po, &plan, err) != OM_OK) {
    fprintf(stderr, "ompredict: cannot run model %s: %s\n", c->model, err);
    goto done;
  }
  t_loaded = now_s();
  const om_tensor_info *res = om_plan_output(plan, 0);
  if (!res || res->dtype != OM_DT_FLOAT || res->nbytes < sizeof(float) ||
      res->nbytes / sizeof(float) > (size_t)1 << 30) {
    fprintf(stderr, "ompredict: result tensor '%s' is not a non-empty float32 tensor\n",
            res ? res->name : "?");
    goto done;
  }
  size_t elems = res->nbytes / sizeof(float);
  if (c->mask_dir) {
    struct stat md;
    if (res->ndim != 4 || res->dims[0] != 1 || res->dims[1] < 1 || res->dims[1] > 256) {
      char d[96];
      dims_str(res->dims, res->ndim, d, sizeof d);
      fprintf(stderr, "ompredict: --mask-dir: result tensor '%s' is [%s], not [1, C, H, W] with "
                      "C <= 256 classes\n", res->name, d);
      goto done;
    }
    if (stat(c->mask_dir, &md) != 0 || !S_ISDIR(md.st_mode)) {
      fprintf(stderr, "ompredict: --mask-dir %s: not a directory\n", c->mask_dir);
      goto done;
    }
  }
  int nclasses = (int)elems;
  int k = c->top_k < nclasses ? c->top_k : nclasses;
  int softmax_done = res->producer_op && strcmp(res->producer_op, "Softmax") == 0;

  if (c->labels_file) {
    uint8_t *buf;
    size_t len;
    if (om_read_file(c->labels_file, 64u << 20, &buf, &len, err) != OM_OK) {
      fprintf(stderr, "ompredict: cannot read labels %s: %s\n", c->labels_file, err);
      goto done;
    }
    int st = labels_parse((const char *)buf, len, &L, err);
    free(buf);
    if (st) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
    if (L.n != nclasses) {
      fprintf(stderr, "ompredict: labels file %s has %d names but the model gives %d classes\n",
              c->labels_file, L.n, nclasses);
      goto done;
    }
  } else {
    const char *ml = onnx_meta_get(model, "ompredict.labels");
    if (ml) {
      if (labels_parse(ml, strlen(ml), &L, err) != OM_OK) {
        fprintf(stderr, "ompredict: %s\n", err);
        goto done;
      }
      if (L.n != nclasses) {
        if (!c->quiet)
          fprintf(stderr, "ompredict: warning: model metadata has %d labels for %d classes; "
                          "labels not used\n", L.n, nclasses);
        labels_free(&L);
      }
    }
  }

  om_out_format fmt = {c->format, k, L.n ? (const char *const *)L.v : NULL, L.n};
  int with_header = !c->no_header && c->format != OM_FMT_JSONL;
  if (with_header && om_format_header(&head, &fmt) != OM_OK) {
    fprintf(stderr, "ompredict: out of memory\n");
    goto done;
  }

  /* Outputs (rank 0 only). */
  size_t start = lo, resumed_failed = 0; /* --resume: the error rows among those kept */
  if (worker) {
  } else if (c->output) {
    char *partial = om_atomic_partial_name(c->output);
    struct stat sb;
    int have_partial = partial && stat(partial, &sb) == 0;
    int st = OM_OK;
    if (c->resume && !have_partial && stat(c->output, &sb) == 0) {
      if (!c->quiet)
        fprintf(stderr, "ompredict: %s is complete (no %s.partial); nothing to do\n", c->output,
                c->output);
      free(partial);
      rc = 0;
      goto done;
    }
    if (c->resume && have_partial) {
      size_t len, keep, rows, kept_failed;
      long long raw_keep = 0;
      int64_t rd = (int64_t)elems;
      char *raw_partial = c->raw ? om_atomic_partial_name(c->raw) : NULL;
      st = om_read_file(partial, 0, &partial_buf, &len, err);
      if (!st)
        st = resume_scan((const char *)partial_buf, len, head.s ? head.s : "",
                         with_header ? head.len : 0, c->format, &in, lo, hi - lo, partial, &keep,
                         &rows, &kept_failed, err);
      /* --raw: RAW.partial must hold the same rows; checked before either partial is taken over */
      if (!st && c->raw && !raw_partial) st = om_seterr(err, OM_E_NOMEM, "out of memory");
      if (!st && c->raw)
        st = om_npy_writer_check_partial(raw_partial, 1, &rd, (int64_t)rows, &raw_keep, err);
      if (!st) st = om_atomic_resume(&outf, c->output, (long long)keep, err);
      if (!st && c->raw) {
        st = om_atomic_resume(&rawf, c->raw, raw_keep, err);
        if (!st) st = om_npy_writer_continue(&npw, rawf.f, 1, &rd, (int64_t)rows, err);
        if (st) { /* leave FILE.partial where it was (its whole rows) */
          char e2[OM_ERR_LEN];
          om_atomic_keep_partial(&outf, e2);
        }
      }
      free(raw_partial);
      if (!st) {
        start = lo + rows;
        resumed_failed = kept_failed;
        if (c->verbose)
          fprintf(stderr, "ompredict: resuming after %zu rows of %s\n", rows, partial);
      }
    } else {
      st = om_atomic_open(&outf, c->output, err);
      if (!st && with_header && fwrite(head.s, 1, head.len, outf.f) != head.len)
        st = om_seterr(err, OM_E_IO, "write error on %s: %s", c->output, strerror(errno));
    }
    free(partial);
    if (st) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
    out = outf.f;
  }
  if (c->raw && !worker && !rawf.f) { /* (a resumed run continues RAW.partial, above) */
    int64_t rd = (int64_t)elems;
    if (om_atomic_open(&rawf, c->raw, err) != OM_OK ||
        om_npy_writer_open(&npw, rawf.f, 1, &rd, err) != OM_OK) {
      fprintf(stderr, "ompredict: --raw: %s\n", err);
      goto done;
    }
  }
  /* standard output's header after --raw is open: a run refused for --raw prints nothing */
  if (!worker && !c->output && with_header && fwrite(head.s, 1, head.len, stdout) != head.len) goto done;

  /* The loop (threads: chosen before the plan, whose build faults its weights in on them). */
  int team = threads; /* threads the image loop leaves idle help inside the network */
  const char *intra = getenv("OM_INTRA"); /* "0": they stay idle (A/B runs; oversubscribed hosts) */
  int intra_off = intra && strcmp(intra, "0") == 0;
  size_t todo = hi - start;
  if (todo && (size_t)threads > todo) threads = (int)todo;
  omp_set_max_active_levels(1); /* kernels stay single-threaded inside the image loop */

  run_ctx R;
  memset(&R, 0, sizeof R);
  R.plan = plan;
  R.pp = &pp;
  R.flush_denormals = om_cli_flush_denormals();
  om_decode_opts_default(&R.dopts);
  R.dopts.channels = pp.channels;
  R.dopts.max_pixels = c->max_pixels;
  int pillow_like = pp.preset && (strcmp(pp.preset, "torchvision") == 0 ||
                                  strcmp(pp.preset, "inception") == 0);
  R.dopts.apply_exif = c->exif >= 0 ? c->exif : !pillow_like;
  if (c->fast_jpeg) /* never below what the resampler needs: only the scaled IDCT's loss remains */
    R.dopts.jpeg_min_w = R.dopts.jpeg_min_h = om_preproc_decode_min_side(&pp);
  R.in = &in;
  R.fmt = fmt;
  R.nclasses = nclasses;
  R.k = k;
  R.softmax_done = softmax_done;
  R.raw_elems = elems;
  R.send_raw = c->raw != NULL;
  if (c->profile && !(prof = calloc((size_t)om_plan_nsteps(plan) + 1, sizeof(double)))) {
    fprintf(stderr, "ompredict: out of memory for the profile\n");
    goto done;
  }
  R.prof = prof;
  if (c->mask_dir) {
    R.mask_dir = c->mask_dir;
    R.mask_c = (int)res->dims[1];
    R.mask_h = (int)res->dims[2];
    R.mask_w = (int)res->dims[3];
  }
  const char *delay = getenv("OMPREDICT_TEST_DELAY_MS");
  R.delay_ms = delay ? atol(delay) : 0;

#ifdef OMPREDICT_MPI
  if (mpi.active) {
    /* Every rank has its model and plan (a failure aborted them all); rank 0 says where to start. */
    uint64_t sv[2] = {start, 0};
    if (om_mpi_bcast_u64(&mpi, sv, 2)) mpi_fail("MPI_Bcast failed");
    start = (size_t)sv[0];
    synced = 1;
    if (sv[1]) {
      rc = 0;
      goto done;
    }
    if (worker) {
      todo = hi - start;
      if (todo && (size_t)threads > todo) threads = (int)todo;
      mpi_run_worker(&R, threads); /* even with nothing to do: rank 0 waits for its request */
      if (R.fatal) mpi_fail(R.fatal_err);
      rc = 0;
      goto done;
    }
  }
#endif
  if (c->verbose) {
    char spec[256];
    fprintf(stderr, "ompredict: model %s: opset %lld, %d nodes; plan of %d steps, %zu bytes per "
                    "workspace\n", c->model, (long long)model->opset, model->nnodes,
            om_plan_nsteps(plan), om_plan_workspace_bytes(plan));
    om_plan_describe(plan, emit_line, NULL);
    fprintf(stderr, "ompredict: preprocessing: %s; exif %s; jpeg %s\n",
            om_preproc_format(&pp, spec, sizeof spec), R.dopts.apply_exif ? "applied" : "ignored",
            R.dopts.jpeg_min_w ? "DCT-downscaled down to the resize target (--fast-jpeg)" : "full size");
    char d[96];
    dims_str(res->dims, res->ndim, d, sizeof d);
    fprintf(stderr, "ompredict: result '%s' [%s] from %s%s; %d classes, top %d; labels: %s\n",
            res->name, d, res->producer_op && *res->producer_op ? res->producer_op : "input",
            softmax_done ? " (used as is)" : " (softmax applied)", nclasses, k,
            c->labels_file ? c->labels_file : L.n ? "model metadata" : "none");
    int prec = om_precision_supported(c->precision) ? c->precision : OM_PRECISION_FP32;
    fprintf(stderr, "ompredict: kernel path %s; precision %s%s%s; %d threads (%s); inputs %zu..%zu of %zu\n",
            om_kernel_path_name(om_kernel_path_detect()), om_precision_name(prec),
            prec == OM_PRECISION_BF16 ? (om_precision_bf16_amx() ? " (AMX)" : " (AVX512-BF16)") : "",
            c->no_winograd ? " (no Winograd)" : "",
            threads, tsrc, lo, hi, in.n);
#ifdef OMPREDICT_MPI
    if (mpi.active)
      fprintf(stderr, "ompredict: MPI: %d ranks; rank 0 adds a communication thread\n", mpi.size);
#endif
  }

  /* The plan owns copies of everything it reads: release the model (its mapped file and weights)
   * before the loop, so the run's memory is the plan plus one workspace per thread. */
  onnx_free(model);
  model = NULL;

  sink_ctx S;
  memset(&S, 0, sizeof S);
  S.out = out;
  S.out_name = out_name;
  S.raw = c->raw ? &npw : NULL;
  S.progress = !c->quiet && isatty(2);
  S.lo = lo;
  S.hi = hi;
  size_t window = (size_t)threads * 64;
#ifdef OMPREDICT_MPI
  if (mpi.active) window += (size_t)(mpi.size - 1) * 128; /* room for the workers' chunks */
#endif
  R.window = window;
  if (om_reorder_new(window, start, hi, c->raw ? elems : 0, sink_write, &S, &g_signal, &reorder,
                     err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\n", err);
    goto done;
  }
  R.reorder = reorder;
#ifdef OMPREDICT_MPI
  if (mpi.active) mpi_run_master(&R, &mpi, threads, start, hi);
  else
#endif
  if (start < hi) run_loop(&R, threads, intra_off ? threads : team, start, hi);
  if (S.progress) fputc('\n', stderr);

  size_t written = om_reorder_next(reorder);
  if (R.fatal) {
    fprintf(stderr, "ompredict: %s\n", R.fatal_err);
    goto done;
  }
  if (om_reorder_failed(reorder)) {
    if (S.write_errno == -1)
      fprintf(stderr, "ompredict: write error on %s: %s\n", c->raw, S.raw_err);
    else if (!(S.write_errno == EPIPE && !c->output))
      fprintf(stderr, "ompredict: write error on %s: %s\n", out_name, strerror(S.write_errno));
    goto done; /* a closed stdout pipe ends quietly with 2 */
  }
  int interrupted = written < hi;
  int sig = signalled();
  if (c->raw && om_npy_writer_finish(&npw, err) != OM_OK) {
    fprintf(stderr, "ompredict: write error on %s: %s\n", c->raw, err);
    goto done;
  }
  if (interrupted) {
    if (c->output && om_atomic_keep_partial(&outf, err) != OM_OK) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
    if (c->raw && om_atomic_keep_partial(&rawf, err) != OM_OK) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
    if (!c->output && fflush(stdout) != 0) goto done;
    fprintf(stderr, "ompredict: interrupted after %zu of %zu inputs; rerun with --resume to "
                    "continue\n", written - lo, hi - lo);
    rc = 128 + (sig ? sig : SIGINT);
    goto done;
  }
  if (c->raw && commit_target(&rawf, c->raw, err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\n", err);
    goto done;
  }
  if (c->output) {
    if (commit_target(&outf, c->output, err) != OM_OK) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
  } else if (fflush(stdout) != 0 || ferror(stdout)) {
    if (errno != EPIPE) fprintf(stderr, "ompredict: write error on standard output: %s\n",
                                strerror(errno));
    goto done;
  }
  if (!c->quiet) {
    double t_end = now_s(), dt = t_end - t0, dl = t_end - t_loaded;
    size_t n = hi - start;
    fprintf(stderr,
            "ompredict: %zu images, %zu failed, %.2f s, %.1f images/s (%d threads; "
            "%.2f s to load the model, then %.1f images/s)\n",
            n, R.failed, dt, dt > 0 ? (double)n / dt : 0.0, threads, t_loaded - t0,
            dl > 0 ? (double)n / dl : 0.0);
    if (start > lo)
      fprintf(stderr, "ompredict: resumed after %zu rows of %s, %zu of them failed\n", start - lo,
              c->output, resumed_failed);
    if (R.exif_rotated)
      fprintf(stderr, "ompredict: %zu images have an EXIF orientation other than 1 (%s)\n",
              R.exif_rotated, R.dopts.apply_exif ? "applied" : "ignored; --exif apply rotates them");
    if (c->verbose) fprintf(stderr, "ompredict: reorder window waits: %zu\n", om_reorder_waits(reorder));
  }
  if (R.prof) print_profile(&R, c->verbose);
  rc = sig ? 128 + sig : R.failed || resumed_failed ? 1 : 0;

done:
#ifdef OMPREDICT_MPI
  if (mpi.active && !synced) {
    /* Failed (or finished) before the start broadcast: a fatal error ends every rank; rank 0's
     * "nothing to do" (--resume of a complete file) tells the workers to quit. */
    if (rc != 0) om_mpi_abort(rc);
    uint64_t sv[2] = {0, 1};
    om_mpi_bcast_u64(&mpi, sv, 2);
  }
#endif
  om_atomic_abort(&outf);
  om_atomic_abort(&rawf);
  free(prof);
  om_reorder_free(reorder);
  om_plan_free(plan);
  onnx_free(model);
  labels_free(&L);
  om_buf_free(&head);
  free(partial_buf);
  om_inputs_free(&in);
#ifdef OMPREDICT_MPI
  om_mpi_finalize(&mpi);
#endif
  return rc;
}
