// MetricsHttpServer over a plain socket: GET /metrics returns the registry's exposition with
// the 0.0.4 content type; other paths are 404; Stop closes the listener.
#include "shard/metrics/metrics_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace tessera::shard {
namespace {

// Sends `request` to 127.0.0.1:port and reads until the server closes; "" if no connection.
std::string Exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    char buf[4096];
    while (true) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

std::string Get(int port, const std::string& path) {
  return Exchange(port,
                  "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

TEST(MetricsHttpTest, ServesExposition) {
  common::Registry registry;
  registry.AddGauge("tessera_test_gauge", "A test gauge.", {"group"}).WithLabels({"1"})->Set(5);
  MetricsHttpServer server(&registry);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);

  const std::string response = Get(server.port(), "/metrics");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos)
      << response;
  EXPECT_EQ(Body(response),
            "# HELP tessera_test_gauge A test gauge.\n"
            "# TYPE tessera_test_gauge gauge\n"
            "tessera_test_gauge{group=\"1\"} 5\n");

  // Updates show on the next scrape.
  registry.AddGauge("tessera_test_gauge", "A test gauge.", {"group"}).WithLabels({"1"})->Set(6);
  EXPECT_NE(Body(Get(server.port(), "/metrics")).find("tessera_test_gauge{group=\"1\"} 6\n"),
            std::string::npos);
}

TEST(MetricsHttpTest, OtherPathsAndMethods) {
  common::Registry registry;
  MetricsHttpServer server(&registry);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  EXPECT_EQ(Get(server.port(), "/").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Get(server.port(), "/metrics/x").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Get(server.port(), "/metricsx").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Exchange(server.port(),
                     "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n")
                .rfind("HTTP/1.1 405", 0),
            0u);
}

TEST(MetricsHttpTest, StartFailsOnBadAddressAndStopCloses) {
  common::Registry registry;
  MetricsHttpServer bad(&registry);
  EXPECT_FALSE(bad.Start("not-an-address:x").ok());

  MetricsHttpServer server(&registry);
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  const int port = server.port();
  EXPECT_FALSE(server.Start("127.0.0.1:0").ok());  // already started
  server.Stop();
  server.Stop();  // idempotent
  EXPECT_EQ(Get(port, "/metrics"), "");
}

}  // namespace
}  // namespace tessera::shard
