// HTTP messages shared by pgha's server and client, and the parsers of request text
// (percent-encoding, query strings, multipart/form-data). No Boost or curl type appears here.
#ifndef PGHA_HTTP_HPP
#define PGHA_HTTP_HPP

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/export.hpp"

namespace pgha {

/// The request methods pgha routes.
enum class HttpMethod { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions };

/// "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS".
PGHA_API std::string_view HttpMethodName(HttpMethod method) noexcept;
/// The method named exactly (upper case, as on the wire); nullopt for anything else.
PGHA_API std::optional<HttpMethod> ParseHttpMethod(std::string_view name) noexcept;

/// Header fields in arrival order with case-insensitive name lookup. Thread-compatible.
class PGHA_API HttpHeaders {
 public:
  /// The value of the first field called `name` (any case); nullptr when there is none.
  /// The pointer is valid until the headers are modified.
  const std::string* Get(std::string_view name) const noexcept;
  /// The value of `name`, or `fallback` when absent.
  std::string GetOr(std::string_view name, std::string_view fallback) const;
  /// True when a field called `name` (any case) is present.
  bool Has(std::string_view name) const noexcept { return Get(name) != nullptr; }
  /// Appends a field (duplicates are kept, in order).
  void Add(std::string name, std::string value);
  /// Replaces every field called `name` by one with `value`.
  void Set(std::string_view name, std::string value);
  /// Removes every field called `name`.
  void Remove(std::string_view name);

  /// The fields as (name, value) pairs, in order.
  const std::vector<std::pair<std::string, std::string>>& fields() const noexcept {
    return fields_;
  }
  bool empty() const noexcept { return fields_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

/// A request as a handler sees it: parsed, routed and (unless the route is public)
/// authenticated. Path parameters and query values are percent-decoded exactly once.
struct PGHA_API HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;                         ///< the request target as sent, e.g. "/a/b%20c?x=1"
  std::string path;                           ///< the path part of the target, still encoded
  std::map<std::string, std::string> params;  ///< route parameters (":name" → decoded value)
  std::map<std::string, std::string> query;   ///< decoded query string (ParseQuery)
  HttpHeaders headers;
  std::string body;
  /// For a route with a body file (Router::Add): the file holding the body, "" when the
  /// request had none (`body` is then empty). Removed by the server after the handler.
  std::string body_file;
  std::string remote_address;  ///< peer IP address, e.g. "127.0.0.1" or "::1"

  /// The route parameter `name`; throws Error(kInternal) when the route has no such
  /// parameter (a programming error, not bad input).
  const std::string& Param(std::string_view name) const;
  /// The query value `name`, or nullopt when absent.
  std::optional<std::string> Query(std::string_view name) const;
};

/// A file sent as a response body: streamed from disk, never read into memory. The file is
/// opened when the response is sent; a missing file then gives 404, others 500.
struct HttpFileBody {
  std::string path;
  std::uint64_t offset = 0;             ///< first byte sent
  std::optional<std::uint64_t> length;  ///< bytes sent; nullopt = up to the end
};

/// A response: status, headers and either `body` or `file`. Also what HttpClient returns
/// (then `file` is never set). Content-Length is always computed by the server; a handler
/// sets Content-Type (the helpers do).
struct PGHA_API HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  std::optional<HttpFileBody> file;

  /// `json_text` (already serialised JSON) with Content-Type application/json.
  static HttpResponse Json(int status, std::string json_text);
  /// Text with Content-Type `content_type`.
  static HttpResponse Text(int status, std::string text,
                           std::string content_type = "text/plain; charset=utf-8");
  /// The file at `path` (or a range of it), Content-Type `content_type`.
  static HttpResponse File(std::string path, std::string content_type = "application/octet-stream",
                           std::uint64_t offset = 0,
                           std::optional<std::uint64_t> length = std::nullopt);
  /// The REST error body {"code": N, "msg": "..."} with the HTTP status of `error`'s code;
  /// kUnavailable (a server starting or stopping) also gets `Retry-After: 1`.
  static HttpResponse FromError(const Error& error);
  /// {"code": N, "msg": "..."} with an explicit status (e.g. 405, 413, 431).
  static HttpResponse ErrorBody(int status, ErrorCode code, std::string_view msg);

  /// True for 200-299.
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// The HTTP status of docs/errors.md for `code` (400, 401, 404, 409, 500, 503, 504; 200 for
/// kOk).
PGHA_API int HttpStatusForError(ErrorCode code) noexcept;

/// Serialises {"code": <number>, "msg": "<message>"} (message JSON-escaped; invalid UTF-8
/// replaced).
PGHA_API std::string ErrorJson(ErrorCode code, std::string_view message);

/// Decodes %XX escapes (either case). With `plus_is_space`, '+' becomes ' ' (query strings).
/// Throws Error(kBadInput) with the offset for a malformed escape; a decoded NUL is refused.
PGHA_API std::string PercentDecode(std::string_view text, bool plus_is_space = false);

/// Percent-encodes everything except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
PGHA_API std::string PercentEncode(std::string_view text);

/// Parses a query string ("a=1&b=x%20y", without the '?') into decoded key/value pairs.
/// Empty pieces ("a=1&&b=2", a trailing '&') are skipped; "k" alone gives an empty value.
/// Throws Error(kBadInput) for a malformed escape, a decoded NUL or control character, an
/// empty key or a key given twice.
PGHA_API std::map<std::string, std::string> ParseQuery(std::string_view query);
/// The non-throwing form of ParseQuery, for untrusted input.
PGHA_API Result<std::map<std::string, std::string>> TryParseQuery(std::string_view query) noexcept;

/// One part of a multipart/form-data body. `content` points into the body that was parsed:
/// it is valid only as long as that body.
struct MultipartPart {
  std::string name;          ///< the form field name (Content-Disposition name=)
  std::string filename;      ///< the filename= parameter, empty when absent
  std::string content_type;  ///< the part's Content-Type, empty when absent
  std::string_view content;  ///< the part's bytes (binary-safe)
};

/// Limits of the multipart parser.
inline constexpr std::size_t kMultipartMaxParts = 16;
inline constexpr std::size_t kMultipartMaxHeaderBytes = 4096;  ///< of one part's header block

/// Parses a multipart/form-data body (RFC 7578): `content_type` is the request's Content-Type
/// header, which must be multipart/form-data with a boundary. Strict: the body starts with the
/// first delimiter, every part has a form-data Content-Disposition with a name, the close
/// delimiter is present, at most kMultipartMaxParts parts. Throws Error(kBadInput) naming
/// the byte offset of the problem.
PGHA_API std::vector<MultipartPart> ParseMultipart(std::string_view content_type,
                                                   std::string_view body);
/// The non-throwing form of ParseMultipart, for untrusted input.
PGHA_API Result<std::vector<MultipartPart>> TryParseMultipart(std::string_view content_type,
                                                              std::string_view body) noexcept;

/// The uploaded file of a multipart body: the part named `field` if there is one, else the
/// first part with a filename. Throws Error(kBadInput) when the body is malformed or has
/// neither.
PGHA_API MultipartPart ParseMultipartFile(std::string_view content_type, std::string_view body,
                                          std::string_view field = "data");

}  // namespace pgha

#endif  // PGHA_HTTP_HPP
