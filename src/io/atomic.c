/* atomic.c: temp-file-then-rename outputs (see atomic.h). */
#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_name(const char *target) {
  const char *slash = strrchr(target, '/');
  size_t dlen = slash ? (size_t)(slash - target + 1) : 0;
  const char *base = slash ? slash + 1 : target;
  size_t n = strlen(target) + 48;
  char *t = malloc(n);
  if (!t) return NULL;
  snprintf(t, n, "%.*s.%s.tmp.%ld", (int)dlen, target, base, (long)getpid());
  return t;
}

char *om_atomic_partial_name(const char *target) {
  size_t n = strlen(target) + sizeof ".partial";
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s.partial", target);
  return p;
}

static int setup(om_atomic_file *a, const char *target, char *err) {
  memset(a, 0, sizeof *a);
  if (!*target || target[strlen(target) - 1] == '/')
    return om_seterr(err, OM_E_INVALID, "output '%s' is not a file name", target);
  a->target = strdup(target);
  a->tmp = tmp_name(target);
  if (!a->target || !a->tmp) {
    om_atomic_abort(a);
    return om_seterr(err, OM_E_NOMEM, "out of memory for the output name");
  }
  return OM_OK;
}

int om_atomic_open(om_atomic_file *a, const char *target, char *err) {
  int st = setup(a, target, err);
  if (st) return st;
  struct stat sb;
  if (stat(target, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    om_atomic_abort(a);
    return om_seterr(err, OM_E_IO, "cannot write %s: Is a directory", target);
  }
  if (stat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    /* A device, FIFO or socket (-o /dev/stdout, /dev/full, a named pipe): written in place.
     * Renaming a temporary file onto it would replace the device node with a regular file. */
    free(a->tmp);
    a->tmp = NULL;
    int fd = open(target, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
      int e = errno;
      if (fd >= 0) close(fd);
      om_atomic_abort(a);
      return om_seterr(err, OM_E_IO, "cannot open %s: %s", target, strerror(e));
    }
    return OM_OK;
  }
  int fd = open(a->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int e = errno;
    om_seterr(err, OM_E_IO, "cannot create %s: %s", a->tmp, strerror(e));
    free(a->tmp); /* not ours to remove */
    a->tmp = NULL;
    om_atomic_abort(a);
    return OM_E_IO;
  }
  a->f = fdopen(fd, "w+b");
  if (!a->f) {
    close(fd);
    om_atomic_abort(a);
    return om_seterr(err, OM_E_NOMEM, "cannot open a stream for %s", target);
  }
  return OM_OK;
}

int om_atomic_resume(om_atomic_file *a, const char *target, long long keep_bytes, char *err) {
  int st = setup(a, target, err);
  if (st) return st;
  char *partial = om_atomic_partial_name(target);
  if (!partial) {
    om_atomic_abort(a);
    return om_seterr(err, OM_E_NOMEM, "out of memory for the output name");
  }
  if (rename(partial, a->tmp) != 0) {
    int e = errno;
    om_seterr(err, OM_E_IO, "cannot take over %s: %s", partial, strerror(e));
    free(partial);
    free(a->tmp);
    a->tmp = NULL;
    om_atomic_abort(a);
    return OM_E_IO;
  }
  int fd = open(a->tmp, O_RDWR | O_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)keep_bytes) != 0 || lseek(fd, 0, SEEK_END) < 0 ||
      !(a->f = fdopen(fd, "r+b"))) {
    int e = errno;
    if (fd >= 0 && !a->f) close(fd);
    /* Put the partial file back so nothing is lost. */
    rename(a->tmp, partial);
    om_seterr(err, OM_E_IO, "cannot reopen %s: %s", partial, strerror(e));
    free(partial);
    free(a->tmp);
    a->tmp = NULL;
    om_atomic_abort(a);
    return OM_E_IO;
  }
  free(partial);
  fseek(a->f, 0, SEEK_END);
  return OM_OK;
}

static int finish(om_atomic_file *a, const char *dest, char *err) {
  int e = 0;
  if (fflush(a->f) != 0 || ferror(a->f)) e = errno ? errno : EIO;
  if (!e && fsync(fileno(a->f)) != 0 && errno != EINVAL) e = errno;
  if (fclose(a->f) != 0 && !e) e = errno ? errno : EIO;
  a->f = NULL;
  if (e) {
    om_seterr(err, OM_E_IO, "write error on %s: %s", a->target, strerror(e));
    om_atomic_abort(a);
    return OM_E_IO;
  }
  if (a->tmp && rename(a->tmp, dest) != 0) { /* no tmp: a device written in place */
    e = errno;
    om_seterr(err, OM_E_IO, "cannot rename %s to %s: %s", a->tmp, dest, strerror(e));
    om_atomic_abort(a);
    return OM_E_IO;
  }
  free(a->tmp);
  a->tmp = NULL;
  om_atomic_abort(a);
  return OM_OK;
}

int om_atomic_commit(om_atomic_file *a, char *err) { return finish(a, a->target, err); }

int om_atomic_keep_partial(om_atomic_file *a, char *err) {
  char *p = om_atomic_partial_name(a->target);
  if (!p) {
    om_atomic_abort(a);
    return om_seterr(err, OM_E_NOMEM, "out of memory for the output name");
  }
  int st = finish(a, p, err);
  free(p);
  return st;
}

void om_atomic_abort(om_atomic_file *a) {
  if (a->f) fclose(a->f);
  if (a->tmp) unlink(a->tmp);
  free(a->tmp);
  free(a->target);
  memset(a, 0, sizeof *a);
}
