/* om.h: what every part of ompredict shares: error codes and the message buffer convention,
 * ONNX element types, overflow-checked size arithmetic, aligned allocation.
 *
 * Error convention (SQLite-like): a function that can fail returns an om_status and writes a short
 * human-readable reason into `char *err` (a buffer of OM_ERR_LEN bytes). Deep code never prints or
 * exits; only the CLI decides what to print and which exit status to use. */
#ifndef OM_H
#define OM_H

#include <stddef.h>
#include <stdint.h>

#define OM_ERR_LEN 512
#define OM_MAX_DIMS 8
#define OM_MAX_IO 64 /* most inputs or outputs one node may have (DenseNet Concats take up to 49) */

typedef enum {
  OM_OK = 0,
  OM_E_INVALID = 1,     /* bad argument or usage */
  OM_E_NOMEM = 2,       /* allocation failed */
  OM_E_IO = 3,          /* read/write failed (errno reason in the message) */
  OM_E_FORMAT = 4,      /* malformed file: protobuf, ONNX, image, npy */
  OM_E_UNSUPPORTED = 5, /* valid but not supported (op, attribute, dtype, image kind) */
  OM_E_LIMIT = 6,       /* refused by a size limit (pixels, bytes, elements) */
  OM_E_INTERRUPTED = 7  /* stopped by a signal */
} om_status;

/* Writes the formatted reason into err (if err != NULL) and returns code. */
int om_seterr(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "prefix: old message". Returns code. */
int om_preferr(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *om_status_name(int code);

/* ONNX TensorProto.DataType numbers, used as our element types too. */
typedef enum {
  OM_DT_UNDEFINED = 0,
  OM_DT_FLOAT = 1,
  OM_DT_UINT8 = 2,
  OM_DT_INT8 = 3,
  OM_DT_UINT16 = 4,
  OM_DT_INT16 = 5,
  OM_DT_INT32 = 6,
  OM_DT_INT64 = 7,
  OM_DT_STRING = 8,
  OM_DT_BOOL = 9,
  OM_DT_FLOAT16 = 10,
  OM_DT_DOUBLE = 11,
  OM_DT_UINT32 = 12,
  OM_DT_UINT64 = 13,
  OM_DT_BFLOAT16 = 16
} om_dtype;

/* Bytes per element, 0 for types we cannot hold (string, complex, unknown). */
size_t om_dtype_size(int dtype);
const char *om_dtype_name(int dtype);

/* Overflow-checked arithmetic: return 0 on success, -1 on overflow (*out untouched then). */
static inline int om_mul_size(size_t a, size_t b, size_t *out) {
  return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int om_add_size(size_t a, size_t b, size_t *out) {
  return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
/* Product of dims (each must be >= 0) into *out; -1 on overflow or negative dim. */
int om_dims_count(const int64_t *dims, int ndim, size_t *out);

/* 64-byte aligned allocation (cache line / AVX-512 vector); free with om_free_aligned.
 * Returns NULL for size 0 overflow or failure. Memory is not zeroed. Blocks of OM_HUGE_MIN bytes
 * or more are 2 MiB aligned and advised for transparent huge pages: first-touch page faults are
 * the main cost of loading a model on VMs, and a huge page takes one fault instead of 512. */
#define OM_HUGE_MIN ((size_t)2 << 20)
void *om_alloc_aligned(size_t bytes);
void om_free_aligned(void *p);

/* Whole file into memory, refusing files larger than max_bytes (0 = no limit).
 * The buffer is NUL-terminated (not counted in *len). */
int om_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len, char *err);

/* Read-only view of a whole file. Regular files are memory-mapped (no copy, pages shared with
 * the page cache); anything else (pipe, FIFO, /dev/stdin) is read into memory as om_read_file
 * does, from the descriptor opened once (a FIFO is never closed and reopened mid-stream).
 * Same limit and error messages as om_read_file. The bytes stay valid until om_unmap_file. */
typedef struct om_mapped {
  const uint8_t *data;
  size_t len;
  void *base_;                  /* private: mapping or malloc'd buffer */
  size_t map_len_;              /* private: mapping length, 0 when base_ is malloc'd */
} om_mapped;
int om_map_file(const char *path, size_t max_bytes, om_mapped *out, char *err);
void om_unmap_file(om_mapped *m); /* safe on a zeroed or already unmapped om_mapped */
/* Tells the kernel that bytes [p, p + n) of a mapped file are not needed for now: the whole pages
 * inside leave the process's resident set and, if touched again, are read back from the file (the
 * mapping is private and read-only, so nothing is lost). No-op for a read() buffer or a range
 * outside the mapping. */
void om_mapped_release(const om_mapped *m, const void *p, size_t n);

/* Monotonic clock in seconds. */
double om_now(void);

#define OM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OM_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((size_t)(a) - 1))

#endif
