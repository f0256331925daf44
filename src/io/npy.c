/* npy.c: NumPy .npy reading (float32/64/16 into float32) and the streamed float32 writer of npy.h.
 *
 * The header is a Python dict literal; we parse the three keys NumPy writes ('descr',
 * 'fortran_order', 'shape') in any order and spacing, and refuse anything we would misread
 * (big-endian, Fortran order, other dtypes) with a message that names it. */
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_DEFAULT_MAX_ELEMS ((uint64_t)1 << 31)

/* ---- header dict parsing ---------------------------------------------------------------------- */

typedef struct {
  const char *p, *end;
} hcur;

static void hskip(hcur *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int heat(hcur *h, char ch) {
  hskip(h);
  if (h->p < h->end && *h->p == ch) {
    h->p++;
    return 1;
  }
  return 0;
}

/* A quoted Python string ('...' or "...") copied into buf (no escapes: NumPy never writes any). */
static int hstring(hcur *h, char *buf, size_t size) {
  hskip(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return -1;
  char q = *h->p++;
  size_t n = 0;
  while (h->p < h->end && *h->p != q) {
    if (n + 1 >= size) return -1;
    buf[n++] = *h->p++;
  }
  if (h->p >= h->end) return -1;
  h->p++;
  buf[n] = 0;
  return 0;
}

static int hint(hcur *h, int64_t *v) {
  hskip(h);
  int64_t x = 0;
  int digits = 0;
  while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
    if (x > (INT64_MAX - 9) / 10) return -1;
    x = x * 10 + (*h->p++ - '0');
    digits++;
  }
  if (!digits) return -1;
  if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++; /* Python 2 long suffix */
  *v = x;
  return 0;
}

static int parse_header(const char *text, size_t len, char *descr, size_t descr_size, int *fortran,
                        int *ndim, int64_t *dims, char *err) {
  hcur h = {text, text + len};
  int have_descr = 0, have_fortran = 0, have_shape = 0;
  if (!heat(&h, '{')) return om_seterr(err, OM_E_FORMAT, "npy header is not a dict");
  for (;;) {
    if (heat(&h, '}')) break;
    char key[32];
    if (hstring(&h, key, sizeof key) || !heat(&h, ':'))
      return om_seterr(err, OM_E_FORMAT, "npy header: malformed key near byte %zu", (size_t)(h.p - text));
    if (!strcmp(key, "descr")) {
      if (hstring(&h, descr, descr_size))
        return om_seterr(err, OM_E_FORMAT, "npy header: 'descr' is not a simple dtype string");
      have_descr = 1;
    } else if (!strcmp(key, "fortran_order")) {
      hskip(&h);
      size_t rest = (size_t)(h.end - h.p);
      if (rest >= 4 && !memcmp(h.p, "True", 4)) {
        *fortran = 1;
        h.p += 4;
      } else if (rest >= 5 && !memcmp(h.p, "False", 5)) {
        *fortran = 0;
        h.p += 5;
      } else {
        return om_seterr(err, OM_E_FORMAT, "npy header: 'fortran_order' is not True or False");
      }
      have_fortran = 1;
    } else if (!strcmp(key, "shape")) {
      if (!heat(&h, '(')) return om_seterr(err, OM_E_FORMAT, "npy header: 'shape' is not a tuple");
      int n = 0;
      while (!heat(&h, ')')) {
        if (n >= OM_MAX_DIMS)
          return om_seterr(err, OM_E_UNSUPPORTED, "npy array has more than %d dimensions", OM_MAX_DIMS);
        if (hint(&h, &dims[n]))
          return om_seterr(err, OM_E_FORMAT, "npy header: bad dimension %d in 'shape'", n);
        n++;
        if (!heat(&h, ',')) {
          if (!heat(&h, ')')) return om_seterr(err, OM_E_FORMAT, "npy header: 'shape' tuple not closed");
          break;
        }
      }
      *ndim = n;
      have_shape = 1;
    } else {
      return om_seterr(err, OM_E_FORMAT, "npy header: unexpected key '%s'", key);
    }
    if (!heat(&h, ',')) {
      if (!heat(&h, '}')) return om_seterr(err, OM_E_FORMAT, "npy header: expected ',' or '}' near byte %zu",
                                            (size_t)(h.p - text));
      break;
    }
  }
  if (!have_descr || !have_fortran || !have_shape)
    return om_seterr(err, OM_E_FORMAT, "npy header lacks '%s'",
                     !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
  return OM_OK;
}

/* IEEE half to float, subnormals and inf/NaN included. */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24);
    return sign ? -f : f;
  }
  uint32_t bits = exp == 31 ? sign | 0x7f800000u | man << 13 : sign | (exp + 112) << 23 | man << 13;
  memcpy(&f, &bits, 4);
  return f;
}

/* Where the header text lies: magic, version, header length, checked against len (the whole file's
 * bytes; buf holds at least its first min(len, 12)). */
static int npy_span(const uint8_t *buf, size_t len, size_t *hstart, size_t *hlen, char *err) {
  if (len < 10 || memcmp(buf, NPY_MAGIC, 6))
    return om_seterr(err, OM_E_FORMAT, "not a .npy file (no \\x93NUMPY magic)");
  int major = buf[6];
  if (major == 1) {
    *hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    *hstart = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) return om_seterr(err, OM_E_FORMAT, "truncated .npy header");
    *hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    *hstart = 12;
  } else {
    return om_seterr(err, OM_E_UNSUPPORTED, ".npy format version %d.%d is not supported (1.0-3.0 are)",
                     major, buf[7]);
  }
  if (*hlen > len - *hstart)
    return om_seterr(err, OM_E_FORMAT, "truncated .npy header: %zu header bytes announced, %zu present",
                     *hlen, len - *hstart);
  return OM_OK;
}

/* The array the header describes: shape, element size, count; checks order, dtype, max_elems and
 * that exactly `have` data bytes follow the header. */
static int npy_layout(const char *text, size_t hlen, size_t have, uint64_t max_elems, int *ndim,
                      int64_t *dims, size_t *esize, size_t *count, char *err) {
  char descr[32];
  int fortran = 0;
  int rc = parse_header(text, hlen, descr, sizeof descr, &fortran, ndim, dims, err);
  if (rc) return rc;
  if (fortran)
    return om_seterr(err, OM_E_UNSUPPORTED, ".npy array is in Fortran order (save it C-contiguous)");
  if (!strcmp(descr, "<f4")) *esize = 4;
  else if (!strcmp(descr, "<f8")) *esize = 8;
  else if (!strcmp(descr, "<f2")) *esize = 2;
  else if (descr[0] == '>')
    return om_seterr(err, OM_E_UNSUPPORTED, ".npy dtype '%s' is big-endian (convert it to '<f4')", descr);
  else
    return om_seterr(err, OM_E_UNSUPPORTED, ".npy dtype '%s' is not supported (float32, float64 or float16 only)",
                     descr);
  size_t nbytes;
  if (om_dims_count(dims, *ndim, count) || *count > max_elems)
    return om_seterr(err, OM_E_LIMIT, ".npy array has more than %llu elements", (unsigned long long)max_elems);
  if (om_mul_size(*count, *esize, &nbytes))
    return om_seterr(err, OM_E_LIMIT, ".npy array byte size overflows");
  if (have != nbytes)
    return om_seterr(err, OM_E_FORMAT, ".npy data is %zu bytes, the header's shape and dtype '%s' need %zu",
                     have, descr, nbytes);
  return OM_OK;
}

int om_npy_parse(const uint8_t *buf, size_t len, uint64_t max_elems, om_npy *out, char *err) {
  memset(out, 0, sizeof *out);
  if (!max_elems) max_elems = NPY_DEFAULT_MAX_ELEMS;
  size_t hstart, hlen, esize, count;
  int ndim = 0;
  int64_t dims[OM_MAX_DIMS];
  int rc = npy_span(buf, len, &hstart, &hlen, err);
  if (!rc)
    rc = npy_layout((const char *)buf + hstart, hlen, len - hstart - hlen, max_elems, &ndim, dims,
                    &esize, &count, err);
  if (rc) return rc;
  float *data = malloc((count ? count : 1) * sizeof(float));
  if (!data) return om_seterr(err, OM_E_NOMEM, "out of memory for %zu floats", count);
  const uint8_t *src = buf + hstart + hlen;
  if (esize == 4) {
    if (count) memcpy(data, src, count * 4);
  } else if (esize == 8) {
    for (size_t i = 0; i < count; i++) {
      double d;
      memcpy(&d, src + 8 * i, 8);
      data[i] = (float)d;
    }
  } else {
    for (size_t i = 0; i < count; i++) data[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
  }
  out->ndim = ndim;
  memcpy(out->dims, dims, sizeof(int64_t) * (size_t)ndim);
  out->data = data;
  return OM_OK;
}

/* om_npy_read_file without the path in front of the error */
static int read_npy_file(const char *path, uint64_t max_elems, om_npy *out, char *err) {
  memset(out, 0, sizeof *out);
  uint8_t *buf;
  size_t len;
  uint64_t me = max_elems ? max_elems : NPY_DEFAULT_MAX_ELEMS;
  /* Bound the read by the largest array we accept (float64) plus a generous header. */
  size_t max_bytes = me > (SIZE_MAX - 65536) / 8 ? 0 : (size_t)me * 8 + 65536 + 12;
  int rc = om_read_file(path, max_bytes, &buf, &len, err);
  if (!rc) {
    rc = om_npy_parse(buf, len, max_elems, out, err);
    free(buf);
  }
  return rc;
}

int om_npy_read_file(const char *path, uint64_t max_elems, om_npy *out, char *err) {
  int rc = read_npy_file(path, max_elems, out, err);
  if (rc) om_preferr(err, rc, "%s", path);
  return rc;
}

/* Reads n bytes at offset off; 0, or -1 with errno (0 at a short file). */
static int pread_all(int fd, void *dst, size_t n, off_t off) {
  uint8_t *d = dst;
  while (n) {
    ssize_t r = pread(fd, d, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = 0;
      return -1;
    }
    d += r;
    n -= (size_t)r;
    off += r;
  }
  return 0;
}

int om_npy_read_file_into(const char *path, float *dst, size_t cap, om_npy *out, char *err) {
  memset(out, 0, sizeof *out);
  /* magic and header in one read into the stack (NumPy writes 128 bytes or so); anything unusual
   * -- another dtype, a pipe, a long header, any malformed file -- takes the general reader, which
   * converts or says what is wrong */
  char head[4096];
  size_t hstart = 0, hlen = 0, esize = 0, count = 0;
  int ndim = 0;
  int64_t dims[OM_MAX_DIMS];
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int direct = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (direct) {
    size_t n = (size_t)st.st_size < sizeof head ? (size_t)st.st_size : sizeof head;
    direct = pread_all(fd, head, n, 0) == 0 &&
             !npy_span((const uint8_t *)head, (size_t)st.st_size, &hstart, &hlen, err) &&
             hstart + hlen <= n &&
             !npy_layout(head + hstart, hlen, (size_t)st.st_size - hstart - hlen, NPY_DEFAULT_MAX_ELEMS,
                         &ndim, dims, &esize, &count, err) &&
             esize == 4;
  }
  if (!direct) {
    if (fd >= 0) close(fd);
    om_npy a;
    int rc = read_npy_file(path, 0, &a, err);
    if (rc) return rc;
    size_t n;
    out->ndim = a.ndim;
    memcpy(out->dims, a.dims, sizeof a.dims);
    if (!om_dims_count(a.dims, a.ndim, &n) && n == cap) memcpy(dst, a.data, n * sizeof(float));
    om_npy_free(&a);
    return OM_OK;
  }
  out->ndim = ndim;
  memcpy(out->dims, dims, sizeof(int64_t) * (size_t)ndim);
  int rc = OM_OK;
  if (count == cap && count && pread_all(fd, dst, count * 4, (off_t)(hstart + hlen)) != 0) {
    rc = om_seterr(err, OM_E_IO, "cannot read: %s", errno ? strerror(errno) : "the file shrank");
  }
  close(fd);
  return rc;
}

void om_npy_free(om_npy *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

/* ---- writer ----------------------------------------------------------------------------------- */

/* Room for the longest row count: INT64_MAX has 19 digits; 20 leaves slack as npy.h promises. */
#define ROW_FIELD 20

/* Builds the full header (magic .. '\n') for `rows` into buf; returns its length, padded so the
 * data starts on a 64-byte boundary with the row count written in a fixed-width field. */
static size_t build_header(const om_npy_writer *w, int64_t rows, char *buf, size_t size) {
  char dict[512];
  size_t k = 0;
  k += (size_t)snprintf(dict + k, sizeof dict - k, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld,",
                        (long long)rows);
  /* Pad after the number so a longer final count fits in the same header length. */
  char digits[32];
  int nd = snprintf(digits, sizeof digits, "%lld", (long long)rows);
  for (int i = nd; i < ROW_FIELD; i++) dict[k++] = ' ';
  for (int i = 0; i < w->row_ndim; i++)
    k += (size_t)snprintf(dict + k, sizeof dict - k, "%s%lld", i ? ", " : " ", (long long)w->row_dims[i]);
  k += (size_t)snprintf(dict + k, sizeof dict - k, "), }");
  size_t total = OM_ALIGN_UP(10 + k + 1, 64);
  if (total > size) return 0;
  memcpy(buf, NPY_MAGIC "\x01\x00", 8);
  size_t hlen = total - 10;
  buf[8] = (char)(hlen & 0xff);
  buf[9] = (char)(hlen >> 8);
  memcpy(buf + 10, dict, k);
  memset(buf + 10 + k, ' ', total - 10 - k - 1);
  buf[total - 1] = '\n';
  return total;
}

/* A writer's row shape (w zeroed first); no I/O. */
static int writer_shape(om_npy_writer *w, int row_ndim, const int64_t *row_dims, char *err) {
  memset(w, 0, sizeof *w);
  if (row_ndim < 0 || row_ndim > OM_MAX_DIMS - 1)
    return om_seterr(err, OM_E_INVALID, "npy writer: %d row dimensions (at most %d)", row_ndim, OM_MAX_DIMS - 1);
  w->row_ndim = row_ndim;
  for (int i = 0; i < row_ndim; i++) w->row_dims[i] = row_dims[i];
  if (om_dims_count(w->row_dims, row_ndim, &w->row_elems) || w->row_elems > SIZE_MAX / sizeof(float))
    return om_seterr(err, OM_E_INVALID, "npy writer: bad row shape (negative or too large)");
  return OM_OK;
}

int om_npy_writer_open(om_npy_writer *w, FILE *f, int row_ndim, const int64_t *row_dims, char *err) {
  int st = writer_shape(w, row_ndim, row_dims, err);
  if (st) return st;
  w->f = f;
  w->header_pos = ftell(f);
  if (w->header_pos < 0) w->header_pos = 0; /* a pipe: finish will report it cannot seek */
  char hdr[1024];
  size_t n = build_header(w, 0, hdr, sizeof hdr);
  if (!n) return om_seterr(err, OM_E_INVALID, "npy writer: header too long");
  if (fwrite(hdr, 1, n, f) != n) return om_seterr(err, OM_E_IO, "npy writer: writing header: %s", strerror(errno));
  return OM_OK;
}

int om_npy_writer_check_partial(const char *path, int row_ndim, const int64_t *row_dims, int64_t keep_rows,
                                long long *keep_bytes, char *err) {
  om_npy_writer w;
  int st = writer_shape(&w, row_ndim, row_dims, err);
  if (st) return st;
  char want[1024], got[1024];
  size_t hl = build_header(&w, 0, want, sizeof want), rb = w.row_elems * sizeof(float);
  struct stat sb;
  FILE *f = fopen(path, "rb");
  if (!f && errno == ENOENT)
    return om_seterr(err, OM_E_IO, "--resume with --raw: %s does not exist (was the interrupted run "
                     "given --raw?); rerun without --resume", path);
  if (!f) return om_seterr(err, OM_E_IO, "cannot open %s: %s", path, strerror(errno));
  size_t n = hl ? fread(got, 1, hl, f) : 0;
  int ok = fstat(fileno(f), &sb) == 0;
  fclose(f);
  if (!hl || !ok || n != hl || (size_t)sb.st_size < hl)
    return om_seterr(err, OM_E_FORMAT, "%s is not a --raw file of this run (its header is short)", path);
  int64_t present = rb ? (int64_t)(((size_t)sb.st_size - hl) / rb) : keep_rows;
  build_header(&w, present, want, sizeof want);
  if (memcmp(want, got, hl) != 0)
    return om_seterr(err, OM_E_FORMAT, "%s is not a --raw file of this run (another row shape or row count "
                     "in its header)", path);
  if (present < keep_rows)
    return om_seterr(err, OM_E_FORMAT, "%s holds %lld rows, fewer than the %lld rows kept from the output; "
                     "rerun without --resume", path, (long long)present, (long long)keep_rows);
  *keep_bytes = (long long)(hl + (size_t)keep_rows * rb);
  return OM_OK;
}

int om_npy_writer_continue(om_npy_writer *w, FILE *f, int row_ndim, const int64_t *row_dims, int64_t rows,
                           char *err) {
  int st = writer_shape(w, row_ndim, row_dims, err);
  if (st) return st;
  w->f = f;
  w->rows = rows;
  w->header_pos = 0;
  return OM_OK;
}

int om_npy_writer_row(om_npy_writer *w, const float *row, char *err) {
  if (w->row_elems && fwrite(row, sizeof(float), w->row_elems, w->f) != w->row_elems)
    return om_seterr(err, OM_E_IO, "npy writer: writing row %lld: %s", (long long)w->rows, strerror(errno));
  w->rows++;
  return OM_OK;
}

int om_npy_writer_nan_row(om_npy_writer *w, char *err) {
  float nan = NAN;
  for (size_t i = 0; i < w->row_elems; i++)
    if (fwrite(&nan, sizeof nan, 1, w->f) != 1)
      return om_seterr(err, OM_E_IO, "npy writer: writing row %lld: %s", (long long)w->rows, strerror(errno));
  w->rows++;
  return OM_OK;
}

int om_npy_writer_finish(om_npy_writer *w, char *err) {
  char hdr[1024];
  size_t n = build_header(w, w->rows, hdr, sizeof hdr);
  if (!n) return om_seterr(err, OM_E_INVALID, "npy writer: header too long");
  if (fflush(w->f) != 0) return om_seterr(err, OM_E_IO, "npy writer: flush: %s", strerror(errno));
  if (fseek(w->f, w->header_pos, SEEK_SET) != 0)
    return om_seterr(err, OM_E_IO, "npy writer: cannot seek back to fix the row count: %s", strerror(errno));
  if (fwrite(hdr, 1, n, w->f) != n)
    return om_seterr(err, OM_E_IO, "npy writer: rewriting header: %s", strerror(errno));
  if (fseek(w->f, 0, SEEK_END) != 0 || fflush(w->f) != 0)
    return om_seterr(err, OM_E_IO, "npy writer: %s", strerror(errno));
  return OM_OK;
}
