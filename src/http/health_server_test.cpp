#include "http/health_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tartan::http {
namespace {

struct Case {
  const char* request;
  bool ready;
  const char* status_line;
  const char* body;  // nullptr: no body expected
};

TEST(HandleRequest, RoutesAndStatus) {
  const Case cases[] = {
      {"GET /healthz HTTP/1.1\r\n\r\n", false, "HTTP/1.1 200 OK", "ok\n"},
      {"GET /readyz HTTP/1.1\r\n\r\n", true, "HTTP/1.1 200 OK", "ok\n"},
      {"GET /readyz HTTP/1.1\r\n\r\n", false, "HTTP/1.1 503 Service Unavailable",
       "not ready: waiting for a lease\n"},
      {"GET /readyz?verbose=1 HTTP/1.0\r\n\r\n", true, "HTTP/1.1 200 OK", "ok\n"},
      {"HEAD /healthz HTTP/1.1\r\n\r\n", true, "HTTP/1.1 200 OK", nullptr},
      {"GET /metrics HTTP/1.1\r\n\r\n", true, "HTTP/1.1 404 Not Found", nullptr},
      {"POST /healthz HTTP/1.1\r\n\r\n", true, "HTTP/1.1 400 Bad Request", nullptr},
      {"garbage", true, "HTTP/1.1 400 Bad Request", nullptr},
      {"", true, "HTTP/1.1 400 Bad Request", nullptr},
  };
  for (const auto& c : cases) {
    std::string r = HandleRequest(c.request, c.ready, "waiting for a lease");
    EXPECT_EQ(r.substr(0, r.find("\r\n")), c.status_line) << c.request;
    size_t header_end = r.find("\r\n\r\n");
    ASSERT_NE(header_end, std::string::npos);
    std::string body = r.substr(header_end + 4);
    if (c.body) {
      EXPECT_EQ(body, c.body) << c.request;
    }
    if (std::string(c.request).rfind("HEAD", 0) == 0) {
      EXPECT_EQ(body, "");
    }
    EXPECT_NE(r.find("Content-Length: "), std::string::npos);
  }
}

TEST(HandleRequest, DetailIsASecondLineOfReadyzOnly) {
  auto body = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };
  const std::string get = "GET /readyz HTTP/1.1\r\n\r\n";
  EXPECT_EQ(body(HandleRequest(get, true, "", "etcd API: v3")), "ok\netcd API: v3\n");
  EXPECT_EQ(body(HandleRequest(get, false, "acquiring a lease", "etcd API: v2")),
            "not ready: acquiring a lease\netcd API: v2\n");
  EXPECT_EQ(body(HandleRequest("GET /healthz HTTP/1.1\r\n\r\n", true, "", "etcd API: v3")), "ok\n");
}

TEST(HandleRequest, ReadyzListsAnomaliesWithoutChangingTheStatus) {
  auto body = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };
  const std::vector<std::string> two = {"lease key 0.0.0.0-0 skipped: x", "route y not installed"};
  std::string r = HandleRequest("GET /readyz HTTP/1.1\r\n\r\n", true, "", "", two);
  EXPECT_EQ(r.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(body(r),
            "ok\nanomaly: lease key 0.0.0.0-0 skipped: x\nanomaly: route y not installed\n");
  r = HandleRequest("GET /readyz HTTP/1.1\r\n\r\n", false, "acquiring a lease", "", two);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 503");
  EXPECT_EQ(body(r).substr(0, 29), "not ready: acquiring a lease\n");
  // A short list: a flood of bad keys is counted, not listed.
  std::vector<std::string> many;
  for (int i = 0; i < 25; ++i) many.push_back("bad " + std::to_string(i));
  std::string b = body(HandleRequest("GET /readyz HTTP/1.1\r\n\r\n", true, "", "", many));
  size_t lines = 0;
  for (char c : b) lines += c == '\n';
  EXPECT_EQ(lines, 1 + kMaxReadyzAnomalies + 1);
  EXPECT_NE(b.find("anomaly: ... and 15 more (see the log)\n"), std::string::npos);
  EXPECT_EQ(body(HandleRequest("GET /healthz HTTP/1.1\r\n\r\n", true, "", "", many)), "ok\n");
}

TEST(HandleRequest, MetricsAndStatus) {
  auto body = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };
  auto metrics = [] { return std::string("# TYPE x counter\nx 1\n"); };
  std::string r = HandleRequest("GET /metrics HTTP/1.1\r\n\r\n", false, "r", "", {}, metrics);
  EXPECT_EQ(r.substr(0, r.find("\r\n")), "HTTP/1.1 200 OK");
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_EQ(body(r), "# TYPE x counter\nx 1\n");
  r = HandleRequest("GET /status HTTP/1.1\r\n\r\n", false, "acquiring \"a\" lease", "etcd API: v3",
                    {"bad\xff key"}, metrics, R"({"lease":"10.5.1.0/24"})");
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos) << r;
  EXPECT_EQ(body(r),
            "{\"ready\":false,\"reason\":\"acquiring \\\"a\\\" lease\",\"detail\":\"etcd API: v3\","
            "\"anomalies\":[\"bad\\u00ff key\"],\"agent\":{\"lease\":\"10.5.1.0/24\"}}\n");
  EXPECT_EQ(body(HandleRequest("GET /status HTTP/1.1\r\n\r\n", true, "", "", {}, metrics)),
            "{\"ready\":true,\"reason\":\"\",\"detail\":\"\",\"anomalies\":[],\"agent\":null}\n");
}

}  // namespace
}  // namespace tartan::http
