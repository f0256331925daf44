/* run.c: one ompredict run: expand inputs, load the model, build the plan and preprocessing, run
 * the OpenMP loop (one workspace per thread, dynamic schedule), stream rows through the reorder
 * window into atomic outputs, handle signals, --resume and the summary. Decides the exit status. */
#include "cli/run.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "image/image.h"
#include "io/atomic.h"
#include "io/inputs.h"
#include "io/npy.h"
#include "io/output.h"
#include "io/reorder.h"
#include "onnx/onnx.h"

static volatile sig_atomic_t g_signal = 0;

static void on_signal(int sig) {
  if (!g_signal) g_signal = sig;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void om_softmax(float *x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; i++)
    if (x[i] > mx) mx = x[i];
  double sum = 0;
  for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
  for (int i = 0; i < n; i++) x[i] = (float)(exp((double)x[i] - mx) / sum);
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
  while (p < end) { /* a final newline ends the last label rather than starting an empty one */
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
                       size_t *keep, size_t *rows, char *err) {
  size_t pos = 0, r = 0;
  om_buf pre = {0};
  *keep = 0;
  *rows = 0;
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
    r++;
    pos = e + 1;
  }
  om_buf_free(&pre);
  *keep = pos;
  *rows = r;
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
} run_ctx;

typedef struct {
  om_workspace *ws;
  om_preproc_scratch scratch;
  om_buf row;
  float *probs, *raw, *score;
  int *cls;
} thread_ctx;

static int ends_with_npy(const char *p) {
  size_t n = strlen(p);
  return n >= 4 && strcasecmp(p + n - 4, ".npy") == 0;
}

static int load_npy(run_ctx *R, const char *path, float *dst, char *err) {
  const om_tensor_info *ti = om_plan_input(R->plan, 0);
  om_npy a;
  int st = om_npy_read_file(path, 0, &a, err);
  if (st) return st;
  int off = a.ndim == ti->ndim ? 0 : a.ndim == ti->ndim - 1 ? 1 : -1;
  int ok = off >= 0 && (off == 1 || a.dims[0] == ti->dims[0]);
  for (int d = 1; ok && d < ti->ndim; d++) ok = a.dims[d - off] == ti->dims[d];
  if (!ok) {
    char got[128] = "", want[128] = "";
    for (int d = 0; d < a.ndim; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)a.dims[d]);
    for (int d = 0; d < ti->ndim; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)ti->dims[d]);
    om_npy_free(&a);
    return om_seterr(err, OM_E_FORMAT, "npy shape %s does not match the model input %s", got, want);
  }
  memcpy(dst, a.data, ti->nbytes);
  om_npy_free(&a);
  return OM_OK;
}

/* Predicts one input into t->probs / t->raw / t->cls / t->score. */
static int predict_one(run_ctx *R, thread_ctx *t, const char *path, char *err) {
  struct stat st;
  if (stat(path, &st) != 0) return om_seterr(err, OM_E_IO, "%s", strerror(errno));
  /* Refused before opening: opening a FIFO would block. */
  if (S_ISDIR(st.st_mode)) return om_seterr(err, OM_E_IO, "is a directory");
  if (!S_ISREG(st.st_mode)) return om_seterr(err, OM_E_IO, "not a regular file");
  float *in = om_workspace_input(t->ws, 0);
  int s;
  if (ends_with_npy(path)) {
    if ((s = load_npy(R, path, in, err))) return s;
  } else {
    om_image img;
    if ((s = om_image_decode_file(path, &R->dopts, &img, err))) return s;
    if (img.exif_orientation != 1) {
#pragma omp atomic
      R->exif_rotated++;
    }
    s = om_preprocess(&img, R->pp, in, &t->scratch, err);
    om_image_free(&img);
    if (s) return s;
  }
  if ((s = om_run(R->plan, t->ws, err))) return s;
  const float *out = om_workspace_output(t->ws, 0);
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

static void run_loop(run_ctx *R, int threads, size_t start, size_t end) {
#pragma omp parallel num_threads(threads)
  {
    thread_ctx t;
    memset(&t, 0, sizeof t);
    char err[OM_ERR_LEN];
    size_t nc = (size_t)R->nclasses;
    t.probs = malloc(nc * sizeof(float));
    t.raw = malloc(R->raw_elems * sizeof(float));
    t.score = malloc((size_t)R->k * sizeof(float));
    t.cls = malloc((size_t)R->k * sizeof(int));
    /* Workspace created in this thread: its pages are first touched here (NUMA locality). */
    if (!t.probs || !t.raw || !t.score || !t.cls)
      set_fatal(R, "out of memory for per-thread buffers");
    else if (om_workspace_new(R->plan, &t.ws, err) != OM_OK)
      set_fatal(R, err);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
    for (size_t i = start; i < end; i++) {
      if (is_fatal(R) || om_reorder_failed(R->reorder)) continue;
      if (g_signal) {
        om_reorder_stop(R->reorder);
        continue;
      }
      if (R->delay_ms > 0) {
        struct timespec ts = {R->delay_ms / 1000, (R->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
      }
      const char *path = om_inputs_get(R->in, i);
      om_result_row row = {i, path, NULL, R->k, t.cls, t.score};
      if (predict_one(R, &t, path, err) != OM_OK) {
        row.error = err;
        row.k = 0;
        for (size_t j = 0; j < R->raw_elems; j++) t.raw[j] = NAN;
      }
      t.row.len = 0;
      if (om_format_row(&t.row, &R->fmt, &row) != OM_OK) {
        set_fatal(R, "out of memory formatting a row");
        continue;
      }
      if (om_reorder_put(R->reorder, i, t.row.s, t.row.len, t.raw) == OM_OK && row.error) {
#pragma omp atomic
        R->failed++;
      }
    }
    om_workspace_free(t.ws);
    om_preproc_scratch_free(&t.scratch);
    om_buf_free(&t.row);
    free(t.probs);
    free(t.raw);
    free(t.score);
    free(t.cls);
  }
}

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

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  double t0 = now_s();

  om_inputs_opts io = {c->recursive, NULL, warn_cb, (void *)&c->quiet};
  for (int i = 0; i < c->ninputs; i++) {
    if (om_inputs_add(&in, c->inputs[i], &io, err) != OM_OK) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
  }
  if (in.n == 0) {
    fprintf(stderr, "ompredict: no inputs\n");
    goto done;
  }
  size_t lo = 0, hi = in.n;
  if (c->shard_n) om_shard_range(in.n, c->shard_k, c->shard_n, &lo, &hi);
  if (c->list) {
    for (size_t i = lo; i < hi; i++) printf("%s\n", om_inputs_get(&in, i));
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 2;
    if (rc) fprintf(stderr, "ompredict: write error on standard output: %s\n", strerror(errno));
    goto done;
  }

  /* Model, preprocessing, labels, plan. */
  if (onnx_load_file(c->model, NULL, &model, err) != OM_OK) {
    fprintf(stderr, "ompredict: cannot load model %s: %s\n", c->model, err);
    goto done;
  }
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
  po.batch = 1;
  po.nspecs = 1;
  po.specs[0].name = vi->name;
  po.specs[0].ndim = 4;
  int64_t want[4] = {1, pp.channels, pp.out_h, pp.out_w};
  if (pp.nhwc) {
    want[1] = pp.out_h;
    want[2] = pp.out_w;
    want[3] = pp.channels;
  }
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
  const om_tensor_info *res = om_plan_output(plan, 0);
  if (!res || res->dtype != OM_DT_FLOAT || res->nbytes < sizeof(float) ||
      res->nbytes / sizeof(float) > (size_t)1 << 30) {
    fprintf(stderr, "ompredict: result tensor '%s' is not a non-empty float32 tensor\n",
            res ? res->name : "?");
    goto done;
  }
  size_t elems = res->nbytes / sizeof(float);
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

  /* Outputs. */
  size_t start = lo;
  if (c->output) {
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
      size_t len, keep, rows;
      st = om_read_file(partial, 0, &partial_buf, &len, err);
      if (!st)
        st = resume_scan((const char *)partial_buf, len, head.s ? head.s : "",
                         with_header ? head.len : 0, c->format, &in, lo, hi - lo, partial, &keep,
                         &rows, err);
      if (!st) st = om_atomic_resume(&outf, c->output, (long long)keep, err);
      if (!st) {
        start = lo + rows;
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
  } else if (with_header && fwrite(head.s, 1, head.len, stdout) != head.len) {
    goto done;
  }
  if (c->raw) {
    int64_t rd = (int64_t)elems;
    if (om_atomic_open(&rawf, c->raw, err) != OM_OK ||
        om_npy_writer_open(&npw, rawf.f, 1, &rd, err) != OM_OK) {
      fprintf(stderr, "ompredict: --raw: %s\n", err);
      goto done;
    }
  }

  /* Threads and the loop. */
  const char *tsrc = "-j";
  int threads = c->threads ? c->threads : om_cli_default_threads(&tsrc);
  size_t todo = hi - start;
  if (todo && (size_t)threads > todo) threads = (int)todo;
  omp_set_max_active_levels(1); /* kernels stay single-threaded inside the image loop */

  run_ctx R;
  memset(&R, 0, sizeof R);
  R.plan = plan;
  R.pp = &pp;
  om_decode_opts_default(&R.dopts);
  R.dopts.channels = pp.channels;
  R.dopts.max_pixels = c->max_pixels;
  int pillow_like = pp.preset && (strcmp(pp.preset, "torchvision") == 0 ||
                                  strcmp(pp.preset, "inception") == 0);
  R.dopts.apply_exif = c->exif >= 0 ? c->exif : !pillow_like;
  R.in = &in;
  R.fmt = fmt;
  R.nclasses = nclasses;
  R.k = k;
  R.softmax_done = softmax_done;
  R.raw_elems = elems;
  const char *delay = getenv("OMPREDICT_TEST_DELAY_MS");
  R.delay_ms = delay ? atol(delay) : 0;

  if (c->verbose) {
    char spec[256];
    fprintf(stderr, "ompredict: model %s: opset %lld, %d nodes; plan of %d steps, %zu bytes per "
                    "workspace\n", c->model, (long long)model->opset, model->nnodes,
            om_plan_nsteps(plan), om_plan_workspace_bytes(plan));
    om_plan_describe(plan, emit_line, NULL);
    fprintf(stderr, "ompredict: preprocessing: %s; exif %s\n",
            om_preproc_format(&pp, spec, sizeof spec), R.dopts.apply_exif ? "applied" : "ignored");
    char d[96];
    dims_str(res->dims, res->ndim, d, sizeof d);
    fprintf(stderr, "ompredict: result '%s' [%s] from %s%s; %d classes, top %d; labels: %s\n",
            res->name, d, res->producer_op && *res->producer_op ? res->producer_op : "input",
            softmax_done ? " (used as is)" : " (softmax applied)", nclasses, k,
            c->labels_file ? c->labels_file : L.n ? "model metadata" : "none");
    fprintf(stderr, "ompredict: kernel path %s; %d threads (%s); inputs %zu..%zu of %zu\n",
            om_kernel_path_name(om_kernel_path_detect()), threads, tsrc, lo, hi, in.n);
  }

  sink_ctx S;
  memset(&S, 0, sizeof S);
  S.out = out;
  S.out_name = out_name;
  S.raw = c->raw ? &npw : NULL;
  S.progress = !c->quiet && isatty(2);
  S.lo = lo;
  S.hi = hi;
  if (om_reorder_new((size_t)threads * 64, start, hi, c->raw ? elems : 0, sink_write, &S,
                     &g_signal, &reorder, err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\n", err);
    goto done;
  }
  R.reorder = reorder;
  if (start < hi) run_loop(&R, threads, start, hi);
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
  int sig = g_signal;
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
  if (c->raw && om_atomic_commit(&rawf, err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\n", err);
    goto done;
  }
  if (c->output) {
    if (om_atomic_commit(&outf, err) != OM_OK) {
      fprintf(stderr, "ompredict: %s\n", err);
      goto done;
    }
  } else if (fflush(stdout) != 0 || ferror(stdout)) {
    if (errno != EPIPE) fprintf(stderr, "ompredict: write error on standard output: %s\n",
                                strerror(errno));
    goto done;
  }
  if (!c->quiet) {
    double dt = now_s() - t0;
    size_t n = hi - start;
    fprintf(stderr, "ompredict: %zu images, %zu failed, %.2f s, %.1f images/s (%d threads)\n", n,
            R.failed, dt, dt > 0 ? (double)n / dt : 0.0, threads);
    if (R.exif_rotated)
      fprintf(stderr, "ompredict: %zu images have an EXIF orientation other than 1 (%s)\n",
              R.exif_rotated, R.dopts.apply_exif ? "applied" : "ignored; --exif apply rotates them");
    if (c->verbose) fprintf(stderr, "ompredict: reorder window waits: %zu\n", om_reorder_waits(reorder));
  }
  rc = sig ? 128 + sig : R.failed ? 1 : 0;

done:
  om_atomic_abort(&outf);
  om_atomic_abort(&rawf);
  om_reorder_free(reorder);
  om_plan_free(plan);
  onnx_free(model);
  labels_free(&L);
  om_buf_free(&head);
  free(partial_buf);
  om_inputs_free(&in);
  return rc;
}
