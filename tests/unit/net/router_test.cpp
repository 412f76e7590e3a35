#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgha/http_server.hpp"

using pgha::ErrorCode;
using pgha::HttpMethod;
using pgha::HttpRequest;
using pgha::HttpResponse;
using pgha::RouteMatch;
using pgha::Router;

namespace {

pgha::HttpHandler Named(const std::string& name) {
  return [name](const HttpRequest&) { return HttpResponse::Text(200, name); };
}

// The name of the handler a match found ("" when none).
std::string HandlerOf(const RouteMatch& m) {
  if (m.handler == nullptr) return "";
  return (*m.handler)(HttpRequest{}).body;
}

// The seed's routes, as the agent declares them.
Router SeedRouter() {
  Router r;
  r.Add(HttpMethod::kGet, "/api/pg/v1/instance/:scope", Named("instance-get"));
  r.Add(HttpMethod::kPost, "/api/pg/v1/instance/:scope", Named("instance-post"));
  r.Add(HttpMethod::kDelete, "/api/pg/v1/instance/:scope", Named("instance-delete"));
  r.Add(HttpMethod::kPost, "/api/pg/v1/instance/failover/:how", Named("failover"));
  r.Add(HttpMethod::kPost, "/api/pg/v1/instance/all/:order", Named("all-order"));
  r.Add(HttpMethod::kGet, "/api/pg/v1/walFiles/:tl/:hi/:lo", Named("walfiles-lsn"));
  r.Add(HttpMethod::kGet, "/api/pg/v1/walFiles/:walFile", Named("walfiles-name"));
  r.Add(HttpMethod::kGet, "/api/pg/v1/walFile/:walFile", Named("walfile-get"));
  r.Add(HttpMethod::kPut, "/api/pg/v1/walFile/:walFile", Named("walfile-put"));
  r.Add(HttpMethod::kGet, "/api/pg/v1/in_recovery", Named("in-recovery"));
  r.Add(HttpMethod::kGet, "/health", Named("health"), {true, false, 0});
  r.Add(HttpMethod::kGet, "/", Named("root"));
  return r;
}

}  // namespace

TEST_CASE("Router: routes, parameters and precedence") {
  const Router r = SeedRouter();
  CHECK(r.size() == 12);
  struct Case {
    HttpMethod method;
    const char* path;
    const char* handler;
    std::vector<std::pair<std::string, std::string>> params;
  };
  const Case cases[] = {
      {HttpMethod::kGet, "/api/pg/v1/instance/current", "instance-get", {{"scope", "current"}}},
      {HttpMethod::kPost, "/api/pg/v1/instance/all", "instance-post", {{"scope", "all"}}},
      {HttpMethod::kDelete,
       "/api/pg/v1/instance/slaveMaster",
       "instance-delete",
       {{"scope", "slaveMaster"}}},
      // A literal segment beats a parameter: instance/failover/x is not instance/:scope.
      {HttpMethod::kPost, "/api/pg/v1/instance/failover/promote", "failover", {{"how", "promote"}}},
      {HttpMethod::kPost,
       "/api/pg/v1/instance/all/masterSlave",
       "all-order",
       {{"order", "masterSlave"}}},
      // "failover" alone is a scope of instance/:scope.
      {HttpMethod::kPost, "/api/pg/v1/instance/failover", "instance-post", {{"scope", "failover"}}},
      {HttpMethod::kGet,
       "/api/pg/v1/walFiles/3/0/39000028",
       "walfiles-lsn",
       {{"tl", "3"}, {"hi", "0"}, {"lo", "39000028"}}},
      {HttpMethod::kGet,
       "/api/pg/v1/walFiles/000000030000000000000039",
       "walfiles-name",
       {{"walFile", "000000030000000000000039"}}},
      {HttpMethod::kPut,
       "/api/pg/v1/walFile/000000080000000000000039",
       "walfile-put",
       {{"walFile", "000000080000000000000039"}}},
      // Parameters are decoded exactly once: %2541 is "%41", not "A".
      {HttpMethod::kGet, "/api/pg/v1/walFile/a%20b%2541", "walfile-get", {{"walFile", "a b%41"}}},
      // Literal segments compare decoded.
      {HttpMethod::kGet, "/api/pg/v1/in%5Frecovery", "in-recovery", {}},
      // HEAD is served by the GET route.
      {HttpMethod::kHead, "/api/pg/v1/in_recovery", "in-recovery", {}},
      {HttpMethod::kGet, "/health", "health", {}},
      {HttpMethod::kGet, "/", "root", {}},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.path));
    const RouteMatch m = r.Match(c.method, c.path);
    REQUIRE(m.status == 200);
    CHECK(HandlerOf(m) == c.handler);
    CHECK(m.params.size() == c.params.size());
    for (const auto& [name, value] : c.params) CHECK(m.params.at(name) == value);
  }
  CHECK(r.Match(HttpMethod::kGet, "/health").options.public_route);
  CHECK_FALSE(r.Match(HttpMethod::kGet, "/api/pg/v1/in_recovery").options.public_route);
  CHECK(r.Match(HttpMethod::kGet, "/api/pg/v1/walFiles/1/2/3").pattern ==
        "/api/pg/v1/walFiles/:tl/:hi/:lo");
}

TEST_CASE("Router: a less specific route serves a method the more specific one lacks") {
  Router r;
  r.Add(HttpMethod::kPost, "/a/b", Named("literal-post"));
  r.Add(HttpMethod::kGet, "/a/:x", Named("param-get"));
  CHECK(HandlerOf(r.Match(HttpMethod::kPost, "/a/b")) == "literal-post");
  CHECK(HandlerOf(r.Match(HttpMethod::kGet, "/a/b")) == "param-get");
  const RouteMatch m = r.Match(HttpMethod::kPut, "/a/b");
  CHECK(m.status == 405);
  // Allow lists what every matching route offers.
  CHECK(m.allowed.size() == 3);
}

TEST_CASE("Router: 404, 405 and malformed paths") {
  const Router r = SeedRouter();
  struct Case {
    HttpMethod method;
    const char* path;
    int status;
  };
  const Case cases[] = {
      {HttpMethod::kGet, "/api/pg/v1/nothing", 404},
      {HttpMethod::kGet, "/api/pg/v1/instance", 404},   // parameter missing
      {HttpMethod::kGet, "/api/pg/v1/instance/", 404},  // empty segment is no parameter
      {HttpMethod::kGet, "/api/pg/v1/instance//x", 404},
      {HttpMethod::kGet, "/api/pg/v1/walFiles/1/2", 404},  // two of three parameters
      {HttpMethod::kGet, "/api/pg/v1/walFiles/1/2/3/4", 404},
      {HttpMethod::kGet, "/API/pg/v1/in_recovery", 404},  // literals are case-sensitive
      {HttpMethod::kPut, "/api/pg/v1/in_recovery", 405},
      {HttpMethod::kPatch, "/api/pg/v1/instance/current", 405},
      {HttpMethod::kDelete, "/api/pg/v1/walFile/x", 405},
      // Encoded slashes, NUL, bad escapes and dot segments are refused, never matched.
      {HttpMethod::kGet, "/api/pg/v1/walFile/..%2F..%2Fetc%2Fpasswd", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/a%2fb", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/a%00b", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/%zz", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/%4", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/%", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/..", 400},
      {HttpMethod::kGet, "/api/pg/v1/walFile/%2E%2E", 400},
      {HttpMethod::kGet, "/api/pg/v1/./in_recovery", 400},
      {HttpMethod::kGet, "api/pg/v1/in_recovery", 400},  // not absolute
      {HttpMethod::kGet, "", 400},
      {HttpMethod::kGet, "*", 400},
      {HttpMethod::kGet, "http://host/api/pg/v1/in_recovery", 400},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.path));
    const RouteMatch m = r.Match(c.method, c.path);
    CHECK(m.status == c.status);
    CHECK(m.handler == nullptr);
    CHECK_FALSE(m.message.empty());
  }
  const RouteMatch m = r.Match(HttpMethod::kPut, "/api/pg/v1/instance/current");
  REQUIRE(m.status == 405);
  CHECK(m.allowed == std::vector<HttpMethod>{HttpMethod::kGet, HttpMethod::kHead, HttpMethod::kPost,
                                             HttpMethod::kDelete});
}

TEST_CASE("Router: malformed and clashing patterns are refused") {
  Router r;
  for (const char* bad : {"", "api", "/a//b", "/a/", "/:", "/:1x", "/:a-b", "/a/:x/:x", "/a b",
                          "/a%20b", "/a?b", "/..", "/."}) {
    CAPTURE(std::string(bad));
    try {
      r.Add(HttpMethod::kGet, bad, Named("x"));
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
  CHECK_THROWS_AS(r.Add(HttpMethod::kGet, "/a", pgha::HttpHandler()), pgha::Error);
  r.Add(HttpMethod::kGet, "/a/:x", Named("1"));
  try {
    r.Add(HttpMethod::kGet, "/a/:y", Named("2"));  // same shape, same method
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kConflict);
  }
  r.Add(HttpMethod::kPost, "/a/:y", Named("3"));  // another method is fine
  CHECK(r.Match(HttpMethod::kPost, "/a/v").params.at("y") == "v");
  CHECK(r.Match(HttpMethod::kGet, "/a/v").params.at("x") == "v");
  CHECK(r.size() == 2);
}

TEST_CASE("Router and ParseQuery survive random input") {
  const Router r = SeedRouter();
  std::uint32_t state = 2463534242u;  // xorshift: reproducible
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  static const char kChars[] = "/%:.?&=+aZ09\x00\xFF_-2Ff";
  const std::string alphabet(kChars, sizeof kChars - 1);  // NUL included
  for (int i = 0; i < 3000; ++i) {
    std::string text = "/api/pg/v1/";
    const std::size_t n = next() % 24;
    for (std::size_t k = 0; k < n; ++k) text.push_back(alphabet[next() % alphabet.size()]);
    const RouteMatch m = r.Match(HttpMethod::kGet, text);
    CHECK((m.status == 200 || m.status == 400 || m.status == 404 || m.status == 405));
    CHECK((m.status == 200) == (m.handler != nullptr));
    const auto q = pgha::TryParseQuery(text);
    if (!q.ok()) CHECK(q.error().code() == ErrorCode::kBadInput);
  }
}
