// The shard's /metrics endpoint: a civetweb HTTP server (the shard has no libuv loop of its
// own for it) answering GET /metrics with a registry's text exposition, 404 elsewhere.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/metrics.h"

struct mg_context;
struct mg_connection;

namespace tessera::shard {

class MetricsHttpServer {
 public:
  // The registry must outlive the server.
  explicit MetricsHttpServer(const common::Registry* registry) : registry_(registry) {}
  ~MetricsHttpServer() { Stop(); }
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Listens on "host:port" (port 0 picks a free one; see port()).
  absl::Status Start(const std::string& address);
  // Closes the listener and waits for in-flight requests. Idempotent.
  void Stop();
  // The bound port after Start, 0 before.
  int port() const { return port_; }

 private:
  static int BeginRequest(mg_connection* conn);

  const common::Registry* const registry_;
  mg_context* ctx_ = nullptr;  // owned; civetweb's threads call BeginRequest
  int port_ = 0;
};

}  // namespace tessera::shard
