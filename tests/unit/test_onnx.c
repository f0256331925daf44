/* test_onnx.c: our ONNX reader against the official onnx Python package.
 *
 * tools/onnx_summary.py (run with /usr/bin/python3) prints a line summary of every zoo model,
 * every ONNX node-test model and its test_data_set_0 tensors: nodes, attributes, initializer
 * shapes and byte checksums, inputs/outputs. We print the same summary from what onnx.c decoded
 * and compare line by line. Then: tools/make_bad_models.py's byte-level damage must be refused
 * with the expected reason, and a zoo model truncated at many offsets must never load.
 * Skips (77) when the shared folder, python3 or its onnx package is missing. */
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.h"
#include "check.h"


/* ---- a growing string ---- */
typedef struct {
  char *s;
  size_t n, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->n;
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    if (k < 0) abort();
    if (b->s && (size_t)k < room) {
      b->n += (size_t)k;
      return;
    }
    size_t ncap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
    b->s = realloc(b->s, ncap);
    if (!b->s) abort();
    b->cap = ncap;
  }
}

/* Same checksum as onnx_summary.py: sum of byte * (index % 251 + 1). */
static unsigned long long checksum(const uint8_t *p, size_t n) {
  unsigned long long s = 0;
  for (size_t i = 0; i < n; i++) s += (unsigned long long)p[i] * (i % 251 + 1);
  return s;
}

static void dims_str(sbuf *b, const int64_t *d, int n) {
  for (int i = 0; i < n; i++) sb_printf(b, "%s%lld", i ? "," : "", (long long)d[i]);
}

static void tensor_line(sbuf *b, const onnx_tensor *t) {
  sb_printf(b, "%s dt=%d dims=[", t->name, t->dtype);
  dims_str(b, t->dims, t->ndim);
  sb_printf(b, "] cs=%llu n=%zu", checksum(t->data, t->nbytes), t->nbytes);
}

static void hex(sbuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) sb_printf(b, "%02x", (unsigned char)s[i]);
}

static void vi_line(sbuf *b, const char *kind, const onnx_value_info *v) {
  sb_printf(b, "%s %s dt=%d shape=", kind, v->name, v->dtype);
  if (!v->has_shape) {
    sb_printf(b, "none\n");
    return;
  }
  sb_printf(b, "[");
  for (int i = 0; i < v->ndim; i++) {
    sb_printf(b, "%s%lld", i ? "," : "", (long long)v->dims[i]);
    if (v->dim_params[i]) sb_printf(b, "(%s)", v->dim_params[i]);
  }
  sb_printf(b, "]\n");
}

static void model_summary(sbuf *b, const onnx_model *m) {
  sb_printf(b, "ir %lld opset %lld producer %s graph %s\n", (long long)m->ir_version,
            (long long)m->opset, m->producer_name, m->graph_name);
  for (int i = 0; i < m->nnodes; i++) {
    const onnx_node *n = &m->nodes[i];
    sb_printf(b, "node %s|%s|%s in ", n->op_type, n->name, n->domain);
    for (int k = 0; k < n->nin; k++) sb_printf(b, "%s%s", k ? "," : "", n->inputs[k]);
    sb_printf(b, " out ");
    for (int k = 0; k < n->nout; k++) sb_printf(b, "%s%s", k ? "," : "", n->outputs[k]);
    sb_printf(b, "\n");
    for (int k = 0; k < n->nattr; k++) {
      const onnx_attr *a = &n->attrs[k];
      sb_printf(b, " attr %s %d ", a->name, a->type);
      uint32_t bits;
      switch (a->type) {
      case ONNX_ATTR_FLOAT: memcpy(&bits, &a->f, 4); sb_printf(b, "%u", bits); break;
      case ONNX_ATTR_INT: sb_printf(b, "%lld", (long long)a->i); break;
      case ONNX_ATTR_STRING: hex(b, a->s, a->s_len); break;
      case ONNX_ATTR_TENSOR: tensor_line(b, a->t); break;
      case ONNX_ATTR_FLOATS:
        for (int j = 0; j < a->n; j++) {
          memcpy(&bits, &a->floats[j], 4);
          sb_printf(b, "%s%u", j ? "," : "", bits);
        }
        break;
      case ONNX_ATTR_INTS:
        for (int j = 0; j < a->n; j++) sb_printf(b, "%s%lld", j ? "," : "", (long long)a->ints[j]);
        break;
      case ONNX_ATTR_STRINGS:
        for (int j = 0; j < a->n; j++) {
          if (j) sb_printf(b, ",");
          hex(b, a->strings[j], strlen(a->strings[j]));
        }
        break;
      default: break;
      }
      sb_printf(b, "\n");
    }
  }
  for (int i = 0; i < m->ninit; i++) {
    sb_printf(b, "init ");
    tensor_line(b, &m->inits[i]);
    sb_printf(b, "\n");
  }
  for (int i = 0; i < m->ninputs; i++) vi_line(b, "input", &m->inputs[i]);
  for (int i = 0; i < m->noutputs; i++) vi_line(b, "output", &m->outputs[i]);
  for (int i = 0; i < m->nvalue_info; i++) vi_line(b, "vi", &m->value_info[i]);
  for (int i = 0; i < m->nmeta; i++) sb_printf(b, "meta %s=%s\n", m->meta_keys[i], m->meta_values[i]);
}

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

/* Compares our summary of `path` with python's block (text between "== path\n" and "== end"). */
static void compare_file(const char *path, const char *block, size_t blen, int *n_ok, int *n_refused) {
  int refusable = blen >= 10 && !strncmp(block, "refusable\n", 10);
  if (refusable) {
    block += 10;
    blen -= 10;
  }
  char err[OM_ERR_LEN] = "";
  sbuf b = {0};
  int rc;
  if (has_suffix(path, ".pb")) {
    uint8_t *buf;
    size_t len;
    rc = om_read_file(path, 0, &buf, &len, err);
    CHECK(rc == OM_OK, "%s: %s", path, err);
    if (rc) return;
    onnx_tensor t;
    rc = onnx_parse_tensor(buf, len, NULL, &t, err);
    free(buf);
    if (!rc) {
      sb_printf(&b, "tensor ");
      tensor_line(&b, &t);
      sb_printf(&b, "\n");
      onnx_tensor_clear(&t);
    }
  } else {
    onnx_model *m;
    rc = onnx_load_file(path, NULL, &m, err);
    if (!rc) {
      model_summary(&b, m);
      onnx_free(m);
    }
  }
  if (rc) {
    CHECK(refusable, "%s: refused but python reads it fine: %s", path, err);
    CHECK(strlen(err) > 10, "%s: refused with an empty message", path);
    (*n_refused)++;
  } else if (!refusable) {
    /* First differing line, for a readable failure. */
    const char *p = b.s ? b.s : "", *q = block, *qe = block + blen;
    int line = 1;
    while (*p && q < qe && *p == *q) {
      if (*p == '\n') line++;
      p++, q++;
    }
    int same = !*p && q == qe;
    if (!same) {
      const char *pl = p, *ql = q;
      while (pl > (b.s ? b.s : "") && pl[-1] != '\n') pl--;
      while (ql > block && ql[-1] != '\n') ql--;
      CHECK(0, "%s: summary differs at line %d:\n  ours:   %.*s\n  python: %.*s", path, line,
            (int)strcspn(pl, "\n"), pl, (int)strcspn(ql, "\n"), ql);
    } else {
      (*n_ok)++;
    }
  }
  free(b.s);
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 20, n = 0;
  char *s = malloc(cap + 1);
  size_t r;
  while (s && (r = fread(s + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      s = realloc(s, cap + 1);
    }
  }
  if (!s) abort();
  s[n] = 0;
  *len = n;
  return s;
}

static void add_glob(const char *pattern, FILE *list, int *count) {
  glob_t g;
  if (glob(pattern, 0, NULL, &g) != 0) return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    /* Sequence/optional test data are not TensorProtos; both readers would misparse them. */
    if (has_suffix(g.gl_pathv[i], ".pb") &&
        (strstr(g.gl_pathv[i], "sequence") || strstr(g.gl_pathv[i], "optional") ||
         strstr(g.gl_pathv[i], "_seq") || strstr(g.gl_pathv[i], "split_to_sequence")))
      continue;
    fprintf(list, "%s\n", g.gl_pathv[i]);
    (*count)++;
  }
  globfree(&g);
}

static void test_against_python(const char *shared, const char *src) {
  char list_path[] = "/tmp/test_onnx_list_XXXXXX";
  int fd = mkstemp(list_path);
  CHECK(fd >= 0, "mkstemp");
  if (fd < 0) return;
  FILE *list = fdopen(fd, "w");
  int count = 0;
  char pat[4096];
  const char *pats[] = {"zoo/*.onnx", "onnx-node-tests/node/*/model.onnx",
                        "onnx-node-tests/node/*/test_data_set_0/*.pb", "onnx-node-tests/simple/*/model.onnx",
                        "onnx-node-tests/simple/*/test_data_set_0/*.pb"};
  for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
    snprintf(pat, sizeof pat, "%s/%s", shared, pats[i]);
    add_glob(pat, list, &count);
  }
  fclose(list);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tools/onnx_summary.py' '@%s'", src, list_path);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL, "popen %s", cmd);
  if (!p) return;
  size_t len;
  char *out = read_all(p, &len);
  int st = pclose(p);
  unlink(list_path);
  CHECK(st == 0, "onnx_summary.py failed (status %d)", st);
  int n_ok = 0, n_refused = 0, n_blocks = 0;
  for (char *q = out; (q = strstr(q, "== ")) != NULL;) {
    char *nl = strchr(q, '\n');
    if (!nl) break;
    *nl = 0;
    const char *path = q + 3;
    char *body = nl + 1;
    char *end = strstr(body, "== end\n");
    if (!end) break;
    compare_file(path, body, (size_t)(end - body), &n_ok, &n_refused);
    n_blocks++;
    q = end + 7;
  }
  CHECK(n_blocks == count && count > 100, "python summarized %d of %d files", n_blocks, count);
  printf("python comparison: %d files, %d identical, %d refused (allowed)\n", n_blocks, n_ok, n_refused);
  free(out);
}

static void test_bad_models(const char *src) {
  char dir[] = "/tmp/test_onnx_bad_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tools/make_bad_models.py' '%s'", src, dir);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.tsv", dir);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "no manifest");
  if (!f) return;
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *name = strtok(line, "\t"), *stage = strtok(NULL, "\t"), *reason = strtok(NULL, "\t");
    if (!name || !stage) continue;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    onnx_model *m = NULL;
    char err[OM_ERR_LEN] = "";
    int rc = onnx_load_file(path, NULL, &m, err);
    if (!strcmp(stage, "load")) {
      CHECK(rc != OM_OK && m == NULL, "%s: loaded but must be refused", name);
      CHECK(!reason || strcasestr(err, reason), "%s: message '%s' lacks '%s'", name, err, reason);
      printf("  %-28s -> %s\n", name, err);
    } else {
      CHECK(rc == OM_OK, "%s (stage %s) must load: %s", name, stage, err);
    }
    onnx_free(m);
    unlink(path);
    n++;
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/manifest.tsv", dir);
  unlink(path);
  rmdir(dir);
  CHECK(n >= 15, "only %d bad models", n);
}

/* Every strict prefix of a real model must be refused (the last field, opset_import, is needed). */
/* ../shared/zoo/<name>.onnx into memory (a failed check when it cannot be read). */
static uint8_t *read_zoo(const char *shared, const char *name, size_t *len) {
  char path[4096], err[OM_ERR_LEN];
  uint8_t *buf;
  snprintf(path, sizeof path, "%s/zoo/%s.onnx", shared, name);
  if (om_read_file(path, 0, &buf, len, err)) {
    CHECK(0, "%s: %s", path, err);
    return NULL;
  }
  return buf;
}

static void test_truncations(const char *shared) {
  size_t len;
  char err[OM_ERR_LEN];
  uint8_t *buf = read_zoo(shared, "squeezenet1_1", &len);
  if (!buf) return;
  int tried = 0;
  for (size_t cut = 0; cut < len; cut = cut < 4096 ? cut + 1 : cut + 9973 + cut / 50) {
    onnx_model *m = NULL;
    int rc = onnx_load_buffer(buf, cut, NULL, &m, err);
    CHECK(rc != OM_OK && !m, "squeezenet cut at %zu of %zu loaded", cut, len);
    onnx_free(m);
    tried++;
  }
  for (size_t cut = len - 64; cut < len; cut++) {
    onnx_model *m = NULL;
    CHECK(onnx_load_buffer(buf, cut, NULL, &m, err) != OM_OK, "cut at %zu loaded", cut);
    onnx_free(m);
  }
  /* A limit below the tensor sizes must refuse with OM_E_LIMIT. */
  onnx_limits lim = {0, 1000, 1};
  onnx_model *m = NULL;
  int rc = onnx_load_buffer(buf, len, &lim, &m, err);
  CHECK(rc == OM_E_LIMIT && strstr(err, "elements"), "max_tensor_elems not enforced: %d %s", rc, err);
  onnx_free(m);
  lim.max_tensor_elems = 0;
  lim.max_file_bytes = len - 1;
  rc = onnx_load_buffer(buf, len, &lim, &m, err);
  CHECK(rc == OM_E_LIMIT, "max_file_bytes not enforced: %s", err);
  onnx_free(m);
  printf("truncations: %d prefixes refused\n", tried);
  free(buf);
}

/* Tensors copied on several threads (onnx_limits.threads: big ones in 2 MiB pieces) must be the
 * bytes a plain copy gives: resnet18 has 9 MB tensors, loaded from a buffer (every tensor copied). */
static void test_threaded_copy(const char *shared) {
  size_t len;
  char err[OM_ERR_LEN];
  uint8_t *buf = read_zoo(shared, "resnet18", &len);
  if (!buf) return;
  onnx_limits one = {0, 0, 1}, three = {0, 0, 3};
  onnx_model *a = NULL, *b = NULL;
  CHECK(onnx_load_buffer(buf, len, &one, &a, err) == OM_OK, "resnet18, 1 thread: %s", err);
  CHECK(onnx_load_buffer(buf, len, &three, &b, err) == OM_OK, "resnet18, 3 threads: %s", err);
  if (a && b) {
    CHECK(a->ninit == b->ninit, "initializers: %d vs %d", a->ninit, b->ninit);
    size_t big = 0;
    for (int i = 0; i < a->ninit && i < b->ninit; i++) {
      const onnx_tensor *x = &a->inits[i], *y = &b->inits[i];
      if (x->nbytes >= 2 * OM_HUGE_MIN) big++;
      CHECK(x->nbytes == y->nbytes && (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0),
            "initializer %d (%s) differs when copied on 3 threads", i, x->name);
    }
    CHECK(big >= 2, "resnet18 has %zu tensors of 4 MiB or more: the threaded copy went untested", big);
  }
  onnx_free(a);
  onnx_free(b);
  free(buf);
}

int main(void) {
  const char *shared = getenv("OM_SHARED"), *src = getenv("OM_SOURCE_DIR");
  struct stat st;
  if (!shared || !src || stat(shared, &st) != 0) {
    printf("skip: OM_SHARED / OM_SOURCE_DIR not set or missing\n");
    return 77;
  }
  if (system("/usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null") != 0) {
    printf("skip: /usr/bin/python3 with onnx and numpy is needed\n");
    return 77;
  }
  test_truncations(shared);
  test_threaded_copy(shared);
  test_bad_models(src);
  test_against_python(shared, src);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
