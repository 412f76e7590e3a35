// The JSON the agents exchange: every type survives a round trip, and a peer's malformed
// answer becomes Error(kBadInput), never another exception or a default value taken as fact.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "node_json.hpp"
#include "pgha/error.hpp"
#include "slot_json.hpp"

using nlohmann::json;
using pgha::Error;
using pgha::ErrorCode;
using pgha::Lsn;
namespace agent = pgha::agent;

namespace {

template <typename F>
bool RefusedAsBadInput(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code() == ErrorCode::kBadInput;
  } catch (...) {
    return false;  // any other exception is a defect: callers map Error to HTTP answers
  }
  return false;
}

pgha::LogicalSlot SampleSlot() {
  pgha::LogicalSlot s;
  s.name = "cdc";
  s.plugin = "test_decoding";
  s.database = "app";
  s.database_oid = 16384;
  s.restart_lsn = Lsn::Parse("0/3000028");
  s.confirmed_flush = Lsn::Parse("0/3000060");
  s.catalog_xmin = 745;
  s.two_phase = true;
  s.wal_status = "reserved";
  s.state = {0x00, 0x7f, 0x80, 0xff, 0x1a};
  return s;
}

}  // namespace

TEST_CASE("Node addresses and facts round-trip") {
  pgha::NodeAddress n{"pg-node01", "https://127.0.0.1:8079", "127.0.0.1", 15432};
  pgha::NodeAddress back = agent::NodeAddressFromJson(agent::ToJson(n));
  CHECK(back.name == n.name);
  CHECK(back.agent_url == n.agent_url);
  CHECK(back.pg_host == n.pg_host);
  CHECK(back.pg_port == n.pg_port);

  pgha::NodeFacts f;
  f.state = pgha::NodeState::kSlave;
  f.timeline = 3;
  f.checkpoint = Lsn::Parse("0/5000060");
  f.redo = Lsn::Parse("0/5000028");
  f.end_of_wal = Lsn::Parse("1/A0");
  pgha::NodeFacts g = agent::NodeFactsFromJson(agent::ToJson(f));
  CHECK(g.state == f.state);
  CHECK(g.timeline == 3);
  CHECK(g.checkpoint == f.checkpoint);
  CHECK(g.redo == f.redo);
  CHECK(g.end_of_wal == f.end_of_wal);
  CHECK_FALSE(g.last_record);  // a running node's facts have none
  CHECK_FALSE(agent::ToJson(f).contains("last_record"));

  f.last_record = pgha::WalRecordRef{Lsn::Parse("1/88"), 0x0badcafe};
  json j = agent::ToJson(f);
  CHECK(j["last_record"] == json{{"lsn", "1/88"}, {"crc", "0badcafe"}});
  g = agent::NodeFactsFromJson(j);
  REQUIRE(g.last_record);
  CHECK(g.last_record->start == f.last_record->start);
  CHECK(g.last_record->crc == 0x0badcafe);
  for (const char* crc : {"badcafe", "0badcafe0", "0badcafg", "-badcafe", ""}) {
    CAPTURE(std::string(crc));
    json bad = j;
    bad["last_record"]["crc"] = crc;
    CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(bad); }));
  }
  CHECK(agent::ParseCrcHex("0BADCAFE") == 0x0badcafe);
}

TEST_CASE("Malformed facts from a peer are refused") {
  json good = agent::ToJson(pgha::NodeFacts{});
  CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(json::object()); }));
  for (const char* key : {"state", "timeline", "checkpoint", "redo", "end_of_wal"}) {
    CAPTURE(key);
    json missing = good;
    missing.erase(key);
    CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(missing); }));
  }
  json j = good;
  j["state"] = "leader";
  CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(j); }));
  j = good;
  j["end_of_wal"] = "0/G";
  CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(j); }));
  j = good;
  j["timeline"] = "3";
  CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(j); }));
  CHECK(RefusedAsBadInput([&] { agent::NodeFactsFromJson(json::array()); }));
}

TEST_CASE("validLsn answers keep the seed's string cnt and refuse a bad one") {
  pgha::ValidLsnAnswer a{0, "Valid lsn", 12};
  json j = agent::ToJson(a);
  CHECK(j["cnt"] == "12");  // the seed's shape
  pgha::ValidLsnAnswer b = agent::ValidLsnFromJson(j);
  CHECK(b.code == 0);
  CHECK(b.msg == "Valid lsn");
  CHECK(b.cnt == 12);
  j["cnt"] = 7;  // a number is read as well
  CHECK(agent::ValidLsnFromJson(j).cnt == 7);
  for (json cnt :
       {json("twelve"), json("12abc"), json("-1"), json(""), json(true), json(-3), json::array()}) {
    CAPTURE(cnt.dump());
    j["cnt"] = cnt;
    CHECK(RefusedAsBadInput([&] { agent::ValidLsnFromJson(j); }));
  }
}

TEST_CASE("Logical slots round-trip with their state file") {
  pgha::LogicalSlot s = SampleSlot();
  pgha::LogicalSlot t = agent::LogicalSlotFromJson(agent::ToJson(s));
  CHECK(t.name == s.name);
  CHECK(t.plugin == s.plugin);
  CHECK(t.database == s.database);
  CHECK(t.database_oid == s.database_oid);
  CHECK(t.restart_lsn == s.restart_lsn);
  CHECK(t.confirmed_flush == s.confirmed_flush);
  CHECK(t.catalog_xmin == s.catalog_xmin);
  CHECK(t.two_phase);
  CHECK(t.wal_status == "reserved");
  CHECK(t.state == s.state);
  CHECK(agent::ToJson(s)["state"] == "007f80ff1a");
  CHECK_FALSE(agent::ToJson(s, /*with_state=*/false).contains("state"));

  pgha::MasterSlots m;
  m.server_version = 150018;
  m.running = true;
  m.slots = {s};
  m.holds = {s};
  m.holds[0].name = "pgha_h_1234abcd";
  m.physical_slot_exists = true;
  m.physical_catalog_xmin = 740;
  pgha::MasterSlots back = agent::MasterSlotsFromJson(agent::ToJson(m));
  CHECK(back.server_version == 150018);
  CHECK(back.running);
  REQUIRE(back.slots.size() == 1);
  REQUIRE(back.holds.size() == 1);
  CHECK(back.holds[0].name == "pgha_h_1234abcd");
  CHECK(back.physical_slot_exists);
  CHECK_FALSE(back.physical_xmin);  // null stays unknown, not 0
  CHECK(back.physical_catalog_xmin == std::optional<std::uint32_t>(740));

  pgha::HoldChanges c{{"cdc"}, {"old"}};
  pgha::HoldChanges d = agent::HoldChangesFromJson(agent::ToJson(c));
  CHECK(d.hold == c.hold);
  CHECK(d.release == c.release);
}

TEST_CASE("Slot reports round-trip; lag is shown only for an installed copy behind") {
  pgha::SlotCopyStatus s;
  s.slot = "cdc";
  s.node = "pg-node02";
  s.installed = true;
  s.safe = false;
  s.reason = "the standby's feedback does not hold the slot's catalog rows yet";
  s.action = "installed";
  s.master_confirmed_flush = Lsn::Parse("0/3000100");
  s.restart_lsn = Lsn::Parse("0/3000028");
  s.confirmed_flush = Lsn::Parse("0/3000060");
  s.catalog_xmin = 745;
  json j = agent::ToJson(s);
  CHECK(j["lag_bytes"] == 0xa0);
  pgha::SlotCopyStatus t = agent::SlotCopyStatusFromJson(j);
  CHECK(t.slot == s.slot);
  CHECK(t.node == s.node);
  CHECK(t.installed);
  CHECK_FALSE(t.safe);
  CHECK(t.reason == s.reason);
  CHECK(t.action == s.action);
  CHECK(t.master_confirmed_flush == s.master_confirmed_flush);
  CHECK(t.restart_lsn == s.restart_lsn);
  CHECK(t.confirmed_flush == s.confirmed_flush);
  s.installed = false;
  CHECK_FALSE(agent::ToJson(s).contains("lag_bytes"));

  pgha::SlotSyncReport r;
  r.node = "pg-node02";
  r.slots = {s};
  r.dropped = {"gone"};
  r.restarted = true;
  pgha::SlotSyncReport q = agent::SlotSyncReportFromJson(agent::ToJson(r));
  CHECK(q.node == r.node);
  REQUIRE(q.slots.size() == 1);
  CHECK(q.slots[0].slot == "cdc");
  CHECK(q.dropped == r.dropped);
  CHECK(q.restarted);
}

TEST_CASE("Malformed slot JSON from a peer is refused") {
  json good = agent::ToJson(SampleSlot());
  auto with = [&](const char* key, json value) {
    json j = good;
    j[key] = std::move(value);
    return j;
  };
  const std::vector<json> bad = {
      json::object(),                         // no name
      with("slot", ""),                       // empty name
      with("restart_lsn", "3000028"),         // not an LSN
      with("confirmed_flush", 5),             // wrong type
      with("state", "0G"),                    // not hex
      with("state", "ABCD"),                  // upper case is not what agents send
      with("state", "abc"),                   // odd length
      with("state", std::string(8194, 'a')),  // longer than any slot file
      with("catalog_xmin", -1),
      with("two_phase", "yes"),
  };
  for (const json& j : bad) {
    CAPTURE(j.dump().substr(0, 120));
    CHECK(RefusedAsBadInput([&] { agent::LogicalSlotFromJson(j); }));
  }
  CHECK(RefusedAsBadInput([&] { agent::LogicalSlotsFromJson(good); }));  // not an array
  CHECK(RefusedAsBadInput([&] { agent::MasterSlotsFromJson(json::array()); }));
  CHECK(RefusedAsBadInput([&] { agent::MasterSlotsFromJson(json{{"slots", 3}}); }));
  CHECK(RefusedAsBadInput([&] { agent::MasterSlotsFromJson(json{{"physical_xmin", "x"}}); }));
  CHECK(RefusedAsBadInput([&] { agent::HoldChangesFromJson(json{{"hold", "cdc"}}); }));
  CHECK(RefusedAsBadInput([&] { agent::SlotSyncReportFromJson(json{{"slots", {1, 2}}}); }));
  CHECK(RefusedAsBadInput([&] { agent::SlotSyncReportFromJson(json("report")); }));
}

TEST_CASE("The internal routes' bodies: a malformed one is bad input naming the field") {
  const json node = agent::ToJson(pgha::NodeAddress{"pg-node01", "http://127.0.0.1:1", "h", 5});
  // internal/start?as=slave {"upstream"}, internal/rewind {"source"}, pull-wal {"from"}.
  CHECK(agent::NodeAddressField(json{{"upstream", node}}, "upstream").name == "pg-node01");
  json bad_port = node;
  bad_port["pg_port"] = "5432";
  json no_url = node;
  no_url.erase("agent_url");
  for (const json& body :
       {json::object(), json::array(), json("upstream"), json(nullptr), json{{"upstream", nullptr}},
        json{{"upstream", "pg-node01"}}, json{{"upstream", json::array()}},
        json{{"upstream", bad_port}}, json{{"upstream", no_url}}, json{{"source", node}}}) {
    CAPTURE(body.dump());
    CHECK(RefusedAsBadInput([&] { agent::NodeAddressField(body, "upstream"); }));
  }
  // pull-wal's file, and each entry of a walFiles answer.
  pgha::WalFileRef f = agent::WalFileRefFromJson(
      json{{"from", node}, {"file", "000000010000000000000002"}, {"md5", "ab"}});
  CHECK(f.name == "000000010000000000000002");
  CHECK(f.md5 == "ab");
  for (const json& body :
       {json::object(), json::array(), json{{"file", "x"}}, json{{"md5", "ab"}},
        json{{"file", 2}, {"md5", "ab"}}, json{{"file", "x"}, {"md5", nullptr}}}) {
    CAPTURE(body.dump());
    CHECK(RefusedAsBadInput([&] { agent::WalFileRefFromJson(body); }));
  }
}
