#include "http/health_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "common/metrics.hpp"

namespace tartan::http {
namespace {

std::string Errno(int err) { return std::system_category().message(err); }

void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string Response(int code, const std::string& body,
                     const char* content_type = "text/plain; charset=utf-8") {
  const char* status = code == 200   ? "OK"
                       : code == 404 ? "Not Found"
                       : code == 503 ? "Service Unavailable"
                                     : "Bad Request";
  return "HTTP/1.1 " + std::to_string(code) + " " + status + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      // Non-ASCII bytes escaped one by one: valid JSON for any input, readable for ASCII.
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string HandleRequest(const std::string& request, bool ready,
                          const std::string& not_ready_reason, const std::string& detail,
                          const std::vector<std::string>& anomalies,
                          const std::function<std::string()>& metrics,
                          const std::string& status_json) {
  size_t sp1 = request.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : request.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return Response(400, "bad request\n");
  std::string method = request.substr(0, sp1);
  std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
  if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  bool head = method == "HEAD";
  if (method != "GET" && !head) return Response(400, "only GET and HEAD\n");
  std::string response;
  if (path == "/healthz") {
    response = Response(200, "ok\n");
  } else if (path == "/readyz") {
    std::string body = ready ? "ok\n" : "not ready: " + not_ready_reason + "\n";
    if (!detail.empty()) body += detail + "\n";
    for (size_t i = 0; i < anomalies.size() && i < kMaxReadyzAnomalies; ++i) {
      body += "anomaly: " + anomalies[i] + "\n";
    }
    if (anomalies.size() > kMaxReadyzAnomalies) {
      body += "anomaly: ... and " + std::to_string(anomalies.size() - kMaxReadyzAnomalies) +
              " more (see the log)\n";
    }
    response = Response(ready ? 200 : 503, body);
  } else if (path == "/metrics" && metrics) {
    response = Response(200, metrics(), "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/status" && metrics) {
    std::string body = "{\"ready\":" + std::string(ready ? "true" : "false") +
                       ",\"reason\":" + JsonString(ready ? "" : not_ready_reason) +
                       ",\"detail\":" + JsonString(detail) + ",\"anomalies\":[";
    for (size_t i = 0; i < anomalies.size(); ++i) {
      body += (i ? "," : "") + JsonString(anomalies[i]);
    }
    body += "],\"agent\":" + (status_json.empty() ? std::string("null") : status_json) + "}\n";
    response = Response(200, body, "application/json");
  } else {
    response = Response(404, "not found; try /healthz, /readyz, /metrics or /status\n");
  }
  if (head) response.resize(response.find("\r\n\r\n") + 4);
  return response;
}

Status HealthServer::Start(net::Ip4 ip, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::Internal("health server: socket: " + Errno(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = ip.network_order();
  std::string where = ip.ToString() + ":" + std::to_string(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Error::Unavailable("health server: bind " + where + ": " + Errno(errno));
  }
  if (::listen(fd.get(), 64) != 0) {
    return Error::Unavailable("health server: listen " + where + ": " + Errno(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) return Error::Internal("health server: eventfd: " + Errno(errno));
  listen_fd_ = std::move(fd);
  thread_ = std::thread([this] { Serve(); });
  return Status::Ok();
}

void HealthServer::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  thread_.join();
  listen_fd_.reset();
  wake_fd_.reset();
}

void HealthServer::SetReady() {
  std::lock_guard lock(mu_);
  not_ready_reason_.clear();
  ready_ = true;
}

void HealthServer::SetNotReady(std::string reason) {
  std::lock_guard lock(mu_);
  not_ready_reason_ = std::move(reason);
  ready_ = false;
}

void HealthServer::SetDetail(std::string detail) {
  std::lock_guard lock(mu_);
  detail_ = std::move(detail);
}

void HealthServer::SetStatusJson(std::string json) {
  std::lock_guard lock(mu_);
  status_json_ = std::move(json);
}

void HealthServer::SetStatusProvider(std::function<std::string()> provider) {
  std::lock_guard lock(mu_);
  status_provider_ = std::move(provider);
}

void HealthServer::SetAnomalies(std::vector<std::string> anomalies) {
  std::lock_guard lock(mu_);
  anomalies_ = std::move(anomalies);
}

void HealthServer::Serve() {
  pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
  while (true) {
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client) Answer(client.get());
    }
  }
}

void HealthServer::Answer(int client_fd) {
  // A probe sends a small request at once. One deadline for the whole read, so a slow or
  // silent client costs at most a second of this single-threaded server, not one per byte.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::string request;
  char buf[1024];
  while (request.find("\r\n") == std::string::npos && request.size() < 8192) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{client_fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    ssize_t n = ::recv(client_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  std::string reason;
  std::string detail;
  std::vector<std::string> anomalies;
  std::string status_json;
  std::function<std::string()> provider;
  bool ready = false;
  {
    std::lock_guard lock(mu_);
    ready = ready_;
    reason = not_ready_reason_;
    detail = detail_;
    anomalies = anomalies_;
    status_json = status_json_;
    provider = status_provider_;
  }
  // Only a request for /status pays for rendering it.
  if (provider) {
    const size_t sp = request.find(' ');
    if (sp != std::string::npos && request.compare(sp + 1, 7, "/status") == 0 &&
        (request.size() > sp + 8 && (request[sp + 8] == ' ' || request[sp + 8] == '?'))) {
      status_json = provider();
    }
  }
  WriteAll(client_fd, HandleRequest(
                          request, ready, reason, detail, anomalies,
                          [] { return metrics::Global().Render(); }, status_json));
}

}  // namespace tartan::http
