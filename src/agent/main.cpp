// pgha-agent: the per-node REST service (/api/pg/v1) of pgha.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "pgha/agent.hpp"
#include "pgha/version.hpp"

namespace {

constexpr const char* kUsage =
    "usage: pgha-agent [--config FILE]\n"
    "  Serves /api/pg/v1 for this node. Configuration: FILE (JSON, default $PGHA_CONFIG),\n"
    "  then the seed's environment variables (LOCAL_NODE, REMOTE_NODE, LISTENING_PORT, PGDATA,\n"
    "  ...), PGHA_API_TOKEN or PGHA_API_TOKEN_FILE, and for HTTPS PGHA_TLS_CERT_FILE,\n"
    "  PGHA_TLS_KEY_FILE, PGHA_TLS_CA_FILE. See docs/agent.md.\n";

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

// A test build says so; a release build ignores the test-only fault file, and says that.
void WarnAboutFaultPoints() {
  const char* file = std::getenv("PGHA_FAULT_FILE");
  if (pgha::kFaultPoints) {
    std::cerr << "pgha-agent: fault points: compiled in (a test build: PGHA_FAULT_FILE can "
                 "have this process or PostgreSQL killed)\n";
  } else if (file != nullptr && *file != '\0') {
    std::cerr << "pgha-agent: WARNING: PGHA_FAULT_FILE is set, but this build has no fault "
                 "points (CMake option PGHA_FAULT_POINTS is OFF): ignored\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file;
  if (const char* env = std::getenv("PGHA_CONFIG")) config_file = env;
  if (argc == 3 && std::string(argv[1]) == "--fence-guard") return pgha::RunFenceGuard(argv[2]);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_file = argv[++i];
    } else if (arg == "--version") {
      std::cout << "pgha-agent " << pgha::kVersion << "\n"
                << (pgha::kFaultPoints ? "fault points: compiled in (a test build)\n"
                                       : "fault points: none\n");
      return 0;
    } else {
      std::cerr << kUsage;
      return 2;
    }
  }
  if (::geteuid() == 0) {
    std::cerr
        << "pgha-agent: refusing to run as root (it controls PostgreSQL, which refuses too).\n"
           "HINT: run it as the account that owns the data directory, e.g. postgres\n";
    return 1;
  }
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    pgha::AgentConfig config =
        pgha::AgentConfig::Load(config_file, pgha::AgentConfig::ProcessEnvironment());
    // Read once: PostgreSQL and the programs the agent runs never see the secrets. Each
    // value is wiped in place first: /proc/<pid>/environ shows the process's first
    // environment block, which unsetenv alone leaves as it was.
    for (const char* secret :
         {"PGHA_API_TOKEN", "DB_PASSWD", "PGHA_REPLICATE_PASSWORD", "PGHA_SUPERUSER_PASSWORD",
          "PGHA_REWIND_PASSWORD", "PGHA_ETCD_PASSWORD"}) {
      if (char* value = std::getenv(secret)) std::memset(value, 0, std::strlen(value));
      ::unsetenv(secret);
    }
    WarnAboutFaultPoints();
    if (!config.local_trust && config.replicate_password.empty() && !config.Peers().empty()) {
      std::cerr << "pgha-agent: WARNING: local_trust is off and REPLICATE_USER has no password: "
                   "no standby can connect to this node's PostgreSQL. HINT: set "
                   "PGHA_REPLICATE_PASSWORD_FILE (docs/agent.md, \"Passwords\")\n";
    }
    pgha::Agent agent(config);
    agent.Start();
    std::cerr << "pgha-agent " << pgha::kVersion << ": " << config.local_node << " listening on "
              << (config.ServerTls().enabled() ? "https://" : "http://") << config.listen_address
              << ":" << agent.port() << "\n";
    int sig = WaitForSignal();
    std::cerr << "pgha-agent: " << strsignal(sig) << ", stopping\n";
    agent.Stop();
    return 0;
  } catch (const pgha::Error& e) {
    std::cerr << "pgha-agent: error: " << e.what() << "\n";
    return 1;
  }
}
