/* inputs.h: turning the command line's INPUT arguments into the ordered list of paths to predict.
 *
 * Each argument, in order:
 *   - an existing file (or anything that is not a directory): itself, whatever its extension;
 *   - a directory: its image files (by extension, see om_is_image_name) sorted byte-wise (strcmp);
 *     with `recursive` the whole subtree, sorted as full relative paths; a directory reached twice
 *     (symlink loops, two links to one directory) is walked once, detected by (st_dev, st_ino);
 *     dangling symlinks with an image extension are kept (they fail later with an error row);
 *   - a path that does not exist but contains * ? or [: a glob pattern expanded by om_glob_match
 *     (not glob(3)): * ? [...] [!...] within one component, ** as a whole component for any number
 *     of directories (a trailing ** for every file below); wildcards do not match a leading '.';
 *     only non-directories are listed; the matches of one pattern are sorted byte-wise. No match:
 *     a warning through the callback and no inputs from it (not an error);
 *   - @FILE: one path per line ("\n" or "\r\n"), empty lines skipped, lines taken literally;
 *   - "-": the same from standard input;
 *   - any other path that does not exist: itself (it becomes an error row, not a fatal error).
 * Nothing met while expanding a directory or a pattern is dropped silently: a directory that
 * cannot be listed (no permission, a read error, a path longer than PATH_MAX) is kept as an input
 * of its own, and so is an entry that cannot be stat'ed, or a file whose path is longer than
 * PATH_MAX; each fails later with an error row, and a warning through the callback says why. The
 * walks are iterative (heap stack), so no tree depth can overflow the C stack.
 * Duplicates are kept. Paths live in one growing string arena (no malloc per path). */
#ifndef OM_INPUTS_H
#define OM_INPUTS_H

#include <stdio.h>

#include "common/om.h"

typedef struct om_inputs {
  char *arena;                   /* NUL-terminated paths back to back */
  size_t len, cap;
  size_t *off;                   /* offset of path i in arena */
  size_t n, ncap;
} om_inputs;

typedef struct om_inputs_opts {
  int recursive;
  FILE *stdin_file;              /* for "-"; NULL: stdin */
  void (*warn)(void *ctx, const char *msg);  /* non-fatal notes ("pattern matched no files",
                                                "cannot read directory D: Permission denied") */
  void *warn_ctx;
} om_inputs_opts;

void om_inputs_init(om_inputs *in);
void om_inputs_free(om_inputs *in);
/* Appends path (copied) as the next input. */
int om_inputs_push(om_inputs *in, const char *path, char *err);
static inline const char *om_inputs_get(const om_inputs *in, size_t i) { return in->arena + in->off[i]; }
/* Expands one command-line INPUT argument as described above and appends the results. */
int om_inputs_add(om_inputs *in, const char *arg, const om_inputs_opts *o, char *err);

/* 1 if the name ends in an image extension (jpg jpeg png bmp gif tga psd hdr pnm ppm pgm pbm npy,
 * case-insensitive). */
int om_is_image_name(const char *name);
/* 1 if the string contains a glob metacharacter (* ? [). */
int om_has_glob_meta(const char *s);
/* Whole-path match of pattern against path; '/' separates components. Within a component:
 * '*' any run, '?' one byte, "[abc]" "[a-z]" "[!a-z]" ("]" first in a class is literal), "\\x" a
 * literal x. A component that is exactly "**" matches zero or more whole components. Wildcards
 * never match '/' and never match a leading '.' of a component. */
int om_glob_match(const char *pattern, const char *path);

#endif
