/* om.c: the shared helpers declared in om.h (errors, dtypes, sizes, aligned memory, file reading
 * and mapping). */
#include "common/om.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int om_seterr(char *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, OM_ERR_LEN, fmt, ap);
    va_end(ap);
  }
  return code;
}

int om_preferr(char *err, int code, const char *fmt, ...) {
  if (err) {
    char old[OM_ERR_LEN], pre[OM_ERR_LEN];
    memcpy(old, err, OM_ERR_LEN);
    old[OM_ERR_LEN - 1] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    /* Joined by hand: snprintf of two full buffers into one trips -Wformat-truncation. */
    size_t a = strlen(pre), b = strlen(old);
    if (a > OM_ERR_LEN - 3) a = OM_ERR_LEN - 3;
    if (b > OM_ERR_LEN - 3 - a) b = OM_ERR_LEN - 3 - a;
    memcpy(err, pre, a);
    memcpy(err + a, ": ", 2);
    memcpy(err + a + 2, old, b);
    err[a + 2 + b] = 0;
  }
  return code;
}

const char *om_status_name(int code) {
  switch (code) {
  case OM_OK: return "ok";
  case OM_E_INVALID: return "invalid argument";
  case OM_E_NOMEM: return "out of memory";
  case OM_E_IO: return "I/O error";
  case OM_E_FORMAT: return "malformed input";
  case OM_E_UNSUPPORTED: return "unsupported";
  case OM_E_LIMIT: return "over a limit";
  case OM_E_INTERRUPTED: return "interrupted";
  default: return "error";
  }
}

size_t om_dtype_size(int dtype) {
  switch (dtype) {
  case OM_DT_FLOAT: case OM_DT_INT32: case OM_DT_UINT32: return 4;
  case OM_DT_UINT8: case OM_DT_INT8: case OM_DT_BOOL: return 1;
  case OM_DT_UINT16: case OM_DT_INT16: case OM_DT_FLOAT16: case OM_DT_BFLOAT16: return 2;
  case OM_DT_INT64: case OM_DT_DOUBLE: case OM_DT_UINT64: return 8;
  default: return 0;
  }
}

const char *om_dtype_name(int dtype) {
  switch (dtype) {
  case OM_DT_FLOAT: return "float32";
  case OM_DT_UINT8: return "uint8";
  case OM_DT_INT8: return "int8";
  case OM_DT_UINT16: return "uint16";
  case OM_DT_INT16: return "int16";
  case OM_DT_INT32: return "int32";
  case OM_DT_INT64: return "int64";
  case OM_DT_STRING: return "string";
  case OM_DT_BOOL: return "bool";
  case OM_DT_FLOAT16: return "float16";
  case OM_DT_DOUBLE: return "float64";
  case OM_DT_UINT32: return "uint32";
  case OM_DT_UINT64: return "uint64";
  case OM_DT_BFLOAT16: return "bfloat16";
  default: return "unknown";
  }
}

int om_dims_count(const int64_t *dims, int ndim, size_t *out) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0) return -1;
    if (om_mul_size(n, (size_t)dims[i], &n)) return -1;
  }
  *out = n;
  return 0;
}

void *om_alloc_aligned(size_t bytes) {
  if (bytes == 0) bytes = 64;
  size_t rounded;
  if (bytes >= OM_HUGE_MIN) {
    /* Whole 2 MiB units, so the tail can be a huge page too; still freed with free(). The advice
     * is only a hint: where THP is off (or "never"), this is an ordinary allocation. */
    if (om_add_size(bytes, OM_HUGE_MIN - 1, &rounded)) return NULL;
    rounded &= ~(OM_HUGE_MIN - 1);
    void *p = aligned_alloc(OM_HUGE_MIN, rounded);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
  }
  if (om_add_size(bytes, 63, &rounded)) return NULL;
  rounded &= ~(size_t)63;
  return aligned_alloc(64, rounded);
}

void om_free_aligned(void *p) { free(p); }

/* The whole of an open stream into a new buffer; closes f. */
static int read_all(FILE *f, size_t max_bytes, uint8_t **buf, size_t *len, char *err) {
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    int e = errno;
    fclose(f);
    return om_seterr(err, OM_E_IO, "cannot stat: %s", strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    fclose(f);
    return om_seterr(err, OM_E_IO, "is a directory");
  }
  /* Regular files: size known up front, checked against the limit before allocating.
   * Pipes/FIFOs: read in growing chunks, still bounded by max_bytes. */
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size : 65536;
  if (max_bytes && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes) {
    fclose(f);
    return om_seterr(err, OM_E_LIMIT, "file is %lld bytes, over the limit of %zu bytes",
                     (long long)st.st_size, max_bytes);
  }
  uint8_t *b = malloc(cap + 1);
  if (!b) {
    fclose(f);
    return om_seterr(err, OM_E_NOMEM, "out of memory reading %zu bytes", cap);
  }
  size_t n = 0;
  for (;;) {
    if (n == cap && S_ISREG(st.st_mode)) {
      int c = fgetc(f); /* the common case: the file is exactly its stat size */
      if (c == EOF) break;
      ungetc(c, f);
    }
    if (n == cap) {
      if (max_bytes && cap >= max_bytes) {
        free(b);
        fclose(f);
        return om_seterr(err, OM_E_LIMIT, "file is over the limit of %zu bytes", max_bytes);
      }
      size_t ncap = cap ? cap * 2 : 65536;
      if (max_bytes && ncap > max_bytes) ncap = max_bytes;
      uint8_t *nb = realloc(b, ncap + 1);
      if (!nb) {
        free(b);
        fclose(f);
        return om_seterr(err, OM_E_NOMEM, "out of memory reading file");
      }
      b = nb;
      cap = ncap;
    }
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) {
        int e = errno;
        free(b);
        fclose(f);
        return om_seterr(err, OM_E_IO, "read failed: %s", strerror(e ? e : EIO));
      }
      break;
    }
  }
  fclose(f);
  b[n] = 0;
  *buf = b;
  *len = n;
  return OM_OK;
}

int om_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len, char *err) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return om_seterr(err, OM_E_IO, "cannot open: %s", strerror(errno));
  return read_all(f, max_bytes, buf, len, err);
}

int om_map_file(const char *path, size_t max_bytes, om_mapped *out, char *err) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return om_seterr(err, OM_E_IO, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return om_seterr(err, OM_E_IO, "cannot stat: %s", strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return om_seterr(err, OM_E_IO, "is a directory");
  }
  if (S_ISREG(st.st_mode) && max_bytes && (uint64_t)st.st_size > (uint64_t)max_bytes) {
    close(fd);
    return om_seterr(err, OM_E_LIMIT, "file is %lld bytes, over the limit of %zu bytes",
                     (long long)st.st_size, max_bytes);
  }
  /* Empty or special files (pipes, /proc, devices) go through read(); so does a failed map. */
  if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= (uint64_t)SIZE_MAX) {
    size_t len = (size_t)st.st_size;
    /* MAP_POPULATE: one call maps every page instead of a fault per page while parsing. */
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m != MAP_FAILED) {
      close(fd);
      out->data = m;
      out->len = len;
      out->base_ = m;
      out->map_len_ = len;
      return OM_OK;
    }
  }
  /* read from this open fd, not the path again: a FIFO's writer, finding no reader between a close
   * and a reopen, would die of SIGPIPE with its data half sent */
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    int e = errno;
    close(fd);
    return om_seterr(err, OM_E_IO, "cannot read: %s", strerror(e));
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = read_all(f, max_bytes, &buf, &len, err);
  if (rc) return rc;
  out->data = buf;
  out->len = len;
  out->base_ = buf;
  return OM_OK;
}

void om_unmap_file(om_mapped *m) {
  if (!m) return;
  if (m->map_len_) munmap(m->base_, m->map_len_);
  else free(m->base_);
  memset(m, 0, sizeof *m);
}

void om_mapped_release(const om_mapped *m, const void *p, size_t n) {
  if (!m || !m->map_len_ || !p || !n) return;
  uintptr_t base = (uintptr_t)m->base_, a = (uintptr_t)p, e = a + n;
  if (a < base || e > base + m->map_len_ || e < a) return;
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  a = (a + pg - 1) / pg * pg; /* whole pages only: the edges may hold neighbouring tensors */
  e = e / pg * pg;
  if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

double om_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
