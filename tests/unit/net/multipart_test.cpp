#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgha/http.hpp"

using pgha::ErrorCode;
using pgha::MultipartPart;

namespace {

const std::string kCurlType =
    "multipart/form-data; boundary=------------------------d74496d66958873e";
const std::string kDelim = "--------------------------d74496d66958873e";

// A part as curl -F "name=@file" writes it.
std::string FilePart(const std::string& name, const std::string& file, const std::string& data) {
  return kDelim + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + file +
         "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + "\r\n";
}

std::string Close() {
  return kDelim + "--\r\n";
}

// Bytes a WAL segment could hold: NULs, CRLFs, dashes, even a near-boundary.
std::string Binary() {
  std::string s("\xD1\x10\x02\x00\x00\x00\r\n--\r\n", 13);
  s += "\r\n--------------------------d74496d66958873";  // one character short
  s += std::string(1000, '\0');
  return s;
}

}  // namespace

TEST_CASE("ParseMultipart: curl -F upload and other accepted bodies") {
  const std::string data = Binary();
  struct Case {
    const char* label;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> parts;  // name, content
  };
  const Case cases[] = {
      {"curl -F data=@file",
       kCurlType,
       FilePart("data", "000000030000000000000018", data) + Close(),
       {{"data", data}}},
      {"two parts",
       kCurlType,
       kDelim + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" +
           FilePart("data", "f", "xyz") + Close(),
       {{"note", "hello"}, {"data", "xyz"}}},
      {"empty content", kCurlType, FilePart("data", "f", "") + Close(), {{"data", ""}}},
      {"epilogue ignored",
       kCurlType,
       FilePart("data", "f", "a") + kDelim + "--\r\nepilogue",
       {{"data", "a"}}},
      {"no CRLF after close",
       kCurlType,
       FilePart("data", "f", "a") + kDelim + "--",
       {{"data", "a"}}},
      {"quoted boundary, any case",
       "Multipart/Form-Data; Charset=x; BOUNDARY=\"a b'()+_,-./:=?\"",
       "--a b'()+_,-./:=?\r\ncontent-disposition: FORM-DATA; NAME=data\r\n\r\nq\r\n"
       "--a b'()+_,-./:=?--",
       {{"data", "q"}}},
      {"escaped quote in name",
       "multipart/form-data; boundary=b",
       "--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\nX-Other: 1\r\n\r\nv\r\n--b--",
       {{"a\"b", "v"}}},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.label));
    const auto parts = pgha::ParseMultipart(c.content_type, c.body);
    REQUIRE(parts.size() == c.parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      CHECK(parts[i].name == c.parts[i].first);
      CHECK(parts[i].content == c.parts[i].second);
    }
  }
  const auto first = pgha::ParseMultipart(kCurlType, FilePart("data", "wal", "x") + Close());
  CHECK(first[0].filename == "wal");
  CHECK(first[0].content_type == "application/octet-stream");
}

TEST_CASE("ParseMultipart: rejected bodies and content types") {
  const std::string ok_part = FilePart("data", "f", "x");
  auto part_with = [](const std::string& headers) {
    return kDelim + "\r\n" + headers + "\r\n\r\nx\r\n" + Close();
  };
  std::string many;
  for (int i = 0; i < 17; ++i) many += FilePart("p" + std::to_string(i), "f", "x");
  struct Case {
    const char* label;
    std::string content_type;
    std::string body;
  };
  const Case cases[] = {
      {"not multipart", "application/json", ok_part + Close()},
      {"multipart/mixed", "multipart/mixed; boundary=b", "--b\r\n\r\n--b--"},
      {"no boundary", "multipart/form-data", ok_part + Close()},
      {"empty boundary", "multipart/form-data; boundary=\"\"", "--\r\n"},
      {"boundary too long", "multipart/form-data; boundary=" + std::string(71, 'a'), ""},
      {"boundary ends in space", "multipart/form-data; boundary=\"ab \"", ""},
      {"boundary bad char", "multipart/form-data; boundary=\"a\\\"b\"", ""},
      {"unterminated quote", "multipart/form-data; boundary=\"ab", ""},
      {"parameter repeated", "multipart/form-data; boundary=a; boundary=b", "--a\r\n"},
      {"garbage parameter", "multipart/form-data; boundary", ""},
      {"empty body", kCurlType, ""},
      {"preamble", kCurlType, "preamble\r\n" + ok_part + Close()},
      {"no close delimiter", kCurlType, ok_part},
      {"truncated content", kCurlType, ok_part.substr(0, ok_part.size() - 3)},
      {"boundary then garbage", kCurlType, kDelim + "X\r\n"},
      {"only the close delimiter", kCurlType, Close()},
      {"no headers", kCurlType, kDelim + "\r\n\r\nx\r\n" + Close()},
      {"headers unterminated", kCurlType, kDelim + "\r\nContent-Disposition: form-data"},
      {"header block too long", kCurlType,
       part_with("Content-Disposition: form-data; name=a\r\nX: " + std::string(5000, 'a'))},
      {"no Content-Disposition", kCurlType, part_with("Content-Type: text/plain")},
      {"attachment", kCurlType, part_with("Content-Disposition: attachment; name=a")},
      {"no name", kCurlType, part_with("Content-Disposition: form-data; filename=a")},
      {"empty name", kCurlType, part_with("Content-Disposition: form-data; name=\"\"")},
      {"two dispositions", kCurlType,
       part_with(
           "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b")},
      {"header without colon", kCurlType,
       part_with("Content-Disposition: form-data; name=a\r\nbroken")},
      {"folded header", kCurlType, part_with("Content-Disposition: form-data;\r\n name=a")},
      {"bad header name", kCurlType, part_with("Content Disposition: form-data; name=a")},
      {"control byte", kCurlType, part_with("Content-Disposition: form-data; name=a\x01")},
      {"base64 encoding", kCurlType,
       part_with("Content-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64")},
      {"17 parts", kCurlType, many + Close()},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.label));
    const auto result = pgha::TryParseMultipart(c.content_type, c.body);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code() == ErrorCode::kBadInput);
  }
}

TEST_CASE("ParseMultipartFile: the part named data, else the first file part") {
  const std::string body = kDelim + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" +
                           "n\r\n" + FilePart("upload", "a", "first-file") +
                           FilePart("data", "b", "the-data") + Close();
  CHECK(pgha::ParseMultipartFile(kCurlType, body).content == "the-data");
  CHECK(pgha::ParseMultipartFile(kCurlType, body, "missing").content == "first-file");
  CHECK(pgha::ParseMultipartFile(kCurlType, body, "note").content == "n");
  const std::string no_file =
      kDelim + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nn\r\n" + Close();
  try {
    pgha::ParseMultipartFile(kCurlType, no_file);
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }
}

TEST_CASE("ParseMultipart never reads out of bounds on truncations of a valid body") {
  const std::string body =
      FilePart("note", "", "text") + FilePart("data", "wal", Binary()) + Close();
  for (std::size_t n = 0; n < body.size(); n += 7) {
    // Copy so that a read past the end is visible to sanitizers.
    const std::string cut = body.substr(0, n);
    const auto result = pgha::TryParseMultipart(kCurlType, cut);
    if (result.ok()) {
      CHECK(n >= body.size() - 2);
    }
  }
  CHECK(pgha::TryParseMultipart(kCurlType, body).ok());
}
