/* test_npy.c: .npy reading and streamed writing, checked against NumPy (via /usr/bin/python3) and
 * against the zoo reference files. NumPy-dependent parts skip (77) only if nothing could run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "check.h"


static int have_numpy;

/* Writes a float32 [rows, 3, 2] file (row r, element k = r*10 + k*0.25, every 3rd row NaN) and
 * lets NumPy check it. */
static void test_writer_roundtrip(const char *dir) {
  char path[512], err[OM_ERR_LEN];
  snprintf(path, sizeof path, "%s/w.npy", dir);
  FILE *f = fopen(path, "w+b");
  CHECK(f != NULL, "open %s", path);
  if (!f) return;
  om_npy_writer w;
  int64_t rd[2] = {3, 2};
  CHECK(!om_npy_writer_open(&w, f, 2, rd, err), "open: %s", err);
  const int rows = 7;
  for (int r = 0; r < rows; r++) {
    float row[6];
    for (int k = 0; k < 6; k++) row[k] = (float)(r * 10) + (float)k * 0.25f;
    if (r % 3 == 2) CHECK(!om_npy_writer_nan_row(&w, err), "nan row: %s", err);
    else CHECK(!om_npy_writer_row(&w, row, err), "row: %s", err);
  }
  CHECK(!om_npy_writer_finish(&w, err), "finish: %s", err);
  long end = ftell(f);
  fclose(f);
  /* Data must start on a 64-byte boundary: file size minus data is the header size. */
  CHECK(end > 0 && (end - rows * 6 * 4) % 64 == 0, "data start %ld not 64-aligned", end - rows * 24);

  /* Our own reader. */
  om_npy a;
  CHECK(!om_npy_read_file(path, 0, &a, err), "read back: %s", err);
  CHECK(a.ndim == 3 && a.dims[0] == rows && a.dims[1] == 3 && a.dims[2] == 2, "shape");
  if (a.data && a.ndim == 3) {
    for (int r = 0; r < rows; r++)
      for (int k = 0; k < 6; k++) {
        float v = a.data[r * 6 + k];
        if (r % 3 == 2) CHECK(isnan(v), "row %d nan", r);
        else CHECK(v == (float)(r * 10) + (float)k * 0.25f, "value %d,%d = %g", r, k, v);
      }
  }
  om_npy_free(&a);

  if (!have_numpy) return;
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import numpy as np, sys\n"
           "a = np.load('%s')\n"
           "assert a.dtype == np.float32 and a.shape == (%d, 3, 2), (a.dtype, a.shape)\n"
           "for r in range(%d):\n"
           "  exp = np.full(6, np.nan, np.float32) if r %% 3 == 2 else np.float32(r * 10) + np.arange(6, dtype=np.float32) * np.float32(0.25)\n"
           "  np.testing.assert_array_equal(a[r].ravel(), exp)\n"
           "\"", path, rows, rows);
  CHECK(system(cmd) == 0, "numpy rejects our file");

  /* Zero rows and a 1-D row shape must also load in NumPy. */
  f = fopen(path, "w+b");
  int64_t one = 5;
  CHECK(!om_npy_writer_open(&w, f, 1, &one, err) && !om_npy_writer_finish(&w, err), "empty: %s", err);
  fclose(f);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np; a = np.load('%s'); assert a.shape == (0, 5)\"", path);
  CHECK(system(cmd) == 0, "numpy rejects our 0-row file");
  unlink(path);
}

/* Files written by NumPy in several dtypes, versions and orders. */
static void test_numpy_files(const char *dir) {
  if (!have_numpy) return;
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && /usr/bin/python3 -c \"import numpy as np\n"
           "from numpy.lib import format as F\n"
           "a = (np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 7.5) / 3\n"
           "np.save('f4.npy', a.astype('<f4'))\n"
           "np.save('f8.npy', a.astype('<f8'))\n"
           "np.save('f2.npy', a.astype('<f2'))\n"
           "np.save('be.npy', a.astype('>f4'))\n"
           "np.save('fo.npy', np.asfortranarray(a.astype('<f4')))\n"
           "np.save('i8.npy', np.arange(3))\n"
           "np.save('scalar.npy', np.float32(2.5))\n"
           "for v in [(2, 0), (3, 0)]:\n"
           "  with open('v%%d.npy' %% v[0], 'wb') as f:\n"
           "    F.write_array(f, a.astype('<f4'), version=v)\n"
           "open('ref.bin', 'wb').write(a.astype('<f4').tobytes())\n"
           "\"", dir);
  CHECK(system(cmd) == 0, "python could not write the test files");
  char path[512], err[OM_ERR_LEN];
  snprintf(path, sizeof path, "%s/ref.bin", dir);
  float ref[24] = {0};
  FILE *f = fopen(path, "rb");
  CHECK(f && fread(ref, 4, 24, f) == 24, "ref.bin");
  if (f) fclose(f);
  const char *good[] = {"f4", "f8", "f2", "v2", "v3"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, good[i]);
    om_npy a;
    int rc = om_npy_read_file(path, 0, &a, err);
    CHECK(!rc, "%s: %s", good[i], err);
    if (rc) continue;
    CHECK(a.ndim == 3 && a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 4, "%s shape", good[i]);
    float tol = !strcmp(good[i], "f2") ? 2e-3f : 0.0f; /* half keeps 11 significant bits */
    for (int k = 0; k < 24; k++)
      CHECK(fabsf(a.data[k] - ref[k]) <= tol * fabsf(ref[k]), "%s[%d] = %g, numpy %g", good[i], k, a.data[k], ref[k]);
    om_npy_free(&a);
  }
  struct { const char *name, *reason; } bad[] = {
      {"be", "big-endian"}, {"fo", "Fortran"}, {"i8", "not supported"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, bad[i].name);
    om_npy a;
    int rc = om_npy_read_file(path, 0, &a, err);
    CHECK(rc != OM_OK && strstr(err, bad[i].reason), "%s: rc %d '%s' lacks '%s'", bad[i].name, rc, err, bad[i].reason);
    om_npy_free(&a);
  }
  snprintf(path, sizeof path, "%s/scalar.npy", dir);
  om_npy s;
  CHECK(!om_npy_read_file(path, 0, &s, err) && s.ndim == 0 && s.data[0] == 2.5f, "scalar: %s", err);
  om_npy_free(&s);
  const char *names[] = {"f4", "f8", "f2", "be", "fo", "i8", "scalar", "v2", "v3"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/ref.bin", dir);
  unlink(path);
}

/* Hand-written headers: spacing/order variations, truncations, limits. */
static void test_headers(void) {
  char err[OM_ERR_LEN];
  uint8_t buf[256];
  const char *dicts[] = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
      "{ 'shape':(2,1),'fortran_order':False , 'descr':'<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L, 1L)}",
  };
  for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
    size_t hl = strlen(dicts[i]) + 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memcpy(buf + 10, dicts[i], hl - 1);
    buf[10 + hl - 1] = '\n';
    float v[2] = {1.5f, -2.0f};
    memcpy(buf + 10 + hl, v, 8);
    om_npy a;
    int rc = om_npy_parse(buf, 10 + hl + 8, 0, &a, err);
    CHECK(!rc && a.ndim == 2 && a.dims[0] == 2 && a.dims[1] == 1 && a.data[0] == 1.5f && a.data[1] == -2.0f,
          "dict %zu: %s", i, rc ? err : "wrong values");
    om_npy_free(&a);
    /* Every truncation is an error (data length is exact). */
    for (size_t cut = 0; cut < 10 + hl + 8; cut++) {
      CHECK(om_npy_parse(buf, cut, 0, &a, err) != OM_OK, "dict %zu cut %zu accepted", i, cut);
      om_npy_free(&a);
    }
    /* A limit below the element count. */
    CHECK(om_npy_parse(buf, 10 + hl + 8, 1, &a, err) == OM_E_LIMIT, "limit");
    om_npy_free(&a);
  }
  /* Element-count overflow in the shape. */
  const char *huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}";
  size_t hl = strlen(huge);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (uint8_t)hl;
  buf[9] = 0;
  memcpy(buf + 10, huge, hl);
  om_npy a;
  CHECK(om_npy_parse(buf, 10 + hl, 0, &a, err) == OM_E_LIMIT, "huge: %s", err);
  CHECK(om_npy_parse((const uint8_t *)"\x89PNG\r\n\x1a\nxxxxxxxx", 16, 0, &a, err) == OM_E_FORMAT, "magic");
}

static void test_zoo_refs(const char *shared) {
  char path[4096], err[OM_ERR_LEN];
  snprintf(path, sizeof path, "%s/zoo/resnet18.ref/output.npy", shared);
  om_npy a;
  int rc = om_npy_read_file(path, 0, &a, err);
  CHECK(!rc, "%s", err);
  if (rc) return;
  CHECK(a.ndim == 2 && a.dims[0] == 4 && a.dims[1] == 1000, "output.npy shape");
  if (have_numpy) {
    /* Compare a few values with NumPy's reading. */
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; a = np.load('%s'); print(' '.join(repr(float(x)) for x in a.ravel()[[0, 1, 999, 1000, 3999]]))\"",
             path);
    FILE *p = popen(cmd, "r");
    double want[5];
    int got = p ? fscanf(p, "%lf %lf %lf %lf %lf", &want[0], &want[1], &want[2], &want[3], &want[4]) : 0;
    if (p) pclose(p);
    CHECK(got == 5, "python output");
    int idx[5] = {0, 1, 999, 1000, 3999};
    for (int i = 0; got == 5 && i < 5; i++)
      CHECK(a.data[idx[i]] == (float)want[i], "output.npy[%d] = %.9g, numpy %.9g", idx[i], a.data[idx[i]], want[i]);
  }
  om_npy_free(&a);
  snprintf(path, sizeof path, "%s/zoo/resnet18.ref/input_0.npy", shared);
  rc = om_npy_read_file(path, 0, &a, err);
  CHECK(!rc && a.ndim == 3 && a.dims[0] == 3 && a.dims[1] == 224 && a.dims[2] == 224, "input_0: %s", err);
  om_npy_free(&a);
}

int main(void) {
  have_numpy = system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0;
  char dir[] = "/tmp/test_npy_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  test_headers();
  test_writer_roundtrip(dir);
  test_numpy_files(dir);
  const char *shared = getenv("OM_SHARED");
  struct stat st;
  if (shared && stat(shared, &st) == 0) test_zoo_refs(shared);
  rmdir(dir);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok%s\n", have_numpy ? "" : " (without numpy checks)");
  return 0;
}
