#include "store/etcd3/client.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "common/unique_fd.hpp"
#include "http/client_connection.hpp"
#include "http/response_parser.hpp"
#include "store/etcd3/gateway.hpp"

namespace tartan::store::etcd3 {

namespace gw = gateway;
using http::Clock;

namespace {

// How long a call waits for a member's TCP (and TLS) connection before trying the next one.
constexpr std::chrono::milliseconds kConnectWait{1000};
// Idle keep-alive connections kept per member.
constexpr size_t kMaxIdle = 4;
// A listing of thousands of leases is a few MiB; anything near this is not etcd talking.
constexpr uint64_t kMaxBody = 256ull << 20;

std::string Text(const gw::RpcError& e) { return e.message + " (" + gw::RpcCodeName(e.code) + ")"; }

// Worth trying another member: this one is down, partitioned, without a leader, or slow.
bool TryElsewhere(const gw::RpcError& e) {
  return e.code == gw::kUnavailable || e.code == gw::kDeadlineExceeded;
}

// etcd answers an expired or unknown simple/JWT token with Unauthenticated ("invalid auth
// token"), and a token minted before an auth change with "auth store is old"; both are cured
// by authenticating again.
bool TokenRejected(const gw::RpcError& e) {
  return e.code == gw::kUnauthenticated ||
         e.message.find("invalid auth token") != std::string::npos ||
         e.message.find("revision of auth store is old") != std::string::npos;
}

Error ToError(const std::string& where, const gw::RpcError& e) {
  const std::string m = where + ": " + Text(e);
  // etcd reports bad credentials and a missing user as InvalidArgument; to an operator they
  // are a permission problem, not a malformed request.
  if (e.message.find("authentication failed") != std::string::npos ||
      e.message.find("user name is empty") != std::string::npos ||
      e.message.find("permission denied") != std::string::npos) {
    return Error::PermissionDenied(m);
  }
  switch (e.code) {
    case gw::kUnavailable:
    case gw::kDeadlineExceeded:
    case gw::kAborted:
    case gw::kResourceExhausted:
      return Error::Unavailable(m);
    case gw::kUnauthenticated:
    case gw::kPermissionDenied:
      return Error::PermissionDenied(m);
    case gw::kInvalidArgument:
      return Error::InvalidArgument(m);
    case gw::kNotFound:
      return Error::NotFound(m);
    case gw::kOutOfRange:
    case gw::kFailedPrecondition:
      return Error::FailedPrecondition(m);
    case gw::kCancelled:
      return Error::Cancelled(m);
    default:
      return Error::Internal(m);
  }
}

// etcd 3.4's gateway reaches etcd's own gRPC service over TLS presenting the server's
// certificate as a client certificate; with --client-cert-auth and a server certificate
// without the clientAuth extended key usage, that internal hop is refused, and every gateway
// call fails with a gRPC transport error ("connection closed", "connection error: ...") rather
// than one of etcd's own ("etcdserver: ..."). Says so, since nothing else would.
std::string GatewayHint(const Endpoint& ep, const gw::RpcError& e) {
  if (!ep.tls || e.code != gw::kUnavailable || e.message.starts_with("etcdserver")) return "";
  return " [etcd's v3 gateway could not reach etcd's own gRPC service; with --client-cert-auth, "
         "etcd < 3.5 presents its server certificate to itself as a client certificate, so that "
         "certificate needs the clientAuth extended key usage (cfssl's \"peer\" profile and "
         "kubeadm issue it so)]";
}

// An error answer: etcd's {"error","code","message"} body, or for a body that is not one (a
// proxy, an etcd without the gateway), what the HTTP status says.
gw::RpcError ReplyError(int status, const std::string& body) {
  gw::RpcError e = gw::ParseError(body, status);
  if (status == 404 && e.message.starts_with("HTTP status")) {
    e.code = gw::kUnimplemented;
    e.message =
        "HTTP 404: this server does not serve etcd's v3 JSON gateway at /v3/ (tartan needs etcd "
        ">= 3.4 with --enable-grpc-gateway, the default)";
  }
  return e;
}

Result<UniqueFd> NewEventFd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return Error::Internal("eventfd failed");
  return fd;
}

void Signal(const UniqueFd& fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd.get(), &one, sizeof one);
}

std::string Request(const Endpoint& ep, const std::string& path, const std::string& body,
                    const std::string& token, bool has_leader) {
  std::string r;
  r.reserve(256 + body.size());
  r += "POST " + path + " HTTP/1.1\r\nHost: " + ep.Target() +
       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n";
  if (!token.empty()) r += "Authorization: " + token + "\r\n";
  // Makes a member that lost its leader cancel a watch instead of going silent, so we move on
  // to a member that still sees updates (the gateway passes Grpc-Metadata-* on as metadata).
  if (has_leader) r += "Grpc-Metadata-hasleader: true\r\n";
  r += "\r\n";
  r += body;
  return r;
}

struct Reply {
  int status = 0;
  std::string body;
};

// A request that changes etcd. If it may have reached a member, repeating it elsewhere can
// apply it twice (a second lease granted, our own create-if-absent failing its condition): it
// fails over only when it certainly did not arrive. Reads are repeated freely.
enum class Idempotent { kYes, kNo };

// etcd's own errors that guarantee the request was not applied.
bool NotApplied(const gw::RpcError& e) {
  return e.message.find("no leader") != std::string::npos ||
         e.message.find("not capable") != std::string::npos;
}

}  // namespace

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" means every key
}

struct Client::Impl {
  ClientOptions opts;
  std::vector<Endpoint> eps;
  std::shared_ptr<http::TlsContext> tls;  // set when some endpoint is https://
  std::atomic<size_t> current{0};
  std::mutex auth_mu;
  std::string token;  // guarded by auth_mu; empty: authenticate before the next call

  // Signalled once by Shutdown(); every wait of every call polls it, so a stop is never held
  // by a request to an unreachable member.
  UniqueFd shutdown_fd;
  std::atomic<bool> shut_down{false};

  std::mutex pool_mu;
  std::vector<std::vector<http::Connection>> idle;  // per endpoint; guarded by pool_mu

  std::string Where(size_t idx, const char* what) const {
    return "etcd " + eps[idx].url + ": " + what;
  }

  void MarkFailed(size_t idx) {
    size_t expected = idx;
    current.compare_exchange_strong(expected, (idx + 1) % eps.size());
  }

  void DropToken(const std::string& rejected) {
    std::lock_guard lock(auth_mu);
    if (token == rejected) token.clear();
  }

  std::span<const int> Cancels(int extra, int (&storage)[2]) const {
    storage[0] = shutdown_fd.get();
    storage[1] = extra;
    return {storage, extra >= 0 ? 2u : 1u};
  }

  Result<http::Connection> Connect(size_t idx, Clock::time_point deadline, int extra_cancel) {
    int storage[2];
    // A member that does not accept TCP within kConnectWait is skipped; a slow TLS handshake
    // (a remote member, a loaded one) gets the rest of the call's time.
    const auto connect_deadline = std::min(deadline, Clock::now() + kConnectWait);
    const Endpoint& ep = eps[idx];
    auto c = http::Connection::Open(ep.host, ep.port, ep.tls ? tls : nullptr, connect_deadline,
                                    deadline, Cancels(extra_cancel, storage));
    return c;
  }

  std::optional<http::Connection> TakeIdle(size_t idx) {
    std::lock_guard lock(pool_mu);
    if (idle[idx].empty()) return std::nullopt;
    http::Connection c = std::move(idle[idx].back());
    idle[idx].pop_back();
    return c;
  }

  void PutIdle(size_t idx, http::Connection c) {
    std::lock_guard lock(pool_mu);
    if (idle[idx].size() < kMaxIdle && !shut_down) idle[idx].push_back(std::move(c));
  }

  // Reads one whole response from `c` into `parser`/`body`. `extra` is set when the member
  // sent bytes past the response's end: the connection's framing is then unknown.
  Status ReadResponse(http::Connection& c, http::ResponseParser& parser, std::string& body,
                      Clock::time_point deadline, bool& extra) {
    int storage[2];
    char buf[16384];
    while (!parser.done()) {
      auto n = c.Read(buf, sizeof buf, deadline, Cancels(-1, storage));
      if (!n) return n.error();
      if (*n == 0) {
        if (auto s = parser.FeedEof(); !s) return s;
        break;
      }
      auto used = parser.Feed(std::string_view(buf, *n), body);
      if (!used) return used.error();
      if (*used < *n) extra = true;
    }
    return Status::Ok();
  }

  // One POST to member `idx`, on an idle keep-alive connection when there is one. A reused
  // connection that the member closed while it was idle fails before any reply byte: that one
  // attempt is repeated on a fresh connection (not after a timeout: the member may be busy
  // with the request).
  // On failure, `maybe_sent` tells whether the request may have reached the member.
  Result<Reply> Exchange(size_t idx, const std::string& path, const std::string& body,
                         const std::string& tok, Clock::time_point deadline,
                         bool* maybe_sent = nullptr) {
    auto failed = [&](Error e, bool sent) -> Result<Reply> {
      if (maybe_sent) *maybe_sent = sent;
      return e;
    };
    const std::string request = Request(eps[idx], path, body, tok, /*has_leader=*/false);
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::optional<http::Connection> conn = attempt == 0 ? TakeIdle(idx) : std::nullopt;
      const bool reused = conn.has_value();
      if (!conn) {
        auto c = Connect(idx, deadline, -1);
        if (!c) return failed(c.error(), false);
        conn.emplace(std::move(*c));
      }
      auto closed_while_idle = [&](const Error& e, bool reply_started) {
        return reused && !reply_started && e.code == Error::Code::kUnavailable &&
               Clock::now() < deadline;
      };
      int storage[2];
      if (auto s = conn->WriteAll(request, deadline, Cancels(-1, storage)); !s) {
        if (closed_while_idle(s.error(), false)) continue;
        return failed(s.error(), true);
      }
      http::ResponseParser parser({.max_body = kMaxBody});
      Reply reply;
      bool extra = false;
      if (auto s = ReadResponse(*conn, parser, reply.body, deadline, extra); !s) {
        if (closed_while_idle(s.error(), parser.started())) continue;
        return failed(s.error(), true);
      }
      reply.status = parser.head().status;
      if (parser.keep_alive() && !extra) PutIdle(idx, std::move(*conn));
      return reply;
    }
    return failed(Error::Unavailable("connection closed before a response"), true);
  }

  // The token to send; authenticates first when there is none. "" when auth is off.
  Result<std::string> Token(size_t idx) {
    if (opts.username.empty()) return std::string();
    std::lock_guard lock(auth_mu);
    if (!token.empty()) return token;
    const std::string where = Where(idx, "authenticating as user \"") + opts.username + "\"";
    auto reply = Exchange(idx, "/v3/auth/authenticate",
                          gw::AuthenticateRequest(opts.username, opts.password), "",
                          Clock::now() + opts.request_timeout);
    if (!reply) {
      Error e = reply.error();
      e.message = where + ": " + e.message;
      return e;
    }
    if (reply->status != 200) return ToError(where, ReplyError(reply->status, reply->body));
    auto tok = gw::ParseAuthToken(reply->body);
    if (!tok) return Error::Unavailable(where + ": " + tok.error().message);
    token = *tok;
    return token;
  }

  struct Answer {
    std::string body;
    size_t idx = 0;  // the member that answered
  };

  // POSTs `body` to `path` on the current member, moving on to the next one while members are
  // unreachable (for a non-idempotent request, only while it certainly did not arrive).
  // Returns the first definitive answer, or kUnavailable naming every member tried.
  Result<Answer> Call(const char* what, const std::string& path, const std::string& body,
                      Idempotent idempotent = Idempotent::kYes) {
    std::string failures;
    const size_t n = eps.size();
    const size_t start = current.load();
    for (size_t i = 0; i < n; ++i) {
      const size_t idx = (start + i) % n;
      if (shut_down) return Error::Cancelled(std::string("etcd ") + what + ": stopping");
      for (int auth_try = 0;; ++auth_try) {
        auto tok = Token(idx);
        if (!tok) {
          if (tok.error().code == Error::Code::kCancelled) {
            return Error::Cancelled(Where(idx, what) + ": stopping");
          }
          if (tok.error().code != Error::Code::kUnavailable) return tok.error();
          failures += "; " + tok.error().message;
          MarkFailed(idx);
          break;
        }
        bool maybe_sent = false;
        auto reply =
            Exchange(idx, path, body, *tok, Clock::now() + opts.request_timeout, &maybe_sent);
        if (shut_down || (!reply && reply.error().code == Error::Code::kCancelled)) {
          return Error::Cancelled(Where(idx, what) + ": stopping");
        }
        if (!reply) {
          const std::string m = Where(idx, what) + ": " + reply.error().message + " (UNAVAILABLE)";
          MarkFailed(idx);
          if (idempotent == Idempotent::kNo && maybe_sent) {
            return Error::Unavailable(m +
                                      "; not repeated on another member, as it may have "
                                      "been applied");
          }
          failures += "; " + m;
          break;
        }
        if (reply->status == 200) {
          current.store(idx);
          return Answer{std::move(reply->body), idx};
        }
        const gw::RpcError e = ReplyError(reply->status, reply->body);
        if (!tok->empty() && auth_try == 0 && TokenRejected(e)) {
          DropToken(*tok);
          continue;
        }
        if (!TryElsewhere(e)) return ToError(Where(idx, what), e);
        MarkFailed(idx);
        if (idempotent == Idempotent::kNo && !NotApplied(e)) {
          return ToError(Where(idx, what), e);  // "request timed out", "leader changed": maybe
        }
        failures += "; " + Where(idx, what) + ": " + Text(e) + GatewayHint(eps[idx], e);
        break;
      }
    }
    std::string hint;
    if (opts.cert_file.empty()) {
      for (const Endpoint& ep : eps) {
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

  // A body that does not decode is reported as the answering member's fault.
  template <typename T>
  Result<T> Decode(const char* what, size_t idx, Result<T> decoded) {
    if (!decoded) return Error::Unavailable(Where(idx, what) + ": " + decoded.error().message);
    return decoded;
  }

  void Shutdown() {
    {
      std::lock_guard lock(pool_mu);
      shut_down = true;
      for (auto& conns : idle) conns.clear();
    }
    Signal(shutdown_fd);
  }
};

namespace {

class EtcdWatch : public RegistryWatch {
 public:
  EtcdWatch(std::shared_ptr<Client::Impl> impl, size_t idx, std::string token, UniqueFd cancel)
      : impl_(std::move(impl)),
        idx_(idx),
        token_(std::move(token)),
        cancel_fd_(std::move(cancel)) {}

  ~EtcdWatch() override { Cancel(); }

  Status Start(const std::string& prefix, int64_t start_revision) {
    const auto deadline = Clock::now() + impl_->opts.request_timeout;
    auto c = impl_->Connect(idx_, deadline, cancel_fd_.get());
    if (!c) return Broken("watch: " + c.error().message, c.error().code);
    conn_.emplace(std::move(*c));
    const std::string request =
        Request(impl_->eps[idx_], "/v3/watch",
                gw::WatchCreateRequest(prefix, PrefixRangeEnd(prefix), start_revision), token_,
                /*has_leader=*/true);
    int storage[2];
    if (auto s = conn_->WriteAll(request, deadline, impl_->Cancels(cancel_fd_.get(), storage));
        !s) {
      return Broken("starting watch: " + s.error().message, s.error().code);
    }
    // The head arrives with the "created" message, at once.
    while (!parser_.head_done()) {
      if (auto s = ReadMore(deadline); !s)
        return Broken("starting watch: " + s.error().message, s.error().code);
    }
    if (parser_.head().status != 200) {
      while (!parser_.done()) {
        if (auto s = ReadMore(deadline); !s) break;
      }
      const gw::RpcError e = ReplyError(parser_.head().status, body_);
      if (!token_.empty() && TokenRejected(e)) impl_->DropToken(token_);
      impl_->MarkFailed(idx_);
      Error err = ToError(Where("watch"), e);
      if (err.code != Error::Code::kPermissionDenied) err.code = Error::Code::kUnavailable;
      return err;
    }
    return Status::Ok();
  }

  Result<WatchBatch> Next() override {
    while (true) {
      if (cancelled_ || impl_->shut_down) {
        return Error::Cancelled(Where("watch") + " (cancelled)");
      }
      auto next = gw::NextStreamMessage(body_, scanned_, parser_.done());
      if (!next) {
        if (body_.size() > kMaxBody) {
          return Broken("watch: a message larger than " + std::to_string(kMaxBody) + " bytes",
                        Error::Code::kUnavailable)
              .error();
        }
        if (parser_.done()) {
          return Broken("watch: stream closed by server", Error::Code::kUnavailable).error();
        }
        if (auto s = ReadMore(std::nullopt); !s) {
          return Broken("watch: " + s.error().message, s.error().code).error();
        }
        continue;
      }
      const std::string& line = *next;
      auto msg = gw::ParseWatchMessage(line);
      if (!msg) {
        return Broken("watch: " + msg.error().message, Error::Code::kUnavailable).error();
      }
      if (msg->error) {
        if (!token_.empty() && TokenRejected(*msg->error)) impl_->DropToken(token_);
        Error e = ToError(Where("watch"), *msg->error);
        if (e.code != Error::Code::kPermissionDenied) e.code = Error::Code::kUnavailable;
        impl_->MarkFailed(idx_);
        return e;
      }
      if (msg->compact_revision > 0) {
        WatchBatch b;
        b.compact_revision = msg->compact_revision;
        return b;
      }
      if (msg->canceled) {
        impl_->MarkFailed(idx_);
        const gw::RpcError e{gw::kUnavailable, "watch cancelled by server: " + msg->cancel_reason};
        if (!token_.empty() && TokenRejected(e)) impl_->DropToken(token_);
        Error err = ToError(Where("watch"), e);
        if (msg->cancel_reason.find("permission denied") != std::string::npos) {
          err.code = Error::Code::kPermissionDenied;
        }
        return err;
      }
      if (msg->events.empty()) continue;  // "created" or a progress notification
      WatchBatch b;
      for (auto& ev : msg->events) {
        b.revision = std::max(b.revision, ev.kv.mod_revision);
        b.events.push_back(std::move(ev));
      }
      return b;
    }
  }

  void Cancel() override {
    cancelled_ = true;
    Signal(cancel_fd_);
  }

 private:
  std::string Where(const char* what) const { return impl_->Where(idx_, what); }

  Status ReadMore(http::Deadline deadline) {
    int storage[2];
    char buf[16384];
    auto n = conn_->Read(buf, sizeof buf, deadline, impl_->Cancels(cancel_fd_.get(), storage));
    if (!n) return n.error();
    if (*n == 0) return parser_.FeedEof();
    auto used = parser_.Feed(std::string_view(buf, *n), body_);
    if (!used) return used.error();
    return Status::Ok();
  }

  Status Broken(const std::string& what, Error::Code code) {
    const std::string where = "etcd " + impl_->eps[idx_].url + ": " + what;
    if (cancelled_ || impl_->shut_down || code == Error::Code::kCancelled) {
      return Error::Cancelled(where + " (cancelled)");
    }
    impl_->MarkFailed(idx_);
    // Whatever ended the stream, the cure is a new watch (possibly elsewhere), with backoff.
    return Error::Unavailable(where);
  }

  std::shared_ptr<Client::Impl> impl_;
  size_t idx_;
  std::string token_;
  UniqueFd cancel_fd_;
  std::optional<http::Connection> conn_;
  http::ResponseParser parser_{{.max_body = ~0ull}};  // a stream: messages are consumed
  std::string body_;                                  // decoded bytes not yet consumed as messages
  size_t scanned_ = 0;                                // body_ has no newline before this offset
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::shared_ptr<Client>> Client::Create(const ClientOptions& options) {
  auto eps = ParseEndpoints(options.endpoints);
  if (!eps) return eps.error();
  auto impl = std::make_shared<Impl>();
  impl->opts = options;
  impl->eps = std::move(*eps);
  impl->idle.resize(impl->eps.size());
  auto fd = NewEventFd();
  if (!fd) return fd.error();
  impl->shutdown_fd = std::move(*fd);

  if (options.cert_file.empty() != options.key_file.empty()) {
    return Error::InvalidArgument("--etcd-certfile and --etcd-keyfile must be given together");
  }
  bool any_tls = false;
  for (const Endpoint& ep : impl->eps) any_tls |= ep.tls;
  if (any_tls) {
    auto tls = http::TlsContext::Create(
        {options.ca_file, options.cert_file, options.key_file},
        {.ca = "--etcd-cafile", .cert = "--etcd-certfile", .key = "--etcd-keyfile"});
    if (!tls) return tls.error();
    impl->tls = std::move(*tls);
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
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::string Client::Describe() const {
  std::string out = "etcd ";
  for (size_t i = 0; i < impl_->eps.size(); ++i) {
    if (i) out += ",";
    out += impl_->eps[i].url;
  }
  return out;
}

std::string Client::CurrentEndpoint() const {
  return impl_->eps[impl_->current.load() % impl_->eps.size()].url;
}

Result<std::optional<KeyValue>> Client::Get(const std::string& key) {
  auto a = impl_->Call("get", "/v3/kv/range", gw::RangeRequest(key));
  if (!a) return a.error();
  auto r = impl_->Decode("get", a->idx, gw::ParseRange(a->body));
  if (!r) return r.error();
  if (r->kvs.empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(std::move(r->kvs.front()));
}

Result<RangeResult> Client::List(const std::string& prefix) {
  auto a = impl_->Call("list", "/v3/kv/range", gw::RangeRequest(prefix, PrefixRangeEnd(prefix)));
  if (!a) return a.error();
  auto r = impl_->Decode("list", a->idx, gw::ParseRange(a->body));
  if (!r) return r.error();
  return RangeResult{std::move(r->kvs), r->revision};
}

Result<LeaseGrant> Client::GrantLease(std::chrono::seconds ttl) {
  auto a = impl_->Call("lease grant", "/v3/lease/grant", gw::LeaseGrantRequest(ttl.count()),
                       Idempotent::kNo);
  if (!a) return a.error();
  auto r = impl_->Decode("lease grant", a->idx, gw::ParseLease(a->body));
  if (!r) return r.error();
  if (!r->error.empty()) return Error::Internal("etcd lease grant: " + r->error);
  return LeaseGrant{r->id, std::chrono::seconds(r->ttl)};
}

Status Client::RevokeLease(int64_t id) {
  auto a = impl_->Call("lease revoke", "/v3/lease/revoke", gw::LeaseIdRequest(id));
  if (!a && a.error().code == Error::Code::kNotFound) return Status::Ok();
  if (!a) return a.error();
  return Status::Ok();
}

Result<std::chrono::seconds> Client::KeepAlive(int64_t id) {
  // The gateway turns one request body into a one-message keepalive stream: the reply is that
  // message, then the stream ends.
  auto a = impl_->Call("lease keepalive", "/v3/lease/keepalive", gw::LeaseIdRequest(id));
  if (!a) return a.error();
  auto r = impl_->Decode("lease keepalive", a->idx, gw::ParseLease(a->body));
  if (!r) return r.error();
  if (r->ttl <= 0) {
    return Error::NotFound(impl_->Where(a->idx, "lease keepalive") + ": lease " +
                           std::to_string(id) + " has expired or was revoked");
  }
  return std::chrono::seconds(r->ttl);
}

Result<std::chrono::seconds> Client::TimeToLive(int64_t id) {
  auto a = impl_->Call("lease ttl", "/v3/lease/timetolive", gw::LeaseIdRequest(id));
  if (!a) return a.error();
  auto r = impl_->Decode("lease ttl", a->idx, gw::ParseLease(a->body));
  if (!r) return r.error();
  if (r->ttl <= 0) {
    return Error::NotFound("etcd lease " + std::to_string(id) + " has expired or was revoked");
  }
  return std::chrono::seconds(r->ttl);
}

Result<std::optional<int64_t>> Client::PutIf(const std::string& key, const std::string& value,
                                             int64_t lease, int64_t expected_mod_revision) {
  auto a = impl_->Call("conditional put", "/v3/kv/txn",
                       gw::PutIfRequest(key, value, lease, expected_mod_revision), Idempotent::kNo);
  if (!a) return a.error();
  auto r = impl_->Decode("conditional put", a->idx, gw::ParseTxn(a->body));
  if (!r) return r.error();
  if (!r->succeeded) return std::optional<int64_t>();
  return std::optional<int64_t>(r->revision);
}

Result<int64_t> Client::Put(const std::string& key, const std::string& value, int64_t lease) {
  auto a = impl_->Call("put", "/v3/kv/put", gw::PutRequest(key, value, lease));
  if (!a) return a.error();
  return impl_->Decode("put", a->idx, gw::ParseRevision(a->body));
}

Result<int64_t> Client::Delete(const std::string& key, bool prefix) {
  auto a = impl_->Call("delete", "/v3/kv/deleterange",
                       gw::DeleteRangeRequest(key, prefix ? PrefixRangeEnd(key) : ""));
  if (!a) return a.error();
  return impl_->Decode("delete", a->idx, gw::ParseRevision(a->body));
}

Status Client::Compact(int64_t revision) {
  auto a = impl_->Call("compact", "/v3/kv/compaction", gw::CompactionRequest(revision));
  if (!a) return a.error();
  return Status::Ok();
}

void Client::Shutdown() { impl_->Shutdown(); }

Result<std::unique_ptr<RegistryWatch>> Client::Watch(const std::string& prefix,
                                                     int64_t start_revision) {
  const size_t idx = impl_->current.load() % impl_->eps.size();
  if (impl_->shut_down) return Error::Cancelled(impl_->Where(idx, "watch") + ": stopping");
  auto tok = impl_->Token(idx);
  if (!tok) {
    impl_->MarkFailed(idx);
    return tok.error();
  }
  auto cancel = NewEventFd();
  if (!cancel) return cancel.error();
  auto watch = std::make_unique<EtcdWatch>(impl_, idx, *tok, std::move(*cancel));
  if (auto s = watch->Start(prefix, start_revision); !s) return s.error();
  return std::unique_ptr<RegistryWatch>(std::move(watch));
}

}  // namespace tartan::store::etcd3
