/* fuzz_inputs.c: libFuzzer target for the input-list side of io/inputs.h: the "-"/@FILE list
 * reader (bytes fed as standard input) and the glob matcher om_glob_match, which is checked
 * against a naive recursive matcher written here from the rules in inputs.h.
 *
 * First byte even: the rest is a list; every non-empty line (LF or CR LF stripped) must come back
 * as one path, in order, or the reader must refuse a NUL byte with an error.
 * First byte odd: the rest is "PATTERN\nPATH" (cut at a NUL); om_glob_match runs on any length
 * (hangs show up as libFuzzer timeouts) and is compared with the reference on short inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/inputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- reference matcher: plain recursion, exponential at worst, so only fed short inputs ---- */

/* One class after '['; returns the length consumed after '[' including ']' (0: unterminated). */
static size_t ref_class(const char *p, size_t n, unsigned char c, int *hit_out) {
  size_t i = 0;
  int neg = 0, hit = 0;
  if (i < n && (p[i] == '!' || p[i] == '^')) neg = 1, i++;
  int first = 1;
  while (i < n && (p[i] != ']' || first)) {
    first = 0;
    unsigned char lo = (unsigned char)p[i];
    if (lo == '\\' && i + 1 < n) lo = (unsigned char)p[++i];
    unsigned char hi = lo;
    if (i + 2 < n && p[i + 1] == '-' && p[i + 2] != ']') {
      i += 2;
      hi = (unsigned char)p[i];
      if (hi == '\\' && i + 1 < n) hi = (unsigned char)p[++i];
    }
    if (c >= lo && c <= hi) hit = 1;
    i++;
  }
  if (i >= n) return 0;
  *hit_out = hit != neg;
  return i + 1;
}

/* Memoised over (pattern offset, name offset): plain recursion is exponential on "*a*a*a...". */
static signed char memo_c[32][32];

static int ref_comp_rec(const char *p0, size_t pn0, size_t pi, const char *s0, size_t sn0, size_t si) {
  signed char *m = &memo_c[pi][si];
  if (*m >= 0) return *m;
  const char *p = p0 + pi, *s = s0 + si;
  size_t pn = pn0 - pi, sn = sn0 - si;
  int r;
  if (pn == 0) {
    r = sn == 0;
  } else if (p[0] == '*') {
    r = 0;
    for (size_t k = 0; k <= sn && !r; k++) r = ref_comp_rec(p0, pn0, pi + 1, s0, sn0, si + k);
  } else if (sn == 0) {
    r = 0;
  } else if (p[0] == '?') {
    r = ref_comp_rec(p0, pn0, pi + 1, s0, sn0, si + 1);
  } else if (p[0] == '[') {
    int hit = 0;
    size_t adv = ref_class(p + 1, pn - 1, (unsigned char)s[0], &hit);
    if (adv) r = hit && ref_comp_rec(p0, pn0, pi + 1 + adv, s0, sn0, si + 1);
    else r = s[0] == '[' && ref_comp_rec(p0, pn0, pi + 1, s0, sn0, si + 1);
  } else if (p[0] == '\\' && pn > 1) {
    r = p[1] == s[0] && ref_comp_rec(p0, pn0, pi + 2, s0, sn0, si + 1);
  } else {
    r = p[0] == s[0] && ref_comp_rec(p0, pn0, pi + 1, s0, sn0, si + 1);
  }
  *m = (signed char)r;
  return r;
}

static int ref_comp(const char *p, size_t pn, const char *s, size_t sn) {
  /* A leading '.' of a name is only matched by a literal '.' (or "\\."). */
  if (sn && s[0] == '.' && !(pn && p[0] == '.') && !(pn > 1 && p[0] == '\\' && p[1] == '.'))
    return 0;
  memset(memo_c, -1, sizeof memo_c);
  return ref_comp_rec(p, pn, 0, s, sn, 0);
}

typedef struct {
  const char *s[64];
  size_t n[64];
  size_t count;
} comps;

static int split(const char *s, comps *c) {
  c->count = 0;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (c->count == 64) return -1;
    c->s[c->count] = s;
    c->n[c->count++] = n;
    if (!e) return 0;
    s = e + 1;
  }
}

static signed char memo_p[65][65];

static int ref_path_rec(const comps *p, size_t pi, const comps *s, size_t si);

static int ref_path(const comps *p, size_t pi, const comps *s, size_t si) {
  signed char *m = &memo_p[pi][si];
  if (*m < 0) *m = (signed char)ref_path_rec(p, pi, s, si);
  return *m;
}

static int ref_path_rec(const comps *p, size_t pi, const comps *s, size_t si) {
  if (pi == p->count) return si == s->count;
  if (p->n[pi] == 2 && p->s[pi][0] == '*' && p->s[pi][1] == '*') {
    /* "**": zero or more whole non-hidden components. A trailing "**" needs at least one
     * component left (the path "a" is not matched by "a" + "/" + "**"). */
    size_t k0 = pi + 1 == p->count ? 1 : 0;
    for (size_t k = k0; si + k <= s->count; k++) {
      if (k && s->s[si + k - 1][0] == '.') return 0;
      if (ref_path(p, pi + 1, s, si + k)) return 1;
    }
    return 0;
  }
  return si < s->count && ref_comp(p->s[pi], p->n[pi], s->s[si], s->n[si]) &&
         ref_path(p, pi + 1, s, si + 1);
}

/* ---- targets ---- */

static void fuzz_list(const uint8_t *data, size_t size) {
  FILE *f = fmemopen((void *)data, size ? size : 1, "r");
  if (!f) return;
  if (!size) getc(f); /* fmemopen refuses size 0: read the one byte away */
  om_inputs in;
  om_inputs_init(&in);
  om_inputs_opts o = {0};
  o.stdin_file = f;
  char err[OM_ERR_LEN];
  int st = om_inputs_add(&in, "-", &o, err);
  fclose(f);
  /* Expected lines, computed independently. */
  size_t k = 0, pos = 0;
  int has_nul_line = 0;
  if (size) {
    while (pos < size) {
      const uint8_t *nl = memchr(data + pos, '\n', size - pos);
      size_t end = nl ? (size_t)(nl - data) : size, len = end - pos;
      if (len && data[pos + len - 1] == '\r' && nl) len--;
      else if (!nl && len && data[pos + len - 1] == '\r') len--;
      if (len) {
        if (memchr(data + pos, 0, len)) {
          has_nul_line = 1;
          break;
        }
        if (st == OM_OK) {
          if (k >= in.n) abort();
          const char *got = om_inputs_get(&in, k);
          if (strlen(got) != len || memcmp(got, data + pos, len)) abort();
        }
        k++;
      }
      pos = nl ? end + 1 : size;
    }
  }
  if (has_nul_line != (st != OM_OK)) abort();
  if (st == OM_OK && k != in.n) abort();
  if (st != OM_OK && !err[0]) abort();
  om_inputs_free(&in);
}

static void fuzz_glob(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return;
  memcpy(buf, data, size);
  buf[size] = 0;
  char *path = strchr(buf, '\n');
  if (path) *path++ = 0;
  else path = buf + strlen(buf);
  int got = om_glob_match(buf, path);
  (void)om_has_glob_meta(buf);
  (void)om_is_image_name(path);
  comps pc, sc;
  if (strlen(buf) <= 24 && strlen(path) <= 24 && split(buf, &pc) == 0 && split(path, &sc) == 0) {
    memset(memo_p, -1, sizeof memo_p);
    int want = ref_path(&pc, 0, &sc, 0);
    if (got != want) {
      fprintf(stderr, "glob mismatch: pattern '%s' path '%s': got %d want %d\n", buf, path, got, want);
      abort();
    }
  }
  if (!om_has_glob_meta(buf) && !strchr(buf, '\\') && !om_glob_match(buf, buf)) abort();
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) fuzz_glob(data + 1, size - 1);
  else fuzz_list(data + 1, size - 1);
  return 0;
}
