// The seed's WAL routes: walFiles, walFile (download and upload), validLsn, in_recovery.
#include <openssl/evp.h>

#include "agent_impl.hpp"
#include "node_json.hpp"
#include "pgha/wal_catalog.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

constexpr RouteOptions kBlocking{false, true, 0};

// (timeline, lsn) from the seed's ":tl/:hi/:lo": a decimal timeline and the two hex halves.
std::pair<TimelineId, Lsn> Position(const HttpRequest& req) {
  const std::string& tl = req.Param("tl");
  TimelineId tli = 0;
  bool ok = !tl.empty() && tl.size() <= 10;
  for (char c : tl) ok = ok && c >= '0' && c <= '9';
  if (ok) {
    unsigned long v = std::stoul(tl);
    ok = v > 0 && v <= 0xFFFFFFFFul;
    tli = static_cast<TimelineId>(v);
  }
  if (!ok)
    throw Error(ErrorCode::kBadInput, "timeline \"" + tl + "\" is not a decimal timeline id");
  return {tli, Lsn::Parse(req.Param("hi") + "/" + req.Param("lo"))};
}

json FileList(const std::vector<WalFileInfo>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"file", f.name}, {"md5", f.md5}});
  return out;
}

// RFC 1864 Content-MD5 (base64 of the 16-byte digest) as 32 hex digits.
std::string Md5FromBase64(const std::string& b64) {
  unsigned char raw[64];
  if (b64.size() != 24)
    throw Error(ErrorCode::kBadInput, "Content-MD5 must be 24 base64 characters");
  int n = EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(b64.data()), 24);
  if (n != 18) throw Error(ErrorCode::kBadInput, "Content-MD5 is not valid base64");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    hex += kHex[raw[i] >> 4];
    hex += kHex[raw[i] & 15];
  }
  return hex;
}

std::optional<std::string> ExpectedMd5(const HttpRequest& req) {
  if (auto q = req.Query("md5")) return *q;
  if (const std::string* h = req.headers.Get("Content-MD5")) return Md5FromBase64(*h);
  return std::nullopt;
}

HttpResponse Uploaded(Agent::Impl& a, const std::string& name, std::string_view bytes,
                      std::optional<std::string> md5) {
  UploadOptions options;
  options.expected_md5 = std::move(md5);
  // A history file must fit this node's history (WalCatalog::BeginInstall).
  const std::string_view suffix = ".history";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    options.node_position = a.local->Position();
  }
  std::unique_ptr<WalUpload> upload = a.local->catalog()->BeginInstall(name, options);
  upload->Write(bytes.data(), bytes.size());
  InstallResult r = upload->Commit();
  return Json({{"code", 0}, {"msg", "The file <" + r.path + "> was uploaded"}});
}

// validLsn's optional `record=X/Y&crc=xxxxxxxx`: the asking node's last record before the
// LSN (both or neither; a record start is 8-byte aligned, a CRC 8 hex digits).
std::optional<WalRecordRef> RecordQuery(const HttpRequest& req) {
  std::optional<std::string> record = req.Query("record");
  std::optional<std::string> crc = req.Query("crc");
  if (!record && !crc) return std::nullopt;
  if (!record || !crc) throw Error(ErrorCode::kBadInput, "validLsn: give both record and crc");
  WalRecordRef ref;
  ref.start = Lsn::Parse(*record);
  if (ref.start.value() % 8 != 0)
    throw Error(ErrorCode::kBadInput, "validLsn: record " + ref.start.ToString() +
                                          " is not a record start (records are 8-byte aligned)");
  ref.crc = ParseCrcHex(*crc);
  return ref;
}

}  // namespace

void AddWalRoutes(Agent::Impl& a, Router& r) {
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/walFiles/:tl/:hi/:lo",
      [&a](const HttpRequest& req) {
        auto [tli, lsn] = Position(req);
        return Json(FileList(a.local->catalog()->From(tli, lsn, a.local->Position())));
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/walFiles/:walFile",
      [&a](const HttpRequest& req) {
        return Json(FileList(a.local->catalog()->From(req.Param("walFile"), a.local->Position())));
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/walFile/:walFile",
      [&a](const HttpRequest& req) {
        return HttpResponse::File(a.local->catalog()->PathFor(req.Param("walFile")));
      },
      kBlocking);
  r.Add(
      HttpMethod::kPut, "/api/pg/v1/walFile/:walFile",
      [&a](const HttpRequest& req) {
        return Uploaded(a, req.Param("walFile"), req.body, ExpectedMd5(req));
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/walFile/:walFile",
      [&a](const HttpRequest& req) {
        MultipartPart part = ParseMultipartFile(req.headers.GetOr("Content-Type", ""), req.body);
        return Uploaded(a, req.Param("walFile"), part.content, ExpectedMd5(req));
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/validLsn/:tl/:hi/:lo",
      [&a](const HttpRequest& req) {
        auto [tli, lsn] = Position(req);
        return Json(ToJson(a.local->ValidLsn(tli, lsn, RecordQuery(req))));
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/in_recovery",
      [&a](const HttpRequest&) {
        if (!a.local->instance().IsRunning()) {
          throw Error(ErrorCode::kWrongState, a.local->address().name + " is not running");
        }
        return Json({{"in_recovery", a.local->instance().InRecovery() ? "t" : "f"}});
      },
      kBlocking);
}

}  // namespace pgha::agent
