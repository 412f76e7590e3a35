#include "pgha/node_state.hpp"

namespace pgha {

std::string_view NodeStateName(NodeState state) noexcept {
  switch (state) {
    case NodeState::kInactive: return "inactive";
    case NodeState::kSingle: return "single";
    case NodeState::kMaster: return "master";
    case NodeState::kSlave: return "slave";
    case NodeState::kRecovery: return "recovery";
    case NodeState::kStarting: return "starting";
  }
  return "inactive";
}

std::optional<NodeState> ParseNodeState(std::string_view name) noexcept {
  for (NodeState s : {NodeState::kInactive, NodeState::kSingle, NodeState::kMaster,
                      NodeState::kSlave, NodeState::kRecovery, NodeState::kStarting}) {
    if (NodeStateName(s) == name) return s;
  }
  return std::nullopt;
}

bool MayBePrimary(NodeState state) noexcept {
  return state == NodeState::kMaster || state == NodeState::kSingle ||
         state == NodeState::kStarting;
}

bool IsPrimary(NodeState state) noexcept {
  return state == NodeState::kMaster || state == NodeState::kSingle;
}

bool IsStandby(NodeState state) noexcept {
  return state == NodeState::kSlave || state == NodeState::kRecovery;
}

NodeState DeriveNodeState(const NodeObservation& seen) noexcept {
  if (!seen.running) return NodeState::kInactive;
  if (!seen.accepting_connections) {
    return seen.starts_as_standby ? NodeState::kRecovery : NodeState::kStarting;
  }
  if (seen.in_recovery) return seen.receiver_streaming ? NodeState::kSlave : NodeState::kRecovery;
  return seen.streaming_standbys > 0 ? NodeState::kMaster : NodeState::kSingle;
}

}  // namespace pgha
