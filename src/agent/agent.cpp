#include "agent_impl.hpp"

#include <iostream>
#include "node_json.hpp"

namespace pgha {

namespace {

constexpr std::chrono::milliseconds kHolderProbeTimeout{3000};

}  // namespace

namespace agent {

HttpResponse Json(const nlohmann::json& j, int status) {
  return HttpResponse::Json(status, j.dump());
}

}  // namespace agent

Agent::Impl::Impl(AgentConfig c) : config(std::move(c)) {
  config.Validate();
  HttpClientOptions co;
  co.bearer_token = config.api_token;
  co.timeout = config.operation_timeout;
  client = std::make_shared<HttpClient>(co);
  co.timeout = kHolderProbeTimeout;
  probe_client = std::make_shared<HttpClient>(co);
  local = std::make_shared<agent::LocalNode>(config, client);
  local->leases().SetHolderCheck([this](const std::string& holder) { return HolderGone(holder); });
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
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      return j.is_object() && j.value("held", true) == false;
    } catch (const Error&) {
      return false;  // cannot ask: the lease stays until it expires
    }
  }
  return false;  // this agent's own holders run in this process
}

void Agent::Impl::Rebuild() {
  std::lock_guard<std::mutex> lock(config_mutex);
  std::vector<std::shared_ptr<agent::RemoteNode>> next;
  std::vector<std::shared_ptr<NodeControl>> controls;
  for (const NodeAddress& p : config.Peers()) {
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
  o.timeout = config.operation_timeout;
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
  HttpServerOptions so;
  so.address = impl_->config.listen_address;
  so.port = static_cast<std::uint16_t>(impl_->config.listen_port);
  so.bearer_token = impl_->config.api_token;
  so.auth_disabled = impl_->config.auth_disabled;
  // A blocking handler may wait for a peer's blocking handler (GET instance/all asks each peer
  // for its state, an operation drives its peers), and the peer's for ours: with fewer workers
  // than connections, two agents under load could fill both pools with requests waiting on
  // each other until the client deadline (the concurrency soak of docs/reliability.md did).
  // A worker for every connection the server accepts means no request waits for a worker.
  so.blocking_threads = static_cast<int>(so.max_connections);
  so.log = [](const std::string& line) { std::cerr << "pgha-agent: " << line << "\n"; };
  impl_->server = std::make_unique<HttpServer>(so, std::move(router));
  impl_->server->Start();
}

void Agent::Stop() noexcept {
  if (impl_ && impl_->server) impl_->server->Stop();
}

std::uint16_t Agent::port() const noexcept {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace pgha
