/* check.h: the unit tests' assertion. CHECK(cond, fmt, ...) counts every check and every failure and
 * prints a failure (file:line and the message) on stderr; a test ends with `return failures ? 1 : 0`.
 * Header-only: each test is its own executable. */
#ifndef OM_TEST_CHECK_H
#define OM_TEST_CHECK_H

#include <stdio.h>

static int failures;
static int checks __attribute__((unused));

#define CHECK(cond, ...)                                   \
  do {                                                     \
    checks++;                                              \
    if (!(cond)) {                                         \
      failures++;                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)

#endif
