// The seed's test cases 01-06 as data, run against the agents over HTTP.
#ifndef PGHA_AGENT_SCENARIOS_HPP
#define PGHA_AGENT_SCENARIOS_HPP

#include <string>

#include <nlohmann/json.hpp>

#include "agent_impl.hpp"

namespace pgha::agent {

/// Runs test case `name` ("testCase01" .. "testCase06"): each step calls the route of the
/// seed's table on the agent of the node it names, then records the states observed, the
/// elapsed milliseconds and pass/fail; the run also checks timelines (failover restart keeps
/// it, promote increments it) and that every row a background writer had acknowledged is on
/// the final master. Returns the seed's {"01": {"cmd": ...}, ...} map with those fields added,
/// plus "result". Throws Error(kNotFound) for an unknown case.
nlohmann::json RunScenario(Agent::Impl& a, const std::string& name);

}  // namespace pgha::agent

#endif  // PGHA_AGENT_SCENARIOS_HPP
