#include "agent_impl.hpp"

#include <iostream>
#include "node_json.hpp"
#include "pgha/etcd_store.hpp"
#include "text.hpp"

namespace pgha {

namespace {

constexpr std::chrono::milliseconds kHolderProbeTimeout{3000};

}  // namespace

namespace agent {

HttpResponse Json(const nlohmann::json& j, int status) {
  return HttpResponse::Json(status, j.dump());
}

}  // namespace agent

namespace {

void LogLine(const std::string& line) {
  std::cerr << "pgha-agent: " << line << "\n";
}

bool IsLoopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

// What an operator should know about the transport security at start.
void WarnAboutTls(const AgentConfig& c) {
  if (c.tls_insecure_skip_verify) {
    LogLine(
        "WARNING: tls_insecure_skip_verify is set: peers' certificates and host names are "
        "not verified, anyone on the network path can pose as a peer and read the API token");
  }
  if (!c.ServerTls().enabled()) {
    if (!IsLoopback(c.listen_address)) {
      LogLine("WARNING: serving plain HTTP on " + c.listen_address +
              ": the API token crosses the network unencrypted. HINT: set tls_cert_file and "
              "tls_key_file");
    }
    return;
  }
  for (const NodeAddress& p : c.Peers()) {
    if (p.agent_url.rfind("http://", 0) == 0) {
      LogLine("WARNING: peer " + p.name + " is called over plain HTTP (" + p.agent_url +
              "): the API token crosses the network unencrypted");
    }
  }
}

}  // namespace

Agent::Impl::Impl(AgentConfig c) {
  c.Validate();
  configs = std::make_shared<agent::ConfigStore>(std::move(c));
  std::shared_ptr<const AgentConfig> initial = configs->Get();
  // The token, the TLS settings and the deadline of peer calls are those of the start.
  HttpClientOptions co;
  co.bearer_token = initial->api_token;
  co.timeout = initial->operation_timeout;
  co.tls = initial->ClientTls();
  client = std::make_shared<HttpClient>(co);
  co.timeout = kHolderProbeTimeout;
  probe_client = std::make_shared<HttpClient>(co);
  local = std::make_shared<agent::LocalNode>(configs, client);
  local->leases().SetHolderCheck([this](const std::string& holder) { return HolderGone(holder); });
  // A standby streams through a physical slot its upstream keeps for it, when the upstream's
  // agent answers: the feedback in it keeps catalog rows for logical slot copies.
  local->set_ensure_standby_slot([this](const NodeAddress& upstream) {
    try {
      // A slot the upstream does not have would keep the standby from ever streaming.
      return agent::RemoteNode(upstream, client)
          .MasterSlotsFor(config()->local_node, {}, true)
          .physical_slot_exists;
    } catch (const Error& e) {
      std::cerr << "pgha-agent: no physical slot on " << upstream.name << ": " << e.what() << "\n";
      return false;
    }
  });
  Rebuild();
}

bool Agent::Impl::HolderGone(const std::string& holder) {
  std::string node = holder.substr(0, holder.find('/'));
  for (const auto& peer : peers()) {
    if (peer->address().name != node) continue;
    try {
      HttpResponse r = probe_client->Get(
          peer->address().agent_url + "/api/pg/v1/internal/lease?holder=" + PercentEncode(holder));
      if (!r.ok()) return false;
      // Only the holder's own agent, answering for itself that the operation no longer runs
      // there, frees the lease; anything else leaves it to expire.
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_object()) return false;
      auto name = j.find("node");
      auto held = j.find("held");
      return name != j.end() && name->is_string() && name->get<std::string>() == node &&
             held != j.end() && held->is_boolean() && !held->get<bool>();
    } catch (const Error&) {
      return false;  // cannot ask: the lease stays until it expires
    }
  }
  return false;  // this agent's own holders run in this process
}

void Agent::Impl::Rebuild() {
  std::shared_ptr<const AgentConfig> c = config();
  std::lock_guard<std::mutex> lock(config_mutex);
  std::vector<std::shared_ptr<agent::RemoteNode>> next;
  std::vector<std::shared_ptr<NodeControl>> controls;
  for (const NodeAddress& p : c->Peers()) {
    auto node = std::make_shared<agent::RemoteNode>(p, client);
    next.push_back(node);
    controls.push_back(node);
  }
  peers_ = next;
  cluster_ = std::make_shared<Cluster>(local, controls);
}

std::shared_ptr<Cluster> Agent::Impl::cluster() {
  std::lock_guard<std::mutex> lock(config_mutex);
  return cluster_;
}

std::vector<std::shared_ptr<agent::RemoteNode>> Agent::Impl::peers() {
  std::lock_guard<std::mutex> lock(config_mutex);
  return peers_;
}

OperationOptions Agent::Impl::Options(const HttpRequest& req) const {
  OperationOptions o;
  auto force = req.Query("force");
  o.force = force && (*force == "true" || *force == "1");
  o.timeout = config()->operation_timeout;
  return o;
}

void Agent::Impl::RequireLease(const HttpRequest& req) {
  const std::string* holder = req.headers.Get(agent::kLeaseHeader);
  if (holder == nullptr || !local->leases().HeldBy(*holder)) {
    auto running = local->leases().Current();
    throw Error(ErrorCode::kConflict,
                "internal call without the lease of the running operation" +
                    (running ? " (" + *running + " is running)" : std::string()));
  }
}

agent::CallerDeadline::CallerDeadline(const HttpRequest& req) {
  const std::string* header = req.headers.Get(agent::kDeadlineHeader);
  if (header == nullptr) return;
  constexpr std::uint64_t kMaxMs = 24ull * 3600 * 1000;
  auto ms = ParseDecimalU64(*header);
  if (!ms || *ms > kMaxMs) {
    throw Error(ErrorCode::kBadInput, std::string(agent::kDeadlineHeader) + " \"" +
                                          QuoteForMessage(*header) +
                                          "\" is not a number of milliseconds up to a day");
  }
  scope_.emplace(deadline::Clock::now() + std::chrono::milliseconds(*ms));
}

Agent::Agent(AgentConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Agent::~Agent() {
  Stop();
}

void Agent::Start() {
  Router router;
  agent::AddInstanceRoutes(*impl_, router);
  agent::AddWalRoutes(*impl_, router);
  agent::AddInternalRoutes(*impl_, router);
  agent::AddAdminRoutes(*impl_, router);
  agent::AddSlotRoutes(*impl_, router);
  agent::AddHealthRoutes(*impl_, router);
  agent::AddMetricsRoute(*impl_, router);
  std::shared_ptr<const AgentConfig> config = impl_->config();
  HttpServerOptions so;
  so.address = config->listen_address;
  so.port = static_cast<std::uint16_t>(config->listen_port);
  so.bearer_token = config->api_token;
  so.auth_disabled = config->auth_disabled;
  // A blocking handler may wait for a peer's blocking handler (GET instance/all asks each peer
  // for its state, an operation drives its peers), and the peer's for ours: with fewer workers
  // than connections, two agents under load could fill both pools with requests waiting on
  // each other until the client deadline (the concurrency soak of docs/reliability.md did).
  // A worker for every connection the server accepts means no request waits for a worker.
  so.blocking_threads = static_cast<int>(so.max_connections);
  so.tls = config->ServerTls();
  so.log = LogLine;
  WarnAboutTls(*config);
  impl_->server = std::make_unique<HttpServer>(so, std::move(router));
  impl_->local->StartObserver();
  try {
    impl_->server->Start();
  } catch (...) {
    impl_->local->StopObserver();
    throw;
  }
  impl_->slot_keeper = std::make_unique<agent::SlotKeeper>(*impl_, config->slot_sync_interval);
  impl_->slot_keeper->Start();
  if (config->AutomaticFailover()) {
    EtcdOptions eo;
    eo.endpoints = config->etcd_endpoints;
    eo.username = config->etcd_user;
    eo.password = config->etcd_password;
    eo.tls = config->ClientTls();
    impl_->ha = std::make_unique<agent::HaLoop>(*impl_, std::make_unique<EtcdStore>(eo));
    impl_->ha->Start();
  }
}

std::optional<Agent::Impl::LastOperation> Agent::Impl::last_operation() const {
  std::lock_guard<std::mutex> lock(last_operation_mutex);
  return last_operation_;
}

void Agent::Impl::RecordOperation(const std::string& name, bool ok) {
  std::lock_guard<std::mutex> lock(last_operation_mutex);
  last_operation_ = LastOperation{name, ok, std::chrono::system_clock::now()};
}

HttpHandler agent::Tracked(Agent::Impl& a, HttpHandler handler) {
  return [&a, handler = std::move(handler)](const HttpRequest& req) {
    std::string name = std::string(HttpMethodName(req.method)) + " " + req.path;
    const std::string prefix = "/api/pg/v1/";
    if (req.path.rfind(prefix, 0) == 0)
      name = std::string(HttpMethodName(req.method)) + " " + req.path.substr(prefix.size());
    try {
      HttpResponse r = handler(req);
      a.RecordOperation(name, r.status < 400);
      return r;
    } catch (...) {
      a.RecordOperation(name, false);
      throw;
    }
  };
}

int RunFenceGuard(const std::string& data_dir) {
  return agent::RunFenceGuard(data_dir);
}

void Agent::Impl::RequireManualMode(const std::string& operation) const {
  if (ha && !ha->PausedNow())
    throw Error(ErrorCode::kConflict,
                operation +
                    ": automatic failover is on and decides the roles. HINT: POST "
                    "cluster/pause first (and cluster/resume after)");
}

void Agent::Stop() noexcept {
  if (!impl_) return;
  if (impl_->ha) impl_->ha->Stop();
  if (impl_->slot_keeper) impl_->slot_keeper->Stop();
  if (impl_->server) impl_->server->Stop();
  impl_->local->StopObserver();
}

std::uint16_t Agent::port() const noexcept {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace pgha
