#include "agent_impl.hpp"

#include <iostream>
#include "node_json.hpp"

namespace pgha {

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
  local = std::make_shared<agent::LocalNode>(config, client);
  Rebuild();
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
  so.log = [](const std::string& line) { std::cerr << "pgha-agent: " << line << "\n"; };
  impl_->server = std::make_unique<HttpServer>(so, std::move(router));
  impl_->local->StartObserver();
  try {
    impl_->server->Start();
  } catch (...) {
    impl_->local->StopObserver();
    throw;
  }
}

void Agent::Stop() noexcept {
  if (!impl_) return;
  if (impl_->server) impl_->server->Stop();
  impl_->local->StopObserver();
}

std::uint16_t Agent::port() const noexcept {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace pgha
