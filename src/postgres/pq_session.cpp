#include "pq_session.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <utility>

#include "process.hpp"

namespace pgha::pg {

namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void IgnoreNotice(void*, const char*) {}

std::string Field(const PGresult* res, int code) {
  const char* v = PQresultErrorField(res, code);
  return v ? v : "";
}

std::string ResultMessage(const PGresult* res, const std::string& fallback) {
  std::string msg = Field(res, PG_DIAG_MESSAGE_PRIMARY);
  if (msg.empty()) msg = fallback;
  std::string detail = Field(res, PG_DIAG_MESSAGE_DETAIL);
  std::string hint = Field(res, PG_DIAG_MESSAGE_HINT);
  if (!detail.empty()) msg += " DETAIL: " + detail;
  if (!hint.empty()) msg += " HINT: " + hint;
  return process::OneLine(msg);
}

std::vector<Row> RowsOf(const PGresult* res) {
  std::vector<Row> rows;
  int nrows = PQntuples(res), ncols = PQnfields(res);
  rows.reserve(static_cast<std::size_t>(nrows));
  for (int r = 0; r < nrows; ++r) {
    Row row;
    row.reserve(static_cast<std::size_t>(ncols));
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(PQgetvalue(res, r, c), static_cast<std::size_t>(PQgetlength(res, r, c))));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Test builds only (PGHA_FAULT_POINTS): with PGHA_SQL_TRACE=FILE, every statement sent is
// appended to FILE as "<server version number>\t<statement on one line>" (the version matrix
// lists what ran on each major: scripts/test-matrix.sh). Statement texts hold no secret:
// passwords reach the server as verifiers computed here (EncryptPassword).
void Trace([[maybe_unused]] const pg_conn* conn, [[maybe_unused]] const std::string& sql) {
#ifdef PGHA_FAULT_POINTS
  static const char* const path = std::getenv("PGHA_SQL_TRACE");
  if (path == nullptr || *path == '\0') return;
  std::string line = std::to_string(PQserverVersion(conn)) + "\t" + process::OneLine(sql) + "\n";
  int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return;
  ssize_t written = ::write(fd, line.data(), line.size());  // one write: lines never mix
  (void)written;
  ::close(fd);
#endif
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

PostgresError::PostgresError(std::string sqlstate, const std::string& message)
    : Error(ErrorCode::kPostgresFailed, message), sqlstate_(std::move(sqlstate)) {}

std::string InferConnectSqlState(std::string_view m) {
  if (Contains(m, "the database system is starting up") ||
      Contains(m, "the database system is not yet accepting connections") ||
      Contains(m, "the database system is not accepting connections") ||
      Contains(m, "the database system is shutting down") ||
      Contains(m, "the database system is in recovery mode"))
    return "57P03";
  if (Contains(m, "password authentication failed")) return "28P01";
  if (Contains(m, "no pg_hba.conf entry") || Contains(m, "authentication failed") ||
      (Contains(m, "role \"") && Contains(m, "does not exist")))
    return "28000";
  if (Contains(m, "database \"") && Contains(m, "does not exist")) return "3D000";
  if (Contains(m, "too many clients")) return "53300";
  return "08001";
}

PqSession PqSession::Connect(const ConnectParams& p) {
  std::string port = std::to_string(p.port);
  std::string timeout = std::to_string(std::max<long long>(2, p.connect_timeout.count()));
  std::string options;
  if (p.statement_timeout.count() > 0)
    options = "-c statement_timeout=" + std::to_string(p.statement_timeout.count());
  std::vector<const char*> keys{
      "host", "port", "user", "dbname", "application_name", "connect_timeout", "client_encoding"};
  std::vector<const char*> values{
      p.host.c_str(),  port.c_str(), p.user.c_str(), p.dbname.c_str(), p.application_name.c_str(),
      timeout.c_str(), "UTF8"};
  if (!p.password.empty()) {
    keys.push_back("password");
    values.push_back(p.password.c_str());
  }
  if (!p.passfile.empty()) {
    keys.push_back("passfile");
    values.push_back(p.passfile.c_str());
  }
  if (!options.empty()) {
    keys.push_back("options");
    values.push_back(options.c_str());
  }
  if (p.replication) {
    keys.push_back("replication");
    values.push_back("true");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  std::string where = p.host + ":" + port;
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (conn == nullptr)
    throw PostgresError("08001", "cannot connect to " + where + ": out of memory");
  PqSession session(conn, where);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = process::OneLine(PQerrorMessage(conn));
    std::string state = InferConnectSqlState(msg);
    throw PostgresError(state, "cannot connect to " + where + ": SQLSTATE " + state + ": " + msg);
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  return session;
}

PqSession::~PqSession() {
  if (conn_) PQfinish(conn_);
}

PqSession::PqSession(PqSession&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), where_(std::move(other.where_)) {}

PqSession& PqSession::operator=(PqSession&& other) noexcept {
  if (this != &other) {
    if (conn_) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    where_ = std::move(other.where_);
  }
  return *this;
}

void PqSession::ThrowConnError(const std::string& what) const {
  std::string msg = process::OneLine(PQerrorMessage(conn_));
  throw PostgresError("08006", what + " on " + where_ + ": SQLSTATE 08006: " + msg);
}

std::vector<Row> PqSession::Query(const std::string& sql,
                                  const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  Trace(conn_, sql);
  ResultPtr res(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  if (!res) ThrowConnError("query failed");
  ExecStatusType st = PQresultStatus(res.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string state = Field(res.get(), PG_DIAG_SQLSTATE);
    if (state.empty()) state = PQstatus(conn_) == CONNECTION_BAD ? "08006" : "XX000";
    std::string msg = ResultMessage(res.get(), PQerrorMessage(conn_));
    throw PostgresError(state, "query failed on " + where_ + ": SQLSTATE " + state + ": " + msg);
  }
  return RowsOf(res.get());
}

std::optional<std::string> PqSession::QueryValue(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  auto rows = Query(sql, params);
  if (rows.empty() || rows.front().empty())
    throw Error(ErrorCode::kPostgresFailed, "query returned no row on " + where_ + ": " + sql);
  return rows.front().front();
}

std::string PqSession::QuoteIdentifier(std::string_view name) {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  if (q == nullptr) ThrowConnError("cannot quote an identifier");
  std::string out(q);
  PQfreemem(q);
  return out;
}

std::string PqSession::QuoteLiteral(std::string_view text) {
  char* q = PQescapeLiteral(conn_, text.data(), text.size());
  if (q == nullptr) ThrowConnError("cannot quote a literal");
  std::string out(q);
  PQfreemem(q);
  return out;
}

std::string PqSession::EncryptPassword(const std::string& password, const std::string& user) {
  char* v = PQencryptPasswordConn(conn_, password.c_str(), user.c_str(), "scram-sha-256");
  if (v == nullptr) ThrowConnError("cannot encrypt a password");
  std::string out(v);
  PQfreemem(v);
  return out;
}

int PqSession::ServerVersion() const {
  return PQserverVersion(conn_);
}

void PqSession::AwaitInput(Clock::time_point deadline, const char* what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      throw Error(ErrorCode::kTimeout, std::string(what) + " on " + where_ + ": timed out");
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) ThrowConnError(what);
    if (n > 0) {
      if (PQconsumeInput(conn_) == 0) ThrowConnError(what);
      return;
    }
  }
}

std::vector<Row> PqSession::SimpleQuery(const std::string& sql, Clock::time_point deadline) {
  Send(sql);
  std::vector<Row> rows;
  for (;;) {
    Result r = NextResult(deadline);
    if (r.kind == ResultKind::kDone) return rows;
    if (r.kind == ResultKind::kCopyOut)
      throw Error(ErrorCode::kPostgresFailed, "unexpected COPY from " + where_ + " for " + sql);
    rows = std::move(r.rows);
  }
}

void PqSession::Send(const std::string& sql) {
  Trace(conn_, sql);
  if (PQsendQuery(conn_, sql.c_str()) == 0) ThrowConnError("cannot send a command");
}

PqSession::Result PqSession::NextResult(Clock::time_point deadline) {
  while (PQisBusy(conn_)) AwaitInput(deadline, "waiting for a result");
  ResultPtr res(PQgetResult(conn_));
  if (!res) return {};
  ExecStatusType st = PQresultStatus(res.get());
  if (st == PGRES_COPY_OUT) return {ResultKind::kCopyOut, {}};
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string state = Field(res.get(), PG_DIAG_SQLSTATE);
    if (state.empty()) state = PQstatus(conn_) == CONNECTION_BAD ? "08006" : "XX000";
    std::string msg = ResultMessage(res.get(), PQerrorMessage(conn_));
    throw PostgresError(state, "command failed on " + where_ + ": SQLSTATE " + state + ": " + msg);
  }
  return {ResultKind::kRows, RowsOf(res.get())};
}

bool PqSession::ReadCopyData(std::string& out, Clock::time_point deadline) {
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, /*async=*/1);
    if (n > 0) {
      out.assign(buf, static_cast<std::size_t>(n));
      PQfreemem(buf);
      return true;
    }
    if (n == -1) return false;
    if (n == -2) ThrowConnError("COPY failed");
    AwaitInput(deadline, "waiting for COPY data");
  }
}

}  // namespace pgha::pg
