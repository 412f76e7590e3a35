// BASE_BACKUP over a replication connection (PostgreSQL's protocol-replication documentation,
// "BASE_BACKUP"): the result sets and COPY streams of 15+ and of the versions before.
#include "base_backup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pgha/control_data.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_file.hpp"
#include "tar_extract.hpp"

namespace pgha::pg {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kVersion15 = 150000;
constexpr std::uint32_t kMinRate = 32, kMaxRate = 1048576;  // basebackup.h MAX_RATE_*

std::string Literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

[[noreturn]] void Protocol(const std::string& what) {
  throw Error(ErrorCode::kBadInput,
              "base backup: the server's answer is not BASE_BACKUP's: " + what);
}

// (LSN, timeline) of a start or end position result set: one row, "X/Y" and an int8.
std::pair<Lsn, TimelineId> Position(const PqSession::Result& r, const char* which) {
  if (r.kind != PqSession::ResultKind::kRows || r.rows.size() != 1 || r.rows[0].size() < 2 ||
      !r.rows[0][0] || !r.rows[0][1])
    Protocol(std::string("no ") + which + " position");
  auto lsn = Lsn::TryParse(*r.rows[0][0]);
  const std::string& tli = *r.rows[0][1];
  if (!lsn || tli.empty() || tli.size() > 10 ||
      tli.find_first_not_of("0123456789") != std::string::npos)
    Protocol(std::string("bad ") + which + " position \"" + *r.rows[0][0] + "\"");
  return {*lsn, static_cast<TimelineId>(std::stoull(tli))};
}

class ProgressReporter {
 public:
  explicit ProgressReporter(const BaseBackupRequest& r) : fn_(r.progress) {}
  void Total(std::uint64_t bytes) { p_.total_bytes = bytes; }
  void Add(std::uint64_t bytes) {
    p_.done_bytes += bytes;
    if (fn_ && Clock::now() >= next_) {
      fn_(p_);
      next_ = Clock::now() + std::chrono::seconds(1);
    }
  }
  void Done() {
    if (fn_) fn_(p_);
  }
  std::uint64_t done() const { return p_.done_bytes; }

 private:
  std::function<void(const BaseBackupProgress&)> fn_;
  BaseBackupProgress p_;
  Clock::time_point next_ = Clock::now();
};

// 15+: one COPY of messages: 'n' a new archive (name, tablespace path), 'd' its data, 'p' the
// server's progress, 'm' the manifest, whose data follow as 'd' (none is asked for).
void ReceiveCopyStream(PqSession& s, TarExtractor& base, ProgressReporter& progress,
                       Clock::time_point deadline) {
  enum class Into { kNothing, kBase, kManifest } into = Into::kNothing;
  int archives = 0;
  std::string msg;
  while (s.ReadCopyData(msg, deadline)) {
    if (msg.empty()) Protocol("an empty COPY message");
    switch (msg[0]) {
      case 'n': {
        std::string_view rest = std::string_view(msg).substr(1);
        auto nul = rest.find('\0');
        if (nul == std::string_view::npos) Protocol("a bad new-archive message");
        std::string_view name = rest.substr(0, nul);
        std::string_view path = rest.substr(nul + 1);
        path = path.substr(0, path.find('\0'));
        if (!path.empty())
          throw Error(ErrorCode::kWrongState,
                      "base backup: the source has a tablespace at \"" + std::string(path) +
                          "\", which pgha's own base backup does not copy HINT: put "
                          "PostgreSQL's pg_basebackup of the source's major in the bindir");
        if (++archives > 1) Protocol("a second archive \"" + std::string(name) + "\"");
        into = Into::kBase;
        break;
      }
      case 'd':
        if (into == Into::kNothing) Protocol("data before any archive");
        if (into == Into::kBase) {
          base.Feed(msg.data() + 1, msg.size() - 1);
          progress.Add(msg.size() - 1);
        }
        break;
      case 'p':
        if (msg.size() != 9) Protocol("a bad progress message");
        break;
      case 'm':
        if (into == Into::kNothing && archives == 0) Protocol("a manifest before the archive");
        into = Into::kManifest;
        break;
      default: Protocol("an unknown COPY message type '" + std::string(1, msg[0]) + "'");
    }
  }
  if (archives == 0) Protocol("no archive");
}

// Before 15: one COPY per tablespace, each a tar stream (only the main one is accepted).
void ReceiveTarStream(PqSession& s, TarExtractor& base, ProgressReporter& progress,
                      Clock::time_point deadline) {
  std::string msg;
  while (s.ReadCopyData(msg, deadline)) {
    base.Feed(msg.data(), msg.size());
    progress.Add(msg.size());
  }
}

void SyncTree(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open \"" + dir + "\": " + std::strerror(errno));
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc == 0) return;
  if (err != ENOSYS)
    throw Error(ErrorCode::kIo, "cannot flush \"" + dir + "\" to disk: " + std::strerror(err));
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() || entry.is_directory()) fs::FsyncPath(entry.path().string());
  }
  fs::FsyncPath(dir);
}

void CheckWalPresent(const std::string& dir, const BaseBackupResult& r) {
  ControlData cd = ControlData::ReadDataDirectory(dir);
  auto check = [&](TimelineId tli, Lsn lsn, const char* which) {
    std::string name = WalSegmentFileName(tli, lsn, cd.wal_segment_size);
    if (!fs::Exists(dir + "/pg_wal/" + name))
      throw Error(ErrorCode::kPostgresFailed, "base backup: the WAL segment " + name +
                                                  " of the backup's " + which +
                                                  " was not sent with it");
  };
  check(r.start_timeline, r.start_lsn, "start");
  check(r.end_timeline, Lsn(r.end_lsn.value() - 1), "end");
}

}  // namespace

void CheckMaxRate(std::uint32_t max_rate_kb) {
  if (max_rate_kb != 0 && (max_rate_kb < kMinRate || max_rate_kb > kMaxRate))
    throw Error(ErrorCode::kBadInput, "base backup rate limit " + std::to_string(max_rate_kb) +
                                          " kB/s is not from 32 to 1048576 (or 0: none)");
}

std::string BaseBackupCommand(int server_version, const std::string& label,
                              std::uint32_t max_rate_kb) {
  CheckMaxRate(max_rate_kb);
  if (server_version >= kVersion15) {
    std::string cmd = "BASE_BACKUP (LABEL " + Literal(label) +
                      ", PROGRESS, CHECKPOINT 'fast', WAL, WAIT false, MANIFEST 'no'";
    if (max_rate_kb != 0) cmd += ", MAX_RATE " + std::to_string(max_rate_kb);
    return cmd + ")";
  }
  std::string cmd = "BASE_BACKUP LABEL " + Literal(label) + " PROGRESS FAST WAL NOWAIT";
  if (max_rate_kb != 0) cmd += " MAX_RATE " + std::to_string(max_rate_kb);
  return cmd;
}

BaseBackupResult TakeBaseBackup(const BaseBackupRequest& request) {
  ConnectParams params = request.connect;
  params.replication = true;
  PqSession s = PqSession::Connect(params);
  BaseBackupResult result;
  result.server_version = s.ServerVersion();
  const std::string command =
      BaseBackupCommand(result.server_version, request.label, request.max_rate_kb);
  // A slot of this session (dropped when it ends) holds the WAL from now until it is sent.
  const std::string slot = "pgha_base_backup_" + std::to_string(::getpid());
  s.SimpleQuery("CREATE_REPLICATION_SLOT " + slot + " TEMPORARY PHYSICAL" +
                    (result.server_version >= kVersion15 ? " (RESERVE_WAL)" : " RESERVE_WAL"),
                request.deadline);
  s.Send(command);
  std::tie(result.start_lsn, result.start_timeline) =
      Position(s.NextResult(request.deadline), "start");
  PqSession::Result spaces = s.NextResult(request.deadline);
  if (spaces.kind != PqSession::ResultKind::kRows || spaces.rows.empty())
    Protocol("no tablespace list");
  ProgressReporter progress(request);
  std::uint64_t total_kb = 0;
  for (const Row& row : spaces.rows) {
    if (row.size() < 3) Protocol("a short tablespace row");
    if (row[0])
      throw Error(ErrorCode::kWrongState,
                  "base backup: the source has tablespace " + *row[0] + " at \"" +
                      row[1].value_or("") +
                      "\", which pgha's own base backup does not copy HINT: put PostgreSQL's "
                      "pg_basebackup of the source's major in the bindir");
    if (row[2] && !row[2]->empty() && row[2]->find_first_not_of("0123456789") == std::string::npos)
      total_kb += std::stoull(*row[2]);
  }
  progress.Total(total_kb * 1024);
  TarExtractor base(request.directory, request.owner);
  PqSession::Result r = s.NextResult(request.deadline);
  if (r.kind != PqSession::ResultKind::kCopyOut) Protocol("no archive stream");
  if (result.server_version >= kVersion15) {
    ReceiveCopyStream(s, base, progress, request.deadline);
  } else {
    ReceiveTarStream(s, base, progress, request.deadline);
  }
  base.Finish();
  r = s.NextResult(request.deadline);  // the COPY's completion
  if (r.kind == PqSession::ResultKind::kRows && r.rows.empty()) r = s.NextResult(request.deadline);
  if (r.kind == PqSession::ResultKind::kCopyOut) Protocol("a second archive stream");
  std::tie(result.end_lsn, result.end_timeline) = Position(r, "end");
  while (s.NextResult(request.deadline).kind != PqSession::ResultKind::kDone) {
  }
  result.bytes = base.bytes_written();
  progress.Done();
  SyncTree(request.directory);
  CheckWalPresent(request.directory, result);
  return result;
}

}  // namespace pgha::pg
