// For unit tests only: a scripted HTTP/1.1 server on 127.0.0.1 (an ephemeral port), in
// process, so the transport's connection handling can be tested without etcd. Each request
// (head and a Content-Length body) goes to a handler that answers with bytes, closes the
// connection without answering, or holds it open until the server stops.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace tartan::store::etcd_http::testing {

struct Script {
  enum class Action { kReply, kClose, kHang };
  Action action = Action::kReply;
  std::string bytes;  // kReply: written as is

  static Script Reply(int status, const std::string& body) {
    return {Action::kReply, "HTTP/1.1 " + std::to_string(status) +
                                " X\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body};
  }
  static Script Close() { return {Action::kClose, {}}; }
  static Script Hang() { return {Action::kHang, {}}; }
};

class LoopbackServer {
 public:
  // The handler sees the whole request (head and body) and may be called from several
  // connection threads at once.
  explicit LoopbackServer(std::function<Script(const std::string& request)> handler)
      : handler_(std::move(handler)) {
    listen_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (!listen_ || ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_.get(), 16) != 0 ||
        ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::abort();
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~LoopbackServer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    ::shutdown(listen_.get(), SHUT_RDWR);
    acceptor_.join();
    for (auto& t : conns_) t.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }

 private:
  void AcceptLoop() {
    while (true) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) < 0) return;
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
      }
      if ((p.revents & POLLIN) == 0) continue;
      UniqueFd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      ++connections_;
      conns_.emplace_back([this, fd = std::move(c)]() mutable { Serve(std::move(fd)); });
    }
  }

  // Reads one request; false at end of stream.
  bool ReadRequest(int fd, std::string& buf, std::string& request) {
    while (true) {
      const size_t end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        const size_t cl = buf.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::stoul(buf.substr(cl + 16));
        if (buf.size() >= end + 4 + length) {
          request = buf.substr(0, end + 4 + length);
          buf.erase(0, end + 4 + length);
          return true;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) < 0) return false;
      {
        std::lock_guard lock(mu_);
        if (stop_) return false;
      }
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char tmp[4096];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
  }

  void Serve(UniqueFd fd) {
    std::string buf, request;
    while (ReadRequest(fd.get(), buf, request)) {
      Script s = handler_(request);
      if (s.action == Script::Action::kClose) return;
      if (s.action == Script::Action::kHang) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_; });
        return;
      }
      if (::send(fd.get(), s.bytes.data(), s.bytes.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(s.bytes.size())) {
        return;
      }
    }
  }

  std::function<Script(const std::string&)> handler_;
  UniqueFd listen_;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // touched by the acceptor thread, joined after it
};

}  // namespace tartan::store::etcd_http::testing
