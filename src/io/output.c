/* output.c: CSV / TSV / JSON Lines row formatting (see output.h for the exact formats). */
#include "io/output.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int om_buf_reserve(om_buf *b, size_t extra) {
  size_t need;
  if (om_add_size(b->len, extra, &need) || om_add_size(need, 1, &need)) return OM_E_LIMIT;
  if (need <= b->cap) return OM_OK;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < need)
    if (om_mul_size(nc, 2, &nc)) return OM_E_LIMIT;
  char *s = realloc(b->s, nc);
  if (!s) return OM_E_NOMEM;
  b->s = s;
  b->cap = nc;
  return OM_OK;
}

int om_buf_append(om_buf *b, const char *s, size_t n) {
  int st = om_buf_reserve(b, n);
  if (st) return st;
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
  return OM_OK;
}

static int buf_str(om_buf *b, const char *s) { return om_buf_append(b, s, strlen(s)); }

static int buf_printf(om_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(om_buf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) return OM_E_INVALID;
  return om_buf_append(b, tmp, (size_t)n);
}

void om_buf_free(om_buf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

int om_format_parse(const char *name) {
  if (strcmp(name, "csv") == 0) return OM_FMT_CSV;
  if (strcmp(name, "tsv") == 0) return OM_FMT_TSV;
  if (strcmp(name, "jsonl") == 0 || strcmp(name, "json") == 0) return OM_FMT_JSONL;
  return -1;
}

int om_csv_field(om_buf *b, const char *s, size_t n) {
  if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\r', n) && !memchr(s, '\n', n))
    return om_buf_append(b, s, n);
  int st = om_buf_reserve(b, 2 * n + 2);
  if (st) return st;
  b->s[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') b->s[b->len++] = '"';
    b->s[b->len++] = s[i];
  }
  b->s[b->len++] = '"';
  b->s[b->len] = 0;
  return OM_OK;
}

int om_tsv_field(om_buf *b, const char *s, size_t n) {
  int st = om_buf_reserve(b, 2 * n);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    char e = s[i] == '\t' ? 't' : s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r' : s[i] == '\\' ? '\\' : 0;
    if (e) {
      b->s[b->len++] = '\\';
      b->s[b->len++] = e;
    } else {
      b->s[b->len++] = s[i];
    }
  }
  b->s[b->len] = 0;
  return OM_OK;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF are invalid, as in RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

int om_json_string(om_buf *b, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  int st = om_buf_reserve(b, 6 * n + 2);
  if (st) return st;
  char *o = b->s + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t l = utf8_len(s + i, n - i);
    if (l == 0) { /* invalid byte: surrogateescape */
      memcpy(o, "\\udc", 4);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      o += 6;
      i++;
      continue;
    }
    if (l > 1) {
      memcpy(o, s + i, l);
      o += l;
      i += l;
      continue;
    }
    i++;
    char e = c == '"' ? '"' : c == '\\' ? '\\' : c == '\b' ? 'b' : c == '\f' ? 'f'
           : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 0;
    if (e) {
      *o++ = '\\';
      *o++ = e;
    } else if (c < 0x20) {
      memcpy(o, "\\u00", 4);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      o += 6;
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  *o = 0;
  b->len = (size_t)(o - b->s);
  return OM_OK;
}

static int field(om_buf *b, int fmt, const char *s) {
  size_t n = strlen(s);
  return fmt == OM_FMT_TSV ? om_tsv_field(b, s, n) : om_csv_field(b, s, n);
}

int om_format_header(om_buf *b, const om_out_format *f) {
  if (f->format == OM_FMT_JSONL) return OM_OK;
  const char *sep = f->format == OM_FMT_TSV ? "\t" : ",";
  int st = buf_printf(b, "index%spath%sstatus", sep, sep);
  for (int i = 1; i <= f->k && !st; i++) {
    st = buf_printf(b, "%stop%d_class", sep, i);
    if (!st && f->labels) st = buf_printf(b, "%stop%d_label", sep, i);
    if (!st) st = buf_printf(b, "%stop%d_score", sep, i);
  }
  if (!st) st = buf_printf(b, "%serror\n", sep);
  return st;
}

static const char *label_of(const om_out_format *f, int cls) {
  return cls >= 0 && cls < f->nlabels && f->labels[cls] ? f->labels[cls] : "";
}

/* A score: %.9g round-trips a float; a non-finite one (a model whose output has NaN / inf) is
 * null in JSON, which has no such numbers, and nan / inf / -inf in CSV / TSV (printf's "-nan"
 * depends on the sign bit, which means nothing). */
static int score_str(om_buf *b, const char *pre, float v, int json) {
  if (isfinite(v)) return buf_printf(b, "%s%.9g", pre, (double)v);
  return buf_printf(b, "%s%s", pre, json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static int row_json(om_buf *b, const om_out_format *f, const om_result_row *r) {
  int st = buf_printf(b, "{\"index\":%zu,\"path\":", r->index);
  if (!st) st = om_json_string(b, r->path, strlen(r->path));
  if (r->error) {
    if (!st) st = buf_str(b, ",\"status\":\"error\",\"error\":");
    if (!st) st = om_json_string(b, r->error, strlen(r->error));
    if (!st) st = buf_str(b, "}\n");
    return st;
  }
  if (!st) st = buf_str(b, ",\"status\":\"ok\",\"top\":[");
  for (int i = 0; i < r->k && !st; i++) {
    st = buf_printf(b, "%s{\"class\":%d", i ? "," : "", r->cls[i]);
    if (!st && f->labels) {
      const char *l = label_of(f, r->cls[i]);
      st = buf_str(b, ",\"label\":");
      if (!st) st = om_json_string(b, l, strlen(l));
    }
    if (!st) st = score_str(b, ",\"score\":", r->score[i], 1);
    if (!st) st = buf_str(b, "}");
  }
  if (!st) st = buf_str(b, "]}\n");
  return st;
}

int om_format_row(om_buf *b, const om_out_format *f, const om_result_row *r) {
  if (f->format == OM_FMT_JSONL) return row_json(b, f, r);
  const char *sep = f->format == OM_FMT_TSV ? "\t" : ",";
  int st = buf_printf(b, "%zu%s", r->index, sep);
  if (!st) st = field(b, f->format, r->path);
  if (!st) st = buf_printf(b, "%s%s", sep, r->error ? "error" : "ok");
  for (int i = 0; i < f->k && !st; i++) {
    if (!r->error && i < r->k) {
      st = buf_printf(b, "%s%d", sep, r->cls[i]);
      if (!st && f->labels) st = buf_str(b, sep);
      if (!st && f->labels) st = field(b, f->format, label_of(f, r->cls[i]));
      if (!st) st = score_str(b, sep, r->score[i], 0);
    } else {
      st = buf_str(b, sep);
      if (!st && f->labels) st = buf_str(b, sep);
      if (!st) st = buf_str(b, sep);
    }
  }
  if (!st) st = buf_str(b, sep);
  if (!st && r->error) st = field(b, f->format, r->error);
  if (!st) st = buf_str(b, "\n");
  return st;
}
