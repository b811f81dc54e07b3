// civetweb glue for /metrics and /healthz, the same shape as the shard's metrics endpoint:
// one handler for every URI, so nothing else is served.
#include "gateway/http_server.h"

#include <civetweb.h>

#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tessera::gateway {
namespace {

void Respond(mg_connection* conn, int code, std::string_view reason, std::string_view type,
             const std::string& body, bool head) {
  const std::string header =
      absl::StrCat("HTTP/1.1 ", code, " ", absl::string_view(reason.data(), reason.size()),
                   "\r\nContent-Type: ", absl::string_view(type.data(), type.size()),
                   "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  mg_write(conn, header.data(), header.size());
  if (!head) mg_write(conn, body.data(), body.size());
}

int LogMessage(const mg_connection*, const char* message) {
  spdlog::warn("http: {}", message);
  return 1;
}

}  // namespace

int HttpServer::BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* self = static_cast<HttpServer*>(info->user_data);
  const std::string_view uri = info->local_uri != nullptr ? info->local_uri : "";
  const std::string_view method = info->request_method != nullptr ? info->request_method : "";
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    Respond(conn, 405, "Method Not Allowed", "text/plain", "method not allowed\n", false);
  } else if (uri == "/metrics") {
    Respond(conn, 200, "OK", "text/plain; version=0.0.4", self->registry_->Exposition(), head);
  } else if (uri == "/healthz") {
    if (self->healthy_ && self->healthy_()) {
      Respond(conn, 200, "OK", "text/plain", "ok\n", head);
    } else {
      Respond(conn, 503, "Service Unavailable", "text/plain", "topology not known yet\n", head);
    }
  } else {
    Respond(conn, 404, "Not Found", "text/plain", "not found\n", head);
  }
  return 1;
}

absl::Status HttpServer::Start(const std::string& address) {
  if (ctx_ != nullptr) return absl::FailedPreconditionError("http server already started");
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.begin_request = &HttpServer::BeginRequest;
  callbacks.log_message = &LogMessage;
  const char* options[] = {"listening_ports", address.c_str(), "num_threads", "2", nullptr};
  ctx_ = mg_start(&callbacks, this, options);
  if (ctx_ == nullptr)
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", address));
  mg_server_port ports[1];
  std::memset(ports, 0, sizeof(ports));
  if (mg_get_server_ports(ctx_, 1, ports) >= 1) port_ = ports[0].port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (ctx_ == nullptr) return;
  mg_stop(ctx_);
  ctx_ = nullptr;
  port_ = 0;
}

}  // namespace tessera::gateway
