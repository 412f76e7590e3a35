/* pgha C ABI (C99). No exception crosses it.
 *
 * Conventions:
 * - Every function returns PGHA_OK (0) or a negative pgha error code (-PGHA_E_*); the
 *   message of the last failure on this thread is pgha_last_error().
 * - Outputs go through pointers. Objects returned through `**out` belong to the caller and are
 *   freed with the matching pgha_<type>_free(), which accepts NULL.
 * - Option and result structs carry a `version` field (set it to PGHA_STRUCT_VERSION) so they
 *   can grow without breaking callers.
 * - Functions are thread-safe; a handle must not be used by two threads at once.
 */
#ifndef PGHA_H
#define PGHA_H

#include <stddef.h>
#include <stdint.h>

#if defined(PGHA_C_STATIC)
#define PGHA_C_API
#elif defined(__GNUC__) || defined(__clang__)
#define PGHA_C_API __attribute__((visibility("default")))
#else
#define PGHA_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PGHA_STRUCT_VERSION 1

/* Error codes: the stable numbers of pgha::ErrorCode (docs/errors.md). Functions return them
 * negated. */
enum {
  PGHA_OK = 0,
  PGHA_E_BAD_INPUT = 1,
  PGHA_E_NOT_FOUND = 2,
  PGHA_E_WRONG_STATE = 3,
  PGHA_E_CONFLICT = 4,
  PGHA_E_POSTGRES_FAILED = 5,
  PGHA_E_PEER_UNREACHABLE = 6,
  PGHA_E_TIMEOUT = 7,
  PGHA_E_IO = 8,
  PGHA_E_INTERNAL = 9,
  PGHA_E_UNAUTHORIZED = 10,
  PGHA_E_UNAVAILABLE = 11
};

/* The message of this thread's last failed call ("" when none). Owned by the library, valid
 * until the next pgha call on this thread. */
PGHA_C_API const char* pgha_last_error(void);
/* The (positive) code of this thread's last failed call, 0 when none. */
PGHA_C_API int pgha_last_error_code(void);
/* The library version, e.g. "0.1.0". Static storage. */
PGHA_C_API const char* pgha_version(void);
/* Frees a buffer returned by a pgha function (NULL-safe). */
PGHA_C_API void pgha_buffer_free(void* buffer);

/* ---- LSN ---------------------------------------------------------------------------- */

/* Longest LSN text plus NUL: "FFFFFFFF/FFFFFFFF". */
#define PGHA_LSN_BUFSIZE 18

/* Parses "X/Y" strictly into *out. */
PGHA_C_API int pgha_lsn_parse(const char* text, uint64_t* out);
/* Writes "%X/%X" into buf (at least PGHA_LSN_BUFSIZE bytes). */
PGHA_C_API int pgha_lsn_format(uint64_t lsn, char* buf, size_t bufsize);

/* ---- WAL file names ----------------------------------------------------------------- */

#define PGHA_WAL_NAME_BUFSIZE 64

typedef enum pgha_wal_file_kind {
  PGHA_WAL_SEGMENT = 0,
  PGHA_WAL_PARTIAL = 1,
  PGHA_WAL_HISTORY = 2,
  PGHA_WAL_BACKUP = 3
} pgha_wal_file_kind;

typedef struct pgha_wal_file_name {
  int version; /* PGHA_STRUCT_VERSION */
  pgha_wal_file_kind kind;
  uint32_t timeline;
  uint64_t segment;       /* segment number; 0 for history files */
  uint32_t backup_offset; /* backup files only */
  uint32_t segment_size;
  uint64_t start_lsn; /* first LSN of the segment (backup: the backup start) */
} pgha_wal_file_name;

/* Parses a pg_wal file name (no directory). segment_size 0 means 16 MiB. */
PGHA_C_API int pgha_wal_file_name_parse(const char* name, uint32_t segment_size,
                                        pgha_wal_file_name* out);
/* Writes the segment file name for (timeline, lsn) into buf (PGHA_WAL_NAME_BUFSIZE bytes).
 * segment_size 0 means 16 MiB. */
PGHA_C_API int pgha_wal_segment_name(uint32_t timeline, uint64_t lsn, uint32_t segment_size,
                                     char* buf, size_t bufsize);

/* ---- Timeline history ----------------------------------------------------------------- */

typedef struct pgha_timeline_history pgha_timeline_history;

typedef struct pgha_timeline_entry {
  int version; /* PGHA_STRUCT_VERSION */
  uint32_t timeline;
  uint64_t begin;     /* 0: from the start */
  uint64_t end;       /* 0: the tip, still current */
  const char* reason; /* owned by the history object */
} pgha_timeline_entry;

typedef enum pgha_follow_verdict {
  PGHA_FOLLOW_VALID = 0,
  PGHA_FOLLOW_DIVERGED = 1,
  PGHA_FOLLOW_UNKNOWN_TIMELINE = 2,
  PGHA_FOLLOW_AHEAD_OF_PRIMARY = 3
} pgha_follow_verdict;

/* Parses the text of timeline `timeline`'s history file. *out is the caller's. */
PGHA_C_API int pgha_timeline_history_parse(const char* text, size_t len, uint32_t timeline,
                                           pgha_timeline_history** out);
/* Reads a history file; timeline 0 takes it from the file name. *out is the caller's. */
PGHA_C_API int pgha_timeline_history_read(const char* path, uint32_t timeline,
                                          pgha_timeline_history** out);
PGHA_C_API void pgha_timeline_history_free(pgha_timeline_history* history);
/* Number of entries (the tip included). */
PGHA_C_API size_t pgha_timeline_history_count(const pgha_timeline_history* history);
/* Entry i, oldest first. */
PGHA_C_API int pgha_timeline_history_entry(const pgha_timeline_history* history, size_t i,
                                           pgha_timeline_entry* out);
/* Where `timeline` ended (0 for the tip); PGHA_E_NOT_FOUND when absent. */
PGHA_C_API int pgha_timeline_history_switch_point(const pgha_timeline_history* history,
                                                  uint32_t timeline, uint64_t* out);
/* The timeline `lsn` belongs to. */
PGHA_C_API int pgha_timeline_history_timeline_of(const pgha_timeline_history* history, uint64_t lsn,
                                                 uint32_t* out);
/* The follow rule: can a server at (timeline, lsn) stream from a primary with this history?
 * primary_flush 0 skips the "ahead of primary" check. switch_point may be NULL. */
PGHA_C_API int pgha_timeline_history_can_follow(const pgha_timeline_history* history,
                                                uint32_t timeline, uint64_t lsn,
                                                uint64_t primary_flush,
                                                pgha_follow_verdict* verdict,
                                                uint64_t* switch_point);

/* ---- pg_controldata ------------------------------------------------------------------- */

typedef struct pgha_control_data {
  int version; /* PGHA_STRUCT_VERSION */
  uint32_t control_version;
  uint64_t system_identifier;
  int cluster_state; /* 0 starting up .. 6 in production, as DBState */
  uint64_t checkpoint;
  uint64_t redo;
  char redo_wal_file[PGHA_WAL_NAME_BUFSIZE];
  uint32_t timeline;
  uint32_t prev_timeline;
  uint64_t min_recovery_end;
  uint32_t min_recovery_end_timeline;
  uint32_t wal_segment_size;
  uint32_t data_checksum_version;
  uint32_t current_timeline; /* max(timeline, min_recovery_end_timeline) */
} pgha_control_data;

/* Parses `LC_ALL=C pg_controldata` output. */
PGHA_C_API int pgha_control_data_parse(const char* text, size_t len, pgha_control_data* out);
/* Decodes the bytes of global/pg_control (PostgreSQL 10-18 layouts; CRC-32C checked unless
 * `verify_checksum` is 0): -PGHA_E_BAD_INPUT for a short file, an unknown version or a CRC
 * mismatch, the message saying which. */
PGHA_C_API int pgha_control_data_decode(const uint8_t* data, size_t len, int verify_checksum,
                                        pgha_control_data* out);
/* Reads and decodes a global/pg_control file (-PGHA_E_NOT_FOUND, -PGHA_E_IO, -PGHA_E_BAD_INPUT). */
PGHA_C_API int pgha_control_data_read(const char* path, pgha_control_data* out);
/* pg_controldata's spelling of a cluster state ("in production"); static storage. */
PGHA_C_API const char* pgha_cluster_state_name(int cluster_state);

/* ---- Replication slot state files ----------------------------------------------------- */

typedef struct pgha_slot_state pgha_slot_state;

typedef struct pgha_slot_info {
  int version; /* PGHA_STRUCT_VERSION */
  int layout;  /* 10, 13, 14, 16 or 17: the first major of the layout */
  uint32_t slot_version;
  char name[64];
  char plugin[64];
  uint32_t database;
  uint32_t persistency; /* 0 persistent, 1 ephemeral, 2 temporary */
  uint32_t xmin;
  uint32_t catalog_xmin;
  uint64_t restart_lsn;
  uint64_t confirmed_flush;
  uint64_t two_phase_at;
  int two_phase;
  int synced;
  int failover;
} pgha_slot_info;

/* Decodes a state file's bytes; verify_checksum 0 skips the CRC check. *out is the caller's. */
PGHA_C_API int pgha_slot_state_decode(const uint8_t* data, size_t len, int verify_checksum,
                                      pgha_slot_state** out);
/* Reads and decodes pg_replslot/<slot>/state. *out is the caller's. */
PGHA_C_API int pgha_slot_state_read(const char* path, pgha_slot_state** out);
PGHA_C_API void pgha_slot_state_free(pgha_slot_state* slot);
PGHA_C_API int pgha_slot_state_info(const pgha_slot_state* slot, pgha_slot_info* out);
PGHA_C_API int pgha_slot_state_set_restart_lsn(pgha_slot_state* slot, uint64_t lsn);
PGHA_C_API int pgha_slot_state_set_confirmed_flush(pgha_slot_state* slot, uint64_t lsn);
PGHA_C_API int pgha_slot_state_set_catalog_xmin(pgha_slot_state* slot, uint32_t xid);
/* The file bytes with a fresh CRC. *out is the caller's: free it with pgha_buffer_free(). */
PGHA_C_API int pgha_slot_state_encode(const pgha_slot_state* slot, uint8_t** out, size_t* len);

/* ---- End of WAL ----------------------------------------------------------------------- */

typedef struct pgha_wal_scan_options {
  int version;           /* PGHA_STRUCT_VERSION */
  uint64_t start;        /* 0: the first record of the first segment */
  uint32_t segment_size; /* 0: from the first long page header */
  int check_system_identifier;
  uint64_t system_identifier;
} pgha_wal_scan_options;

typedef struct pgha_wal_scan_result {
  int version; /* PGHA_STRUCT_VERSION */
  uint64_t start;
  uint64_t end;         /* end of valid WAL */
  uint64_t last_record; /* start of the last valid record, 0 if none */
  uint64_t records;
  uint32_t timeline;
  uint32_t page_magic;
  int postgres_major;
  uint64_t system_identifier;
  uint32_t segment_size;
  uint64_t bytes_read;
  char stop_reason[256];
} pgha_wal_scan_result;

/* Scans consecutive segment files in order. options may be NULL. */
PGHA_C_API int pgha_wal_scan_files(const char* const* paths, size_t count,
                                   const pgha_wal_scan_options* options, pgha_wal_scan_result* out);
/* Scans a pg_wal directory along `history` (NULL: timeline 1). options may be NULL. */
PGHA_C_API int pgha_wal_scan_directory(const char* dir, const pgha_timeline_history* history,
                                       const pgha_wal_scan_options* options,
                                       pgha_wal_scan_result* out);

/* ---- Node states ---------------------------------------------------------------------- */

typedef enum pgha_node_state {
  PGHA_NODE_INACTIVE = 0,
  PGHA_NODE_SINGLE = 1,
  PGHA_NODE_MASTER = 2,
  PGHA_NODE_SLAVE = 3,
  PGHA_NODE_RECOVERY = 4,
  /* pgha's addition to the seed's five: not accepting connections yet and not started as a
     standby (it comes up as a primary, or its role is not known yet): a possible master. */
  PGHA_NODE_STARTING = 5
} pgha_node_state;

/* The seed's spelling ("master", ...), "starting"; static storage; NULL for an unknown value. */
PGHA_C_API const char* pgha_node_state_name(int state);
/* The state named by the seed's spelling. */
PGHA_C_API int pgha_node_state_parse(const char* name, pgha_node_state* out);

/* ---- WAL catalogue (pg_wal: WAL content, MD5, catch-up sets, uploads, validLsn) ------- */

/* A catalogue of one pg_wal directory; it caches MD5s by (name, size, mtime, inode). */
typedef struct pgha_wal_catalog pgha_wal_catalog;
/* A list of catalogue files, owned by the caller; its strings belong to it. */
typedef struct pgha_wal_file_list pgha_wal_file_list;

typedef struct pgha_wal_catalog_options {
  int version;           /* PGHA_STRUCT_VERSION */
  uint32_t segment_size; /* 0 means 16 MiB */
  int check_system_identifier;
  uint64_t system_identifier; /* with check_system_identifier: uploads must carry it */
  int expected_major;         /* 10..18; 0: learn the WAL magic from an existing segment */
} pgha_wal_catalog_options;

typedef struct pgha_wal_file_info {
  int version;      /* PGHA_STRUCT_VERSION */
  const char* name; /* e.g. "000000040000000000000039"; owned by the list */
  pgha_wal_file_kind kind;
  uint32_t timeline;
  uint64_t segment; /* segment number; 0 for history files */
  uint64_t size;
  int64_t mtime_ns;
  const char* md5; /* 32 lower-case hex digits, "" when not computed; owned by the list */
} pgha_wal_file_info;

/* The seed's validLsn codes. */
typedef enum pgha_valid_lsn_code {
  PGHA_VALID_LSN_VALID = 0,         /* at a record boundary on this node's history */
  PGHA_VALID_LSN_FILE_MISSING = 1,  /* a WAL file from the LSN to the end of WAL is missing */
  PGHA_VALID_LSN_MID_RECORD = 2,    /* not at a record boundary */
  PGHA_VALID_LSN_NO_ENTRY = 3,      /* beyond the end of WAL, or timeline not in the history */
  PGHA_VALID_LSN_DIVERGED = 4,      /* older timeline of the history, past its switch point */
  PGHA_VALID_LSN_RECORD_DIFFERS = 5 /* pgha's: the asking node's last record is not this
                                       node's (pgha_wal_catalog_valid_lsn_record) */
} pgha_valid_lsn_code;

typedef struct pgha_valid_lsn_result {
  int version; /* PGHA_STRUCT_VERSION */
  pgha_valid_lsn_code code;
  uint64_t cnt;  /* code 0: WAL records from the LSN to the end of WAL */
  char msg[256]; /* "Valid lsn", or what failed (truncated to fit) */
} pgha_valid_lsn_result;

/* Opens a catalogue of `pg_wal_dir`; options may be NULL (16 MiB segments, identity learned
 * from pg_wal). *out is the caller's. The handle is thread-safe. */
PGHA_C_API int pgha_wal_catalog_open(const char* pg_wal_dir,
                                     const pgha_wal_catalog_options* options,
                                     pgha_wal_catalog** out);
PGHA_C_API void pgha_wal_catalog_free(pgha_wal_catalog* catalog);
/* Files hashed so far (each unchanged file is hashed once). */
PGHA_C_API uint64_t pgha_wal_catalog_hashes_computed(const pgha_wal_catalog* catalog);

/* The WAL content of pg_wal for a node whose history is `history` (NULL: timeline 1) and whose
 * end of WAL is `end_of_wal`: history files, segments and partials in the order PostgreSQL
 * needs them, without recycled segments. with_md5 0 leaves md5 "". *out is the caller's. */
PGHA_C_API int pgha_wal_catalog_list(pgha_wal_catalog* catalog,
                                     const pgha_timeline_history* history, uint64_t end_of_wal,
                                     int with_md5, pgha_wal_file_list** out);
/* The files, with MD5, a node at (timeline, lsn) needs to reach end_of_wal. PGHA_E_NOT_FOUND:
 * timeline not in the history, or a needed file missing; PGHA_E_WRONG_STATE: diverged or
 * ahead. *out is the caller's. */
PGHA_C_API int pgha_wal_catalog_from(pgha_wal_catalog* catalog, uint32_t timeline, uint64_t lsn,
                                     const pgha_timeline_history* history, uint64_t end_of_wal,
                                     pgha_wal_file_list** out);
/* pgha_wal_catalog_from for the start of the segment `wal_file_name` names. */
PGHA_C_API int pgha_wal_catalog_from_file(pgha_wal_catalog* catalog, const char* wal_file_name,
                                          const pgha_timeline_history* history, uint64_t end_of_wal,
                                          pgha_wal_file_list** out);
PGHA_C_API void pgha_wal_file_list_free(pgha_wal_file_list* list);
/* Number of files in the list (0 for NULL). */
PGHA_C_API size_t pgha_wal_file_list_count(const pgha_wal_file_list* list);
/* File i (0-based) of the list, or NULL when out of range. Owned by the list. */
PGHA_C_API const pgha_wal_file_info* pgha_wal_file_list_at(const pgha_wal_file_list* list,
                                                           size_t i);

/* The full path of a segment, partial or history file for download, after checking the name
 * with the WAL-name grammar; written into buf. PGHA_E_NOT_FOUND when absent. */
PGHA_C_API int pgha_wal_catalog_path_for(pgha_wal_catalog* catalog, const char* name, char* buf,
                                         size_t bufsize);
/* Installs `len` bytes as pg_wal/`name` (segment, partial or history file): checked (size,
 * page header of this cluster, history text, expected_md5 unless NULL), fsynced, renamed into
 * place. An identical existing file sets *already_present (may be NULL) to 1; a different one
 * is PGHA_E_CONFLICT. On failure nothing is left in pg_wal. */
PGHA_C_API int pgha_wal_catalog_install(pgha_wal_catalog* catalog, const char* name,
                                        const void* data, size_t len, const char* expected_md5,
                                        int* already_present);
/* The seed's validLsn for a node at (timeline, lsn) against this node's WAL. */
PGHA_C_API int pgha_wal_catalog_valid_lsn(pgha_wal_catalog* catalog, uint32_t timeline,
                                          uint64_t lsn, const pgha_timeline_history* history,
                                          uint64_t end_of_wal, pgha_valid_lsn_result* out);
/* The same with the asking node's last record before `lsn` (its start, 8-byte aligned, and
 * its xl_crc): an answer of 0 or 2 becomes PGHA_VALID_LSN_RECORD_DIFFERS when no record with
 * that CRC starts there in this node's WAL (different WAL at the same positions of one
 * timeline, which pg_rewind cannot repair). */
PGHA_C_API int pgha_wal_catalog_valid_lsn_record(pgha_wal_catalog* catalog, uint32_t timeline,
                                                 uint64_t lsn, const pgha_timeline_history* history,
                                                 uint64_t end_of_wal, uint64_t record_start,
                                                 uint32_t record_crc, pgha_valid_lsn_result* out);

/* ---- Local PostgreSQL instance (read-only observations) --------------------------------- */

typedef struct pgha_instance pgha_instance;

typedef struct pgha_instance_options {
  int version;           /* PGHA_STRUCT_VERSION */
  const char* data_dir;  /* required */
  const char* bindir;    /* NULL or "": pg_config's */
  const char* host;      /* NULL: "127.0.0.1" */
  int port;              /* 0: 5432 */
  const char* os_user;   /* NULL: "postgres" (used only when running as root) */
  const char* superuser; /* NULL: "postgres" */
} pgha_instance_options;

typedef struct pgha_lsn_facts {
  int version; /* PGHA_STRUCT_VERSION */
  uint64_t checkpoint;
  uint64_t redo;
  char wal_file[PGHA_WAL_NAME_BUFSIZE];
  uint32_t timeline;
  uint64_t last_lsn; /* the true end of WAL */
} pgha_lsn_facts;

/* A handle on one data directory. *out is the caller's. */
PGHA_C_API int pgha_instance_open(const pgha_instance_options* options, pgha_instance** out);
PGHA_C_API void pgha_instance_free(pgha_instance* instance);
/* 1 when a live postmaster owns the data directory, 0 when not. */
PGHA_C_API int pgha_instance_is_running(const pgha_instance* instance, int* out);
/* The node state of the seed (pgha_node_state). */
PGHA_C_API int pgha_instance_state(const pgha_instance* instance, pgha_node_state* out);
/* The seed's lsn facts, running or stopped. */
PGHA_C_API int pgha_instance_lsn_facts(const pgha_instance* instance, pgha_lsn_facts* out);
/* pg_controldata of the data directory, parsed. */
PGHA_C_API int pgha_instance_control_data(const pgha_instance* instance, pgha_control_data* out);

#ifdef __cplusplus
}
#endif

#endif /* PGHA_H */
