// Candidate choice and the leader's fencing deadline.
#include "pgha/failover_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "pgha/error.hpp"

namespace {

using namespace pgha;
using std::chrono::milliseconds;
using std::chrono::seconds;

MemberStatus Standby(const std::string& name, const char* received, TimelineId tl = 2) {
  MemberStatus m;
  m.name = name;
  m.role = "replica";
  m.state = "slave";
  m.timeline = tl;
  m.received = Lsn::Parse(received);
  return m;
}

const CandidateVerdict& VerdictOf(const CandidateChoice& c, const std::string& name) {
  for (const CandidateVerdict& v : c.verdicts)
    if (v.name == name) return v;
  FAIL("no verdict for ", name);
  throw;  // unreachable
}

LeaderFacts Leader(const char* position = "0/3000000") {
  return {"old", 2, Lsn::Parse(position), nullptr};
}

}  // namespace

TEST_CASE("ChooseCandidate: the most advanced eligible standby; priority, then name, breaks ties") {
  std::vector<MemberStatus> m = {Standby("b", "0/2F00000"), Standby("c", "0/2FF0000"),
                                 Standby("a", "0/2F00000")};
  CHECK(ChooseCandidate(m, Leader(), {}).winner == std::optional<std::string>("c"));
  m[1].received = Lsn::Parse("0/2F00000");  // all equal: the lower name
  CHECK(ChooseCandidate(m, Leader(), {}).winner == std::optional<std::string>("a"));
  m[0].priority = 5;  // b has the higher priority
  CHECK(ChooseCandidate(m, Leader(), {}).winner == std::optional<std::string>("b"));
  // Every member computing it in any order of the records picks the same one.
  std::reverse(m.begin(), m.end());
  CHECK(ChooseCandidate(m, Leader(), {}).winner == std::optional<std::string>("b"));
}

TEST_CASE("ChooseCandidate: who may not take over, and why") {
  std::vector<MemberStatus> m = {
      Standby("old", "0/3000000"),         Standby("tagged", "0/3000000"),
      Standby("stopped", "0/3000000"),     Standby("behind", "0/1000000"),
      Standby("other-tl", "0/3000000", 3), Standby("ok", "0/2000000")};
  m[1].nofailover = true;
  m[2].state = "inactive";
  CandidateRules rules;
  rules.maximum_lag_bytes = 16u << 20;
  CandidateChoice c = ChooseCandidate(m, Leader(), rules);
  CHECK(c.winner == std::optional<std::string>("ok"));
  CHECK(VerdictOf(c, "old").reason == "the old leader");
  CHECK(VerdictOf(c, "tagged").reason == "tagged nofailover");
  CHECK(VerdictOf(c, "stopped").reason.find("not a running standby") == 0);
  CHECK(VerdictOf(c, "behind").reason.find("lags") == 0);
  CHECK(VerdictOf(c, "other-tl").reason.find("on timeline 3") == 0);
  CHECK(VerdictOf(c, "ok").eligible);
  // The lag rule is only as good as the leader's last known position.
  CHECK(VerdictOf(ChooseCandidate(m, Leader("0/0"), rules), "behind").eligible);
  rules.only = {"behind"};  // synchronous mode: only the synchronous standby
  CandidateChoice sync = ChooseCandidate(m, Leader("0/0"), rules);
  CHECK(sync.winner == std::optional<std::string>("behind"));
  CHECK(VerdictOf(sync, "ok").reason == "not a synchronous standby");
  rules.only = {"nobody"};
  CHECK_FALSE(ChooseCandidate(m, Leader(), rules).winner.has_value());
}

TEST_CASE("ChooseCandidate: with the leader's history, a standby of an older timeline may follow") {
  TimelineHistory h = TimelineHistory::Parse("1\t0/2000000\tno recovery target specified\n", 2);
  LeaderFacts leader{"old", 2, Lsn(), &h};
  std::vector<MemberStatus> m = {Standby("before-switch", "0/1F00000", 1),
                                 Standby("past-switch", "0/2100000", 1)};
  CandidateChoice c = ChooseCandidate(m, leader, {});
  CHECK(c.winner == std::optional<std::string>("before-switch"));
  CHECK(VerdictOf(c, "past-switch").reason.find("not on the leader's history") !=
        std::string::npos);
}

TEST_CASE("LeaderDeadline: fenced before the store can have expired the lease") {
  LeaderDeadline d(seconds(10), milliseconds(1500));
  const auto t0 = LeaderDeadline::Clock::now();
  CHECK_FALSE(d.FenceBy().has_value());
  CHECK_FALSE(d.MustFence(t0 + seconds(100)));  // never held: nothing to fence
  d.Renewed(t0);
  CHECK(*d.FenceBy() == t0 + milliseconds(8500));
  CHECK_FALSE(d.MustFence(t0 + milliseconds(8499)));
  CHECK(d.MustFence(t0 + milliseconds(8500)));
  d.Renewed(t0 + seconds(3));
  CHECK_FALSE(d.MustFence(t0 + seconds(11)));
  d.Renewed(t0 + seconds(1));  // a late confirmation of an older renewal changes nothing
  CHECK(*d.FenceBy() == t0 + seconds(3) + milliseconds(8500));
  // A frozen process that resumes past the deadline sees it at once.
  CHECK(d.MustFence(t0 + seconds(60)));
  CHECK_THROWS_AS(LeaderDeadline(seconds(2), milliseconds(2000)), Error);
  CHECK_THROWS_AS(LeaderDeadline(seconds(0), milliseconds(0)), Error);
}

namespace {

StreamingStandby Row(const std::string& name, const char* flush, const char* sync = "async",
                     const char* state = "streaming") {
  StreamingStandby s;
  s.application_name = name;
  s.state = state;
  s.flush_lsn = Lsn::Parse(flush);
  s.sync_state = sync;
  return s;
}

SyncInputs Inputs(std::vector<StreamingStandby> rows, const char* flush = "0/5000000") {
  SyncInputs in;
  in.leader = "a";
  in.standbys = std::move(rows);
  in.flush = Lsn::Parse(flush);
  in.members = {Standby("a", "0/5000000"), Standby("b", "0/5000000"), Standby("c", "0/5000000")};
  in.peers = {"b", "c"};
  return in;
}

}  // namespace

TEST_CASE("PlanSynchronous: a standby enters the record only once it has every commit") {
  // Round 1: no record, b streams: b is named; not on record yet, nothing is promised.
  SyncInputs in = Inputs({Row("b", "0/4000000")});
  SyncPlan p = PlanSynchronous(in);
  REQUIRE(p.record.has_value());  // this leader's own record, with no standby
  CHECK(p.record->empty());
  CHECK(p.names == std::vector<std::string>{"b"});
  CHECK(p.state == "asynchronous");
  // Round 2: named and confirming: the flush position now is what it must reach.
  in.record = SyncRecord{"a", {}, "asynchronous", 7};
  in.named = {"b"};
  in.standbys = {Row("b", "0/4000000", "sync")};
  p = PlanSynchronous(in);
  CHECK_FALSE(p.record.has_value());
  CHECK(p.catchup_from == std::optional<Lsn>(Lsn::Parse("0/5000000")));
  CHECK(p.state == "asynchronous");
  // Round 3: not there yet.
  in.catchup_from = p.catchup_from;
  in.flush = Lsn::Parse("0/6000000");
  p = PlanSynchronous(in);
  CHECK_FALSE(p.record.has_value());
  CHECK(p.catchup_from == std::optional<Lsn>(Lsn::Parse("0/5000000")));
  // Round 4: caught up: on record.
  in.standbys = {Row("b", "0/5000000", "sync")};
  p = PlanSynchronous(in);
  CHECK(p.record == std::optional<std::vector<std::string>>(std::vector<std::string>{"b"}));
  CHECK(p.names == std::vector<std::string>{"b"});
  CHECK(p.state == "synchronous");
  // A standby that stopped confirming in between starts over.
  in.standbys = {Row("b", "0/5000000", "async", "catchup")};
  p = PlanSynchronous(in);
  CHECK_FALSE(p.catchup_from.has_value());
  CHECK(p.names.empty());
}

TEST_CASE("PlanSynchronous: a lost synchronous standby leaves the record before it is let go") {
  SyncInputs in = Inputs({});
  in.record = SyncRecord{"a", {"b"}, "synchronous", 9};
  in.named = {"b"};
  in.standbys = {Row("b", "0/5000000", "sync")};
  SyncPlan p = PlanSynchronous(in);
  CHECK_FALSE(p.record.has_value());
  CHECK(p.state == "synchronous");
  in.standbys = {};
  p = PlanSynchronous(in);
  REQUIRE(p.record.has_value());
  CHECK(p.record->empty());  // written first ...
  CHECK(p.names.empty());    // ... then asynchronous
  CHECK(p.state == "asynchronous");
  // Strict: it stays on record and commits wait for it ...
  in.strict = true;
  p = PlanSynchronous(in);
  CHECK_FALSE(p.record.has_value());
  CHECK(p.names == std::vector<std::string>{"b"});
  CHECK(p.state == "blocked");
  // ... until another standby flushed everything there is (nothing was acknowledged since).
  in.standbys = {Row("c", "0/4FFFFFF")};
  CHECK(PlanSynchronous(in).state == "blocked");
  in.standbys = {Row("c", "0/5000000")};
  p = PlanSynchronous(in);
  CHECK(p.record == std::optional<std::vector<std::string>>(std::vector<std::string>{"c"}));
  CHECK(p.names == std::vector<std::string>{"c"});
}

TEST_CASE(
    "PlanSynchronous: a new leader rewrites the old leader's record; strict waits for anyone") {
  SyncInputs in = Inputs({});
  in.record = SyncRecord{"old", {"a"}, "synchronous", 3};
  SyncPlan p = PlanSynchronous(in);
  REQUIRE(p.record.has_value());
  CHECK(p.record->empty());
  CHECK(p.names.empty());
  in.strict = true;
  p = PlanSynchronous(in);
  CHECK(p.names == std::vector<std::string>{"b", "c"});
  CHECK(p.state == "blocked");
  // nofailover members are never made synchronous; of the rest the most advanced.
  in.strict = false;
  in.members[1].nofailover = true;
  in.standbys = {Row("b", "0/5000000"), Row("c", "0/4000000")};
  CHECK(PlanSynchronous(in).names == std::vector<std::string>{"c"});
}

TEST_CASE("ChooseCandidate: only_listed with nobody listed chooses nobody") {
  std::vector<MemberStatus> m = {Standby("b", "0/3000000")};
  CandidateRules rules;
  rules.only_listed = true;
  CandidateChoice c = ChooseCandidate(m, Leader(), rules);
  CHECK_FALSE(c.winner.has_value());
  CHECK(VerdictOf(c, "b").reason == "not a synchronous standby");
  rules.only = {"b"};
  CHECK(ChooseCandidate(m, Leader(), rules).winner == std::optional<std::string>("b"));
}
