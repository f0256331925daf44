/* inputs.c: expansion of INPUT arguments (files, directories, glob patterns, @lists, "-") into one
 * ordered path list kept in a string arena. See inputs.h for the rules. */
#include "io/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void om_inputs_init(om_inputs *in) { memset(in, 0, sizeof *in); }

void om_inputs_free(om_inputs *in) {
  free(in->arena);
  free(in->off);
  memset(in, 0, sizeof *in);
}

static int push_n(om_inputs *in, const char *s, size_t n, char *err) {
  size_t need;
  if (om_add_size(in->len, n, &need) || om_add_size(need, 1, &need))
    return om_seterr(err, OM_E_LIMIT, "input list too large");
  if (need > in->cap) {
    size_t nc = in->cap ? in->cap : 4096;
    while (nc < need) {
      if (om_mul_size(nc, 2, &nc)) return om_seterr(err, OM_E_LIMIT, "input list too large");
    }
    char *a = realloc(in->arena, nc);
    if (!a) return om_seterr(err, OM_E_NOMEM, "out of memory for %zu bytes of input paths", nc);
    in->arena = a;
    in->cap = nc;
  }
  if (in->n == in->ncap) {
    size_t nc = in->ncap ? in->ncap * 2 : 256, bytes;
    if (om_mul_size(nc, sizeof *in->off, &bytes))
      return om_seterr(err, OM_E_LIMIT, "too many inputs");
    size_t *o = realloc(in->off, bytes);
    if (!o) return om_seterr(err, OM_E_NOMEM, "out of memory for %zu inputs", nc);
    in->off = o;
    in->ncap = nc;
  }
  in->off[in->n++] = in->len;
  memcpy(in->arena + in->len, s, n);
  in->arena[in->len + n] = 0;
  in->len = need;
  return OM_OK;
}

int om_inputs_push(om_inputs *in, const char *path, char *err) {
  return push_n(in, path, strlen(path), err);
}

int om_is_image_name(const char *name) {
  static const char *const ext[] = {"jpg", "jpeg", "png", "bmp", "gif", "tga", "psd",
                                    "hdr", "pnm", "ppm", "pgm", "pbm", "npy"};
  const char *dot = strrchr(name, '.');
  if (!dot || strchr(dot, '/')) return 0;
  for (size_t i = 0; i < OM_ARRAY_LEN(ext); i++)
    if (strcasecmp(dot + 1, ext[i]) == 0) return 1;
  return 0;
}

int om_has_glob_meta(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* ---- matching ---- */

/* Matches one bracket class starting at p (just after '['); *adv gets the pattern length consumed
 * after '[' (0 when the class is unterminated, so the '[' is then a literal). */
static int class_match(const char *p, size_t plen, unsigned char c, size_t *adv) {
  size_t i = 0;
  int neg = 0, hit = 0;
  if (i < plen && (p[i] == '!' || p[i] == '^')) {
    neg = 1;
    i++;
  }
  size_t first = i;
  while (i < plen && (p[i] != ']' || i == first)) {
    unsigned char lo = (unsigned char)p[i], hi = lo;
    if (lo == '\\' && i + 1 < plen) lo = hi = (unsigned char)p[++i];
    if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = (unsigned char)p[i + 2];
      if (hi == '\\' && i + 3 < plen) hi = (unsigned char)p[++i + 2];
      i += 2;
    }
    if (c >= lo && c <= hi) hit = 1;
    i++;
  }
  if (i >= plen) {
    *adv = 0;
    return 0;
  }
  *adv = i + 1;
  return hit != neg;
}

/* One component: pattern p[0..plen) against name s[0..slen). Iterative with one backtrack point
 * for the last '*', which is enough for glob semantics and linear-ish in practice. */
static int comp_match(const char *p, size_t plen, const char *s, size_t slen) {
  if (slen > 0 && s[0] == '.' && !(plen > 0 && p[0] == '.')) {
    /* A leading dot must be matched literally (also by "\\."). */
    if (!(plen > 1 && p[0] == '\\' && p[1] == '.')) return 0;
  }
  size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
  while (si < slen) {
    if (pi < plen) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = ++pi;
        star_s = si;
        continue;
      }
      if (pc == '?') {
        pi++;
        si++;
        continue;
      }
      if (pc == '[') {
        size_t adv;
        int ok = class_match(p + pi + 1, plen - pi - 1, (unsigned char)s[si], &adv);
        if (adv == 0) { /* unterminated: literal '[' */
          if (s[si] == '[') {
            pi++;
            si++;
            continue;
          }
        } else if (ok) {
          pi += 1 + adv;
          si++;
          continue;
        }
      } else {
        if (pc == '\\' && pi + 1 < plen) pc = p[pi + 1];
        if (pc == s[si]) {
          pi += (p[pi] == '\\' && pi + 1 < plen) ? 2 : 1;
          si++;
          continue;
        }
      }
    }
    if (star_p == (size_t)-1) return 0;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < plen && p[pi] == '*') pi++;
  return pi == plen;
}

static size_t comp_len(const char *s) {
  const char *e = strchr(s, '/');
  return e ? (size_t)(e - s) : strlen(s);
}

static int is_dstar(const char *p, size_t n) { return n == 2 && p[0] == '*' && p[1] == '*'; }

/* Failed ("**" component, path component) pairs. Without it, patterns with many "**" take
 * exponential time ("**" + "/a" repeated against "a/a/a/..."); found by fuzz_inputs. */
typedef struct {
  unsigned char *bits; /* NULL: no memo (tiny inputs or allocation failed) */
  size_t ns;           /* path components */
} glob_memo;

static int match_from(glob_memo *m, const char *p, size_t pi, const char *s, size_t si) {
  for (;;) {
    size_t pl = comp_len(p), sl = comp_len(s);
    if (is_dstar(p, pl)) {
      const char *prest = p[pl] ? p + pl + 1 : p + pl;
      if (!p[pl]) { /* trailing "**": any remaining non-hidden components */
        for (const char *c = s; *c;) {
          size_t cl = comp_len(c);
          if (c[0] == '.') return 0;
          c += cl;
          if (*c) c++;
        }
        return 1;
      }
      size_t key = pi * m->ns + si;
      if (m->bits && (m->bits[key / 8] >> (key % 8) & 1)) return 0;
      size_t ci = si;
      for (const char *c = s;;) {
        if (match_from(m, prest, pi + 1, c, ci)) return 1;
        size_t cl = comp_len(c);
        if (!c[cl] || c[0] == '.') break;
        c += cl + 1;
        ci++;
      }
      if (m->bits) m->bits[key / 8] |= (unsigned char)(1u << (key % 8));
      return 0;
    }
    if (!comp_match(p, pl, s, sl)) return 0;
    if (!p[pl] || !s[sl]) return !p[pl] && !s[sl];
    p += pl + 1;
    s += sl + 1;
    pi++;
    si++;
  }
}

static size_t count_comps(const char *s) {
  size_t n = 1;
  for (; *s; s++) n += *s == '/';
  return n;
}

static size_t count_dstar(const char *p) {
  size_t n = 0;
  for (;;) {
    size_t pl = comp_len(p);
    n += is_dstar(p, pl);
    if (!p[pl]) return n;
    p += pl + 1;
  }
}

int om_glob_match(const char *pattern, const char *path) {
  glob_memo m = {NULL, count_comps(path)};
  size_t np = count_comps(pattern), bits;
  /* The memo only matters with two or more "**"; a failed allocation just means no memo. */
  if (count_dstar(pattern) > 1 && !om_mul_size(np, m.ns, &bits) && bits <= ((size_t)1 << 30))
    m.bits = calloc(bits / 8 + 1, 1);
  int r = match_from(&m, pattern, 0, path, 0);
  free(m.bits);
  return r;
}

/* ---- directory identity set (loop detection) ---- */

typedef struct {
  unsigned long long dev, ino;
  long tag;
  int used;
} dir_key;

typedef struct {
  dir_key *k;
  size_t cap, n;
} dir_set;

/* Returns 1 if newly added, 0 if already present, -1 on allocation failure. */
static int dir_set_add(dir_set *s, const struct stat *st, long tag) {
  if ((s->n + 1) * 2 > s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    dir_key *nk = calloc(nc, sizeof *nk);
    if (!nk) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->k[i].used) continue;
      size_t h = (size_t)((s->k[i].dev * 31 + s->k[i].ino) * 2654435761u + (size_t)s->k[i].tag);
      while (nk[h % nc].used) h++;
      nk[h % nc] = s->k[i];
    }
    free(s->k);
    s->k = nk;
    s->cap = nc;
  }
  dir_key key = {(unsigned long long)st->st_dev, (unsigned long long)st->st_ino, tag, 1};
  size_t h = (size_t)((key.dev * 31 + key.ino) * 2654435761u + (size_t)key.tag);
  for (;; h++) {
    dir_key *e = &s->k[h % s->cap];
    if (!e->used) {
      *e = key;
      s->n++;
      return 1;
    }
    if (e->dev == key.dev && e->ino == key.ino && e->tag == key.tag) return 0;
  }
}

/* ---- path buffer ---- */

typedef struct {
  char *s;
  size_t len, cap;
} pbuf;

static int pbuf_set(pbuf *b, size_t len, const char *add, size_t n) {
  size_t need = len + n + 2;
  if (need > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < need) nc *= 2;
    char *ns = realloc(b->s, nc);
    if (!ns) return -1;
    b->s = ns;
    b->cap = nc;
  }
  b->len = len;
  if (n) {
    if (len > 0 && b->s[len - 1] != '/') b->s[b->len++] = '/';
    memcpy(b->s + b->len, add, n);
    b->len += n;
  }
  b->s[b->len] = 0;
  return 0;
}

static const char *dir_name(const pbuf *b) { return b->len ? b->s : "."; }

/* Sorted names of a directory's entries (without . and ..), in one arena. Unreadable directory:
 * empty list (the caller warns). */
static int list_dir(const char *path, om_inputs *names, int *err_no) {
  DIR *d = opendir(path);
  *err_no = 0;
  if (!d) {
    *err_no = errno;
    return 0;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (om_inputs_push(names, e->d_name, NULL) != OM_OK) {
      closedir(d);
      return -1;
    }
  }
  closedir(d);
  return 0;
}

typedef struct {
  om_inputs *out;
  const om_inputs_opts *o;
  dir_set seen;
  pbuf path;
  char *err;
  int status;
} walk_ctx;

static void warnf(const om_inputs_opts *o, const char *fmt, const char *a, const char *b) {
  if (!o || !o->warn) return;
  char msg[OM_ERR_LEN];
  snprintf(msg, sizeof msg, fmt, a, b);
  o->warn(o->warn_ctx, msg);
}

/* Recursive directory walk collecting paths relative to the root (path buffer holds root/rel). */
static void walk_dir(walk_ctx *c, size_t root_len) {
  om_inputs names;
  om_inputs_init(&names);
  int en;
  if (list_dir(dir_name(&c->path), &names, &en) < 0) {
    c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory listing %s", dir_name(&c->path));
    goto done;
  }
  if (en) warnf(c->o, "cannot read directory %s: %s", dir_name(&c->path), strerror(en));
  size_t base = c->path.len;
  for (size_t i = 0; i < names.n && c->status == OM_OK; i++) {
    const char *nm = om_inputs_get(&names, i);
    if (nm[0] == '.') continue; /* hidden files, and our own ".name.tmp.pid" outputs */
    if (pbuf_set(&c->path, base, nm, strlen(nm))) {
      c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory for a path");
      break;
    }
    struct stat st;
    if (stat(c->path.s, &st) != 0) {
      struct stat lst;
      if (lstat(c->path.s, &lst) == 0 && om_is_image_name(nm)) /* dangling symlink: error row later */
        c->status = om_inputs_push(c->out, c->path.s + root_len, c->err);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (!c->o || !c->o->recursive) continue;
      int r = dir_set_add(&c->seen, &st, -1);
      if (r < 0) c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory walking directories");
      if (r == 1) walk_dir(c, root_len);
    } else if (om_is_image_name(nm)) {
      c->status = om_inputs_push(c->out, c->path.s + root_len, c->err);
    }
  }
  pbuf_set(&c->path, base, NULL, 0);
done:
  om_inputs_free(&names);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts tmp byte-wise and appends to out with prefix (joined by '/'), dropping adjacent
 * duplicates when dedup is set. */
static int append_sorted(om_inputs *out, const om_inputs *tmp, const char *prefix, int dedup,
                         char *err) {
  if (tmp->n == 0) return OM_OK;
  const char **v = malloc(tmp->n * sizeof *v);
  if (!v) return om_seterr(err, OM_E_NOMEM, "out of memory sorting %zu paths", tmp->n);
  for (size_t i = 0; i < tmp->n; i++) v[i] = om_inputs_get(tmp, i);
  qsort(v, tmp->n, sizeof *v, cmp_str);
  pbuf b = {0};
  size_t plen = prefix ? strlen(prefix) : 0;
  int st = OM_OK;
  for (size_t i = 0; i < tmp->n && st == OM_OK; i++) {
    if (dedup && i > 0 && strcmp(v[i], v[i - 1]) == 0) continue;
    if (pbuf_set(&b, 0, prefix ? prefix : "", plen) || pbuf_set(&b, b.len, v[i], strlen(v[i]))) {
      st = om_seterr(err, OM_E_NOMEM, "out of memory for a path");
      break;
    }
    st = push_n(out, b.s, b.len, err);
  }
  free(b.s);
  free(v);
  return st;
}

static int add_dir(om_inputs *in, const char *dir, const om_inputs_opts *o, char *err) {
  walk_ctx c = {0};
  om_inputs tmp;
  om_inputs_init(&tmp);
  c.out = &tmp;
  c.o = o;
  c.err = err;
  c.status = OM_OK;
  struct stat st;
  if (pbuf_set(&c.path, 0, dir, strlen(dir)) || pbuf_set(&c.path, c.path.len, NULL, 0)) {
    c.status = om_seterr(err, OM_E_NOMEM, "out of memory for a path");
  } else {
    if (stat(dir, &st) == 0 && dir_set_add(&c.seen, &st, -1) < 0)
      c.status = om_seterr(err, OM_E_NOMEM, "out of memory walking directories");
    /* Relative paths start after "dir/" (or after "dir" when it already ends in '/'). */
    size_t root_len = c.path.len + (c.path.len && c.path.s[c.path.len - 1] != '/');
    if (c.status == OM_OK) walk_dir(&c, root_len);
  }
  if (c.status == OM_OK) c.status = append_sorted(in, &tmp, dir, 0, err);
  free(c.path.s);
  free(c.seen.k);
  om_inputs_free(&tmp);
  return c.status;
}

/* ---- glob expansion ---- */

typedef struct {
  walk_ctx w;
  const char *pat;   /* the pattern after its root ("/" stripped) */
} glob_ctx;

static void glob_rec(glob_ctx *g, const char *comp) {
  walk_ctx *c = &g->w;
  if (c->status != OM_OK) return;
  size_t base = c->path.len;
  if (!*comp) { /* all components consumed: a match if it is not a directory */
    struct stat st, lst;
    if (stat(c->path.s, &st) == 0 ? !S_ISDIR(st.st_mode) : lstat(c->path.s, &lst) == 0)
      c->status = om_inputs_push(c->out, c->path.s, c->err);
    return;
  }
  size_t cl = comp_len(comp);
  const char *rest = comp[cl] ? comp + cl + 1 : comp + cl;
  while (*rest == '/') rest++;
  if (cl == 0) { /* repeated '/' */
    glob_rec(g, rest);
    return;
  }
  char lit[4096];
  int literal = 1;
  for (size_t i = 0; i < cl; i++)
    if (comp[i] == '*' || comp[i] == '?' || comp[i] == '[') literal = 0;
  if (literal && cl < sizeof lit) {
    /* Literal component (backslash escapes removed): no directory listing needed. */
    size_t n = 0;
    for (size_t i = 0; i < cl; i++) {
      if (comp[i] == '\\' && i + 1 < cl) i++;
      lit[n++] = comp[i];
    }
    if (pbuf_set(&c->path, base, lit, n)) {
      c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory for a path");
      return;
    }
    struct stat st;
    if (*rest == 0 || (stat(c->path.s, &st) == 0 && S_ISDIR(st.st_mode))) glob_rec(g, rest);
    pbuf_set(&c->path, base, NULL, 0);
    return;
  }
  int dstar = is_dstar(comp, cl);
  if (dstar) {
    struct stat st;
    if (stat(dir_name(&c->path), &st) != 0) return;
    /* Tag the visit with the component's position: each (directory, **) pair is walked once,
     * which stops symlink loops and the duplicate routes of "** / **". */
    int r = dir_set_add(&c->seen, &st, (long)(comp - g->pat));
    if (r < 0) c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory walking directories");
    if (r != 1) return;
    glob_rec(g, rest); /* zero directories */
  }
  om_inputs names;
  om_inputs_init(&names);
  int en;
  if (list_dir(dir_name(&c->path), &names, &en) < 0)
    c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory listing %s", dir_name(&c->path));
  for (size_t i = 0; i < names.n && c->status == OM_OK; i++) {
    const char *nm = om_inputs_get(&names, i);
    if (dstar ? nm[0] == '.' : !comp_match(comp, cl, nm, strlen(nm))) continue;
    if (pbuf_set(&c->path, base, nm, strlen(nm))) {
      c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory for a path");
      break;
    }
    struct stat st;
    int isdir = stat(c->path.s, &st) == 0 && S_ISDIR(st.st_mode);
    if (dstar) {
      if (isdir) glob_rec(g, comp);
    } else if (*rest == 0 || isdir) {
      glob_rec(g, rest);
    }
  }
  pbuf_set(&c->path, base, NULL, 0);
  om_inputs_free(&names);
}

static int add_glob(om_inputs *in, const char *pat, const om_inputs_opts *o, char *err) {
  glob_ctx g = {0};
  om_inputs tmp;
  om_inputs_init(&tmp);
  g.w.out = &tmp;
  g.w.o = o;
  g.w.err = err;
  g.w.status = OM_OK;
  const char *p = pat;
  size_t root = 0;
  while (p[root] == '/') root++;
  g.pat = p + root;
  if (pbuf_set(&g.w.path, 0, root ? "/" : "", root ? 1 : 0))
    g.w.status = om_seterr(err, OM_E_NOMEM, "out of memory for a path");
  else
    glob_rec(&g, g.pat);
  size_t before = in->n;
  if (g.w.status == OM_OK) g.w.status = append_sorted(in, &tmp, NULL, 1, err);
  if (g.w.status == OM_OK && in->n == before) warnf(o, "%s: pattern matched no files%s", pat, "");
  free(g.w.path.s);
  free(g.w.seen.k);
  om_inputs_free(&tmp);
  return g.w.status;
}

/* ---- lists ---- */

static int add_list(om_inputs *in, FILE *f, const char *name, char *err) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int st = OM_OK;
  errno = 0;
  while (st == OM_OK && (n = getline(&line, &cap, f)) >= 0) {
    size_t len = (size_t)n;
    if (len && line[len - 1] == '\n') len--;
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) continue;
    if (memchr(line, 0, len)) {
      st = om_seterr(err, OM_E_FORMAT, "%s: a line contains a NUL byte", name);
      break;
    }
    st = push_n(in, line, len, err);
  }
  if (st == OM_OK && ferror(f))
    st = om_seterr(err, OM_E_IO, "%s: read failed: %s", name, strerror(errno ? errno : EIO));
  free(line);
  return st;
}

int om_inputs_add(om_inputs *in, const char *arg, const om_inputs_opts *o, char *err) {
  if (strcmp(arg, "-") == 0) {
    FILE *f = o && o->stdin_file ? o->stdin_file : stdin;
    return add_list(in, f, "standard input", err);
  }
  if (arg[0] == '@' && arg[1]) {
    FILE *f = fopen(arg + 1, "r");
    if (!f) return om_seterr(err, OM_E_IO, "cannot open list %s: %s", arg + 1, strerror(errno));
    int st = add_list(in, f, arg + 1, err);
    fclose(f);
    return st;
  }
  struct stat st;
  if (stat(arg, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return add_dir(in, arg, o, err);
    return om_inputs_push(in, arg, err);
  }
  struct stat lst;
  if (lstat(arg, &lst) != 0 && om_has_glob_meta(arg)) return add_glob(in, arg, o, err);
  return om_inputs_push(in, arg, err); /* missing or dangling: an error row later */
}
