// The seed's WAL routes: walFiles, walFile (download and upload), validLsn, in_recovery.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "agent_impl.hpp"
#include "node_json.hpp"
#include "pgha/wal_catalog.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

constexpr RouteOptions kBlocking{false, true, 0};
// Room for a multipart body's delimiters and part header around one file.
constexpr std::uint64_t kMultipartFramingBytes = 64u << 10;
constexpr std::size_t kUploadChunkBytes = std::size_t{1} << 20;

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

// A request body: the file the server wrote it to, mapped read-only (page cache, not this
// process's heap: a 1 GiB segment is never copied into memory), or the in-memory body.
class BodyBytes {
 public:
  explicit BodyBytes(const HttpRequest& req) : view_(req.body) {
    if (req.body_file.empty()) return;
    const int fd = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw Error(ErrorCode::kIo,
                  "cannot read the request body: " + std::string(std::strerror(err)));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      throw Error(ErrorCode::kIo,
                  "cannot map the request body: " + std::string(std::strerror(map_errno)));
    }
    if (map_ != nullptr) ::madvise(map_, size_, MADV_SEQUENTIAL);
    view_ = std::string_view(static_cast<const char*>(map_), size_);
  }
  ~BodyBytes() {
    if (map_ != nullptr) ::munmap(map_, size_);
  }
  BodyBytes(const BodyBytes&) = delete;
  BodyBytes& operator=(const BodyBytes&) = delete;
  std::string_view view() const noexcept { return view_; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::string_view view_;
};

// A running server owns its pg_wal: uploads wait until it is stopped.
void RequireStopped(Agent::Impl& a) {
  if (a.local->instance().IsRunning()) {
    throw Error(ErrorCode::kConflict, "cannot upload WAL into " + a.local->address().name +
                                          ": its server is running and owns pg_wal");
  }
}

// Where a walFile upload's body goes: a temporary file in pg_wal (the file system it ends up
// on), at most one segment of this node's size plus room for multipart framing. A running
// server (checked again under the lease) and a bad name are refused before the body is sent.
HttpBodyFile UploadBodyFile(Agent::Impl& a, const HttpRequest& head) {
  RequireStopped(a);
  std::shared_ptr<WalCatalog> catalog = a.local->catalog();
  WalFileName::Parse(head.Param("walFile"), catalog->segment_size());
  const std::uint64_t file_limit =
      std::max<std::uint64_t>(catalog->segment_size(), WalCatalog::kMaxHistoryFileSize);
  return HttpBodyFile{catalog->NewTempPath(), file_limit + kMultipartFramingBytes};
}

// Runs `fn` under the operation lease: the running operation's when a coordinator sends its
// holder (as internal calls do), else one taken for the upload.
void WithUploadLease(Agent::Impl& a, const HttpRequest& req, const std::function<void()>& fn) {
  if (req.headers.Has(kLeaseHeader)) {
    a.RequireLease(req);
    fn();
    return;
  }
  WithLocalLease(a, "walFile upload", fn);
}

HttpResponse Uploaded(Agent::Impl& a, const HttpRequest& req, bool multipart) {
  const std::string& name = req.Param("walFile");
  InstallResult r;
  WithUploadLease(a, req, [&] {
    RequireStopped(a);  // again: a start needs the lease, which this upload holds now
    BodyBytes body(req);
    std::string_view bytes = body.view();
    if (multipart) bytes = ParseMultipartFile(req.headers.GetOr("Content-Type", ""), bytes).content;
    UploadOptions options;
    options.expected_md5 = ExpectedMd5(req);
    options.node_history = a.local->instance().History();
    std::shared_ptr<WalCatalog> catalog = a.local->catalog();
    // A history file must fit this node's history (WalCatalog::BeginInstall).
    if (WalFileName::Parse(name, catalog->segment_size()).kind == WalFileKind::kHistory) {
      options.node_position = a.local->Position();
    }
    std::unique_ptr<WalUpload> upload = catalog->BeginInstall(name, options);
    for (std::size_t at = 0; at < bytes.size(); at += kUploadChunkBytes) {
      upload->Write(bytes.data() + at, std::min(kUploadChunkBytes, bytes.size() - at));
    }
    r = upload->Commit();
  });
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
  auto body_file = [&a](const HttpRequest& head) { return UploadBodyFile(a, head); };
  r.Add(
      HttpMethod::kPut, "/api/pg/v1/walFile/:walFile",
      [&a](const HttpRequest& req) { return Uploaded(a, req, false); }, kBlocking, body_file);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/walFile/:walFile",
      [&a](const HttpRequest& req) { return Uploaded(a, req, true); }, kBlocking, body_file);
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
