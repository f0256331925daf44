/* fuzz_npy.c: libFuzzer target for the .npy reader (any bytes), plus a writer round trip whose
 * row shape comes from the input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[OM_ERR_LEN];
  om_npy a;
  if (om_npy_parse(data, size, 1 << 20, &a, err) == OM_OK) {
    size_t count;
    if (om_dims_count(a.dims, a.ndim, &count)) abort();
    volatile float s = 0;
    for (size_t i = 0; i < count; i++) s += a.data[i];
    (void)s;
    /* Write it back as rows and read the result again: shapes must survive. */
    if (a.ndim >= 1 && a.ndim < OM_MAX_DIMS && a.dims[0] <= 4096) { /* bounded: rows may be empty */
      FILE *f = tmpfile();
      om_npy_writer w;
      size_t row = a.dims[0] ? count / (size_t)a.dims[0] : 0;
      if (f && om_npy_writer_open(&w, f, a.ndim - 1, a.dims + 1, err) == OM_OK) {
        int ok = 1;
        for (int64_t r = 0; r < a.dims[0] && ok; r++) ok = om_npy_writer_row(&w, a.data + (size_t)r * row, err) == OM_OK;
        if (ok && om_npy_writer_finish(&w, err) == OM_OK) {
          long len = ftell(f);
          uint8_t *buf = malloc((size_t)len + 1);
          rewind(f);
          if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            om_npy b;
            if (om_npy_parse(buf, (size_t)len, 1 << 20, &b, err) != OM_OK) abort();
            if (b.ndim != a.ndim || memcmp(b.dims, a.dims, sizeof(int64_t) * (size_t)a.ndim)) abort();
            if (count && memcmp(a.data, b.data, count * sizeof(float))) abort();
            om_npy_free(&b);
          }
          free(buf);
        }
      }
      if (f) fclose(f);
    }
    om_npy_free(&a);
  } else if (!err[0]) {
    abort();
  }
  return 0;
}
