#include <stdio.h>

#include "pgha/pgha.h"

int main(void) {
  uint64_t lsn = 0;
  char name[PGHA_WAL_NAME_BUFSIZE];
  char text[PGHA_LSN_BUFSIZE];
  if (pgha_lsn_parse("0/7041f58", &lsn) != PGHA_OK) return 1;
  if (pgha_wal_segment_name(1, lsn, 0, name, sizeof name) != PGHA_OK) return 1;
  if (pgha_lsn_format(lsn, text, sizeof text) != PGHA_OK) return 1;
  printf("%s %s\n", name, text);
  return 0;
}
