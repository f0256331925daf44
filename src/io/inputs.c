/* inputs.c: expansion of INPUT arguments (files, directories, glob patterns, @lists, "-") into one
 * ordered path list kept in a string arena. See inputs.h for the rules. */
#include "io/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* ---- directory listing and entry kinds ---- */

enum { K_GONE, K_DIR, K_FILE, K_DANGLING, K_UNKNOWN };

/* What name (relative to the directory fd dfd, or AT_FDCWD) is: K_DIR / K_FILE after following
 * links; K_DANGLING a link whose target cannot be reached; K_GONE absent (removed meanwhile, or a
 * literal glob component that does not exist); K_UNKNOWN could not be looked at (*en: why). Relative
 * to the parent's fd, entries are classified even where the full path exceeds PATH_MAX. */
static int classify(int dfd, const char *name, struct stat *st, int *en) {
  if (fstatat(dfd, name, st, 0) == 0) return S_ISDIR(st->st_mode) ? K_DIR : K_FILE;
  *en = errno;
  struct stat lst;
  if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0) return K_DANGLING;
  if (errno == ENOENT || errno == ENOTDIR) return K_GONE;
  *en = errno;
  return K_UNKNOWN;
}

/* An open directory and its entry names (without . and .., in readdir order), each name prefixed
 * with one byte from d_type: 'd' a directory, '?' a link or unknown (may be one), 'f' anything else.
 * err_no: why opendir or readdir failed (0: the listing is complete). d stays open so the entries
 * can be classified relative to it. */
typedef struct {
  DIR *d;
  om_inputs names;
  int err_no;
} listing;

static int listing_open(listing *l, const char *path) {
  om_inputs_init(&l->names);
  l->err_no = 0;
  l->d = opendir(path);
  if (!l->d) {
    l->err_no = errno;
    return 0;
  }
  char buf[1 + sizeof ((struct dirent *)0)->d_name];
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(l->d);
    if (!e) {
      l->err_no = errno; /* 0 at the end; EIO and the like mid-way: the listing is partial */
      return 0;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t n = strlen(e->d_name);
    buf[0] = e->d_type == DT_DIR ? 'd' : (e->d_type == DT_LNK || e->d_type == DT_UNKNOWN) ? '?' : 'f';
    memcpy(buf + 1, e->d_name, n);
    if (push_n(&l->names, buf, n + 1, NULL) != OM_OK) return -1;
  }
}

static void listing_close(listing *l) {
  if (l->d) closedir(l->d);
  om_inputs_free(&l->names);
}

/* ---- walks (-r and glob patterns) ---- */

/* Directories still to visit, as a stack of (path, pattern offset) in one arena. Walks are
 * iterative so that no tree depth can overflow the C stack; children are pushed in reverse listing
 * order, so they are visited in the order a recursive walk would take (the symlink-loop cut keeps
 * the same path). */
typedef struct {
  om_inputs paths;
  size_t *comp, ccap; /* comp[i]: offset in the pattern of what is left to match below path i */
} todo_stack;

static int todo_push(todo_stack *t, const pbuf *path, size_t comp, char *err) {
  int st = push_n(&t->paths, path->s, path->len, err);
  if (st != OM_OK) return st;
  if (t->ccap < t->paths.ncap) { /* ncap * sizeof(size_t) was checked by push_n */
    size_t *c = realloc(t->comp, t->paths.ncap * sizeof *c);
    if (!c) {
      t->paths.len = t->paths.off[--t->paths.n];
      return om_seterr(err, OM_E_NOMEM, "out of memory walking directories");
    }
    t->comp = c;
    t->ccap = t->paths.ncap;
  }
  t->comp[t->paths.n - 1] = comp;
  return OM_OK;
}

/* Pops the top entry into path: 1, 0 when the stack is empty, -1 out of memory. */
static int todo_pop(todo_stack *t, pbuf *path, size_t *comp) {
  if (t->paths.n == 0) return 0;
  size_t i = t->paths.n - 1;
  if (pbuf_set(path, 0, om_inputs_get(&t->paths, i), t->paths.len - t->paths.off[i] - 1)) return -1;
  *comp = t->comp[i];
  t->paths.n = i;
  t->paths.len = t->paths.off[i];
  return 1;
}

typedef struct {
  om_inputs *out;
  const om_inputs_opts *o;
  dir_set seen;
  pbuf path;
  todo_stack todo;
  size_t root_len; /* -r: output paths are relative, after these bytes ("DIR/") */
  char *err;
  int status;
} walk_ctx;

/* Pops the next directory to visit into c->path: 0 when done (or something fatal happened). */
static int walk_next(walk_ctx *c, size_t *comp) {
  if (c->status != OM_OK) return 0;
  int r = todo_pop(&c->todo, &c->path, comp);
  if (r < 0) c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory for a path");
  return r > 0;
}

/* fmt takes two strings; a long first one (a path) keeps its start and end, so that the reason
 * after it still fits in the message. */
static void warnf(const om_inputs_opts *o, const char *fmt, const char *a, const char *b) {
  if (!o || !o->warn) return;
  char msg[OM_ERR_LEN], shortened[OM_ERR_LEN / 2];
  size_t n = strlen(a), keep = sizeof shortened / 2 - 3;
  if (n >= sizeof shortened) {
    snprintf(shortened, sizeof shortened, "%.*s...%s", (int)keep, a, a + n - keep);
    a = shortened;
  }
  snprintf(msg, sizeof msg, fmt, a, b);
  o->warn(o->warn_ctx, msg);
}

/* Adds c->path to the results: relative to the root for -r (the root itself is ""), else as is
 * ("." for the current directory of a pattern such as "*.png"). */
static void emit(walk_ctx *c) {
  const char *p = !c->root_len ? dir_name(&c->path)
                  : c->path.len >= c->root_len ? c->path.s + c->root_len : "";
  c->status = om_inputs_push(c->out, p, c->err);
}

/* c->path could not be listed or looked at: it becomes an input of its own, whose error row (the
 * runner cannot read it either) keeps the failure visible in the results and the exit status, as a
 * dangling link does; the warning says why. A directory that cannot be read stands for all the
 * files below it, which would otherwise be lost without a trace. */
static void emit_unreadable(walk_ctx *c, const char *fmt, int en) {
  warnf(c->o, fmt, dir_name(&c->path), strerror(en));
  emit(c);
}

static int walk_oom(walk_ctx *c) {
  return c->status = om_seterr(c->err, OM_E_NOMEM, "out of memory walking directories");
}

/* Before listing the directory c->path: records it in the loop check under tag. 1 to walk it
 * (first visit); 0 when seen before, gone meanwhile, or not even stat-able (then an input). */
static int dir_enter(walk_ctx *c, long tag) {
  struct stat st;
  if (stat(dir_name(&c->path), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) emit_unreadable(c, "cannot read directory %s: %s", errno);
    return 0;
  }
  int r = dir_set_add(&c->seen, &st, tag);
  if (r < 0) walk_oom(c);
  return r == 1;
}

/* One directory of a DIR input (c->path): image files to c->out, subdirectories (with -r) to the
 * stack; what cannot be read becomes an input (see emit_unreadable). */
static void walk_one(walk_ctx *c) {
  if (!dir_enter(c, -1)) return;
  listing l;
  if (listing_open(&l, dir_name(&c->path)) < 0) {
    walk_oom(c);
    goto done;
  }
  if (l.err_no) emit_unreadable(c, "cannot read directory %s: %s", l.err_no);
  int rec = c->o && c->o->recursive;
  size_t base = c->path.len;
  for (size_t i = l.names.n; i-- > 0 && l.d && c->status == OM_OK;) {
    const char *nm = om_inputs_get(&l.names, i);
    char type = *nm++;
    if (nm[0] == '.') continue; /* hidden files, and our own ".name.tmp.pid" outputs */
    if (pbuf_set(&c->path, base, nm, strlen(nm))) {
      walk_oom(c);
      break;
    }
    struct stat st;
    int en = 0, k = classify(dirfd(l.d), nm, &st, &en);
    if (k == K_DIR) {
      if (rec) c->status = todo_push(&c->todo, &c->path, 0, c->err);
    } else if (k == K_FILE || k == K_DANGLING) { /* dangling: an error row later */
      if (om_is_image_name(nm)) emit(c);
    } else if (k == K_UNKNOWN && (om_is_image_name(nm) || (rec && type != 'f'))) {
      emit_unreadable(c, "cannot stat %s: %s", en);
    }
  }
  pbuf_set(&c->path, base, NULL, 0);
done:
  listing_close(&l);
}

static void walk_free(walk_ctx *c) {
  free(c->path.s);
  free(c->seen.k);
  om_inputs_free(&c->todo.paths);
  free(c->todo.comp);
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
  if (pbuf_set(&c.path, 0, dir, strlen(dir))) {
    c.status = om_seterr(err, OM_E_NOMEM, "out of memory for a path");
  } else {
    /* Relative paths start after "dir/" (or after "dir" when it already ends in '/'); the
     * directory itself, when unreadable, is the relative path "" (it sorts first). */
    c.root_len = c.path.len + (c.path.len && c.path.s[c.path.len - 1] != '/');
    c.status = todo_push(&c.todo, &c.path, 0, err);
    size_t comp;
    while (walk_next(&c, &comp)) walk_one(&c);
  }
  if (c.status == OM_OK) c.status = append_sorted(in, &tmp, dir, 0, err);
  walk_free(&c);
  om_inputs_free(&tmp);
  return c.status;
}

/* ---- glob expansion ---- */

static int is_literal(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == '*' || p[i] == '?' || p[i] == '[') return 0;
  return 1;
}

/* One stack entry of a pattern walk: c->path is an existing directory (or "" for the current
 * one) and pat + comp the pattern components still to match below it. Matches (non-directories)
 * go to c->out, directories to visit to the stack. */
static void glob_one(walk_ctx *c, const char *pat, size_t comp_off) {
  const char *comp = pat + comp_off;
  while (*comp == '/') comp++; /* repeated '/' */
  if (!*comp) return;          /* "dir/": entries reach here only through a directory */
  size_t cl = comp_len(comp), base = c->path.len;
  const char *rest = comp + cl;
  while (*rest == '/') rest++;
  struct stat st;
  int en = 0;
  if (is_literal(comp, cl)) {
    /* No listing needed: the component with its backslash escapes removed. */
    if (pbuf_set(&c->path, base, comp, cl)) {
      walk_oom(c);
      return;
    }
    size_t j = c->path.len - cl;
    for (size_t i = j; i < c->path.len; i++) {
      if (c->path.s[i] == '\\' && i + 1 < c->path.len) i++;
      c->path.s[j++] = c->path.s[i];
    }
    c->path.len = j;
    c->path.s[j] = 0;
    int k = classify(AT_FDCWD, c->path.s, &st, &en);
    if (k == K_UNKNOWN) /* e.g. in a directory we may not search: whether it matches is unknown */
      emit_unreadable(c, "cannot stat %s: %s", en);
    else if (!*rest && (k == K_FILE || k == K_DANGLING))
      emit(c);
    else if (*rest && k == K_DIR)
      c->status = todo_push(&c->todo, &c->path, (size_t)(rest - pat), c->err);
    pbuf_set(&c->path, base, NULL, 0);
    return;
  }
  int dstar = is_dstar(comp, cl);
  /* Tag the visit with the component's position: each (directory, **) pair is walked once,
   * which stops symlink loops and the duplicate routes of "** / **". */
  if (dstar && !dir_enter(c, (long)(comp - pat))) return;
  listing l;
  if (listing_open(&l, dir_name(&c->path)) < 0) {
    walk_oom(c);
    goto done;
  }
  if (l.err_no) emit_unreadable(c, "cannot read directory %s: %s", l.err_no);
  /* Unlistable: reported as a whole (above), so not also through the zero-directory route. */
  if (!l.d) goto done;
  for (size_t i = l.names.n; i-- > 0 && c->status == OM_OK;) {
    const char *nm = om_inputs_get(&l.names, i);
    char type = *nm++;
    if (dstar ? nm[0] == '.' : !comp_match(comp, cl, nm, strlen(nm))) continue;
    if (pbuf_set(&c->path, base, nm, strlen(nm))) {
      walk_oom(c);
      break;
    }
    int k = classify(dirfd(l.d), nm, &st, &en);
    /* The entry is matched here when no component is left, or when a trailing "**" takes every
     * file below; otherwise a directory goes on the stack (with the same "**" or the rest). */
    int last = !*rest;
    if (k == K_DIR) {
      if (dstar || !last)
        c->status = todo_push(&c->todo, &c->path, (size_t)((dstar ? comp : rest) - pat), c->err);
    } else if (k == K_FILE || k == K_DANGLING) {
      if (last) emit(c);
    } else if (k == K_UNKNOWN && (last || type != 'f')) {
      emit_unreadable(c, "cannot stat %s: %s", en);
    }
  }
  pbuf_set(&c->path, base, NULL, 0);
  /* "**" matching no directory: the rest from here; pushed last, so visited first. */
  if (dstar && *rest && c->status == OM_OK)
    c->status = todo_push(&c->todo, &c->path, (size_t)(rest - pat), c->err);
done:
  listing_close(&l);
}

static int add_glob(om_inputs *in, const char *pat, const om_inputs_opts *o, char *err) {
  walk_ctx c = {0};
  om_inputs tmp;
  om_inputs_init(&tmp);
  c.out = &tmp;
  c.o = o;
  c.err = err;
  c.status = OM_OK;
  size_t root = 0;
  while (pat[root] == '/') root++;
  const char *rel = pat + root; /* the pattern after its root ("/" stripped) */
  if (pbuf_set(&c.path, 0, "/", root ? 1 : 0))
    c.status = om_seterr(err, OM_E_NOMEM, "out of memory for a path");
  else
    c.status = todo_push(&c.todo, &c.path, 0, err);
  size_t comp;
  while (walk_next(&c, &comp)) glob_one(&c, rel, comp);
  size_t before = in->n;
  if (c.status == OM_OK) c.status = append_sorted(in, &tmp, NULL, 1, err);
  if (c.status == OM_OK && in->n == before) warnf(o, "%s: pattern matched no files%s", pat, "");
  walk_free(&c);
  om_inputs_free(&tmp);
  return c.status;
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
