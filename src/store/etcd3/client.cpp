#include "store/etcd3/client.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "common/unique_fd.hpp"
#include "http/client_connection.hpp"
#include "http/response_parser.hpp"
#include "store/etcd3/gateway.hpp"
#include "store/etcd_http/transport.hpp"

namespace tartan::store::etcd3 {

namespace gw = gateway;
using etcd_http::Clock;
using etcd_http::Idempotent;
using etcd_http::kMaxBody;
using etcd_http::NewEventFd;
using etcd_http::Signal;

namespace {

// Stream buffer capacity kept between messages.
constexpr size_t kKeepBuffer = size_t{64} * 1024;

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
  std::shared_ptr<etcd_http::Transport> net;
  // The token and the one authentication in flight. No lock is held across network I/O: the
  // caller that finds no token authenticates with auth_mu released, concurrent callers wait
  // on auth_cv for that attempt's outcome (one authentication, however many callers), and
  // DropToken from a watch thread never waits on a member's reply.
  std::mutex auth_mu;
  std::condition_variable auth_cv;
  std::string token;            // guarded by auth_mu; empty: authenticate before the next call
  bool auth_in_flight = false;  // guarded by auth_mu
  uint64_t auth_round = 0;      // guarded by auth_mu; counts finished authentications
  size_t auth_idx = 0;          // guarded by auth_mu; the member the last round asked
  Error auth_error;             // guarded by auth_mu; the last round's failure

  const ClientOptions& opts() const { return net->options(); }

  std::string Where(size_t idx, const char* what) const { return net->Where(idx, what); }

  void DropToken(const std::string& rejected) {
    std::lock_guard lock(auth_mu);
    if (token == rejected) token.clear();
  }

  // The token to send; authenticates first when there is none. "" when auth is off.
  Result<std::string> Token(size_t idx) {
    if (opts().username.empty()) return std::string();
    std::unique_lock lock(auth_mu);
    while (true) {
      if (!token.empty()) return token;
      if (!auth_in_flight) break;
      // Another caller is authenticating: its outcome is ours. Its failure is ours only when it
      // asked the same member; otherwise this caller tries its own member.
      const uint64_t round = auth_round;
      auth_cv.wait(lock, [&] { return auth_round != round; });
      if (token.empty() && auth_idx == idx) return auth_error;
    }
    auth_in_flight = true;
    lock.unlock();
    Result<std::string> got = Authenticate(idx);
    lock.lock();
    auth_in_flight = false;
    ++auth_round;
    auth_idx = idx;
    if (got) {
      token = *got;
    } else {
      auth_error = got.error();
    }
    auth_cv.notify_all();
    return got;
  }

  // One authentication request; no lock held.
  Result<std::string> Authenticate(size_t idx) {
    const std::string where = Where(idx, "authenticating as user \"") + opts().username + "\"";
    auto reply = net->Exchange(
        idx,
        net->Serialize(idx, Post("/v3/auth/authenticate",
                                 gw::AuthenticateRequest(opts().username, opts().password), "",
                                 /*has_leader=*/false)),
        Clock::now() + opts().request_timeout);
    if (!reply) {
      Error e = reply.error();
      e.message = where + ": " + e.message;
      return e;
    }
    if (reply->status() != 200) return ToError(where, ReplyError(reply->status(), reply->body));
    auto tok = gw::ParseAuthToken(reply->body);
    if (!tok) return Error::Unavailable(where + ": " + tok.error().message);
    return *tok;
  }

  static etcd_http::Request Post(const std::string& path, std::string body, const std::string& tok,
                                 bool has_leader) {
    etcd_http::Request r;
    r.method = "POST";
    r.target = path;
    r.content_type = "application/json";
    r.body = std::move(body);
    if (!tok.empty()) r.headers.emplace_back("Authorization", tok);
    // Makes a member that lost its leader cancel a watch instead of going silent, so we move on
    // to a member that still sees updates (the gateway passes Grpc-Metadata-* on as metadata).
    if (has_leader) r.headers.emplace_back("Grpc-Metadata-hasleader", "true");
    return r;
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
    std::string tok;
    etcd_http::CallSpec spec;
    spec.what = what;
    spec.idempotent = idempotent;
    spec.prepare = [&](size_t idx) -> Result<std::string> {
      auto t = Token(idx);
      if (!t) return t.error();
      tok = *t;
      return net->Serialize(idx, Post(path, body, tok, /*has_leader=*/false));
    };
    spec.judge = [&](size_t idx, const etcd_http::Reply& reply, int attempt) {
      if (reply.status() == 200) return etcd_http::Verdict::Answer();
      const gw::RpcError e = ReplyError(reply.status(), reply.body);
      if (!tok.empty() && attempt == 0 && TokenRejected(e)) {
        DropToken(tok);
        return etcd_http::Verdict::Retry();
      }
      if (!TryElsewhere(e)) return etcd_http::Verdict::Fail(ToError(Where(idx, what), e));
      // "request timed out", "leader changed": maybe applied.
      return etcd_http::Verdict::TryElsewhere(
          ToError(Where(idx, what), e),
          Where(idx, what) + ": " + Text(e) + GatewayHint(net->endpoints()[idx], e), NotApplied(e));
    };
    auto a = net->Call(spec);
    if (!a) return a.error();
    return Answer{std::move(a->reply.body), a->idx};
  }

  // A body that does not decode is reported as the answering member's fault.
  template <typename T>
  Result<T> Decode(const char* what, size_t idx, Result<T> decoded) {
    if (!decoded) return Error::Unavailable(Where(idx, what) + ": " + decoded.error().message);
    return decoded;
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
    start_revision_ = start_revision;
    const auto deadline = Clock::now() + impl_->opts().request_timeout;
    auto c = impl_->net->Connect(idx_, deadline, cancel_fd_.get());
    if (!c) return Broken("watch: " + c.error().message, c.error().code);
    conn_.emplace(std::move(*c));
    const std::string request = impl_->net->Serialize(
        idx_, impl_->Post("/v3/watch",
                          gw::WatchCreateRequest(prefix, PrefixRangeEnd(prefix), start_revision),
                          token_, /*has_leader=*/true));
    int storage[2];
    if (auto s = conn_->WriteAll(request, deadline, impl_->net->Cancels(cancel_fd_.get(), storage));
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
      impl_->net->MarkFailed(idx_);
      Error err = ToError(Where("watch"), e);
      if (err.code != Error::Code::kPermissionDenied) err.code = Error::Code::kUnavailable;
      return err;
    }
    return Status::Ok();
  }

  Result<WatchBatch> Next() override { return Wait(std::nullopt); }
  Result<WatchBatch> NextWithin(std::chrono::milliseconds max_wait) override {
    return Wait(Clock::now() + max_wait);
  }

  Result<WatchBatch> Wait(http::Deadline deadline) {
    while (true) {
      if (cancelled_ || impl_->net->shut_down()) {
        return Error::Cancelled(Where("watch") + " (cancelled)");
      }
      auto next = gw::NextStreamMessage(body_, scanned_, parser_.done());
      // A burst (a relist's worth of events in one message) leaves a large buffer behind.
      if (body_.empty() && body_.capacity() > kKeepBuffer) body_ = std::string();
      if (!next) {
        if (body_.size() > kMaxBody) {
          return Broken("watch: a message larger than " + std::to_string(kMaxBody) + " bytes",
                        Error::Code::kUnavailable)
              .error();
        }
        if (parser_.done()) {
          return Broken("watch: stream closed by server", Error::Code::kUnavailable).error();
        }
        if (auto s = ReadMore(deadline); !s) {
          // Nothing within the wait: the stream is intact (nothing was consumed), the caller
          // looks at the store and comes back.
          // Only the wait running out: a stream found broken late is a broken stream.
          if (deadline && s.error().code == Error::Code::kDeadlineExceeded && !cancelled_) {
            return WatchBatch{};
          }
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
        impl_->net->MarkFailed(idx_);
        return e;
      }
      if (msg->compact_revision > 0) {
        WatchBatch b;
        b.compact_revision = msg->compact_revision;
        return b;
      }
      if (msg->canceled) {
        impl_->net->MarkFailed(idx_);
        const gw::RpcError e{gw::kUnavailable, "watch cancelled by server: " + msg->cancel_reason};
        if (!token_.empty() && TokenRejected(e)) impl_->DropToken(token_);
        Error err = ToError(Where("watch"), e);
        if (msg->cancel_reason.find("permission denied") != std::string::npos) {
          err.code = Error::Code::kPermissionDenied;
        }
        return err;
      }
      // The "created" message's header carries the store's current revision. Below the one
      // before our start, the store is not the one we watched: restored from an older backup
      // or wiped. etcd would hold the watch silently until it caught up; end it instead.
      if (msg->created && start_revision_ > 1 && msg->revision > 0 &&
          msg->revision < start_revision_ - 1) {
        WatchBatch b;
        b.store_reset = true;
        return b;
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

  int64_t start_revision_ = 0;

  Status ReadMore(http::Deadline deadline) {
    int storage[2];
    char buf[16384];
    auto n = conn_->Read(buf, sizeof buf, deadline, impl_->net->Cancels(cancel_fd_.get(), storage));
    if (!n) return n.error();
    if (*n == 0) return parser_.FeedEof(conn_->clean_close());
    auto used = parser_.Feed(std::string_view(buf, *n), body_);
    if (!used) return used.error();
    return Status::Ok();
  }

  Status Broken(const std::string& what, Error::Code code) {
    const std::string where = impl_->net->Where(idx_, what);
    if (cancelled_ || impl_->net->shut_down() || code == Error::Code::kCancelled) {
      return Error::Cancelled(where + " (cancelled)");
    }
    impl_->net->MarkFailed(idx_);
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
  auto net = etcd_http::Transport::Create(options);
  if (!net) return net.error();
  auto impl = std::make_shared<Impl>();
  impl->net = std::move(*net);
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::string Client::Describe() const { return impl_->net->Describe(); }

std::string Client::CurrentEndpoint() const {
  return impl_->net->endpoints()[impl_->net->Current()].url;
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
  return RangeResult{std::move(r->kvs), r->revision, std::move(r->cluster_id)};
}

Result<StoreMark> Client::Probe(const std::string& key) {
  auto a = impl_->Call("probe", "/v3/kv/range", gw::CountRequest(key));
  if (!a) return a.error();
  auto r = impl_->Decode("probe", a->idx, gw::ParseRange(a->body));
  if (!r) return r.error();
  return StoreMark{std::move(r->cluster_id), r->revision};
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

Result<std::optional<std::chrono::seconds>> Client::RemainingTtl(const KeyValue& kv) {
  if (kv.lease == 0) return std::optional<std::chrono::seconds>();
  auto ttl = TimeToLive(kv.lease);
  if (!ttl) {
    if (ttl.error().code == Error::Code::kNotFound) return std::optional<std::chrono::seconds>();
    return ttl.error();
  }
  return std::optional<std::chrono::seconds>(*ttl);
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

void Client::Shutdown() { impl_->net->Shutdown(); }

Result<std::unique_ptr<RegistryWatch>> Client::Watch(const std::string& prefix,
                                                     int64_t start_revision) {
  const size_t idx = impl_->net->Current();
  if (impl_->net->shut_down()) return Error::Cancelled(impl_->Where(idx, "watch") + ": stopping");
  auto tok = impl_->Token(idx);
  if (!tok) {
    impl_->net->MarkFailed(idx);
    return tok.error();
  }
  auto cancel = NewEventFd();
  if (!cancel) return cancel.error();
  auto watch = std::make_unique<EtcdWatch>(impl_, idx, *tok, std::move(*cancel));
  if (auto s = watch->Start(prefix, start_revision); !s) return s.error();
  return std::unique_ptr<RegistryWatch>(std::move(watch));
}

}  // namespace tartan::store::etcd3
