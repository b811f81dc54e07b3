// civetweb glue for /metrics: one request handler for every URI, so anything but
// GET/HEAD /metrics gets a plain 404/405 without civetweb's file serving.
#include "shard/metrics/metrics_http.h"

#include <civetweb.h>

#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4";

void Respond(mg_connection* conn, int code, std::string_view reason, std::string_view content_type,
             const std::string& body, bool head) {
  const std::string header = absl::StrCat(
      "HTTP/1.1 ", code, " ", absl::string_view(reason.data(), reason.size()),
      "\r\nContent-Type: ", absl::string_view(content_type.data(), content_type.size()),
      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  mg_write(conn, header.data(), header.size());
  if (!head) mg_write(conn, body.data(), body.size());
}

int LogMessage(const mg_connection*, const char* message) {
  spdlog::warn("metrics http: {}", message);
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

int MetricsHttpServer::BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* self = static_cast<MetricsHttpServer*>(info->user_data);
  const std::string_view uri = info->local_uri != nullptr ? info->local_uri : "";
  const std::string_view method = info->request_method != nullptr ? info->request_method : "";
  const bool head = method == "HEAD";
  if (uri != "/metrics") {
    Respond(conn, 404, "Not Found", "text/plain", "not found\n", head);
  } else if (method != "GET" && !head) {
    Respond(conn, 405, "Method Not Allowed", "text/plain", "method not allowed\n", false);
  } else {
    Respond(conn, 200, "OK", kContentType, self->registry_->Exposition(), head);
  }
  return 1;  // civetweb must not handle it any further
}

absl::Status MetricsHttpServer::Start(const std::string& address) {
  if (ctx_ != nullptr) return absl::FailedPreconditionError("metrics server already started");
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.begin_request = &MetricsHttpServer::BeginRequest;
  callbacks.log_message = &LogMessage;
  const char* options[] = {"listening_ports", address.c_str(), "num_threads", "2", nullptr};
  ctx_ = mg_start(&callbacks, this, options);
  if (ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve /metrics on ", address));
  }
  mg_server_port ports[1];
  std::memset(ports, 0, sizeof(ports));
  if (mg_get_server_ports(ctx_, 1, ports) >= 1) port_ = ports[0].port;
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  if (ctx_ == nullptr) return;
  mg_stop(ctx_);
  ctx_ = nullptr;
  port_ = 0;
}

}  // namespace tessera::shard
