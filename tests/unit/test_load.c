/* test_load.c: the fast model-load path. om_map_file (regular file mapped, FIFO read, directory and
 * limit refused, bytes equal to om_read_file); onnx_load_file borrowing aligned raw_data from the
 * mapping (element-aligned, inside the file image, same bytes as a copying onnx_load_buffer); and a
 * plan that still runs after onnx_free unmapped the file, checked against PyTorch's logits in
 * shared/zoo (an independent reference). Skips (77) without OM_SHARED. */
#include "common/om.h"
#include "engine/engine.h"
#include "io/npy.h"
#include "onnx/onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(c, ...)                                                     \
  do {                                                                    \
    if (!(c)) {                                                           \
      failures++;                                                         \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);        \
      fprintf(stderr, __VA_ARGS__);                                       \
      fprintf(stderr, "\n");                                              \
    }                                                                     \
  } while (0)

static void test_map_file(const char *model) {
  char err[OM_ERR_LEN] = "";
  om_mapped m;
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK(om_map_file(model, 0, &m, err) == OM_OK, "%s", err);
  CHECK(om_read_file(model, 0, &buf, &len, err) == OM_OK, "%s", err);
  CHECK(m.len == len && buf && m.data && memcmp(m.data, buf, len) == 0, "mapped bytes differ (%zu vs %zu)",
        m.len, len);
  CHECK(m.map_len_ == len, "a regular file should be mapped, not read");
  om_unmap_file(&m);
  om_unmap_file(&m); /* twice is harmless */
  free(buf);

  CHECK(om_map_file(model, 1000, &m, err) == OM_E_LIMIT, "limit not enforced");
  CHECK(strstr(err, "over the limit") != NULL, "message: %s", err);
  CHECK(om_map_file("/", 0, &m, err) == OM_E_IO && strstr(err, "directory"), "directory: %s", err);
  CHECK(om_map_file("/nonexistent/model.onnx", 0, &m, err) == OM_E_IO, "missing file accepted");

  /* A FIFO cannot be mapped: read in full through the fallback. */
  char fifo[] = "/tmp/om_test_load_XXXXXX";
  int fd = mkstemp(fifo);
  if (fd < 0) return;
  close(fd);
  unlink(fifo);
  if (mkfifo(fifo, 0600) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = fopen(fifo, "wb");
    if (!f) _exit(1);
    for (int i = 0; i < 100000; i++) fputc(i & 0xff, f);
    fclose(f);
    _exit(0);
  }
  int rc = om_map_file(fifo, 0, &m, err);
  CHECK(rc == OM_OK, "fifo: %s", err);
  int ok = rc == OM_OK && m.len == 100000 && m.map_len_ == 0;
  for (size_t i = 0; ok && i < m.len; i++) ok = m.data[i] == (uint8_t)(i & 0xff);
  CHECK(ok, "fifo bytes wrong (len %zu)", m.len);
  om_unmap_file(&m);
  int st;
  waitpid(pid, &st, 0);
  unlink(fifo);
}

static void test_borrow(const char *model) {
  char err[OM_ERR_LEN] = "";
  onnx_model *a = NULL, *b = NULL;
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK(onnx_load_file(model, NULL, &a, err) == OM_OK, "%s", err);
  CHECK(om_read_file(model, 0, &buf, &len, err) == OM_OK, "%s", err);
  if (buf) CHECK(onnx_load_buffer(buf, len, NULL, &b, err) == OM_OK, "%s", err);
  if (!a || !b) goto out;
  CHECK(a->ninit == b->ninit, "%d vs %d initializers", a->ninit, b->ninit);
  int borrowed = 0, copied = 0;
  for (int i = 0; i < a->ninit && i < b->ninit; i++) {
    const onnx_tensor *x = &a->inits[i], *y = &b->inits[i];
    CHECK(!y->borrowed, "onnx_load_buffer must copy ('%s')", y->name);
    CHECK(x->nbytes == y->nbytes && (!x->nbytes || memcmp(x->data, y->data, x->nbytes) == 0),
          "initializer '%s' differs between file and buffer loads", x->name);
    if (!x->nbytes) continue;
    size_t es = om_dtype_size(x->dtype);
    CHECK(es && (uintptr_t)x->data % es == 0, "'%s' not aligned to its element size", x->name);
    if (x->borrowed) {
      const uint8_t *d = x->data, *f = a->file_.data;
      CHECK(d >= f && d + x->nbytes <= f + a->file_.len, "borrowed '%s' outside the file image", x->name);
      borrowed++;
    } else {
      CHECK((uintptr_t)x->data % 64 == 0, "copied '%s' not 64-byte aligned", x->name);
      copied++;
    }
  }
  /* raw_data offsets are arbitrary: about a quarter of float tensors land 4-byte aligned. */
  CHECK(borrowed > 0 && copied > 0, "expected both borrowed and copied tensors (%d, %d)", borrowed, copied);
out:
  onnx_free(a);
  onnx_free(b);
  free(buf);
}

/* The CLI may free the model once the plan is built: the plan must own every byte it reads. */
static void test_plan_outlives_model(const char *shared, const char *name) {
  char path[1024], err[OM_ERR_LEN] = "";
  snprintf(path, sizeof path, "%s/zoo/%s.onnx", shared, name);
  onnx_model *m = NULL;
  om_plan *p = NULL;
  om_workspace *w = NULL;
  om_npy in = {0}, ref = {0};
  if (onnx_load_file(path, NULL, &m, err) != OM_OK) {
    CHECK(0, "%s: %s", name, err);
    return;
  }
  om_plan_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 1;
  int rc = om_plan_build(m, &o, &p, err);
  CHECK(rc == OM_OK, "%s: %s", name, err);
  onnx_free(m); /* unmaps the file */
  if (rc) return;
  snprintf(path, sizeof path, "%s/zoo/%s.ref/input_0.npy", shared, name);
  CHECK(om_npy_read_file(path, 1u << 24, &in, err) == OM_OK, "%s", err);
  snprintf(path, sizeof path, "%s/zoo/%s.ref/output.npy", shared, name);
  CHECK(om_npy_read_file(path, 1u << 24, &ref, err) == OM_OK, "%s", err);
  CHECK(om_workspace_new(p, &w, err) == OM_OK, "%s", err);
  if (!w || !in.data || !ref.data) goto out;
  const om_tensor_info *ti = om_plan_input(p, 0), *to = om_plan_output(p, 0);
  CHECK(ti->nbytes == 3 * 224 * 224 * sizeof(float) && to->nbytes == 1000 * sizeof(float),
        "%s: unexpected io sizes", name);
  memcpy(om_workspace_input(w, 0), in.data, ti->nbytes);
  CHECK(om_run(p, w, err) == OM_OK, "%s", err);
  const float *y = om_workspace_output(w, 0);
  double maxref = 0, maxerr = 0;
  for (int i = 0; i < 1000; i++) {
    double r = ref.data[i], d = fabs((double)y[i] - r);
    if (fabs(r) > maxref) maxref = fabs(r);
    if (!(d <= maxerr)) maxerr = isnan(d) ? INFINITY : d;
  }
  CHECK(maxerr <= 1e-4 * (maxref > 1 ? maxref : 1), "%s: max error %g vs PyTorch (scale %g)", name,
        maxerr, maxref);
out:
  om_workspace_free(w);
  om_plan_free(p);
  om_npy_free(&in);
  om_npy_free(&ref);
}

int main(void) {
  const char *shared = getenv("OM_SHARED");
  char model[1024];
  struct stat st;
  if (!shared) {
    printf("skip: OM_SHARED not set\n");
    return 77;
  }
  snprintf(model, sizeof model, "%s/zoo/mobilenet_v2.onnx", shared);
  if (stat(model, &st) != 0) {
    printf("skip: %s missing\n", model);
    return 77;
  }
  test_map_file(model);
  test_borrow(model);
  test_plan_outlives_model(shared, "mobilenet_v2");
  test_plan_outlives_model(shared, "resnet18");
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
