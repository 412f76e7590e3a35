/* Tests of the WAL catalogue's C ABI, compiled as C99: a scratch pg_wal made here, listed,
 * asked for catch-up sets and validLsn, and uploaded to. Prints "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capi_check.h"
#include "pgha/pgha.h"

#define NAMES_MAX 12

static char g_dir[64];
static const char* g_written[NAMES_MAX];
static int g_nwritten = 0;

/* Writes dir/name, dated an hour back (the MD5 cache keeps only files not modified lately). */
static void put(const char* name, const char* text) {
  char path[256];
  struct timespec times[2];
  FILE* f;
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  f = fopen(path, "wb");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  utimensat(AT_FDCWD, path, times, 0);
  if (g_nwritten < NAMES_MAX) g_written[g_nwritten++] = name;
}

static void cleanup(void) {
  char path[256];
  int i;
  for (i = 0; i < g_nwritten; ++i) {
    snprintf(path, sizeof path, "%s/%s", g_dir, g_written[i]);
    remove(path);
  }
  rmdir(g_dir);
}

/* 1 when the list holds exactly `names` (n of them), in order. */
static int same_names(const pgha_wal_file_list* list, const char* const* names, size_t n) {
  size_t i;
  if (pgha_wal_file_list_count(list) != n) return 0;
  for (i = 0; i < n; ++i) {
    if (strcmp(pgha_wal_file_list_at(list, i)->name, names[i]) != 0) return 0;
  }
  return 1;
}

static void test_list_and_from(pgha_wal_catalog* cat, const pgha_timeline_history* h) {
  static const char* const all[] = {"000000010000000000000001", "000000010000000000000002",
                                    "00000002.history", "000000020000000000000002"};
  static const char* const from_seg2[] = {"000000010000000000000002", "00000002.history",
                                          "000000020000000000000002"};
  const uint64_t end = 0x2000200u;
  pgha_wal_file_list* list = NULL;
  const pgha_wal_file_info* info;

  CHECK(pgha_wal_catalog_list(cat, h, end, 1, &list) == PGHA_OK);
  CHECK(same_names(list, all, 4));
  info = pgha_wal_file_list_at(list, 0);
  CHECK(info != NULL && info->version == PGHA_STRUCT_VERSION && info->kind == PGHA_WAL_SEGMENT);
  CHECK(info != NULL && strcmp(info->md5, "d41d8cd98f00b204e9800998ecf8427e") == 0);
  info = pgha_wal_file_list_at(list, 1);
  CHECK(info != NULL && strcmp(info->md5, "900150983cd24fb0d6963f7d28e17f72") == 0);
  CHECK(info != NULL && info->size == 3 && info->segment == 2 && info->timeline == 1);
  CHECK(pgha_wal_file_list_at(list, 2)->kind == PGHA_WAL_HISTORY);
  CHECK(pgha_wal_file_list_at(list, 4) == NULL);
  pgha_wal_file_list_free(list);
  CHECK(pgha_wal_catalog_hashes_computed(cat) == 4);

  CHECK(pgha_wal_catalog_from(cat, 1, 0x2000028u, h, end, &list) == PGHA_OK);
  CHECK(same_names(list, from_seg2, 3));
  pgha_wal_file_list_free(list);
  CHECK(pgha_wal_catalog_from_file(cat, "000000010000000000000002", h, end, &list) == PGHA_OK);
  CHECK(same_names(list, from_seg2, 3));
  pgha_wal_file_list_free(list);
  CHECK(pgha_wal_catalog_hashes_computed(cat) == 4); /* all cached */

  CHECK(pgha_wal_catalog_list(cat, h, end, 0, &list) == PGHA_OK);
  CHECK(same_names(list, all, 4) && strcmp(pgha_wal_file_list_at(list, 0)->md5, "") == 0);
  pgha_wal_file_list_free(list);

  list = (pgha_wal_file_list*)1;
  CHECK(pgha_wal_catalog_from(cat, 3, 0x2000028u, h, end, &list) == -PGHA_E_NOT_FOUND);
  CHECK(list == NULL);
  CHECK(pgha_wal_catalog_from(cat, 1, 0x2000108u, h, end, &list) == -PGHA_E_WRONG_STATE);
  CHECK(strstr(pgha_last_error(), "0/2000100") != NULL);
  CHECK(pgha_wal_catalog_from(cat, 1, 0x1000028u, h, 0, &list) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_from_file(cat, "00000002.history", h, end, &list) == -PGHA_E_BAD_INPUT);
}

static void test_path_for(pgha_wal_catalog* cat) {
  char buf[256];
  char small[8];
  char expected[256];
  snprintf(expected, sizeof expected, "%s/00000002.history", g_dir);
  CHECK(pgha_wal_catalog_path_for(cat, "00000002.history", buf, sizeof buf) == PGHA_OK);
  CHECK(strcmp(buf, expected) == 0);
  CHECK(pgha_wal_catalog_path_for(cat, "../x", buf, sizeof buf) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_path_for(cat, "00000001000000000000000a", buf, sizeof buf) ==
        -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_path_for(cat, "000000010000000000000007", buf, sizeof buf) ==
        -PGHA_E_NOT_FOUND);
  CHECK(pgha_wal_catalog_path_for(cat, "00000002.history", small, sizeof small) ==
        -PGHA_E_BAD_INPUT);
}

static void test_install(pgha_wal_catalog* cat) {
  static const char history3[] = "1\t0/2000100\tno recovery target specified\n";
  int present = -1;
  char buf[256];
  CHECK(pgha_wal_catalog_install(cat, "00000003.history", history3, strlen(history3), NULL,
                                 &present) == PGHA_OK);
  g_written[g_nwritten++] = "00000003.history";
  CHECK(present == 0);
  CHECK(pgha_wal_catalog_install(cat, "00000003.history", history3, strlen(history3),
                                 "5A0D6E1D5A05C1E9A1A4F4F6D5B8E1F3",
                                 &present) == -PGHA_E_BAD_INPUT);
  CHECK(strstr(pgha_last_error(), "MD5") != NULL);
  CHECK(pgha_wal_catalog_install(cat, "00000003.history", history3, strlen(history3), NULL,
                                 &present) == PGHA_OK);
  CHECK(present == 1);
  CHECK(pgha_wal_catalog_install(cat, "00000003.history", "1\t0/1\tx\n", 8, NULL, NULL) ==
        -PGHA_E_CONFLICT);
  CHECK(pgha_wal_catalog_install(cat, "../x", "x", 1, NULL, NULL) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_install(cat, "000000010000000000000003", "short", 5, NULL, NULL) ==
        -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_path_for(cat, "000000010000000000000003", buf, sizeof buf) ==
        -PGHA_E_NOT_FOUND);
}

static void test_valid_lsn(pgha_wal_catalog* cat, const pgha_timeline_history* h) {
  pgha_valid_lsn_result r;
  memset(&r, 0, sizeof r);
  CHECK(pgha_wal_catalog_valid_lsn(cat, 2, 0x2000200u, h, 0x2000200u, &r) == -PGHA_E_BAD_INPUT);
  r.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_wal_catalog_valid_lsn(cat, 2, 0x2000200u, h, 0x2000200u, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_VALID && r.cnt == 0 && strcmp(r.msg, "Valid lsn") == 0);
  CHECK(pgha_wal_catalog_valid_lsn(cat, 2, 0x2000208u, h, 0x2000200u, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_NO_ENTRY);
  CHECK(pgha_wal_catalog_valid_lsn(cat, 5, 0x2000100u, h, 0x2000200u, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_NO_ENTRY);
  CHECK(pgha_wal_catalog_valid_lsn(cat, 1, 0x2000108u, h, 0x2000200u, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_DIVERGED && strstr(r.msg, "0/2000100") != NULL);
  CHECK(pgha_wal_catalog_valid_lsn(cat, 2, 0x2000104u, h, 0x2000200u, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_MID_RECORD);
  /* With the asker's last record: valid by position, but no such record in this WAL (the
   * segment holds no WAL at all). An unaligned record start is bad input; answers other
   * than 0 and 2 are kept. */
  CHECK(pgha_wal_catalog_valid_lsn_record(cat, 2, 0x2000200u, h, 0x2000200u, 0x20001E8u,
                                          0x1234abcdu, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_RECORD_DIFFERS && strstr(r.msg, "0/20001E8") != NULL);
  CHECK(strstr(r.msg, "1234abcd") != NULL);
  CHECK(pgha_wal_catalog_valid_lsn_record(cat, 2, 0x2000200u, h, 0x2000200u, 0x20001E4u,
                                          0x1234abcdu, &r) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_wal_catalog_valid_lsn_record(cat, 1, 0x2000108u, h, 0x2000200u, 0x20000F0u,
                                          0x1234abcdu, &r) == PGHA_OK);
  CHECK(r.code == PGHA_VALID_LSN_DIVERGED);
}

int main(void) {
  static const char history2[] = "1\t0/2000100\tno recovery target specified\n";
  pgha_wal_catalog* cat = NULL;
  pgha_timeline_history* h = NULL;
  pgha_wal_catalog_options options;

  strcpy(g_dir, "/tmp/pgha-capi-catalog-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 2;
  put("000000010000000000000001", "");
  put("000000010000000000000002", "abc");
  put("00000002.history", history2);
  put("000000020000000000000002", "x");
  put("000000020000000000000003", "recycled");
  put("000000010000000000000002.00000028.backup", "backup");

  CHECK(pgha_wal_catalog_open("/nonexistent/pg_wal", NULL, &cat) == -PGHA_E_NOT_FOUND);
  CHECK(cat == NULL);
  memset(&options, 0, sizeof options);
  CHECK(pgha_wal_catalog_open(g_dir, &options, &cat) == -PGHA_E_BAD_INPUT); /* version 0 */
  options.version = PGHA_STRUCT_VERSION;
  options.expected_major = 9;
  CHECK(pgha_wal_catalog_open(g_dir, &options, &cat) == -PGHA_E_BAD_INPUT);
  options.expected_major = 15;
  CHECK(pgha_wal_catalog_open(g_dir, &options, &cat) == PGHA_OK);
  CHECK(pgha_timeline_history_parse(history2, strlen(history2), 2, &h) == PGHA_OK);

  if (cat != NULL && h != NULL) {
    test_list_and_from(cat, h);
    test_path_for(cat);
    test_install(cat);
    test_valid_lsn(cat, h);
  }
  pgha_timeline_history_free(h);
  pgha_wal_catalog_free(cat);
  pgha_wal_catalog_free(NULL);
  pgha_wal_file_list_free(NULL);
  CHECK(pgha_wal_file_list_count(NULL) == 0);
  CHECK(pgha_wal_file_list_at(NULL, 0) == NULL);
  CHECK(pgha_wal_catalog_hashes_computed(NULL) == 0);
  cleanup();
  return CAPI_CHECK_SUMMARY();
}
