/* output.h: formatting result rows as CSV, TSV or JSON Lines (one row per input).
 *
 * Columns (CSV/TSV): index,path,status,top1_class[,top1_label],top1_score,...,topK_...,error
 * (label columns only when labels are known). status is "ok" or "error"; an error row leaves the
 * top columns empty and puts the reason in the error column.
 *   CSV: RFC 4180: a field containing ',', '"', CR or LF is quoted, quotes doubled; lines end "\n".
 *   TSV: tab-separated; inside a field TAB, LF, CR and backslash are written as the two-character
 *        sequences \t \n \r \\ (no other escapes).
 *   JSONL: {"index":0,"path":"x.png","status":"ok","top":[{"class":3,"label":"Dress","score":0.97}]}
 *        or {"index":5,"path":"...","status":"error","error":"reason"}; strings escaped per RFC 8259
 *        (", \, \b \f \n \r \t, other controls as \u00XX); bytes that are not valid UTF-8 become the
 *        lone surrogate \udcXY (X Y = the byte's hex digits), Python's "surrogateescape" convention,
 *        so os.fsencode(json.loads(line)["path"]) gives back the original bytes.
 * Numbers use the "C" conventions whatever the locale; scores are printed with %.9g. Paths are
 * written byte for byte in CSV/TSV (undecodable bytes stay raw). */
#ifndef OM_OUTPUT_H
#define OM_OUTPUT_H

#include "common/om.h"

enum { OM_FMT_CSV = 0, OM_FMT_TSV = 1, OM_FMT_JSONL = 2 };

/* A growable text buffer. */
typedef struct om_buf {
  char *s;
  size_t len, cap;
} om_buf;

int om_buf_reserve(om_buf *b, size_t extra);
int om_buf_append(om_buf *b, const char *s, size_t n);
void om_buf_free(om_buf *b);

typedef struct om_out_format {
  int format;                    /* OM_FMT_* */
  int k;                         /* top-K columns */
  const char *const *labels;     /* labels[class], NULL when none */
  int nlabels;
} om_out_format;

typedef struct om_result_row {
  size_t index;
  const char *path;
  const char *error;             /* NULL: ok */
  int k;                         /* entries in cls/score (<= format k) */
  const int *cls;
  const float *score;
} om_result_row;

/* Parses "csv", "tsv", "jsonl" (also "json"); -1 when unknown. */
int om_format_parse(const char *name);
/* Appends the header line (CSV/TSV; nothing for JSONL). */
int om_format_header(om_buf *b, const om_out_format *f);
/* Appends one row, newline-terminated. */
int om_format_row(om_buf *b, const om_out_format *f, const om_result_row *r);

/* Field escapers, exposed for tests. */
int om_csv_field(om_buf *b, const char *s, size_t n);
int om_tsv_field(om_buf *b, const char *s, size_t n);
int om_json_string(om_buf *b, const char *s, size_t n); /* with the surrounding quotes */

#endif
