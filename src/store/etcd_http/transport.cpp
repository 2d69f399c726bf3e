#include "store/etcd_http/transport.hpp"

#include "common/metrics.hpp"

#include <openssl/evp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace tartan::store::etcd_http {

namespace {

// How long a call waits for a member's TCP (and TLS) connection before trying the next one.
constexpr std::chrono::milliseconds kConnectWait{1000};
// Idle keep-alive connections kept per member.
constexpr size_t kMaxIdle = 4;

}  // namespace

Result<UniqueFd> NewEventFd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return Error::Internal("eventfd failed");
  return fd;
}

void Signal(const UniqueFd& fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd.get(), &one, sizeof one);
}

std::string BasicAuthorization(std::string_view user, std::string_view password) {
  const std::string plain = std::string(user) + ":" + std::string(password);
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return "Basic " + out;
}

Result<std::shared_ptr<Transport>> Transport::Create(const ClientOptions& options) {
  auto eps = options.endpoint_list.empty() ? ParseEndpoints(options.endpoints)
                                           : Result<std::vector<Endpoint>>(options.endpoint_list);
  if (!eps) return eps.error();
  std::shared_ptr<Transport> t(new Transport());
  t->opts_ = options;
  t->eps_ = std::move(*eps);
  t->idle_.resize(t->eps_.size());
  auto fd = NewEventFd();
  if (!fd) return fd.error();
  t->shutdown_fd_ = std::move(*fd);

  if (options.cert_file.empty() != options.key_file.empty()) {
    return Error::InvalidArgument("--etcd-certfile and --etcd-keyfile must be given together");
  }
  bool any_tls = false;
  for (const Endpoint& ep : t->eps_) any_tls |= ep.tls;
  if (any_tls) {
    auto tls = http::TlsContext::Create(
        {options.ca_file, options.cert_file, options.key_file},
        {.ca = "--etcd-cafile", .cert = "--etcd-certfile", .key = "--etcd-keyfile"});
    if (!tls) return tls.error();
    t->tls_ = std::move(*tls);
  } else {
    // No TLS in use: still check the files exist, so a typo is reported at start.
    for (auto [path, flag] : {std::pair{&options.ca_file, "--etcd-cafile"},
                              std::pair{&options.cert_file, "--etcd-certfile"},
                              std::pair{&options.key_file, "--etcd-keyfile"}}) {
      if (!path->empty() && ::access(path->c_str(), R_OK) != 0) {
        return Error::InvalidArgument(std::string("cannot read ") + flag + " " + *path);
      }
    }
  }
  return t;
}

void Transport::MarkFailed(size_t idx) {
  size_t expected = idx;
  current_.compare_exchange_strong(expected, (idx + 1) % eps_.size());
  // The member's idle connections are suspect too: after the host's address changed they are
  // bound to the old one and each would wait out the whole request timeout before failing.
  std::lock_guard lock(pool_mu_);
  idle_[idx].clear();
}

std::string Transport::Where(size_t idx, std::string_view what) const {
  return "etcd " + eps_[idx].url + ": " + std::string(what);
}

std::string Transport::Describe() const {
  std::string out = "etcd ";
  for (size_t i = 0; i < eps_.size(); ++i) {
    if (i) out += ",";
    out += eps_[i].url;
  }
  return out;
}

void Transport::Shutdown() {
  {
    std::lock_guard lock(pool_mu_);
    shut_down_ = true;
    for (auto& conns : idle_) conns.clear();
  }
  Signal(shutdown_fd_);
}

std::string Transport::Serialize(size_t idx, const Request& r) const {
  std::string out;
  out.reserve(256 + r.target.size() + r.body.size());
  out += r.method + " " + r.target + " HTTP/1.1\r\nHost: " + eps_[idx].Target() + "\r\n";
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  out += r.body;
  return out;
}

std::span<const int> Transport::Cancels(int extra, int (&storage)[2]) const {
  storage[0] = shutdown_fd_.get();
  storage[1] = extra;
  return {storage, extra >= 0 ? 2u : 1u};
}

Result<http::Connection> Transport::Connect(size_t idx, Clock::time_point deadline,
                                            int extra_cancel) {
  int storage[2];
  // A member that does not accept TCP within kConnectWait is skipped; a slow TLS handshake
  // (a remote member, a loaded one) gets the rest of the call's time.
  const auto connect_deadline = std::min(deadline, Clock::now() + kConnectWait);
  const Endpoint& ep = eps_[idx];
  return http::Connection::Open(ep.host, ep.port, ep.tls ? tls_ : nullptr, connect_deadline,
                                deadline, Cancels(extra_cancel, storage));
}

std::optional<http::Connection> Transport::TakeIdle(size_t idx) {
  std::lock_guard lock(pool_mu_);
  if (idle_[idx].empty()) return std::nullopt;
  http::Connection c = std::move(idle_[idx].back());
  idle_[idx].pop_back();
  return c;
}

void Transport::PutIdle(size_t idx, http::Connection c) {
  std::lock_guard lock(pool_mu_);
  if (idle_[idx].size() < kMaxIdle && !shut_down_) idle_[idx].push_back(std::move(c));
}

// Reads one whole response from `c` into `parser`/`body`. `extra` is set when the member
// sent bytes past the response's end: the connection's framing is then unknown.
Status Transport::ReadResponse(http::Connection& c, http::ResponseParser& parser, std::string& body,
                               http::Deadline deadline, int extra_cancel, bool& extra) {
  int storage[2];
  char buf[16384];
  while (!parser.done()) {
    auto n = c.Read(buf, sizeof buf, deadline, Cancels(extra_cancel, storage));
    if (!n) return n.error();
    if (*n == 0) {
      if (auto s = parser.FeedEof(c.clean_close()); !s) return s;
      break;
    }
    auto used = parser.Feed(std::string_view(buf, *n), body);
    if (!used) return used.error();
    if (*used < *n) extra = true;
  }
  return Status::Ok();
}

Result<Reply> Transport::Exchange(size_t idx, const std::string& request, http::Deadline deadline,
                                  int extra_cancel, bool* maybe_sent, Idempotent idempotent) {
  auto failed = [&](Error e, bool sent) -> Result<Reply> {
    if (maybe_sent) *maybe_sent = sent;
    return e;
  };
  // Connecting and sending are bounded even for a long-poll without a deadline.
  const Clock::time_point setup_deadline =
      deadline ? *deadline : Clock::now() + opts_.request_timeout;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // A request that changes etcd goes on a fresh connection: on a reused one, a failure before
    // the reply cannot tell "closed while idle" from "received, then the member went away",
    // and repeating it could apply it twice (a second lease, our own create failing).
    std::optional<http::Connection> conn =
        attempt == 0 && idempotent == Idempotent::kYes ? TakeIdle(idx) : std::nullopt;
    const bool reused = conn.has_value();
    if (!conn) {
      auto c = Connect(idx, setup_deadline, extra_cancel);
      if (!c) return failed(c.error(), false);
      conn.emplace(std::move(*c));
    }
    auto closed_while_idle = [&](const Error& e, bool reply_started) {
      return reused && !reply_started && e.code == Error::Code::kUnavailable &&
             (!deadline || Clock::now() < *deadline);
    };
    int storage[2];
    if (auto s = conn->WriteAll(request, setup_deadline, Cancels(extra_cancel, storage)); !s) {
      if (closed_while_idle(s.error(), false)) continue;
      return failed(s.error(), true);
    }
    http::ResponseParser parser({.max_body = kMaxBody});
    Reply reply;
    bool extra = false;
    if (auto s = ReadResponse(*conn, parser, reply.body, deadline, extra_cancel, extra); !s) {
      if (closed_while_idle(s.error(), parser.started())) continue;
      return failed(s.error(), true);
    }
    reply.head = parser.head();
    if (parser.keep_alive() && !extra) PutIdle(idx, std::move(*conn));
    return reply;
  }
  return failed(Error::Unavailable("connection closed before a response"), true);
}

Result<Answer> Transport::Call(const CallSpec& spec) {
  const char* what = spec.what;
  std::string failures;
  const size_t n = eps_.size();
  const size_t start = current_.load();
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (start + i) % n;
    if (shut_down_) return Error::Cancelled(std::string("etcd ") + what + ": stopping");
    for (int attempt = 0;; ++attempt) {
      auto request = spec.prepare(idx);
      if (!request) {
        if (request.error().code == Error::Code::kCancelled) {
          return Error::Cancelled(Where(idx, what) + ": stopping");
        }
        if (request.error().code != Error::Code::kUnavailable) return request.error();
        failures += "; " + request.error().message;
        MarkFailed(idx);
        break;
      }
      bool maybe_sent = false;
      auto reply = Exchange(idx, *request, Clock::now() + opts_.request_timeout, -1, &maybe_sent,
                            spec.idempotent);
      if (shut_down_ || (!reply && reply.error().code == Error::Code::kCancelled)) {
        return Error::Cancelled(Where(idx, what) + ": stopping");
      }
      metrics::Tartan()
          .etcd_requests.CounterWith({eps_[idx].url, reply ? "answered" : "failed"})
          .Inc();
      if (!reply) {
        const std::string m = Where(idx, what) + ": " + reply.error().message + " (UNAVAILABLE)";
        MarkFailed(idx);
        if (spec.idempotent == Idempotent::kNo && maybe_sent) {
          return Error::Unavailable(m +
                                    "; not repeated on another member, as it may have "
                                    "been applied");
        }
        failures += "; " + m;
        break;
      }
      Verdict v = spec.judge(idx, *reply, attempt);
      if (v.kind == Verdict::Kind::kAnswer) {
        current_.store(idx);
        return Answer{std::move(*reply), idx};
      }
      if (v.kind == Verdict::Kind::kRetry) continue;
      if (v.kind == Verdict::Kind::kFail) return v.error;
      MarkFailed(idx);
      if (spec.idempotent == Idempotent::kNo && !v.not_applied) return v.error;
      failures += "; " + v.failure;
      break;
    }
  }
  std::string hint;
  if (opts_.cert_file.empty()) {
    for (const Endpoint& ep : eps_) {
      if (ep.tls) {
        hint =
            " (if etcd requires client certificates (--client-cert-auth), give "
            "--etcd-certfile and --etcd-keyfile)";
        break;
      }
    }
  }
  return Error::Unavailable(std::string("no etcd endpoint answered ") + what + failures + hint);
}

}  // namespace tartan::store::etcd_http
