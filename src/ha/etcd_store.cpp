// EtcdStore over etcd's v3 JSON gateway: keys and values travel base64-encoded, 64-bit
// numbers as decimal strings (etcd's api/etcdserverpb/rpc.proto through grpc-gateway).
#include "pgha/etcd_store.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "pgha/error.hpp"

namespace pgha {

namespace {

using json = nlohmann::json;

// gRPC status codes etcd answers with (google.golang.org/grpc/codes).
constexpr int kGrpcInvalidArgument = 3;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcPermissionDenied = 7;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string Unbase64(const std::string& text) {
  if (text.size() % 4 != 0) throw Error(ErrorCode::kBadInput, "etcd sent invalid base64");
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) throw Error(ErrorCode::kBadInput, "etcd sent invalid base64");
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;  // padding
  out.resize(size);
  return out;
}

// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// A 64-bit field: etcd's gateway writes them as strings; an absent one is 0.
std::int64_t Int64Field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    std::size_t used = 0;
    try {
      const long long v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  throw Error(ErrorCode::kBadInput, std::string("etcd sent a malformed ") + name);
}

StoreKeyValue KeyValueFrom(const json& kv) {
  StoreKeyValue out;
  out.key = Unbase64(kv.value("key", ""));
  out.value = Unbase64(kv.value("value", ""));
  out.create_revision = Int64Field(kv, "create_revision");
  out.mod_revision = Int64Field(kv, "mod_revision");
  out.lease = Int64Field(kv, "lease");
  return out;
}

StoreRange RangeFrom(const json& r) {
  StoreRange out;
  if (auto h = r.find("header"); h != r.end()) out.revision = Int64Field(*h, "revision");
  if (auto kvs = r.find("kvs"); kvs != r.end() && kvs->is_array()) {
    for (const json& kv : *kvs) out.kvs.push_back(KeyValueFrom(kv));
  }
  return out;
}

json Compare(const std::string& key, std::int64_t expected_mod_revision) {
  if (expected_mod_revision == 0) {
    return {
        {"key", Base64(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
  }
  return {{"key", Base64(key)},
          {"target", "MOD"},
          {"result", "EQUAL"},
          {"mod_revision", std::to_string(expected_mod_revision)}};
}

}  // namespace

struct EtcdStore::Impl {
  explicit Impl(EtcdOptions opts) : options(std::move(opts)), client(ClientOptions(options)) {}

  static HttpClientOptions ClientOptions(const EtcdOptions& o) {
    HttpClientOptions c;
    c.connect_timeout = o.connect_timeout;
    c.timeout = o.request_timeout;
    c.tls = o.tls;
    c.max_response_bytes = std::size_t{16} << 20;
    return c;
  }

  const EtcdOptions options;
  const HttpClient client;
  std::atomic<std::size_t> current{0};
  std::mutex token_mutex;
  std::string token;  // etcd's auth token, when authentication is on

  HttpHeaders Headers() {
    HttpHeaders h;
    std::lock_guard<std::mutex> lock(token_mutex);
    if (!token.empty()) h.Set("Authorization", token);
    return h;
  }

  // Authenticates at `endpoint` when authentication is on and there is no token yet.
  void EnsureToken(const std::string& endpoint) {
    if (options.username.empty()) return;
    {
      std::lock_guard<std::mutex> lock(token_mutex);
      if (!token.empty()) return;
    }
    const json body = {{"name", options.username}, {"password", options.password}};
    HttpResponse r = client.Post(endpoint + "/v3/auth/authenticate", body.dump());
    json j = json::parse(r.body, nullptr, false);
    if (!r.ok() || !j.is_object() || !j.contains("token")) {
      const std::string msg = j.is_object() ? j.value("message", r.body) : r.body;
      throw Error(ErrorCode::kUnauthorized,
                  "etcd at " + endpoint + " refused user " + options.username + ": " + msg);
    }
    std::lock_guard<std::mutex> lock(token_mutex);
    token = j["token"].get<std::string>();
  }

  void DropToken() {
    std::lock_guard<std::mutex> lock(token_mutex);
    token.clear();
  }

  // The error an etcd error body means, or nullopt when the next endpoint should be tried.
  static std::optional<Error> ErrorFor(const HttpResponse& r, const std::string& what) {
    json j = json::parse(r.body, nullptr, false);
    const int code = j.is_object() && j.contains("code") && j["code"].is_number_integer()
                         ? j["code"].get<int>()
                         : -1;
    const std::string msg = j.is_object() ? j.value("message", r.body) : r.body;
    switch (code) {
      case kGrpcUnavailable: return std::nullopt;
      case kGrpcNotFound: return Error(ErrorCode::kNotFound, what + ": " + msg);
      case kGrpcInvalidArgument:
        // etcd refuses a call without a token as an invalid argument (ErrUserEmpty).
        if (msg.find("user name is empty") != std::string::npos) {
          return Error(ErrorCode::kUnauthorized,
                       what + ": " + msg + ". HINT: etcd has authentication on: configure a user");
        }
        return Error(ErrorCode::kBadInput, what + ": " + msg);
      case kGrpcPermissionDenied:
      case kGrpcUnauthenticated: return Error(ErrorCode::kUnauthorized, what + ": " + msg);
      default:
        if (r.status == 502 || r.status == 503 || r.status == 504) return std::nullopt;
        return Error(ErrorCode::kInternal,
                     what + ": etcd answered " + std::to_string(r.status) + ": " + msg);
    }
  }

  // Calls `send(endpoint, headers)` on the endpoints in turn from the current one, each once,
  // until one answers. `maybe_applied` (when given) is set when a try timed out after sending,
  // so that its effect is unknown.
  template <typename Send>
  HttpResponse Each(const std::string& what, Send&& send, bool* maybe_applied = nullptr) {
    const std::size_t n = options.endpoints.size();
    const std::size_t first = current.load();
    std::string failures;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t index = (first + i) % n;
      const std::string& endpoint = options.endpoints[index];
      try {
        EnsureToken(endpoint);
        HttpResponse r = send(endpoint, Headers());
        if (!r.ok() && !options.username.empty()) {
          json j = json::parse(r.body, nullptr, false);
          if (j.is_object() && j.value("code", 0) == kGrpcUnauthenticated) {
            DropToken();  // the token expired: authenticate again, once
            EnsureToken(endpoint);
            r = send(endpoint, Headers());
          }
        }
        if (r.ok()) {
          current.store(index);
          return r;
        }
        if (std::optional<Error> e = ErrorFor(r, what + " at " + endpoint)) throw *e;
        failures += "; " + endpoint + ": HTTP " + std::to_string(r.status);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kPeerUnreachable && e.code() != ErrorCode::kTimeout) throw;
        if (e.code() == ErrorCode::kTimeout && maybe_applied != nullptr) *maybe_applied = true;
        failures += "; " + std::string(e.what());
      }
    }
    throw Error(ErrorCode::kPeerUnreachable, what + ": no etcd endpoint answered" + failures);
  }

  json Call(const std::string& path, const json& body, bool* maybe_applied = nullptr) {
    const std::string text = body.dump();
    HttpResponse r = Each(
        "etcd " + path,
        [&](const std::string& endpoint, const HttpHeaders& headers) {
          return client.Post(endpoint + path, text, headers);
        },
        maybe_applied);
    // Streaming RPCs (lease keepalive) answer one object per line: the first is ours.
    const std::string_view first_line = std::string_view(r.body).substr(0, r.body.find('\n'));
    json j = json::parse(first_line, nullptr, false);
    if (!j.is_object()) throw Error(ErrorCode::kBadInput, "etcd " + path + " sent malformed JSON");
    return j;
  }

  json Txn(const json& compare, const json& success, const json& failure,
           bool* maybe_applied = nullptr) {
    return Call("/v3/kv/txn",
                {{"compare", json::array({compare})},
                 {"success", json::array({success})},
                 {"failure", json::array({failure})}},
                maybe_applied);
  }
};

EtcdStore::EtcdStore(EtcdOptions options) {
  if (options.endpoints.empty()) throw Error(ErrorCode::kBadInput, "etcd: no endpoint");
  for (std::string& e : options.endpoints) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      throw Error(ErrorCode::kBadInput, "etcd endpoint '" + e + "' is not an http(s) URL");
    }
  }
  impl_ = std::make_unique<Impl>(std::move(options));
}

EtcdStore::~EtcdStore() = default;

std::string EtcdStore::CurrentEndpoint() const {
  return impl_->options.endpoints[impl_->current.load()];
}

StoreLease EtcdStore::GrantLease(std::chrono::seconds ttl) {
  if (ttl.count() < 1) throw Error(ErrorCode::kBadInput, "a lease needs a TTL of at least 1 s");
  json j = impl_->Call("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}});
  const StoreLease id = Int64Field(j, "ID");
  if (id == 0) throw Error(ErrorCode::kInternal, "etcd granted no lease: " + j.value("error", ""));
  return id;
}

std::optional<std::chrono::seconds> EtcdStore::KeepAlive(StoreLease lease) {
  json j = impl_->Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
  const json& result = j.contains("result") ? j["result"] : j;
  const std::int64_t ttl = Int64Field(result, "TTL");
  if (ttl <= 0) return std::nullopt;  // etcd answers a lease it does not know with no TTL
  return std::chrono::seconds(ttl);
}

std::optional<std::chrono::milliseconds> EtcdStore::TimeToLive(StoreLease lease) {
  // etcd answers in whole seconds (TTL -1 for a lease it does not have).
  json j = impl_->Call("/v3/lease/timetolive", {{"ID", std::to_string(lease)}});
  const std::int64_t ttl = Int64Field(j, "TTL");
  if (ttl <= 0) return std::nullopt;
  return std::chrono::milliseconds(ttl * 1000);
}

void EtcdStore::RevokeLease(StoreLease lease) {
  try {
    impl_->Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
  }
}

StoreRange EtcdStore::Get(const std::string& key) {
  return RangeFrom(impl_->Call("/v3/kv/range", {{"key", Base64(key)}}));
}

StoreRange EtcdStore::GetPrefix(const std::string& prefix) {
  return RangeFrom(impl_->Call(
      "/v3/kv/range", {{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}}));
}

std::int64_t EtcdStore::Put(const std::string& key, const std::string& value, StoreLease lease) {
  json j = impl_->Call(
      "/v3/kv/put",
      {{"key", Base64(key)}, {"value", Base64(value)}, {"lease", std::to_string(lease)}});
  return j.contains("header") ? Int64Field(j["header"], "revision") : 0;
}

bool EtcdStore::CompareAndPut(const std::string& key, std::int64_t expected_mod_revision,
                              const std::string& value, StoreLease lease,
                              std::optional<StoreKeyValue>* current) {
  bool maybe_applied = false;
  json j = impl_->Txn(
      Compare(key, expected_mod_revision),
      {{"request_put",
        {{"key", Base64(key)}, {"value", Base64(value)}, {"lease", std::to_string(lease)}}}},
      {{"request_range", {{"key", Base64(key)}}}}, &maybe_applied);
  if (j.value("succeeded", false)) return true;
  std::optional<StoreKeyValue> now;
  const json& responses = j.contains("responses") ? j["responses"] : json::array();
  if (!responses.empty() && responses[0].contains("response_range")) {
    StoreRange r = RangeFrom(responses[0]["response_range"]);
    if (!r.kvs.empty()) now = r.kvs.front();
  }
  // A try that timed out may have written the key: then it holds exactly what we wrote.
  if (maybe_applied && now && now->value == value && now->lease == lease) return true;
  if (current != nullptr) *current = now;
  return false;
}

bool EtcdStore::CompareAndDelete(const std::string& key, std::int64_t expected_mod_revision) {
  if (expected_mod_revision == 0) return false;
  json j = impl_->Txn(Compare(key, expected_mod_revision),
                      {{"request_delete_range", {{"key", Base64(key)}}}},
                      {{"request_range", {{"key", Base64(key)}, {"count_only", true}}}});
  return j.value("succeeded", false);
}

StoreWatch EtcdStore::Watch(const std::string& prefix, std::int64_t after,
                            std::chrono::milliseconds wait) {
  const json body = {{"create_request",
                      {{"key", Base64(prefix)},
                       {"range_end", Base64(PrefixEnd(prefix))},
                       {"start_revision", std::to_string(after + 1)}}}};
  const std::string text = body.dump();
  StoreWatch w;
  w.revision = after;
  std::string pending;
  // One message per line; a message may arrive in pieces, several in one piece.
  auto on_data = [&](std::string_view piece) {
    pending.append(piece);
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      json j = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!j.is_object()) continue;
      const json& result = j.contains("result") ? j["result"] : j;
      if (Int64Field(result, "compact_revision") > 0) {
        w.compacted = true;
        return false;
      }
      auto events = result.find("events");
      if (events == result.end() || !events->is_array() || events->empty()) continue;
      for (const json& e : *events) {
        StoreEvent ev;
        ev.type =
            e.value("type", "PUT") == "DELETE" ? StoreEvent::Type::kDelete : StoreEvent::Type::kPut;
        if (e.contains("kv")) ev.kv = KeyValueFrom(e["kv"]);
        w.revision = std::max(w.revision, ev.kv.mod_revision);
        w.events.push_back(std::move(ev));
      }
      return false;  // the first batch of events ends the wait
    }
    return true;
  };
  impl_->Each("etcd watch " + prefix, [&](const std::string& endpoint, const HttpHeaders& headers) {
    pending.clear();
    return impl_->client.Stream(HttpMethod::kPost, endpoint + "/v3/watch", text, headers, wait,
                                on_data);
  });
  return w;
}

}  // namespace pgha
