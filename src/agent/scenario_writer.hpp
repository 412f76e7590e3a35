// A background writer for the seed's test cases: it inserts numbered rows into whichever
// node accepts writes, remembers each insert the server acknowledged, and checks at the end
// that every acknowledged row is on the master.
#ifndef PGHA_AGENT_SCENARIO_WRITER_HPP
#define PGHA_AGENT_SCENARIO_WRITER_HPP

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pgha/cluster.hpp"

namespace pgha::agent {

class ScenarioWriter {
 public:
  /// Writes as `user` into database "postgres" of `nodes`, with the password libpq finds in
  /// `passfile` ("" -> none: trust), as the nodes are other hosts that ask for one.
  ScenarioWriter(std::vector<NodeAddress> nodes, std::string user, std::string passfile = "");
  ~ScenarioWriter();
  ScenarioWriter(const ScenarioWriter&) = delete;
  ScenarioWriter& operator=(const ScenarioWriter&) = delete;

  /// Creates the table on the current master and starts writing.
  void Start();
  /// Stops writing (joins the thread). Idempotent.
  void Stop();
  /// Stops, then compares the acknowledged ids with the rows on the node that accepts
  /// writes: {"acknowledged", "attempted", "lost", "checked_on", "missing" (up to 10)}.
  nlohmann::json Verify();

 private:
  void Loop();

  std::vector<NodeAddress> nodes_;
  std::string user_;
  std::string passfile_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::int64_t> acked_;
  std::int64_t attempted_ = 0;
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_SCENARIO_WRITER_HPP
