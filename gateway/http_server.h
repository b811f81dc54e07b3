// The gateway's HTTP endpoint for operators and load balancers: GET /metrics (Prometheus text
// exposition of a registry) and GET /healthz (200 once the topology is known, else 503).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/metrics.h"

struct mg_context;
struct mg_connection;

namespace tessera::gateway {

class HttpServer {
 public:
  // The registry must outlive the server; `healthy` runs on civetweb's threads.
  HttpServer(const common::Registry* registry, std::function<bool()> healthy)
      : registry_(registry), healthy_(std::move(healthy)) {}
  ~HttpServer() { Stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on "host:port" (port 0 picks a free one; see port()).
  absl::Status Start(const std::string& address);
  void Stop();  // Idempotent.
  int port() const { return port_; }

 private:
  static int BeginRequest(mg_connection* conn);

  const common::Registry* const registry_;
  const std::function<bool()> healthy_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace tessera::gateway
