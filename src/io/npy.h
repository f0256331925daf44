/* npy.h: NumPy .npy files: reading float32 tensors (inputs ending in .npy, test references) and
 * writing one float32 array streamed row by row (--raw), with the row count fixed up at the end.
 *
 * Written files follow the .npy format version 1.0: dtype '<f4', C order, the header padded with
 * spaces so that data starts on a 64-byte boundary and the shape field has room for a 20-digit row
 * count, so it can be rewritten in place when the stream ends. */
#ifndef OM_NPY_H
#define OM_NPY_H

#include <stdio.h>

#include "common/om.h"

typedef struct om_npy {
  int ndim;
  int64_t dims[OM_MAX_DIMS];
  float *data;                   /* malloc'd, count = product of dims */
} om_npy;

/* Accepts dtype '<f4' (also '<f8' and '<f2', converted to float32), fortran_order False, versions
 * 1.0-3.0. Checks the header against the bytes present and max_elems (0: 1<<31). */
int om_npy_parse(const uint8_t *buf, size_t len, uint64_t max_elems, om_npy *out, char *err);
int om_npy_read_file(const char *path, uint64_t max_elems, om_npy *out, char *err);
/* An input tensor read once per image: a float32 ('<f4') file goes straight from the file into dst
 * (one read, no buffer); anything else through om_npy_read_file, then copied. Fills out's shape
 * (out->data stays NULL); dst is filled only when the array holds exactly cap floats, so the caller
 * checks the shape before using it. Errors as om_npy_read_file's, without the path in front (the
 * caller's error row names the file already). */
int om_npy_read_file_into(const char *path, float *dst, size_t cap, om_npy *out, char *err);
void om_npy_free(om_npy *a);

typedef struct om_npy_writer {
  FILE *f;                       /* not owned; must be seekable for om_npy_writer_finish */
  int row_ndim;
  int64_t row_dims[OM_MAX_DIMS];
  size_t row_elems;
  int64_t rows;                  /* rows written so far */
  long header_pos;               /* file offset where the header starts */
} om_npy_writer;

/* Writes the header (shape (0, row_dims...) padded for later fix-up). */
int om_npy_writer_open(om_npy_writer *w, FILE *f, int row_ndim, const int64_t *row_dims, char *err);
int om_npy_writer_row(om_npy_writer *w, const float *row, char *err);      /* row_elems floats */
int om_npy_writer_nan_row(om_npy_writer *w, char *err);                    /* a row of NaN */
/* --resume of a streamed file: path holds what a writer of this row shape finished after `rows`
 * rows (an interrupted run's RAW.partial). Checks its header is exactly the one this writer writes for
 * the whole rows present and that at least keep_rows are present; *keep_bytes = header + keep_rows
 * rows (what the caller truncates the file to). OM_E_FORMAT with the reason otherwise. */
int om_npy_writer_check_partial(const char *path, int row_ndim, const int64_t *row_dims, int64_t keep_rows,
                                long long *keep_bytes, char *err);
/* Sets w to append to f (positioned after keep_rows rows written by a writer of this shape, header
 * at offset 0). */
int om_npy_writer_continue(om_npy_writer *w, FILE *f, int row_ndim, const int64_t *row_dims, int64_t rows,
                           char *err);
/* Rewrites the header with the final row count (seek back); leaves the file position at the end. */
int om_npy_writer_finish(om_npy_writer *w, char *err);

#endif
