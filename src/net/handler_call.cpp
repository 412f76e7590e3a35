#include "handler_call.hpp"

#include <exception>
#include <string>

#include "text.hpp"

namespace pgha::net {

namespace {

std::string Describe(const HttpRequest& request) {
  return std::string(HttpMethodName(request.method)) + " " + QuoteForMessage(request.path);
}

}  // namespace

HttpResponse InternalErrorResponse() noexcept {
  try {
    return HttpResponse::ErrorBody(500, ErrorCode::kInternal, "internal error");
  } catch (...) {
    HttpResponse response;  // out of memory: an empty 500 is all that is left
    response.status = 500;
    return response;
  }
}

HttpResponse CallHandler(const HttpHandler& handler, const HttpRequest& request,
                         const ServerShared& shared) noexcept {
  try {
    HttpResponse response = handler(request);
    if (response.status < 100 || response.status > 599) {
      shared.Log("handler of " + Describe(request) + " returned HTTP status " +
                 std::to_string(response.status));
      return InternalErrorResponse();
    }
    return response;
  } catch (const Error& e) {
    try {
      // An operator reads why a call failed in the log too, not only the caller.
      shared.Log(Describe(request) + ": " + std::string(ErrorCodeName(e.code())) + ": " + e.what());
      return HttpResponse::FromError(e);
    } catch (...) {
      return InternalErrorResponse();
    }
  } catch (const std::exception& e) {
    try {
      shared.Log("handler of " + Describe(request) + " threw: " + e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      shared.Log("handler of " + Describe(request) + " threw a non-standard exception");
    } catch (...) {
    }
  }
  return InternalErrorResponse();
}

}  // namespace pgha::net
