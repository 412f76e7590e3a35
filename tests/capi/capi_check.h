/* The CHECK macro of the C ABI tests: counts passes and failures, prints failures with the
 * library's last error. Each test program includes it once and ends with CAPI_CHECK_SUMMARY. */
#ifndef PGHA_TESTS_CAPI_CHECK_H
#define PGHA_TESTS_CAPI_CHECK_H

#include <stdio.h>

#include "pgha/pgha.h"

static int g_passed = 0;
static int g_failed = 0;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (cond) {                                                                               \
      ++g_passed;                                                                             \
    } else {                                                                                  \
      ++g_failed;                                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, \
              pgha_last_error());                                                             \
    }                                                                                         \
  } while (0)

/* Prints "N passed, N failed" (a closing line CI reads) and gives the exit status. */
#define CAPI_CHECK_SUMMARY() \
  (printf("%d passed, %d failed\n", g_passed, g_failed), g_failed == 0 ? 0 : 1)

#endif /* PGHA_TESTS_CAPI_CHECK_H */
