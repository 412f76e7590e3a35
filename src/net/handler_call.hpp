// Runs a route handler and turns whatever it throws into a response (private to src/net).
#ifndef PGHA_NET_HANDLER_CALL_HPP
#define PGHA_NET_HANDLER_CALL_HPP

#include "pgha/http_server.hpp"
#include "server_shared.hpp"

namespace pgha::net {

/// Calls `handler`. A pgha::Error becomes its {"code","msg"} body and status; any other
/// exception, or a status outside 100-599, a 500 {"code":9} without detail (the detail goes
/// to the server's log). Never throws.
HttpResponse CallHandler(const HttpHandler& handler, const HttpRequest& request,
                         const ServerShared& shared) noexcept;

/// The response to send when something the handler returned cannot be sent.
HttpResponse InternalErrorResponse() noexcept;

}  // namespace pgha::net

#endif  // PGHA_NET_HANDLER_CALL_HPP
