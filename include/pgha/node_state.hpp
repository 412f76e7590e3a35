// The node states of the seed's REST API.
#ifndef PGHA_NODE_STATE_HPP
#define PGHA_NODE_STATE_HPP

#include <optional>
#include <string_view>

#include "pgha/export.hpp"

namespace pgha {

/// A node's state as the seed's API reports it (DESIGN.md, "Node states").
enum class NodeState {
  kInactive,  ///< "inactive": no postmaster running for the data directory
  kSingle,    ///< "single": running, not in recovery, no standby streaming from it
  kMaster,    ///< "master": running, not in recovery, at least one standby streaming
  kSlave,     ///< "slave": in recovery, WAL receiver streaming from an upstream
  kRecovery,  ///< "recovery": in recovery, not streaming (replaying, delayed, upstream down)
  /// "starting" (pgha's addition to the seed's five): a postmaster that does not accept
  /// connections yet (starting up, in crash recovery, shutting down) and was not started as a
  /// standby: it comes up as a primary, or its role cannot be known yet. Counts as a possible
  /// master (MayBePrimary). A standby that is starting up is "recovery".
  kStarting,
};

/// The seed's spelling: "inactive", "single", "master", "slave", "recovery"; and "starting".
PGHA_API std::string_view NodeStateName(NodeState state) noexcept;
/// The state named by the seed's spelling (exact, lower case); nullopt for anything else.
PGHA_API std::optional<NodeState> ParseNodeState(std::string_view name) noexcept;
/// True for a node that writes, or may write within moments: master, single, starting. The
/// "never two masters" checks count these.
PGHA_API bool MayBePrimary(NodeState state) noexcept;
/// True for a running primary: master or single.
PGHA_API bool IsPrimary(NodeState state) noexcept;
/// True for a running standby: slave or recovery.
PGHA_API bool IsStandby(NodeState state) noexcept;

/// What is observed of a node, from which its state follows.
struct NodeObservation {
  bool running = false;             ///< a live postmaster owns the data directory
  bool in_recovery = false;         ///< pg_is_in_recovery()
  bool receiver_streaming = false;  ///< pg_stat_wal_receiver.status = 'streaming'
  int streaming_standbys = 0;       ///< pg_stat_replication rows in state 'streaming'
  /// False when the postmaster refuses connections (SQLSTATE 57P03): the three fields above
  /// are then unknown.
  bool accepting_connections = true;
  /// When not accepting connections: it was started in standby mode (standby.signal read at
  /// its start), so it comes up as a standby.
  bool starts_as_standby = false;
};

/// The state DESIGN.md's table assigns to an observation.
PGHA_API NodeState DeriveNodeState(const NodeObservation& seen) noexcept;

}  // namespace pgha

#endif  // PGHA_NODE_STATE_HPP
