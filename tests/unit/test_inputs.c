/* test_inputs.c: input expansion: the glob matcher (classes, ranges, negation, **, leading dots),
 * directory listing and recursion order, symlink loops, dangling links, @lists, missing paths.
 * Trees are built in a mkdtemp directory; expected lists are written out by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/inputs.h"

static int fails = 0;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);   \
      fails++;                                                                \
    }                                                                         \
  } while (0)

static int nwarn = 0;
static void warn(void *ctx, const char *m) {
  (void)ctx;
  nwarn++;
  fprintf(stderr, "(warning: %s)\n", m);
}

static void touch(const char *p) {
  FILE *f = fopen(p, "w");
  if (f) fclose(f);
}

/* Expands args (NULL-terminated) and compares with the expected list joined by '|'. */
static void expect(const char *const *args, int recursive, const char *want, int line) {
  om_inputs in;
  om_inputs_init(&in);
  om_inputs_opts o = {recursive, NULL, warn, NULL};
  char err[OM_ERR_LEN];
  for (int i = 0; args[i]; i++)
    if (om_inputs_add(&in, args[i], &o, err) != OM_OK) {
      fprintf(stderr, "line %d: add %s: %s\n", line, args[i], err);
      fails++;
    }
  char got[4096] = "";
  for (size_t i = 0; i < in.n; i++) {
    if (i) strcat(got, "|");
    strcat(got, om_inputs_get(&in, i));
  }
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "line %d:\n  got  %s\n  want %s\n", line, got, want);
    fails++;
  }
  om_inputs_free(&in);
}
#define EXPECT(rec, want, ...)                                  \
  do {                                                          \
    const char *const a_[] = {__VA_ARGS__, NULL};               \
    expect(a_, rec, want, __LINE__);                            \
  } while (0)

int main(void) {
  /* The matcher alone. */
  CHECK(om_glob_match("*.jpg", "a.jpg"));
  CHECK(!om_glob_match("*.jpg", "a.jpeg"));
  CHECK(!om_glob_match("*.jpg", "d/a.jpg"));
  CHECK(!om_glob_match("*.jpg", ".a.jpg"));
  CHECK(om_glob_match(".*.jpg", ".a.jpg"));
  CHECK(om_glob_match("img_??.png", "img_01.png"));
  CHECK(!om_glob_match("img_??.png", "img_1.png"));
  CHECK(om_glob_match("img_[0-4]*", "img_3x"));
  CHECK(!om_glob_match("img_[0-4]*", "img_5x"));
  CHECK(om_glob_match("img_[!0-4]*", "img_5x"));
  CHECK(!om_glob_match("img_[!0-4]*", "img_3x"));
  CHECK(om_glob_match("[]a]", "]"));
  CHECK(om_glob_match("[abc]", "b"));
  CHECK(om_glob_match("a[", "a["));          /* unterminated class: literal */
  CHECK(om_glob_match("a\\*", "a*"));
  CHECK(!om_glob_match("a\\*", "ab"));
  CHECK(om_glob_match("**/x.png", "x.png"));
  CHECK(om_glob_match("**/x.png", "a/b/c/x.png"));
  CHECK(om_glob_match("a/**/x.png", "a/x.png"));
  CHECK(om_glob_match("a/**/x.png", "a/b/x.png"));
  CHECK(!om_glob_match("a/**/x.png", "b/a/x.png"));
  CHECK(!om_glob_match("**/x.png", ".hidden/x.png"));
  CHECK(om_glob_match("a/**", "a/b/c"));
  CHECK(om_glob_match("*a*b*c", "xxaxxbxxbxc"));
  CHECK(!om_glob_match("*a*b*c", "xxaxxbxxbx"));
  CHECK(om_is_image_name("x.JPG") && om_is_image_name("a.b.npy") && !om_is_image_name("x.txt") &&
        !om_is_image_name("jpg") && !om_is_image_name("d.png/x"));

  char tmpl[] = "/tmp/om_inputs_XXXXXX";
  char *root = mkdtemp(tmpl);
  if (!root || chdir(root) != 0) {
    perror("mkdtemp");
    return 1;
  }
  mkdir("d", 0777);
  mkdir("d/sub", 0777);
  mkdir("d/sub/deep", 0777);
  mkdir("d/B", 0777);
  touch("d/b.png");
  touch("d/a.JPG");
  touch("d/Z.jpeg");
  touch("d/notes.txt");
  touch("d/.hidden.png");
  touch("d/sub/c.png");
  touch("d/sub/deep/e.gif");
  touch("d/B/x.bmp");
  touch("d/a.png.dir"); /* not an image extension */
  CHECK(symlink("../d", "d/sub/loop") == 0);      /* symlink loop */
  CHECK(symlink("nowhere.png", "d/dangling.png") == 0);

  /* Directory: image names only, strcmp order (uppercase first), hidden skipped. */
  EXPECT(0, "d/Z.jpeg|d/a.JPG|d/b.png|d/dangling.png", "d");
  EXPECT(0, "d/Z.jpeg|d/a.JPG|d/b.png|d/dangling.png", "d/");
  /* Recursive: full relative paths sorted byte-wise; the loop is cut ("d" is walked once). */
  EXPECT(1, "d/B/x.bmp|d/Z.jpeg|d/a.JPG|d/b.png|d/dangling.png|d/sub/c.png|d/sub/deep/e.gif", "d");
  /* Explicit files whatever the extension; missing paths kept; duplicates kept. */
  EXPECT(0, "d/notes.txt|missing.png|d/b.png|d/b.png", "d/notes.txt", "missing.png", "d/b.png",
         "d/b.png");
  /* Globs. */
  EXPECT(0, "d/a.png.dir|d/b.png|d/dangling.png", "d/*.p*");
  EXPECT(0, "d/Z.jpeg|d/a.JPG", "d/[A-Za]*.[jJ]*");
  EXPECT(0, "d/b.png|d/dangling.png|d/notes.txt", "d/[!A-Za]*");
  /* d/sub/loop is d again: "**" walks each directory once, so the loop adds nothing. */
  EXPECT(0, "d/B/x.bmp|d/b.png|d/dangling.png|d/sub/c.png|d/sub/deep/e.gif",
         "d/**/*.[bgp][min][gfp]");
  EXPECT(0, "d/sub/c.png", "d/*/c.png");
  EXPECT(0, "d/sub/c.png", "d/**/sub/c.png");
  nwarn = 0;
  EXPECT(0, "", "d/*.nothing");
  CHECK(nwarn == 1);
  /* Absolute pattern. */
  {
    char pat[512], want[1024];
    snprintf(pat, sizeof pat, "%s/d/sub/*.png", root);
    snprintf(want, sizeof want, "%s/d/sub/c.png", root);
    EXPECT(0, want, pat);
  }
  /* @list: CRLF and LF, empty lines skipped, lines literal (no glob, no directory expansion). */
  {
    FILE *f = fopen("list.txt", "w");
    fputs("d/b.png\r\n\nd/*.png\nd\r\nlast", f);
    fclose(f);
    EXPECT(0, "d/b.png|d/*.png|d|last", "@list.txt");
    om_inputs in;
    om_inputs_init(&in);
    char err[OM_ERR_LEN];
    CHECK(om_inputs_add(&in, "@no_such_list", NULL, err) == OM_E_IO);
    CHECK(strstr(err, "no_such_list") != NULL);
    /* "-" reads the list from the given stream. */
    FILE *s = fopen("list.txt", "r");
    om_inputs_opts o = {0, s, NULL, NULL};
    CHECK(om_inputs_add(&in, "-", &o, err) == OM_OK && in.n == 4);
    fclose(s);
    om_inputs_free(&in);
  }
  /* Many paths: the arena grows without losing earlier entries. */
  {
    om_inputs in;
    om_inputs_init(&in);
    char p[32];
    for (int i = 0; i < 100000; i++) {
      snprintf(p, sizeof p, "p%06d.png", i);
      if (om_inputs_push(&in, p, NULL) != OM_OK) fails++;
    }
    CHECK(in.n == 100000 && strcmp(om_inputs_get(&in, 0), "p000000.png") == 0 &&
          strcmp(om_inputs_get(&in, 99999), "p099999.png") == 0);
    om_inputs_free(&in);
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  if (fails) fprintf(stderr, "%d checks failed\n", fails);
  return fails ? 1 : 0;
}
