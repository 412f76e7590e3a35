// The C ABI of the WAL catalogue (pgha/wal_catalog.hpp). Every entry point runs through
// capi::Guard.
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "c_guard.hpp"
#include "c_handles.hpp"
#include "pgha/pgha.h"
#include "pgha/wal_catalog.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::capi::CheckVersion;
using pgha::capi::CopyOut;
using pgha::capi::Guard;
using pgha::capi::Require;

// Defined exactly as in pgha_c.cpp (one definition in two translation units, as the ODR
// allows for identical class definitions).
struct pgha_wal_catalog {
  std::unique_ptr<pgha::WalCatalog> catalog;
};

struct pgha_wal_file_list {
  std::vector<pgha::WalFileInfo> files;  // owns the strings the items point into
  std::vector<pgha_wal_file_info> items;
};

namespace {

pgha::WalPosition Position(const pgha_timeline_history* history, uint64_t end_of_wal) {
  return pgha::WalPosition{history == nullptr ? pgha::TimelineHistory(1) : history->history,
                           Lsn(end_of_wal)};
}

pgha_wal_file_list* MakeList(std::vector<pgha::WalFileInfo> files) {
  auto list = std::make_unique<pgha_wal_file_list>();
  list->files = std::move(files);
  for (const pgha::WalFileInfo& f : list->files) {
    pgha_wal_file_info item{};
    item.version = PGHA_STRUCT_VERSION;
    item.name = f.name.c_str();
    item.kind = static_cast<pgha_wal_file_kind>(f.parsed.kind);
    item.timeline = f.parsed.timeline;
    item.segment = f.parsed.segment;
    item.size = f.size;
    item.mtime_ns = f.mtime_ns;
    item.md5 = f.md5.c_str();
    list->items.push_back(item);
  }
  return list.release();
}

pgha::WalCatalog& CatalogOf(pgha_wal_catalog* catalog) {
  Require(catalog, "catalog");
  return *catalog->catalog;
}

int ValidLsnInto(pgha_wal_catalog* catalog, uint32_t timeline, uint64_t lsn,
                 const pgha_timeline_history* history, uint64_t end_of_wal,
                 const std::optional<pgha::WalRecordRef>& last, pgha_valid_lsn_result* out) {
  return Guard([&] {
    Require(out, "out");
    CheckVersion(out->version, "pgha_valid_lsn_result");
    pgha::ValidLsnResult r =
        CatalogOf(catalog).ValidLsn(timeline, Lsn(lsn), Position(history, end_of_wal), last);
    out->code = static_cast<pgha_valid_lsn_code>(r.code);
    out->cnt = r.cnt;
    std::string msg = r.msg.substr(0, sizeof out->msg - 1);
    std::memcpy(out->msg, msg.c_str(), msg.size() + 1);
  });
}

}  // namespace

extern "C" {

int pgha_wal_catalog_open(const char* pg_wal_dir, const pgha_wal_catalog_options* options,
                          pgha_wal_catalog** out) {
  return Guard([&] {
    Require(pg_wal_dir, "pg_wal_dir");
    Require(out, "out");
    *out = nullptr;
    std::uint32_t segment_size = pgha::kDefaultWalSegmentSize;
    std::optional<std::uint64_t> sysid;
    int major = 0;
    if (options != nullptr) {
      CheckVersion(options->version, "pgha_wal_catalog_options");
      if (options->segment_size != 0) segment_size = options->segment_size;
      if (options->check_system_identifier != 0) sysid = options->system_identifier;
      major = options->expected_major;
    }
    auto catalog = std::make_unique<pgha::WalCatalog>(pg_wal_dir, segment_size, sysid, major);
    *out = new pgha_wal_catalog{std::move(catalog)};
  });
}

void pgha_wal_catalog_free(pgha_wal_catalog* catalog) {
  delete catalog;
}

uint64_t pgha_wal_catalog_hashes_computed(const pgha_wal_catalog* catalog) {
  return catalog == nullptr ? 0 : catalog->catalog->HashesComputed();
}

int pgha_wal_catalog_list(pgha_wal_catalog* catalog, const pgha_timeline_history* history,
                          uint64_t end_of_wal, int with_md5, pgha_wal_file_list** out) {
  return Guard([&] {
    Require(out, "out");
    *out = nullptr;
    *out = MakeList(CatalogOf(catalog).List(Position(history, end_of_wal), with_md5 != 0));
  });
}

int pgha_wal_catalog_from(pgha_wal_catalog* catalog, uint32_t timeline, uint64_t lsn,
                          const pgha_timeline_history* history, uint64_t end_of_wal,
                          pgha_wal_file_list** out) {
  return Guard([&] {
    Require(out, "out");
    *out = nullptr;
    *out = MakeList(CatalogOf(catalog).From(timeline, Lsn(lsn), Position(history, end_of_wal)));
  });
}

int pgha_wal_catalog_from_file(pgha_wal_catalog* catalog, const char* wal_file_name,
                               const pgha_timeline_history* history, uint64_t end_of_wal,
                               pgha_wal_file_list** out) {
  return Guard([&] {
    Require(wal_file_name, "wal_file_name");
    Require(out, "out");
    *out = nullptr;
    *out = MakeList(CatalogOf(catalog).From(wal_file_name, Position(history, end_of_wal)));
  });
}

void pgha_wal_file_list_free(pgha_wal_file_list* list) {
  delete list;
}

size_t pgha_wal_file_list_count(const pgha_wal_file_list* list) {
  return list == nullptr ? 0 : list->items.size();
}

const pgha_wal_file_info* pgha_wal_file_list_at(const pgha_wal_file_list* list, size_t i) {
  if (list == nullptr || i >= list->items.size()) return nullptr;
  return &list->items[i];
}

int pgha_wal_catalog_path_for(pgha_wal_catalog* catalog, const char* name, char* buf,
                              size_t bufsize) {
  return Guard([&] {
    Require(name, "name");
    CopyOut(CatalogOf(catalog).PathFor(name), buf, bufsize);
  });
}

int pgha_wal_catalog_install(pgha_wal_catalog* catalog, const char* name, const void* data,
                             size_t len, const char* expected_md5, int* already_present) {
  return Guard([&] {
    Require(name, "name");
    if (len > 0) Require(data, "data");
    if (already_present != nullptr) *already_present = 0;
    std::optional<std::string> md5;
    if (expected_md5 != nullptr) md5 = expected_md5;
    std::string_view bytes(len > 0 ? static_cast<const char*>(data) : "", len);
    pgha::InstallResult r = CatalogOf(catalog).Install(name, bytes, md5);
    if (already_present != nullptr) *already_present = r.already_present ? 1 : 0;
  });
}

int pgha_wal_catalog_valid_lsn(pgha_wal_catalog* catalog, uint32_t timeline, uint64_t lsn,
                               const pgha_timeline_history* history, uint64_t end_of_wal,
                               pgha_valid_lsn_result* out) {
  return ValidLsnInto(catalog, timeline, lsn, history, end_of_wal, std::nullopt, out);
}

int pgha_wal_catalog_valid_lsn_record(pgha_wal_catalog* catalog, uint32_t timeline, uint64_t lsn,
                                      const pgha_timeline_history* history, uint64_t end_of_wal,
                                      uint64_t record_start, uint32_t record_crc,
                                      pgha_valid_lsn_result* out) {
  return ValidLsnInto(catalog, timeline, lsn, history, end_of_wal,
                      pgha::WalRecordRef{Lsn(record_start), record_crc}, out);
}

}  // extern "C"
