// The routing table: a tree of path segments, literal children tried before the parameter
// child, so that the most specific route wins without any regular expression.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pgha/http_server.hpp"
#include "text.hpp"

namespace pgha {

namespace {

struct Route {
  HttpMethod method;
  std::string pattern;
  std::vector<std::string> param_names;  // in path order
  HttpHandler handler;
  RouteOptions options;
  HttpBodyFileFn body_file;
};

struct Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;
  std::vector<std::unique_ptr<Route>> routes;  // at most one per method
};

bool IsParamNameChar(char c, bool first) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsLiteralChar(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7F && c != '%' && c != '?' && c != '#' && c != '/';
}

[[noreturn]] void BadPattern(std::string_view pattern, std::string_view why) {
  throw Error(ErrorCode::kBadInput,
              "route pattern " + QuoteForMessage(pattern) + ": " + std::string(why));
}

// Splits "/a/:b/c" into {"a", ":b", "c"}; "/" gives no segment.
std::vector<std::string_view> SplitPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') BadPattern(pattern, "must start with '/'");
  std::vector<std::string_view> segments;
  if (pattern == "/") return segments;
  std::size_t start = 1;
  while (true) {
    const std::size_t slash = pattern.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? pattern.size() : slash;
    const std::string_view seg = pattern.substr(start, end - start);
    if (seg.empty()) BadPattern(pattern, "empty segment");
    segments.push_back(seg);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segments;
}

void CheckSegment(std::string_view pattern, std::string_view seg,
                  std::vector<std::string>& param_names) {
  if (seg.front() == ':') {
    const std::string_view name = seg.substr(1);
    if (name.empty()) BadPattern(pattern, "parameter without a name");
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (!IsParamNameChar(name[i], i == 0)) BadPattern(pattern, "bad parameter name");
    }
    if (std::find(param_names.begin(), param_names.end(), name) != param_names.end()) {
      BadPattern(pattern, "parameter " + QuoteForMessage(name) + " repeated");
    }
    param_names.emplace_back(name);
    return;
  }
  if (seg == "." || seg == "..") BadPattern(pattern, "dot segment");
  for (char c : seg) {
    if (!IsLiteralChar(c)) BadPattern(pattern, "bad character in literal segment");
  }
}

const Route* RouteFor(const Node& node, HttpMethod method) noexcept {
  const Route* get = nullptr;
  for (const auto& r : node.routes) {
    if (r->method == method) return r.get();
    if (r->method == HttpMethod::kGet) get = r.get();
  }
  return method == HttpMethod::kHead ? get : nullptr;
}

void AddAllowed(std::vector<HttpMethod>& allowed, HttpMethod method) {
  if (std::find(allowed.begin(), allowed.end(), method) == allowed.end()) {
    allowed.push_back(method);
  }
}

struct MatchState {
  const std::vector<std::string>& segments;
  HttpMethod method;
  std::vector<const std::string*> captured;
  std::vector<HttpMethod> allowed;
};

// Depth-first, literal child first: the first route found is the most specific one that
// serves the method; routes on matching paths without it are collected for 405's Allow.
const Route* Find(const Node& node, std::size_t i, MatchState& st) {
  if (i == st.segments.size()) {
    if (const Route* r = RouteFor(node, st.method)) return r;
    for (const auto& r : node.routes) {
      AddAllowed(st.allowed, r->method);
      if (r->method == HttpMethod::kGet) AddAllowed(st.allowed, HttpMethod::kHead);
    }
    return nullptr;
  }
  const std::string& seg = st.segments[i];
  auto it = node.literals.find(seg);
  if (it != node.literals.end()) {
    if (const Route* r = Find(*it->second, i + 1, st)) return r;
  }
  if (node.param != nullptr && !seg.empty()) {
    st.captured.push_back(&seg);
    if (const Route* r = Find(*node.param, i + 1, st)) return r;
    st.captured.pop_back();
  }
  return nullptr;
}

// Decodes the segments of an absolute path; fills `match` with a 400 and returns false when
// the path is malformed.
bool DecodeSegments(std::string_view path, std::vector<std::string>& out, RouteMatch& match) {
  auto reject = [&](const std::string& why) {
    match.status = 400;
    match.message = "bad request path " + QuoteForMessage(path) + ": " + why;
    return false;
  };
  if (path.empty() || path.front() != '/') return reject("not absolute");
  if (path == "/") return true;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string seg;
    try {
      seg = PercentDecode(path.substr(start, end - start));
    } catch (const Error& e) {
      return reject(e.what());
    }
    if (seg.find('/') != std::string::npos) return reject("encoded '/' in a segment");
    if (seg == "." || seg == "..") return reject("dot segment");
    out.push_back(std::move(seg));
    start = end + 1;
  }
  return true;
}

std::string AllowedList(const std::vector<HttpMethod>& allowed) {
  std::string list;
  for (HttpMethod m : allowed) {
    if (!list.empty()) list += ", ";
    list += HttpMethodName(m);
  }
  return list;
}

}  // namespace

struct Router::Impl {
  Node root;
  std::size_t count = 0;
};

Router::Router() : impl_(std::make_unique<Impl>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

std::size_t Router::size() const noexcept {
  return impl_->count;
}

void Router::Add(HttpMethod method, std::string_view pattern, HttpHandler handler,
                 RouteOptions options, HttpBodyFileFn body_file) {
  if (!handler) BadPattern(pattern, "no handler");
  auto route = std::make_unique<Route>(
      Route{method, std::string(pattern), {}, std::move(handler), options, std::move(body_file)});
  Node* node = &impl_->root;
  for (std::string_view seg : SplitPattern(pattern)) {
    CheckSegment(pattern, seg, route->param_names);
    std::unique_ptr<Node>* child = nullptr;
    if (seg.front() == ':') {
      child = &node->param;
    } else {
      auto it = node->literals.find(seg);
      if (it == node->literals.end()) it = node->literals.emplace(std::string(seg), nullptr).first;
      child = &it->second;
    }
    if (*child == nullptr) *child = std::make_unique<Node>();
    node = child->get();
  }
  for (const auto& r : node->routes) {
    if (r->method == method) {
      throw Error(ErrorCode::kConflict, std::string(HttpMethodName(method)) + " " +
                                            QuoteForMessage(pattern) + " clashes with " +
                                            QuoteForMessage(r->pattern));
    }
  }
  node->routes.push_back(std::move(route));
  ++impl_->count;
}

RouteMatch Router::Match(HttpMethod method, std::string_view path) const {
  RouteMatch match;
  std::vector<std::string> segments;
  if (!DecodeSegments(path, segments, match)) return match;
  MatchState st{segments, method, {}, {}};
  const Route* route = Find(impl_->root, 0, st);
  if (route == nullptr) {
    if (st.allowed.empty()) {
      match.status = 404;
      match.message = "no route for " + QuoteForMessage(path);
    } else {
      match.status = 405;
      match.message = std::string("method ") + std::string(HttpMethodName(method)) +
                      " not allowed for " + QuoteForMessage(path) +
                      " (allowed: " + AllowedList(st.allowed) + ")";
      match.allowed = std::move(st.allowed);
    }
    return match;
  }
  match.status = 200;
  for (std::size_t k = 0; k < route->param_names.size(); ++k) {
    match.params.emplace(route->param_names[k], *st.captured[k]);
  }
  match.handler = &route->handler;
  match.body_file = route->body_file ? &route->body_file : nullptr;
  match.options = route->options;
  match.pattern = route->pattern;
  return match;
}

}  // namespace pgha
