// pg_controldata's labels (private to src/core): the printf strings of
// src/bin/pg_controldata/pg_controldata.c in PostgreSQL 10-18, in the order it prints them.
// The text parser looks values up by them; the pg_control decoder writes its `fields` with them.
#ifndef PGHA_CORE_CONTROL_LABELS_HPP
#define PGHA_CORE_CONTROL_LABELS_HPP

#include <string_view>

namespace pgha::control_labels {

inline constexpr std::string_view kControlVersion = "pg_control version number";
inline constexpr std::string_view kCatalogVersion = "Catalog version number";
inline constexpr std::string_view kSystemIdentifier = "Database system identifier";
inline constexpr std::string_view kState = "Database cluster state";
inline constexpr std::string_view kLastModified = "pg_control last modified";
inline constexpr std::string_view kCheckpoint = "Latest checkpoint location";
inline constexpr std::string_view kPriorCheckpoint = "Prior checkpoint location";  // 10 only
inline constexpr std::string_view kRedo = "Latest checkpoint's REDO location";
inline constexpr std::string_view kRedoWalFile = "Latest checkpoint's REDO WAL file";
inline constexpr std::string_view kTimeline = "Latest checkpoint's TimeLineID";
inline constexpr std::string_view kPrevTimeline = "Latest checkpoint's PrevTimeLineID";
inline constexpr std::string_view kFullPageWrites = "Latest checkpoint's full_page_writes";
inline constexpr std::string_view kNextXid = "Latest checkpoint's NextXID";
inline constexpr std::string_view kNextOid = "Latest checkpoint's NextOID";
inline constexpr std::string_view kNextMulti = "Latest checkpoint's NextMultiXactId";
inline constexpr std::string_view kNextMultiOffset = "Latest checkpoint's NextMultiOffset";
inline constexpr std::string_view kOldestXid = "Latest checkpoint's oldestXID";
inline constexpr std::string_view kOldestXidDb = "Latest checkpoint's oldestXID's DB";
inline constexpr std::string_view kOldestActiveXid = "Latest checkpoint's oldestActiveXID";
inline constexpr std::string_view kOldestMulti = "Latest checkpoint's oldestMultiXid";
inline constexpr std::string_view kOldestMultiDb = "Latest checkpoint's oldestMulti's DB";
inline constexpr std::string_view kOldestCommitTsXid = "Latest checkpoint's oldestCommitTsXid";
inline constexpr std::string_view kNewestCommitTsXid = "Latest checkpoint's newestCommitTsXid";
inline constexpr std::string_view kCheckpointTime = "Time of latest checkpoint";
inline constexpr std::string_view kUnloggedLsn = "Fake LSN counter for unlogged rels";
inline constexpr std::string_view kMinRecoveryEnd = "Minimum recovery ending location";
inline constexpr std::string_view kMinRecoveryEndTimeline = "Min recovery ending loc's timeline";
inline constexpr std::string_view kBackupStart = "Backup start location";
inline constexpr std::string_view kBackupEnd = "Backup end location";
inline constexpr std::string_view kEndOfBackupRequired = "End-of-backup record required";
inline constexpr std::string_view kWalLevel = "wal_level setting";
inline constexpr std::string_view kWalLogHints = "wal_log_hints setting";
inline constexpr std::string_view kMaxConnections = "max_connections setting";
inline constexpr std::string_view kMaxWorkerProcesses = "max_worker_processes setting";
inline constexpr std::string_view kMaxWalSenders = "max_wal_senders setting";  // 12+
inline constexpr std::string_view kMaxPreparedXacts = "max_prepared_xacts setting";
inline constexpr std::string_view kMaxLocksPerXact = "max_locks_per_xact setting";
inline constexpr std::string_view kTrackCommitTimestamp = "track_commit_timestamp setting";
inline constexpr std::string_view kMaxAlign = "Maximum data alignment";
inline constexpr std::string_view kBlockSize = "Database block size";
inline constexpr std::string_view kRelSegSize = "Blocks per segment of large relation";
inline constexpr std::string_view kWalBlockSize = "WAL block size";
inline constexpr std::string_view kWalSegmentSize = "Bytes per WAL segment";
inline constexpr std::string_view kNameDataLen = "Maximum length of identifiers";
inline constexpr std::string_view kIndexMaxKeys = "Maximum columns in an index";
inline constexpr std::string_view kToastMaxChunkSize = "Maximum size of a TOAST chunk";
inline constexpr std::string_view kLoBlockSize = "Size of a large-object chunk";
inline constexpr std::string_view kDateTimeStorage = "Date/time type storage";
inline constexpr std::string_view kFloat4ByVal = "Float4 argument passing";  // 10-12
inline constexpr std::string_view kFloat8ByVal = "Float8 argument passing";
inline constexpr std::string_view kDataChecksumVersion = "Data page checksum version";
inline constexpr std::string_view kMockAuthNonce = "Mock authentication nonce";
inline constexpr std::string_view kCharSignedness = "Default char data signedness";  // 18+

}  // namespace pgha::control_labels

#endif  // PGHA_CORE_CONTROL_LABELS_HPP
