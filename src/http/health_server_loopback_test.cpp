#include "http/health_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <atomic>
#include <chrono>

namespace tartan::http {
namespace {

// Over a real loopback socket (label "integration").
std::string Get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(HealthServerLoopback, ServesReadinessTransitions) {
  HealthServer server;
  ASSERT_TRUE(server.Start(net::Ip4(127, 0, 0, 1), 0).ok());
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(Get(server.port(), "/healthz").substr(0, 15), "HTTP/1.1 200 OK");
  std::string r = Get(server.port(), "/readyz");
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 503");
  EXPECT_NE(r.find("not ready: starting"), std::string::npos);
  server.SetReady();
  EXPECT_EQ(Get(server.port(), "/readyz").substr(0, 15), "HTTP/1.1 200 OK");
  server.SetNotReady("etcd unreachable");
  EXPECT_NE(Get(server.port(), "/readyz").find("not ready: etcd unreachable"), std::string::npos);
  server.SetAnomalies({"lease key 0.0.0.0-0 skipped"});
  EXPECT_NE(Get(server.port(), "/readyz")
                .find("\r\n\r\nnot ready: etcd unreachable\n"
                      "anomaly: lease key 0.0.0.0-0 skipped\n"),
            std::string::npos);
  server.Stop();
  EXPECT_EQ(Get(server.port(), "/healthz"), "connect failed");
}

TEST(HealthServerLoopback, StatusProviderIsAskedOnlyForStatus) {
  HealthServer server;
  ASSERT_TRUE(server.Start(net::Ip4(127, 0, 0, 1), 0).ok());
  std::atomic<int> calls{0};
  server.SetStatusJson(R"({"old":true})");
  server.SetStatusProvider([&calls] {
    ++calls;
    return std::string(R"({"n":)") + std::to_string(calls.load()) + "}";
  });
  Get(server.port(), "/healthz");
  Get(server.port(), "/readyz");
  Get(server.port(), "/metrics");
  Get(server.port(), "/statusx");
  EXPECT_EQ(calls.load(), 0);
  EXPECT_NE(Get(server.port(), "/status").find(R"("agent":{"n":1})"), std::string::npos);
  EXPECT_NE(Get(server.port(), "/status?x=1").find(R"("agent":{"n":2})"), std::string::npos);
  server.Stop();
}

TEST(HealthServerLoopback, ASilentClientDelaysOthersByAtMostASecond) {
  HealthServer server;
  ASSERT_TRUE(server.Start(net::Ip4(127, 0, 0, 1), 0).ok());
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::send(silent, "G", 1, 0), 1);  // then nothing more
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(server.port(), "/healthz").substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  ::close(silent);
}

TEST(HealthServerLoopback, PortInUseIsAnErrorNamingTheAddress) {
  HealthServer a, b;
  ASSERT_TRUE(a.Start(net::Ip4(127, 0, 0, 1), 0).ok());
  Status s = b.Start(net::Ip4(127, 0, 0, 1), a.port());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("127.0.0.1:" + std::to_string(a.port())), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace tartan::http
