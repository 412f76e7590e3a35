// The C ABI over the public C++ API. Every entry point runs through capi::Guard.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "c_guard.hpp"
#include "c_handles.hpp"
#include "pgha/control_data.hpp"
#include "pgha/lsn.hpp"
#include "pgha/node_state.hpp"
#include "pgha/pgha.h"
#include "pgha/slot_state.hpp"
#include "pgha/timeline.hpp"
#include "pgha/version.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_scan.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::capi::CheckVersion;
using pgha::capi::CopyOut;
using pgha::capi::Guard;
using pgha::capi::Require;

struct pgha_slot_state {
  pgha::SlotState slot;
};

namespace {

std::uint32_t SegmentSizeOrDefault(std::uint32_t segment_size) {
  return segment_size == 0 ? pgha::kDefaultWalSegmentSize : segment_size;
}

pgha::WalScanOptions ToOptions(const pgha_wal_scan_options* in) {
  pgha::WalScanOptions o;
  if (in == nullptr) return o;
  CheckVersion(in->version, "pgha_wal_scan_options");
  o.start = Lsn(in->start);
  o.segment_size = in->segment_size;
  if (in->check_system_identifier != 0) o.system_identifier = in->system_identifier;
  return o;
}

void FromResult(const pgha::WalScanResult& r, pgha_wal_scan_result* out) {
  CheckVersion(out->version, "pgha_wal_scan_result");
  out->start = r.start.value();
  out->end = r.end.value();
  out->last_record = r.last_record.value();
  out->records = r.records;
  out->timeline = r.timeline;
  out->page_magic = r.page_magic;
  out->postgres_major = r.postgres_major;
  out->system_identifier = r.system_identifier;
  out->segment_size = r.segment_size;
  out->bytes_read = r.bytes_read;
  std::string reason = r.stop_reason.substr(0, sizeof out->stop_reason - 1);
  std::memcpy(out->stop_reason, reason.c_str(), reason.size() + 1);
}

int LayoutMajor(pgha::SlotLayout layout) {
  switch (layout) {
    case pgha::SlotLayout::kPg10: return 10;
    case pgha::SlotLayout::kPg13: return 13;
    case pgha::SlotLayout::kPg14: return 14;
    case pgha::SlotLayout::kPg16: return 16;
    case pgha::SlotLayout::kPg17: return 17;
  }
  return 0;
}

}  // namespace

extern "C" {

const char* pgha_version(void) {
  return pgha::kVersion;
}

void pgha_buffer_free(void* buffer) {
  std::free(buffer);
}

int pgha_lsn_parse(const char* text, uint64_t* out) {
  return Guard([&] {
    Require(text, "text");
    Require(out, "out");
    *out = Lsn::Parse(text).value();
  });
}

int pgha_lsn_format(uint64_t lsn, char* buf, size_t bufsize) {
  return Guard([&] { CopyOut(Lsn(lsn).ToString(), buf, bufsize); });
}

int pgha_wal_file_name_parse(const char* name, uint32_t segment_size, pgha_wal_file_name* out) {
  return Guard([&] {
    Require(name, "name");
    Require(out, "out");
    CheckVersion(out->version, "pgha_wal_file_name");
    auto n = pgha::WalFileName::Parse(name, SegmentSizeOrDefault(segment_size));
    out->kind = static_cast<pgha_wal_file_kind>(n.kind);
    out->timeline = n.timeline;
    out->segment = n.segment;
    out->backup_offset = n.backup_offset;
    out->segment_size = n.segment_size;
    out->start_lsn = n.kind == pgha::WalFileKind::kHistory ? 0 : n.StartLsn().value();
  });
}

int pgha_wal_segment_name(uint32_t timeline, uint64_t lsn, uint32_t segment_size, char* buf,
                          size_t bufsize) {
  return Guard([&] {
    CopyOut(pgha::WalSegmentFileName(timeline, Lsn(lsn), SegmentSizeOrDefault(segment_size)), buf,
            bufsize);
  });
}

int pgha_timeline_history_parse(const char* text, size_t len, uint32_t timeline,
                                pgha_timeline_history** out) {
  return Guard([&] {
    Require(out, "out");
    *out = nullptr;
    if (len > 0) Require(text, "text");
    auto h =
        pgha::TimelineHistory::Parse(std::string_view(text == nullptr ? "" : text, len), timeline);
    *out = new pgha_timeline_history{std::move(h)};
  });
}

int pgha_timeline_history_read(const char* path, uint32_t timeline, pgha_timeline_history** out) {
  return Guard([&] {
    Require(path, "path");
    Require(out, "out");
    *out = nullptr;
    *out = new pgha_timeline_history{pgha::TimelineHistory::Read(path, timeline)};
  });
}

void pgha_timeline_history_free(pgha_timeline_history* history) {
  delete history;
}

size_t pgha_timeline_history_count(const pgha_timeline_history* history) {
  return history == nullptr ? 0 : history->history.entries().size();
}

int pgha_timeline_history_entry(const pgha_timeline_history* history, size_t i,
                                pgha_timeline_entry* out) {
  return Guard([&] {
    Require(history, "history");
    Require(out, "out");
    CheckVersion(out->version, "pgha_timeline_entry");
    const auto& entries = history->history.entries();
    if (i >= entries.size()) {
      throw pgha::Error(ErrorCode::kNotFound, "entry " + std::to_string(i) + " of a history of " +
                                                  std::to_string(entries.size()));
    }
    out->timeline = entries[i].timeline;
    out->begin = entries[i].begin.value();
    out->end = entries[i].end.value();
    out->reason = entries[i].reason.c_str();
  });
}

int pgha_timeline_history_switch_point(const pgha_timeline_history* history, uint32_t timeline,
                                       uint64_t* out) {
  return Guard([&] {
    Require(history, "history");
    Require(out, "out");
    *out = history->history.SwitchPoint(timeline).value();
  });
}

int pgha_timeline_history_timeline_of(const pgha_timeline_history* history, uint64_t lsn,
                                      uint32_t* out) {
  return Guard([&] {
    Require(history, "history");
    Require(out, "out");
    *out = history->history.TimelineOf(Lsn(lsn));
  });
}

int pgha_timeline_history_can_follow(const pgha_timeline_history* history, uint32_t timeline,
                                     uint64_t lsn, uint64_t primary_flush,
                                     pgha_follow_verdict* verdict, uint64_t* switch_point) {
  return Guard([&] {
    Require(history, "history");
    Require(verdict, "verdict");
    auto check = history->history.CanFollow(timeline, Lsn(lsn), Lsn(primary_flush));
    *verdict = static_cast<pgha_follow_verdict>(check.verdict);
    if (switch_point != nullptr) *switch_point = check.switch_point.value();
  });
}

int pgha_control_data_parse(const char* text, size_t len, pgha_control_data* out) {
  return Guard([&] {
    Require(out, "out");
    CheckVersion(out->version, "pgha_control_data");
    if (len > 0) Require(text, "text");
    auto cd = pgha::ControlData::Parse(std::string_view(text == nullptr ? "" : text, len));
    pgha::capi::FillControlData(cd, out);
  });
}

int pgha_control_data_decode(const uint8_t* data, size_t len, int verify_checksum,
                             pgha_control_data* out) {
  return Guard([&] {
    Require(out, "out");
    CheckVersion(out->version, "pgha_control_data");
    if (len > 0) Require(data, "data");
    pgha::capi::FillControlData(pgha::ControlData::Decode(data, len, verify_checksum != 0), out);
  });
}

int pgha_control_data_read(const char* path, pgha_control_data* out) {
  return Guard([&] {
    Require(path, "path");
    Require(out, "out");
    CheckVersion(out->version, "pgha_control_data");
    pgha::capi::FillControlData(pgha::ControlData::Read(path), out);
  });
}

const char* pgha_cluster_state_name(int cluster_state) {
  if (cluster_state < 0 || cluster_state > static_cast<int>(pgha::ClusterState::kInProduction)) {
    return nullptr;
  }
  return pgha::ClusterStateName(static_cast<pgha::ClusterState>(cluster_state)).data();
}

int pgha_slot_state_decode(const uint8_t* data, size_t len, int verify_checksum,
                           pgha_slot_state** out) {
  return Guard([&] {
    Require(out, "out");
    *out = nullptr;
    if (len > 0) Require(data, "data");
    *out = new pgha_slot_state{pgha::SlotState::Decode(data, len, verify_checksum != 0)};
  });
}

int pgha_slot_state_read(const char* path, pgha_slot_state** out) {
  return Guard([&] {
    Require(path, "path");
    Require(out, "out");
    *out = nullptr;
    *out = new pgha_slot_state{pgha::SlotState::Read(path)};
  });
}

void pgha_slot_state_free(pgha_slot_state* slot) {
  delete slot;
}

int pgha_slot_state_info(const pgha_slot_state* slot, pgha_slot_info* out) {
  return Guard([&] {
    Require(slot, "slot");
    Require(out, "out");
    CheckVersion(out->version, "pgha_slot_info");
    const pgha::SlotState& s = slot->slot;
    out->layout = LayoutMajor(s.layout());
    out->slot_version = s.version();
    CopyOut(s.name(), out->name, sizeof out->name);
    CopyOut(s.plugin(), out->plugin, sizeof out->plugin);
    out->database = s.database();
    out->persistency = s.persistency_raw();
    out->xmin = s.xmin();
    out->catalog_xmin = s.catalog_xmin();
    out->restart_lsn = s.restart_lsn().value();
    out->confirmed_flush = s.confirmed_flush().value();
    out->two_phase_at = s.two_phase_at().value_or(Lsn()).value();
    out->two_phase = s.two_phase() ? 1 : 0;
    out->synced = s.synced() ? 1 : 0;
    out->failover = s.failover() ? 1 : 0;
  });
}

int pgha_slot_state_set_restart_lsn(pgha_slot_state* slot, uint64_t lsn) {
  return Guard([&] {
    Require(slot, "slot");
    slot->slot.set_restart_lsn(Lsn(lsn));
  });
}

int pgha_slot_state_set_confirmed_flush(pgha_slot_state* slot, uint64_t lsn) {
  return Guard([&] {
    Require(slot, "slot");
    slot->slot.set_confirmed_flush(Lsn(lsn));
  });
}

int pgha_slot_state_set_catalog_xmin(pgha_slot_state* slot, uint32_t xid) {
  return Guard([&] {
    Require(slot, "slot");
    slot->slot.set_catalog_xmin(xid);
  });
}

int pgha_slot_state_encode(const pgha_slot_state* slot, uint8_t** out, size_t* len) {
  return Guard([&] {
    Require(slot, "slot");
    Require(out, "out");
    Require(len, "len");
    *out = nullptr;
    *len = 0;
    std::vector<std::uint8_t> bytes = slot->slot.Encode();
    auto* buf = static_cast<uint8_t*>(std::malloc(bytes.size()));
    if (buf == nullptr) throw std::bad_alloc();
    std::memcpy(buf, bytes.data(), bytes.size());
    *out = buf;
    *len = bytes.size();
  });
}

int pgha_wal_scan_files(const char* const* paths, size_t count,
                        const pgha_wal_scan_options* options, pgha_wal_scan_result* out) {
  return Guard([&] {
    Require(out, "out");
    if (count > 0) Require(paths, "paths");
    std::vector<std::string> files;
    for (size_t i = 0; i < count; ++i) {
      Require(paths[i], "paths[i]");
      files.emplace_back(paths[i]);
    }
    FromResult(pgha::ScanWalFiles(files, ToOptions(options)), out);
  });
}

int pgha_wal_scan_directory(const char* dir, const pgha_timeline_history* history,
                            const pgha_wal_scan_options* options, pgha_wal_scan_result* out) {
  return Guard([&] {
    Require(dir, "dir");
    Require(out, "out");
    pgha::TimelineHistory h = history == nullptr ? pgha::TimelineHistory(1) : history->history;
    FromResult(pgha::ScanWalDirectory(dir, h, ToOptions(options)), out);
  });
}

const char* pgha_node_state_name(int state) {
  if (state < 0 || state > static_cast<int>(pgha::NodeState::kStarting)) return nullptr;
  return pgha::NodeStateName(static_cast<pgha::NodeState>(state)).data();
}

int pgha_node_state_parse(const char* name, pgha_node_state* out) {
  return Guard([&] {
    Require(name, "name");
    Require(out, "out");
    auto s = pgha::ParseNodeState(name);
    if (!s) {
      throw pgha::Error(ErrorCode::kBadInput, std::string("unknown node state \"") + name + "\"");
    }
    *out = static_cast<pgha_node_state>(*s);
  });
}

}  // extern "C"
