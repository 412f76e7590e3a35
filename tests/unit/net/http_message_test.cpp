#include <doctest/doctest.h>

#include <map>
#include <string>

#include "pgha/http.hpp"
#include "pgha/http_client.hpp"

using pgha::ErrorCode;
using pgha::HttpResponse;

TEST_CASE("ParseQuery: accepted query strings") {
  using Map = std::map<std::string, std::string>;
  struct Case {
    const char* query;
    Map expected;
  };
  const Case cases[] = {
      {"", {}},
      {"a=1", {{"a", "1"}}},
      {"a=1&b=x%20y", {{"a", "1"}, {"b", "x y"}}},
      {"md5=eedd5ebc09b162d8464ff53d9c98f492", {{"md5", "eedd5ebc09b162d8464ff53d9c98f492"}}},
      {"mode=fast&force", {{"mode", "fast"}, {"force", ""}}},
      {"a=&b=2", {{"a", ""}, {"b", "2"}}},
      {"a=1&&b=2&", {{"a", "1"}, {"b", "2"}}},
      {"q=a+b%2Bc", {{"q", "a b+c"}}},
      {"k%3D=v%26w", {{"k=", "v&w"}}},
      {"x=a=b", {{"x", "a=b"}}},
      {"utf=%C3%A9", {{"utf", "\xC3\xA9"}}},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.query));
    CHECK(pgha::ParseQuery(c.query) == c.expected);
    CHECK(pgha::TryParseQuery(c.query).ok());
  }
}

TEST_CASE("ParseQuery: rejected query strings") {
  for (const char* bad : {"a=%", "a=%4", "a=%G1", "a=%00", "a=%0A", "a=%7F", "%01=x", "=v",
                          "a=1&a=2", "a=1&=2", "%=1"}) {
    CAPTURE(std::string(bad));
    const auto result = pgha::TryParseQuery(bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code() == ErrorCode::kBadInput);
    CHECK(result.error().position().has_value());
  }
}

TEST_CASE("PercentDecode and PercentEncode") {
  CHECK(pgha::PercentDecode("a%2Fb%2fc") == "a/b/c");
  CHECK(pgha::PercentDecode("a+b") == "a+b");
  CHECK(pgha::PercentDecode("a+b", true) == "a b");
  CHECK(pgha::PercentEncode("a b/c~_.-Z9\xFF") == "a%20b%2Fc~_.-Z9%FF");
  const std::string all = [] {
    std::string s;
    for (int i = 1; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
  }();
  CHECK(pgha::PercentDecode(pgha::PercentEncode(all)) == all);
  try {
    pgha::PercentDecode("abc%4x");
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(e.position() == 3u);
  }
  CHECK_THROWS_AS(pgha::PercentDecode(std::string("a\0b", 3)), pgha::Error);
}

TEST_CASE("HTTP methods, headers and responses") {
  for (auto m : {pgha::HttpMethod::kGet, pgha::HttpMethod::kHead, pgha::HttpMethod::kPost,
                 pgha::HttpMethod::kPut, pgha::HttpMethod::kDelete, pgha::HttpMethod::kPatch,
                 pgha::HttpMethod::kOptions}) {
    CHECK(pgha::ParseHttpMethod(pgha::HttpMethodName(m)) == m);
  }
  CHECK_FALSE(pgha::ParseHttpMethod("get").has_value());
  CHECK_FALSE(pgha::ParseHttpMethod("BREW").has_value());

  pgha::HttpHeaders h;
  h.Add("Content-Type", "a");
  h.Add("X-Two", "1");
  h.Add("x-two", "2");
  CHECK(*h.Get("content-TYPE") == "a");
  CHECK(*h.Get("X-TWO") == "1");
  CHECK(h.Get("missing") == nullptr);
  CHECK(h.GetOr("missing", "d") == "d");
  h.Set("X-Two", "3");
  CHECK(h.fields().size() == 2);
  CHECK(*h.Get("x-two") == "3");
  h.Remove("CONTENT-type");
  CHECK_FALSE(h.Has("Content-Type"));

  const HttpResponse e = HttpResponse::FromError(pgha::Error(ErrorCode::kConflict, "busy \"x\""));
  CHECK(e.status == 409);
  CHECK(*e.headers.Get("content-type") == "application/json");
  CHECK(e.body == R"({"code":4,"msg":"busy \"x\""})");
  CHECK(pgha::ErrorJson(ErrorCode::kInternal, "bad \xFF utf8").find("\"code\":9") !=
        std::string::npos);
  CHECK_FALSE(e.headers.Has("Retry-After"));
  // A server in transition: 503, and when to ask again.
  const HttpResponse u =
      HttpResponse::FromError(pgha::Error(ErrorCode::kUnavailable, "the server is stopping"));
  CHECK(u.status == 503);
  REQUIRE(u.headers.Get("Retry-After") != nullptr);
  CHECK(*u.headers.Get("Retry-After") == "1");
}

TEST_CASE("HTTP statuses of the error codes follow docs/errors.md") {
  struct Row {
    ErrorCode code;
    int status;
  };
  for (const Row& r :
       {Row{ErrorCode::kOk, 200}, Row{ErrorCode::kBadInput, 400}, Row{ErrorCode::kNotFound, 404},
        Row{ErrorCode::kWrongState, 409}, Row{ErrorCode::kConflict, 409},
        Row{ErrorCode::kPostgresFailed, 500}, Row{ErrorCode::kPeerUnreachable, 503},
        Row{ErrorCode::kTimeout, 504}, Row{ErrorCode::kIo, 500}, Row{ErrorCode::kInternal, 500},
        Row{ErrorCode::kUnauthorized, 401}, Row{ErrorCode::kUnavailable, 503}}) {
    CAPTURE(static_cast<int>(r.code));
    CHECK(pgha::HttpStatusForError(r.code) == r.status);
  }
}

TEST_CASE(
    "ThrowIfHttpError: the code a peer's error body carries, else the status's; never "
    "peer_unreachable, since the peer answered") {
  auto code_of = [](int status, const std::string& body) {
    HttpResponse r;
    r.status = status;
    r.body = body;
    try {
      pgha::ThrowIfHttpError(r, "GET http://peer/x");
    } catch (const pgha::Error& e) {
      CHECK(std::string(e.what()).rfind("GET http://peer/x: ", 0) == 0);
      return static_cast<int>(e.code());
    }
    return 0;
  };
  CHECK(code_of(200, "") == 0);
  CHECK(code_of(204, "") == 0);
  CHECK(code_of(409, R"({"code":4,"msg":"switchover running"})") == 4);
  CHECK(code_of(500, R"({"code":5,"msg":"pg_ctl failed"})") == 5);
  CHECK(code_of(500, R"({"code":9,"msg":"internal error"})") == 9);
  CHECK(code_of(500, R"({"code":8,"msg":"disk full"})") == 8);
  // An answer is no proof that the peer is down: it said one of its own peers is.
  CHECK(code_of(503, R"({"code":6,"msg":"x"})") == 9);
  CHECK(code_of(500, R"({"code":6,"msg":"x"})") == 9);
  // A server in transition on the peer: retryable, and said so.
  CHECK(code_of(503, R"({"code":11,"msg":"starting"})") == 11);
  // Not an error body: the status decides.
  CHECK(code_of(401, "") == 10);
  CHECK(code_of(404, "<html>") == 2);
  CHECK(code_of(409, "{}") == 4);
  CHECK(code_of(503, R"({"code":0,"msg":"ok?"})") == 9);
  CHECK(code_of(503, "") == 9);
  CHECK(code_of(503, "<html>busy</html>") == 9);
  CHECK(code_of(500, "") == 9);
  CHECK(code_of(504, R"({"code":99,"msg":"?"})") == 7);
  CHECK(code_of(418, R"({"code":"1","msg":"x"})") == 1);
  CHECK(code_of(502, "bad gateway") == 9);
  HttpResponse r;
  r.status = 409;
  r.body = R"({"code":3,"msg":"node is not a slave"})";
  CHECK_THROWS_WITH(pgha::ThrowIfHttpError(r, "POST u"), "POST u: node is not a slave");
  r.status = 503;
  r.body = R"({"code":6,"msg":"cannot ask pg-node03"})";
  CHECK_THROWS_WITH(pgha::ThrowIfHttpError(r, "POST u"),
                    "POST u: cannot ask pg-node03 (the peer answered with peer_unreachable: it "
                    "could not reach another node)");
}
