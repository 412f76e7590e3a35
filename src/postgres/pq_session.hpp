// A small RAII libpq session: keyword/value connect, parameterised queries (private).
#ifndef PGHA_POSTGRES_PQ_SESSION_HPP
#define PGHA_POSTGRES_PQ_SESSION_HPP

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/error.hpp"

struct pg_conn;  // libpq's PGconn

namespace pgha::pg {

/// A failed PostgreSQL connection or query: Error(kPostgresFailed) whose message reads
/// "<context>: SQLSTATE XXXXX: <primary message> (DETAIL ...; HINT ...)" and which keeps the
/// SQLSTATE. libpq gives no SQLSTATE for a failed connection: it is inferred from the
/// server's message (57P03 starting up/shutting down/not accepting connections, 28P01/28000
/// authentication, 3D000 unknown database) and is 08001 otherwise.
class PostgresError : public Error {
 public:
  PostgresError(std::string sqlstate, const std::string& message);
  /// The five-character SQLSTATE, e.g. "57P03".
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// The SQLSTATE a connection failure message implies (see PostgresError).
std::string InferConnectSqlState(std::string_view message);

/// Where and how to connect. Passed to libpq as keyword/value arrays: nothing is concatenated
/// into a conninfo string.
struct ConnectParams {
  std::string host;  ///< an address, a name or a unix socket directory
  int port = 5432;
  std::string user;
  std::string password;  ///< "" -> none
  std::string passfile;  ///< libpq's passfile ("" -> libpq's default, ~/.pgpass)
  std::string dbname = "postgres";
  std::string application_name = "pgha";
  std::chrono::seconds connect_timeout{5};
  /// Sent as `options=-c statement_timeout=N` (0: none).
  std::chrono::milliseconds statement_timeout{0};
  /// A physical replication connection (`replication=true`: walsender commands such as
  /// BASE_BACKUP, sent with SimpleQuery/Send; dbname is ignored).
  bool replication = false;
};

/// One result row: column texts, nullopt for NULL.
using Row = std::vector<std::optional<std::string>>;

/// An open libpq connection. Move-only; closed by the destructor. Not thread-safe.
class PqSession {
 public:
  /// Connects. Throws PostgresError naming host:port on failure.
  static PqSession Connect(const ConnectParams& params);
  ~PqSession();
  PqSession(PqSession&& other) noexcept;
  PqSession& operator=(PqSession&& other) noexcept;
  PqSession(const PqSession&) = delete;
  PqSession& operator=(const PqSession&) = delete;

  /// Runs one statement (extended protocol: never several) with text parameters $1..$n and
  /// returns its rows. Throws PostgresError with the server's SQLSTATE.
  std::vector<Row> Query(const std::string& sql,
                         const std::vector<std::optional<std::string>>& params = {});
  /// The first column of the first row (nullopt for NULL). Throws PostgresError, or
  /// Error(kPostgresFailed) when there is no row.
  std::optional<std::string> QueryValue(const std::string& sql,
                                        const std::vector<std::optional<std::string>>& params = {});
  /// `name` as a quoted SQL identifier (PQescapeIdentifier).
  std::string QuoteIdentifier(std::string_view name);
  /// `text` as a quoted SQL literal (PQescapeLiteral).
  std::string QuoteLiteral(std::string_view text);
  /// The password verifier PostgreSQL would store for (`user`, `password`), computed on the
  /// client (PQencryptPasswordConn with scram-sha-256): the clear text never reaches the
  /// server or its log.
  std::string EncryptPassword(const std::string& password, const std::string& user);
  /// PQserverVersion, e.g. 150018.
  int ServerVersion() const;

  // Streaming, for replication commands (simple query protocol). Every wait ends at
  // `deadline` with Error(kTimeout); the connection is then unusable.
  using Clock = std::chrono::steady_clock;
  /// Runs one command with the simple query protocol and returns the rows of its (last)
  /// result. Throws PostgresError.
  std::vector<Row> SimpleQuery(const std::string& sql, Clock::time_point deadline);
  /// Sends one command without waiting for its results (read them with NextResult).
  void Send(const std::string& sql);
  /// What NextResult found.
  enum class ResultKind {
    kRows,     ///< a result set (or a command's completion: no rows)
    kCopyOut,  ///< a COPY OUT started: ReadCopyData until it returns false
    kDone      ///< the command sent has no more results
  };
  struct Result {
    ResultKind kind = ResultKind::kDone;
    std::vector<Row> rows;
  };
  /// The next result of the command sent. Throws PostgresError for an error result.
  Result NextResult(Clock::time_point deadline);
  /// The next CopyData message of the COPY OUT in progress into `out`; false at its end (its
  /// completion is then the next NextResult). Throws PostgresError when the connection fails.
  bool ReadCopyData(std::string& out, Clock::time_point deadline);

 private:
  PqSession(pg_conn* conn, std::string where) : conn_(conn), where_(std::move(where)) {}
  [[noreturn]] void ThrowConnError(const std::string& what) const;
  /// Waits until the socket is readable and consumes the input. Throws kTimeout / 08006.
  void AwaitInput(Clock::time_point deadline, const char* what);

  pg_conn* conn_ = nullptr;
  std::string where_;
};

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_PQ_SESSION_HPP
