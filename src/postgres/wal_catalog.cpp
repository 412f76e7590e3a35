// WalCatalog: listing and downloads. From/ValidLsn are in wal_catalog_from.cpp, uploads in
// wal_catalog_install.cpp.
#include "pgha/wal_catalog.hpp"

#include <algorithm>
#include <tuple>

#include "pgha/error.hpp"
#include "wal_catalog_impl.hpp"
#include "wal_content.hpp"

namespace pgha {

namespace {

// Timeline order of the history, its history file first, then segments (a segment before
// its partial).
auto ListOrder(const std::vector<catalog::TimelineSpan>& spans, const WalFileName& n) {
  int kind = n.kind == WalFileKind::kHistory ? 0 : n.kind == WalFileKind::kSegment ? 1 : 2;
  return std::make_tuple(catalog::FindSpan(spans, n.timeline)->index, kind == 0 ? 0 : 1, n.segment,
                         kind);
}

}  // namespace

WalCatalog::WalCatalog(std::string pg_wal_dir, std::uint32_t segment_size,
                       std::optional<std::uint64_t> system_identifier, int expected_major)
    : impl_(std::make_shared<Impl>(std::move(pg_wal_dir), segment_size, system_identifier,
                                   expected_major)) {}

WalCatalog::~WalCatalog() = default;

std::vector<WalFileInfo> WalCatalog::List(const WalPosition& end, bool with_md5) const {
  const std::vector<catalog::TimelineSpan> spans =
      catalog::ContentSpans(end, impl_->segment_size());
  const std::vector<catalog::DirEntry> all = impl_->ReadDir();
  impl_->Prune(all);
  std::vector<catalog::DirEntry> content;
  for (const catalog::DirEntry& e : all) {
    if (catalog::IsContent(spans, e.parsed)) content.push_back(e);
  }
  std::sort(content.begin(), content.end(),
            [&](const catalog::DirEntry& a, const catalog::DirEntry& b) {
              return ListOrder(spans, a.parsed) < ListOrder(spans, b.parsed);
            });
  std::vector<WalFileInfo> out;
  out.reserve(content.size());
  if (!with_md5) {
    for (const catalog::DirEntry& e : content) out.push_back(impl_->InfoOf(e));
    return out;
  }
  for (std::optional<WalFileInfo>& info : impl_->HashAll(content)) {
    if (info) out.push_back(std::move(*info));  // a vanished file is no longer content
  }
  return out;
}

std::string WalCatalog::PathFor(const std::string& name) const {
  WalFileName parsed = WalFileName::Parse(name, impl_->segment_size());
  if (parsed.kind == WalFileKind::kBackup) {
    throw Error(ErrorCode::kBadInput,
                "\"" + name +
                    "\" is a backup history file, not WAL: only segments, partial "
                    "segments and timeline history files are served");
  }
  if (impl_->StatEntry(name, parsed)) return impl_->PathOf(name);
  throw Error(ErrorCode::kNotFound, "WAL file \"" + name + "\" is not in \"" + impl_->dir() + "\"");
}

std::uint64_t WalCatalog::HashesComputed() const noexcept {
  return impl_->hashes();
}

const std::string& WalCatalog::dir() const noexcept {
  return impl_->dir();
}

std::string WalCatalog::NewTempPath() {
  return impl_->PathOf(impl_->NextTempName());
}

std::uint32_t WalCatalog::segment_size() const noexcept {
  return impl_->segment_size();
}

std::string_view ValidLsnCodeName(ValidLsnCode code) noexcept {
  switch (code) {
    case ValidLsnCode::kValid: return "valid";
    case ValidLsnCode::kFileMissing: return "file_missing";
    case ValidLsnCode::kMidRecord: return "mid_record";
    case ValidLsnCode::kNoEntry: return "no_entry";
    case ValidLsnCode::kDiverged: return "diverged";
    case ValidLsnCode::kRecordDiffers: return "record_differs";
  }
  return "unknown";
}

}  // namespace pgha
