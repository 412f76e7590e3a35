// pghactl: the command-line front of the pgha library.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "cluster_commands.hpp"
#include "inspect.hpp"
#include "local_cluster.hpp"
#include "pgha/error.hpp"
#include "pgha/version.hpp"

namespace {

constexpr const char* kUsage =
    "usage: pghactl inspect PATH    describe a slot state file, timeline history file, WAL\n"
    "                               segment, global/pg_control or pg_controldata output as\n"
    "                               JSON ('-': stdin)\n"
    "       pghactl local up DIR [--nodes N] [--port-base P] [--bindir DIR] [--tls]\n"
    "                        [--synchronous] [--wal-segsize MB]\n"
    "                        [--etcd [--etcd-members N] [--ha-ttl S] [--ha-loop-ms MS]]\n"
    "                               N nodes (default 2) on loopback: PostgreSQL + pgha-agent\n"
    "                               each, set up through the agents; writes DIR/cluster.json;\n"
    "                               --tls: HTTPS with a CA made for it (DIR/ca.crt)\n"
    "                               --wal-segsize: initdb's WAL segment size (default 16)\n"
    "                               --etcd: N etcd members (default 3, 1..5) first, named in\n"
    "                               the agents' configurations (automatic failover), with\n"
    "                               the leader key's TTL S (default 3) and the HA loop's\n"
    "                               interval MS (default 250)\n"
    "                               --bindir: the PostgreSQL to run (any major 12-18)\n"
    "       pghactl local start DIR NAME\n"
    "                               start again the agent (pg-node01, ...) or etcd member\n"
    "                               (etcd1, ...) NAME of DIR that is not running\n"
    "       pghactl local down DIR  stop everything `local up` started\n"
    "       pghactl list DIR | --url URL [--token T] [--json]\n"
    "                               the cluster store's view (GET cluster), else the states\n"
    "       pghactl switchover DIR [--order masterSlave|slaveMaster]\n"
    "       pghactl failover DIR --node SLAVE [--method promote|restart] [--force]\n"
    "         list/switchover/failover over https: --ca FILE (default: DIR's CA, else\n"
    "         $PGHA_TLS_CA_FILE, else the system's), --cert FILE --key FILE (mutual TLS)\n"
    "       pghactl --version\n";

std::vector<std::uint8_t> ReadAll(const std::string& path) {
  if (path == "-") {
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pgha::Error(pgha::ErrorCode::kNotFound, "cannot open \"" + path + "\"");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int Inspect(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::cout << pgha::cli::Inspect(args[0], ReadAll(args[0])).dump(2) << "\n";
  return 0;
}

int Local(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (!((verb == "up" && args.size() >= 2) || (verb == "down" && args.size() == 2) ||
        (verb == "start" && args.size() == 3))) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (args[0] == "down") {
    pgha::cli::LocalDown(args[1], std::cerr);
    return 0;
  }
  if (args[0] == "start") {
    pgha::cli::LocalStart(args[1], args[2], std::cerr);
    return 0;
  }
  pgha::cli::LocalUpOptions o;
  o.dir = args[1];
  bool etcd = false;
  std::optional<int> etcd_members, ha_ttl, ha_loop_ms;
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--tls") {
      o.tls = true;
      continue;
    }
    if (args[i] == "--synchronous") {
      o.synchronous = true;
      continue;
    }
    if (args[i] == "--etcd") {
      etcd = true;
      continue;
    }
    if (i + 1 >= args.size())
      throw pgha::Error(pgha::ErrorCode::kBadInput, args[i] + " needs a value");
    if (args[i] == "--nodes")
      o.nodes = std::stoi(args[++i]);
    else if (args[i] == "--port-base")
      o.port_base = std::stoi(args[++i]);
    else if (args[i] == "--bindir")
      o.bindir = args[++i];
    else if (args[i] == "--wal-segsize")
      o.wal_segment_size_mb = static_cast<std::uint32_t>(std::stoul(args[++i]));
    else if (args[i] == "--etcd-members")
      etcd_members = std::stoi(args[++i]);
    else if (args[i] == "--ha-ttl")
      ha_ttl = std::stoi(args[++i]);
    else if (args[i] == "--ha-loop-ms")
      ha_loop_ms = std::stoi(args[++i]);
    else
      throw pgha::Error(pgha::ErrorCode::kBadInput, "unknown option " + args[i]);
  }
  if ((etcd_members || ha_ttl || ha_loop_ms) && !etcd)
    throw pgha::Error(pgha::ErrorCode::kBadInput,
                      "--etcd-members, --ha-ttl and --ha-loop-ms go with --etcd");
  o.ha_ttl_s = ha_ttl.value_or(o.ha_ttl_s);
  o.ha_loop_ms = ha_loop_ms.value_or(o.ha_loop_ms);
  // The agents' own bounds (AgentConfig::Validate), said before anything starts.
  if (o.ha_ttl_s < 2 || o.ha_ttl_s > 3600)
    throw pgha::Error(pgha::ErrorCode::kBadInput,
                      "--ha-ttl " + std::to_string(o.ha_ttl_s) + " is not from 2 to 3600");
  if (o.ha_loop_ms < 50 || o.ha_loop_ms > 60000 ||
      static_cast<long long>(o.ha_loop_ms) * 3 > o.ha_ttl_s * 1000LL)
    throw pgha::Error(pgha::ErrorCode::kBadInput,
                      "--ha-loop-ms " + std::to_string(o.ha_loop_ms) +
                          " is not from 50 to 60000 and under a third of --ha-ttl");
  if (etcd) {
    o.etcd_members = etcd_members.value_or(3);
    if (o.etcd_members < 1 || o.etcd_members > 5)
      throw pgha::Error(pgha::ErrorCode::kBadInput,
                        "--etcd-members " + std::to_string(o.etcd_members) + " is not from 1 to 5");
  }
  nlohmann::json cluster = pgha::cli::LocalUp(o, std::cerr);
  std::cout << cluster["states"].dump() << "\n";
  std::cerr << "cluster written to " << o.dir << "/cluster.json\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  std::vector<std::string> args(argv + (argc > 1 ? 2 : 1), argv + argc);
  try {
    if (cmd == "inspect") return Inspect(args);
    if (cmd == "local") return Local(args);
    if (cmd == "list" || cmd == "switchover" || cmd == "failover") {
      return pgha::cli::RunClusterCommand(cmd, args, std::cout, std::cerr);
    }
    if (cmd == "--version") {
      std::cout << "pghactl " << pgha::kVersion << "\n";
      return 0;
    }
    std::fputs(kUsage, stderr);
    return 2;
  } catch (const pgha::Error& e) {
    std::cerr << "pghactl: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pghactl: error: " << e.what() << "\n";
    return 1;
  }
}
