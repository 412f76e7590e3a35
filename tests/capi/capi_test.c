/* Tests of the C ABI, compiled as C99. Fixtures: argv[1], else $PGHA_FIXTURES_DIR, else
 * tests/fixtures (the configured PGHA_FIXTURES_DIR). Values are
 * compared with the fixtures' sidecars (slots.tsv, timelines.tsv) and with the lines of the
 * pg_controldata text itself. Prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capi_check.h"
#include "pgha/pgha.h"


static char* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (char*)malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Cell `col` (0-based) of a tab-separated line, copied into out. */
static void tsv_cell(const char* line, int col, char* out, size_t outsize) {
  const char* p = line;
  size_t n = 0;
  while (col > 0 && *p != '\0' && *p != '\n') {
    if (*p++ == '\t') --col;
  }
  while (p[n] != '\0' && p[n] != '\t' && p[n] != '\n' && n + 1 < outsize) ++n;
  memcpy(out, p, n);
  out[n] = '\0';
}

/* The value after "label:" in pg_controldata text. */
static void control_value(const char* text, const char* label, char* out, size_t outsize) {
  const char* p = strstr(text, label);
  size_t n = 0;
  out[0] = '\0';
  if (p == NULL) return;
  p += strlen(label);
  while (*p == ' ') ++p;
  while (p[n] != '\0' && p[n] != '\n' && n + 1 < outsize) ++n;
  memcpy(out, p, n);
  out[n] = '\0';
}

static void test_lsn(void) {
  uint64_t v = 0;
  char buf[PGHA_LSN_BUFSIZE];
  CHECK(pgha_lsn_parse("16/B374D848", &v) == PGHA_OK && v == 0x16B374D848ull);
  CHECK(pgha_lsn_format(v, buf, sizeof buf) == PGHA_OK && strcmp(buf, "16/B374D848") == 0);
  CHECK(pgha_lsn_parse("16/B374D848 ", &v) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_last_error_code() == PGHA_E_BAD_INPUT &&
        strstr(pgha_last_error(), "16/B374D848") != NULL);
  CHECK(pgha_lsn_parse(NULL, &v) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_lsn_format(v, buf, 4) == -PGHA_E_BAD_INPUT);
  CHECK(pgha_lsn_parse("0/1", &v) == PGHA_OK && pgha_last_error_code() == 0 &&
        pgha_last_error()[0] == '\0');
}

static void test_wal_names(void) {
  pgha_wal_file_name n;
  char buf[PGHA_WAL_NAME_BUFSIZE];
  memset(&n, 0, sizeof n);
  n.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_wal_segment_name(3, 0xAB2C3D4E5ull, 0, buf, sizeof buf) == PGHA_OK &&
        strcmp(buf, "000000030000000A000000B2") == 0);
  CHECK(pgha_wal_file_name_parse("000000020000000000000008.00000028.backup", 0, &n) == PGHA_OK);
  CHECK(n.kind == PGHA_WAL_BACKUP && n.timeline == 2 && n.segment == 8 && n.start_lsn == 0x8000028);
  CHECK(pgha_wal_file_name_parse("00000003.history", 0, &n) == PGHA_OK &&
        n.kind == PGHA_WAL_HISTORY);
  CHECK(pgha_wal_file_name_parse("../00000003.history", 0, &n) == -PGHA_E_BAD_INPUT);
  n.version = 0;
  CHECK(pgha_wal_file_name_parse("00000003.history", 0, &n) == -PGHA_E_BAD_INPUT);
}

static void test_history(const char* fixtures) {
  char path[1024];
  char* tsv;
  size_t len = 0;
  const char* line;
  pgha_timeline_history* h = NULL;
  pgha_timeline_entry e;
  uint64_t sp = 0, lsn = 0;
  uint32_t tli = 0;
  pgha_follow_verdict verdict;
  int rows = 0;
  snprintf(path, sizeof path, "%s/pg15/timelines/00000003.history", fixtures);
  CHECK(pgha_timeline_history_read(path, 0, &h) == PGHA_OK && h != NULL);
  CHECK(pgha_timeline_history_count(h) == 3);
  snprintf(path, sizeof path, "%s/pg15/timelines/timelines.tsv", fixtures);
  tsv = read_file(path, &len);
  CHECK(tsv != NULL);
  memset(&e, 0, sizeof e);
  e.version = PGHA_STRUCT_VERSION;
  for (line = tsv == NULL ? NULL : strchr(tsv, '\n'); line != NULL && line[1] != '\0';
       line = strchr(line + 1, '\n')) {
    char file[64], parent[16], switchpoint[32];
    tsv_cell(line + 1, 0, file, sizeof file);
    if (strcmp(file, "00000003.history") != 0) continue;
    tsv_cell(line + 1, 2, parent, sizeof parent);
    tsv_cell(line + 1, 3, switchpoint, sizeof switchpoint);
    CHECK(pgha_lsn_parse(switchpoint, &lsn) == PGHA_OK);
    CHECK(pgha_timeline_history_entry(h, (size_t)rows, &e) == PGHA_OK);
    CHECK(e.timeline == (uint32_t)atoi(parent) && e.end == lsn);
    CHECK(pgha_timeline_history_switch_point(h, e.timeline, &sp) == PGHA_OK && sp == lsn);
    CHECK(pgha_timeline_history_timeline_of(h, lsn, &tli) == PGHA_OK && tli == e.timeline + 1);
    CHECK(pgha_timeline_history_can_follow(h, e.timeline, lsn, 0, &verdict, NULL) == PGHA_OK &&
          verdict == PGHA_FOLLOW_VALID);
    CHECK(pgha_timeline_history_can_follow(h, e.timeline, lsn + 1, 0, &verdict, &sp) == PGHA_OK &&
          verdict == PGHA_FOLLOW_DIVERGED && sp == lsn);
    ++rows;
  }
  CHECK(rows == 2);
  CHECK(pgha_timeline_history_entry(h, 3, &e) == -PGHA_E_NOT_FOUND);
  CHECK(pgha_timeline_history_switch_point(h, 7, &sp) == -PGHA_E_NOT_FOUND);
  CHECK(pgha_timeline_history_can_follow(h, 4, 1, 0, &verdict, NULL) == PGHA_OK &&
        verdict == PGHA_FOLLOW_UNKNOWN_TIMELINE);
  free(tsv);
  pgha_timeline_history_free(h);
  pgha_timeline_history_free(NULL);
  h = NULL;
  CHECK(pgha_timeline_history_parse("1\tnot-an-lsn\treason\n", 20, 2, &h) == -PGHA_E_BAD_INPUT &&
        h == NULL);
}

static void test_control_data(const char* fixtures) {
  char path[1024], value[128];
  size_t len = 0;
  char* text;
  uint64_t lsn = 0;
  pgha_control_data cd;
  snprintf(path, sizeof path, "%s/pg15/controldata/promoted_running.txt", fixtures);
  text = read_file(path, &len);
  CHECK(text != NULL);
  if (text == NULL) return;
  memset(&cd, 0, sizeof cd);
  cd.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_control_data_parse(text, len, &cd) == PGHA_OK);
  control_value(text, "Latest checkpoint location:", value, sizeof value);
  CHECK(pgha_lsn_parse(value, &lsn) == PGHA_OK && cd.checkpoint == lsn);
  control_value(text, "Latest checkpoint's REDO WAL file:", value, sizeof value);
  CHECK(strcmp(cd.redo_wal_file, value) == 0);
  control_value(text, "Database system identifier:", value, sizeof value);
  CHECK(cd.system_identifier == strtoull(value, NULL, 10));
  control_value(text, "Min recovery ending loc's timeline:", value, sizeof value);
  CHECK(cd.current_timeline == (uint32_t)atoi(value) && cd.current_timeline > cd.timeline);
  control_value(text, "Database cluster state:", value, sizeof value);
  CHECK(strcmp(pgha_cluster_state_name(cd.cluster_state), value) == 0);
  CHECK(pgha_control_data_parse(text, len / 2, &cd) == -PGHA_E_BAD_INPUT);
  free(text);
}

/* Debian 15's global/pg_control decoded, against pg_controldata's output of the same file. */
static void test_control_file(const char* fixtures) {
  char path[1024];
  size_t len = 0, txt_len = 0;
  char* text;
  uint8_t* bytes;
  pgha_control_data from_file, from_text;
  snprintf(path, sizeof path, "%s/pg15/control/running.txt", fixtures);
  text = read_file(path, &txt_len);
  snprintf(path, sizeof path, "%s/pg15/control/running.pg_control", fixtures);
  bytes = (uint8_t*)read_file(path, &len);
  CHECK(text != NULL && bytes != NULL);
  if (text == NULL || bytes == NULL) return;
  memset(&from_file, 0, sizeof from_file);
  memset(&from_text, 0, sizeof from_text);
  from_file.version = from_text.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_control_data_read(path, &from_file) == PGHA_OK);
  CHECK(pgha_control_data_parse(text, txt_len, &from_text) == PGHA_OK);
  CHECK(from_file.checkpoint == from_text.checkpoint && from_file.redo == from_text.redo);
  CHECK(from_file.system_identifier == from_text.system_identifier);
  CHECK(strcmp(from_file.redo_wal_file, from_text.redo_wal_file) == 0);
  CHECK(from_file.wal_segment_size == from_text.wal_segment_size);
  CHECK(from_file.cluster_state == from_text.cluster_state);
  CHECK(pgha_control_data_decode(bytes, len, 1, &from_file) == PGHA_OK);
  bytes[40] ^= 1;
  CHECK(pgha_control_data_decode(bytes, len, 1, &from_file) == -PGHA_E_BAD_INPUT);
  CHECK(strstr(pgha_last_error(), "CRC-32C mismatch") != NULL);
  CHECK(pgha_control_data_decode(bytes, len, 0, &from_file) == PGHA_OK);
  CHECK(pgha_control_data_decode(bytes, 100, 0, &from_file) == -PGHA_E_BAD_INPUT);
  snprintf(path, sizeof path, "%s/pg15/control/no-such-file", fixtures);
  CHECK(pgha_control_data_read(path, &from_file) == -PGHA_E_NOT_FOUND);
  free(bytes);
  free(text);
}

static void test_slots(const char* fixtures) {
  char path[1024];
  size_t len = 0;
  char* tsv;
  const char* line;
  int rows = 0;
  snprintf(path, sizeof path, "%s/pg15/slots/slots.tsv", fixtures);
  tsv = read_file(path, &len);
  CHECK(tsv != NULL);
  for (line = tsv == NULL ? NULL : strchr(tsv, '\n'); line != NULL && line[1] != '\0';
       line = strchr(line + 1, '\n')) {
    char file[64], name[64], restart[32], catalog_xmin[32], bytes_path[1100];
    pgha_slot_state* s = NULL;
    pgha_slot_state* again = NULL;
    pgha_slot_info info;
    uint8_t* bytes = NULL;
    size_t n = 0, orig_len = 0;
    char* orig;
    uint64_t lsn = 0;
    tsv_cell(line + 1, 0, file, sizeof file);
    tsv_cell(line + 1, 1, name, sizeof name);
    tsv_cell(line + 1, 7, restart, sizeof restart);
    tsv_cell(line + 1, 9, catalog_xmin, sizeof catalog_xmin);
    snprintf(bytes_path, sizeof bytes_path, "%s/pg15/slots/%s", fixtures, file);
    CHECK(pgha_slot_state_read(bytes_path, &s) == PGHA_OK);
    memset(&info, 0, sizeof info);
    info.version = PGHA_STRUCT_VERSION;
    CHECK(pgha_slot_state_info(s, &info) == PGHA_OK);
    CHECK(strcmp(info.name, name) == 0 && info.layout == 14);
    if (restart[0] != '\0')
      CHECK(pgha_lsn_parse(restart, &lsn) == PGHA_OK && info.restart_lsn == lsn);
    CHECK(info.catalog_xmin == (uint32_t)strtoul(catalog_xmin, NULL, 10));
    /* byte-exact round trip */
    orig = read_file(bytes_path, &orig_len);
    CHECK(pgha_slot_state_encode(s, &bytes, &n) == PGHA_OK && n == orig_len && orig != NULL &&
          memcmp(bytes, orig, n) == 0);
    /* a setter then a decode of the new bytes */
    CHECK(pgha_slot_state_set_restart_lsn(s, 0x9000028) == PGHA_OK);
    CHECK(pgha_slot_state_set_catalog_xmin(s, 4242) == PGHA_OK);
    pgha_buffer_free(bytes);
    CHECK(pgha_slot_state_encode(s, &bytes, &n) == PGHA_OK);
    CHECK(pgha_slot_state_decode(bytes, n, 1, &again) == PGHA_OK);
    CHECK(pgha_slot_state_info(again, &info) == PGHA_OK && info.restart_lsn == 0x9000028 &&
          info.catalog_xmin == 4242);
    /* a flipped byte is refused with the CRC check */
    bytes[40] ^= 1;
    pgha_slot_state_free(again);
    again = NULL;
    CHECK(pgha_slot_state_decode(bytes, n, 1, &again) == -PGHA_E_BAD_INPUT && again == NULL);
    CHECK(strstr(pgha_last_error(), "checksum") != NULL);
    pgha_buffer_free(bytes);
    free(orig);
    pgha_slot_state_free(s);
    ++rows;
  }
  CHECK(rows >= 5);
  free(tsv);
  pgha_slot_state_free(NULL);
  pgha_buffer_free(NULL);
}

static void test_node_states(void) {
  pgha_node_state s;
  CHECK(strcmp(pgha_node_state_name(PGHA_NODE_SLAVE), "slave") == 0);
  CHECK(pgha_node_state_name(99) == NULL);
  CHECK(strcmp(pgha_node_state_name(PGHA_NODE_STARTING), "starting") == 0);
  CHECK(pgha_node_state_name(PGHA_NODE_STARTING + 1) == NULL);
  CHECK(pgha_node_state_parse("starting", &s) == PGHA_OK && s == PGHA_NODE_STARTING);
  CHECK(pgha_node_state_parse("recovery", &s) == PGHA_OK && s == PGHA_NODE_RECOVERY);
  CHECK(pgha_node_state_parse("Master", &s) == -PGHA_E_BAD_INPUT);
}

static void test_instance_stopped(void) {
  pgha_instance_options o;
  pgha_instance* inst = NULL;
  pgha_lsn_facts facts;
  pgha_node_state state = PGHA_NODE_MASTER;
  int running = -1;
  memset(&o, 0, sizeof o);
  o.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_instance_open(&o, &inst) == -PGHA_E_BAD_INPUT && inst == NULL); /* no data_dir */
  o.data_dir = "/nonexistent/pgha-capi-test/data";
  CHECK(pgha_instance_open(&o, &inst) == PGHA_OK && inst != NULL);
  CHECK(pgha_instance_is_running(inst, &running) == PGHA_OK && running == 0);
  CHECK(pgha_instance_state(inst, &state) == PGHA_OK && state == PGHA_NODE_INACTIVE);
  memset(&facts, 0, sizeof facts);
  facts.version = PGHA_STRUCT_VERSION;
  CHECK(pgha_instance_lsn_facts(inst, &facts) < 0 && pgha_last_error()[0] != '\0');
  pgha_instance_free(inst);
  pgha_instance_free(NULL);
}

int main(int argc, char** argv) {
  const char* env = getenv("PGHA_FIXTURES_DIR");
  const char* fixtures = PGHA_FIXTURES_DIR;
  if (argc > 1) {
    fixtures = argv[1];
  } else if (env != NULL && env[0] != '\0') {
    fixtures = env;
  }
  CHECK(strlen(pgha_version()) > 0);
  test_lsn();
  test_wal_names();
  test_history(fixtures);
  test_control_data(fixtures);
  test_control_file(fixtures);
  test_slots(fixtures);
  test_node_states();
  test_instance_stopped();
  return CAPI_CHECK_SUMMARY();
}
