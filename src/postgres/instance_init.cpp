// pgha::Instance::Init: initdb plus what the seed's init does (settings, pg_hba, roles).
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "conninfo.hpp"
#include "fs.hpp"
#include "instance_internal.hpp"
#include "pgha/instance.hpp"
#include "server_files.hpp"

namespace pgha {

namespace {

void CheckInitOptions(const InitOptions& o, const InstanceOptions& io, int major) {
  pg::RenderPgHba(o, io.superuser);    // SUBNET, MASK, REPLICATE_USER
  pg::RenderServerSettings(o, major);  // settings
  pg::CheckSecret(o.replicate_password, "replicate password");
  pg::CheckSecret(o.db_password, "DB_PASSWD");
  pg::CheckSecret(o.superuser_password, "superuser password");
  pg::CheckSecret(o.rewind_password, "rewind password");
  if (!o.rewind_user.empty()) {
    pg::CheckRoleName(o.rewind_user, "rewind user");
    if (o.rewind_user == io.superuser || o.rewind_user == o.replicate_user)
      throw Error(ErrorCode::kBadInput, "rewind user \"" + o.rewind_user +
                                            "\" must be a role of its own (not the superuser or "
                                            "the replication role)");
    if (major < 11)
      throw Error(ErrorCode::kBadInput,
                  "rewind user needs PostgreSQL 11 or later (pg_rewind of 10 runs as a superuser)");
  }
  if (!o.db_user.empty()) pg::CheckRoleName(o.db_user, "DB_USER");
  if (!o.database.empty()) pg::CheckRoleName(o.database, "DATABASE");
  if (o.wal_segment_size_mb != 0) {
    if (!IsValidWalSegmentSize(std::uint64_t{o.wal_segment_size_mb} << 20))
      throw Error(ErrorCode::kBadInput, "wal_segment_size_mb " +
                                            std::to_string(o.wal_segment_size_mb) +
                                            " is invalid: expected a power of two, 1..1024");
    if (major < 11)
      throw Error(ErrorCode::kBadInput, "wal_segment_size_mb needs PostgreSQL 11 or later");
  }
}

// An empty data directory for initdb, owned by the OS user when we are root.
void PrepareDataDirectory(const Instance& in) {
  const std::string& dir = in.options().data_dir;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec))
      throw Error(ErrorCode::kWrongState, "\"" + dir + "\" exists and is not a directory");
    if (!std::filesystem::is_empty(dir, ec))
      throw Error(ErrorCode::kWrongState, "init: data directory \"" + dir +
                                              "\" is not empty HINT: remove it or choose another");
  } else if (::mkdir(dir.c_str(), 0700) != 0) {
    throw Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot create \"" + dir + "\": " + std::strerror(errno));
  }
  if (auto user = process::RunAsIfRoot(in.options().os_user))
    fs::ChownIfRoot(dir, fs::Owner{user->uid, user->gid});
  if (::chmod(dir.c_str(), 0700) != 0)
    throw Error(ErrorCode::kIo, "cannot chmod \"" + dir + "\": " + std::strerror(errno));
}

void RunInitdb(const Instance& in, const InitOptions& o) {
  const InstanceOptions& io = in.options();
  std::vector<std::string> argv{in.binaries().Program("initdb"),
                                "-D",
                                io.data_dir,
                                "-U",
                                io.superuser,
                                "--auth-local=trust",
                                "--auth-host=scram-sha-256",
                                "-E",
                                "UTF8",
                                "--no-locale"};
  if (o.wal_segment_size_mb)
    argv.push_back("--wal-segsize=" + std::to_string(o.wal_segment_size_mb));
  if (o.data_checksums) argv.emplace_back("--data-checksums");
  process::RunChecked(inst::PgCommand(in, std::move(argv), inst::DeadlineOf(in, std::nullopt)),
                      "initdb");
}

// The name of the account this process runs as ("" when it has none).
std::string EffectiveUserName() {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return "";
  return found->pw_name;
}

void WriteConfiguration(const Instance& in, const InitOptions& o) {
  std::string conf_path = inst::DataPath(in, "postgresql.conf");
  std::string conf = fs::ReadFileIfExists(conf_path).value_or("");
  fs::WriteFileAtomic(conf_path, conf + pg::RenderServerSettings(o, in.binaries().major));
  const std::string& su = in.options().superuser;
  if (!o.local_trust) {
    // The server's account and this process's own (root, when the agent runs as root) may be
    // the superuser on the local socket: pgha's own sessions need no password there.
    std::vector<std::string> users{in.options().os_user};
    if (std::string self = EffectiveUserName(); !self.empty()) users.push_back(self);
    fs::WriteFileAtomic(inst::DataPath(in, "pg_ident.conf"), pg::RenderPgIdent(users, su));
  }
  fs::WriteFileAtomic(inst::DataPath(in, "pg_hba.conf"), pg::RenderPgHba(o, su));
}

// Creates `name` or updates its attributes; a password is sent as a SCRAM verifier.
void EnsureRole(pg::PqSession& s, const std::string& name, const std::string& attributes,
                const std::string& password) {
  bool exists = !s.Query("SELECT 1 FROM pg_roles WHERE rolname = $1", {name}).empty();
  std::string sql = std::string(exists ? "ALTER" : "CREATE") + " ROLE " + s.QuoteIdentifier(name) +
                    " WITH " + attributes;
  if (!password.empty()) sql += " PASSWORD " + s.QuoteLiteral(s.EncryptPassword(password, name));
  s.Query(sql);
}

// A role that may run pg_rewind and nothing more: the functions pg_rewind calls on the source
// (PostgreSQL's pg_rewind documentation, "Notes"), granted in the database it connects to
// (`postgres`, where this session is), and on 15+ pg_checkpoint for the CHECKPOINT pgha
// runs before a rewind.
void CreateRewindRole(pg::PqSession& s, const InitOptions& o, int major) {
  EnsureRole(s, o.rewind_user, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
             o.rewind_password);
  const std::string role = s.QuoteIdentifier(o.rewind_user);
  for (const char* fn :
       {"pg_catalog.pg_ls_dir(text, boolean, boolean)", "pg_catalog.pg_stat_file(text, boolean)",
        "pg_catalog.pg_read_binary_file(text)",
        "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)"})
    s.Query(std::string("GRANT EXECUTE ON FUNCTION ") + fn + " TO " + role);
  if (major >= 15) s.Query("GRANT pg_checkpoint TO " + role);
}

void CreateRolesAndDatabase(const Instance& in, const InitOptions& o) {
  auto s = inst::Connect(in);
  const std::string& su = in.options().superuser;
  if (!o.superuser_password.empty()) EnsureRole(s, su, "SUPERUSER LOGIN", o.superuser_password);
  if (o.replicate_user != su)
    EnsureRole(s, o.replicate_user, "REPLICATION LOGIN", o.replicate_password);
  if (!o.db_user.empty() && o.db_user != su) EnsureRole(s, o.db_user, "LOGIN", o.db_password);
  if (!o.rewind_user.empty()) CreateRewindRole(s, o, in.binaries().major);
  if (o.database.empty()) return;
  if (!s.Query("SELECT 1 FROM pg_database WHERE datname = $1", {o.database}).empty()) return;
  std::string owner = o.db_user.empty() ? su : o.db_user;
  s.Query("CREATE DATABASE " + s.QuoteIdentifier(o.database) + " OWNER " +
          s.QuoteIdentifier(owner));
}

}  // namespace

void Instance::Init(const InitOptions& options) {
  CheckInitOptions(options, options_, binaries_.major);
  if (auto pid = inst::LivePostmaster(*this))
    throw Error(ErrorCode::kWrongState, "init: a postmaster (pid " + std::to_string(*pid) +
                                            ") runs on \"" + options_.data_dir + "\"");
  PrepareDataDirectory(*this);
  RunInitdb(*this, options);
  WriteConfiguration(*this, options);
  inst::StartServer(*this, inst::DeadlineOf(*this, std::nullopt), /*socket_only=*/true);
  try {
    CreateRolesAndDatabase(*this, options);
  } catch (...) {
    try {
      Stop(StopMode::kFast);
    } catch (const Error&) {  // the first error is the one to report
    }
    throw;
  }
  Stop(StopMode::kFast);
}

}  // namespace pgha
