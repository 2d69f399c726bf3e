#include "store/etcd3/client.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "store/etcd3/proto/rpc.grpc.pb.h"

namespace tartan::store::etcd3 {

namespace pb = ::etcdserverpb;

namespace {

// How long one call waits for a member that is not connected before trying the next one.
constexpr std::chrono::milliseconds kConnectWait{1000};

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

std::string StatusText(const grpc::Status& s) {
  return s.error_message() + " (" + CodeName(s.error_code()) + ")";
}

// Worth trying another member: this one is down, partitioned, without a leader, or slow.
bool TryElsewhere(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// etcd answers an expired or unknown simple/JWT token with Unauthenticated, and a token minted
// before an auth change with "auth store is old"; both are cured by authenticating again.
bool TokenRejected(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         s.error_message().find("revision of auth store is old") != std::string::npos;
}

Error ToError(const std::string& where, const grpc::Status& s) {
  const std::string m = where + ": " + StatusText(s);
  // etcd reports bad credentials and a missing user as InvalidArgument; to an operator they
  // are a permission problem, not a malformed request.
  const std::string& text = s.error_message();
  if (text.find("authentication failed") != std::string::npos ||
      text.find("user name is empty") != std::string::npos ||
      text.find("permission denied") != std::string::npos) {
    return Error::PermissionDenied(m);
  }
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Error::Unavailable(m);
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Error::PermissionDenied(m);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Error::InvalidArgument(m);
    case grpc::StatusCode::NOT_FOUND:
      return Error::NotFound(m);
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Error::FailedPrecondition(m);
    case grpc::StatusCode::CANCELLED:
      return Error::Cancelled(m);
    default:
      return Error::Internal(m);
  }
}

Result<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::InvalidArgument(std::string("cannot read ") + flag + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

KeyValue FromPb(const mvccpb::KeyValue& kv) {
  KeyValue out;
  out.key = kv.key();
  out.value = kv.value();
  out.lease = kv.lease();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  return out;
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

struct Conn {
  Endpoint ep;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Watch::Stub> watch;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Auth::Stub> auth;
};

struct Client::Impl {
  ClientOptions opts;
  std::vector<Conn> conns;
  std::atomic<size_t> current{0};
  std::mutex auth_mu;
  std::string token;  // guarded by auth_mu; empty: authenticate before the next call

  // Calls in flight, so Shutdown() can cancel them (a stop must not wait for the deadline of a
  // request to an unreachable member).
  std::atomic<bool> shut_down{false};
  std::mutex inflight_mu;
  std::set<grpc::ClientContext*> inflight;

  // Registers `ctx` for the lifetime of the guard; false (and nothing registered) once shut down.
  class InFlight {
   public:
    InFlight(Impl& impl, grpc::ClientContext& ctx) : impl_(impl), ctx_(ctx) {
      std::lock_guard lock(impl_.inflight_mu);
      ok_ = !impl_.shut_down;
      if (ok_) impl_.inflight.insert(&ctx_);
    }
    ~InFlight() {
      std::lock_guard lock(impl_.inflight_mu);
      impl_.inflight.erase(&ctx_);
    }
    bool ok() const { return ok_; }

   private:
    Impl& impl_;
    grpc::ClientContext& ctx_;
    bool ok_ = false;
  };

  void Shutdown() {
    std::lock_guard lock(inflight_mu);
    shut_down = true;
    for (grpc::ClientContext* ctx : inflight) ctx->TryCancel();
  }

  std::string Where(const Conn& c, const char* what) const {
    return "etcd " + c.ep.url + ": " + what;
  }

  // gRPC's synchronous API advances a connection attempt only while some thread polls the
  // channel. A fail-fast call on a channel in TRANSIENT_FAILURE returns at once and nobody
  // polls between our calls, so a member that came back is never reconnected: its HTTP/2
  // SETTINGS frame sits unread until the handshake times out, again and again. Waiting here,
  // bounded, lends the attempt a poller.
  // True when the channel is connected.
  bool AwaitConnection(Conn& c) const {
    if (c.channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return true;
    const auto wait = std::min<std::chrono::milliseconds>(opts.request_timeout, kConnectWait);
    return c.channel->WaitForConnected(std::chrono::system_clock::now() + wait);
  }

  void MarkFailed(size_t idx) {
    size_t expected = idx;
    current.compare_exchange_strong(expected, (idx + 1) % conns.size());
  }

  void DropToken(const std::string& rejected) {
    std::lock_guard lock(auth_mu);
    if (token == rejected) token.clear();
  }

  // The token to send; authenticates first when there is none. "" when auth is off.
  Result<std::string> Token(Conn& c) {
    if (opts.username.empty()) return std::string();
    std::lock_guard lock(auth_mu);
    if (!token.empty()) return token;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + opts.request_timeout);
    pb::AuthenticateRequest req;
    req.set_name(opts.username);
    req.set_password(opts.password);
    pb::AuthenticateResponse resp;
    InFlight registered(*this, ctx);
    if (!registered.ok()) return Error::Cancelled(Where(c, "authenticating") + ": stopping");
    grpc::Status s = c.auth->Authenticate(&ctx, req, &resp);
    if (!s.ok()) {
      return ToError(Where(c, "authenticating as user \"") + opts.username + "\"", s);
    }
    token = resp.token();
    return token;
  }

  void Prepare(grpc::ClientContext& ctx, const std::string& tok) const {
    ctx.set_deadline(std::chrono::system_clock::now() + opts.request_timeout);
    if (!tok.empty()) ctx.AddMetadata("token", tok);
  }

  // Runs `fn(conn, ctx)` on the current member, moving on to the next one while members are
  // unreachable. Returns the first definitive answer, or kUnavailable naming every member tried.
  template <typename Fn>
  Status Call(const char* what, Fn&& fn) {
    std::string failures;
    const size_t n = conns.size();
    const size_t start = current.load();
    for (size_t i = 0; i < n; ++i) {
      const size_t idx = (start + i) % n;
      Conn& c = conns[idx];
      if (shut_down) return Error::Cancelled(std::string("etcd ") + what + ": stopping");
      // Before Token(): authenticating is a call too, and must not fail fast on a channel
      // nobody is helping to reconnect.
      AwaitConnection(c);
      for (int auth_try = 0;; ++auth_try) {
        auto tok = Token(c);
        if (!tok) {
          if (tok.error().code != Error::Code::kUnavailable) return tok.error();
          failures += "; " + tok.error().message;
          MarkFailed(idx);
          break;
        }
        grpc::ClientContext ctx;
        Prepare(ctx, *tok);
        InFlight registered(*this, ctx);
        if (!registered.ok()) return Error::Cancelled(Where(c, what) + ": stopping");
        grpc::Status s = fn(c, ctx);
        if (shut_down) return Error::Cancelled(Where(c, what) + ": stopping");
        if (s.ok()) {
          current.store(idx);
          return Status::Ok();
        }
        if (!tok->empty() && auth_try == 0 && TokenRejected(s)) {
          DropToken(*tok);
          continue;
        }
        if (!TryElsewhere(s)) return ToError(Where(c, what), s);
        failures += "; " + Where(c, what) + ": " + StatusText(s);
        MarkFailed(idx);
        break;
      }
    }
    std::string hint;
    if (opts.cert_file.empty()) {
      for (const Conn& c : conns) {
        if (c.ep.tls) {
          // gRPC reports a TLS handshake the server cut short as a plain read failure.
          hint =
              " (if etcd requires client certificates (--client-cert-auth), give "
              "--etcd-certfile and --etcd-keyfile)";
          break;
        }
      }
    }
    return Error::Unavailable(std::string("no etcd endpoint answered ") + what + failures + hint);
  }
};

namespace {

class EtcdWatch : public RegistryWatch {
 public:
  EtcdWatch(std::shared_ptr<Client::Impl> impl, size_t idx, std::string token)
      : impl_(std::move(impl)), idx_(idx), token_(std::move(token)) {}

  ~EtcdWatch() override {
    Cancel();
    if (stream_) (void)stream_->Finish();
  }

  Status Start(const std::string& prefix, int64_t start_revision) {
    Conn& c = impl_->conns[idx_];
    // Opening the stream on a channel that is not connected blocks until gRPC's connect
    // timeout (20 s) with nothing a stop request can cancel: fail now and let the caller's
    // backoff retry, so SIGTERM during an etcd partition is honoured promptly.
    if (!impl_->AwaitConnection(c)) {
      impl_->MarkFailed(idx_);
      return Error::Unavailable("etcd " + c.ep.url + ": watch: not connected");
    }
    if (!token_.empty()) ctx_.AddMetadata("token", token_);
    // Makes a member that lost its leader cancel the watch instead of going silent, so we move on
    // to a member that still sees updates.
    ctx_.AddMetadata("hasleader", "true");
    stream_ = c.watch->Watch(&ctx_);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(prefix);
    create->set_range_end(PrefixRangeEnd(prefix));
    create->set_start_revision(start_revision);
    if (!stream_->Write(req)) return Broken("starting watch");
    return Status::Ok();
  }

  Result<WatchBatch> Next() override {
    while (true) {
      pb::WatchResponse resp;
      if (!stream_->Read(&resp)) return Broken("watch").error();
      if (resp.compact_revision() > 0) {
        WatchBatch b;
        b.compact_revision = resp.compact_revision();
        return b;
      }
      if (resp.canceled()) {
        impl_->MarkFailed(idx_);
        return Error::Unavailable("etcd " + impl_->conns[idx_].ep.url +
                                  ": watch cancelled by server: " + resp.cancel_reason());
      }
      if (resp.events_size() == 0) continue;  // "created" or a progress notification
      WatchBatch b;
      for (const auto& ev : resp.events()) {
        WatchEvent out;
        out.type =
            ev.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
        out.kv = FromPb(ev.kv());
        b.revision = std::max(b.revision, out.kv.mod_revision);
        b.events.push_back(std::move(out));
      }
      return b;
    }
  }

  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }

 private:
  Status Broken(const char* what) {
    const std::string where = "etcd " + impl_->conns[idx_].ep.url + ": " + what;
    if (cancelled_) return Error::Cancelled(where + " cancelled");
    grpc::Status s = stream_->Finish();
    stream_.reset();
    if (!token_.empty() && TokenRejected(s)) impl_->DropToken(token_);
    impl_->MarkFailed(idx_);
    if (s.ok()) return Error::Unavailable(where + ": stream closed by server");
    Error e = ToError(where, s);
    // Whatever ended the stream, the cure is a new watch (possibly elsewhere), with backoff.
    if (e.code != Error::Code::kPermissionDenied) e.code = Error::Code::kUnavailable;
    return e;
  }

  std::shared_ptr<Client::Impl> impl_;
  size_t idx_;
  std::string token_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> stream_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::shared_ptr<Client>> Client::Create(const ClientOptions& options) {
  auto eps = ParseEndpoints(options.endpoints);
  if (!eps) return eps.error();
  auto impl = std::make_shared<Impl>();
  impl->opts = options;

  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    auto ca = ReadFile(options.ca_file, "--etcd-cafile");
    if (!ca) return ca.error();
    ssl.pem_root_certs = *ca;
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Error::InvalidArgument("--etcd-certfile and --etcd-keyfile must be given together");
  }
  if (!options.cert_file.empty()) {
    auto cert = ReadFile(options.cert_file, "--etcd-certfile");
    if (!cert) return cert.error();
    auto key = ReadFile(options.key_file, "--etcd-keyfile");
    if (!key) return key.error();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }

  grpc::ChannelArguments args;
  // Reconnect quickly once a member is back, but never hammer one that is down. Not
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also uses it as the connect timeout, and at 100 ms
  // the HTTP/2 handshake with a member that just came back is cut short again and again
  // ("connection attempt timed out before receiving SETTINGS frame"): never reconnects.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Detects a member that vanished without closing TCP (power loss, partition) under a quiet
  // watch. etcd's default --grpc-keepalive-min-time is 5 s; pinging more often gets us cut off.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // Pings only while a call or stream is open: etcd refuses pings on idle connections
  // ("too_many_pings") and closes them; the watch stream keeps its own connection checked.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A listing of thousands of leases exceeds gRPC's 4 MiB default.
  args.SetMaxReceiveMessageSize(256 << 20);

  for (Endpoint& ep : *eps) {
    Conn c;
    c.ep = std::move(ep);
    auto creds = c.ep.tls ? grpc::SslCredentials(ssl) : grpc::InsecureChannelCredentials();
    c.channel = grpc::CreateCustomChannel(c.ep.Target(), creds, args);
    c.kv = pb::KV::NewStub(c.channel);
    c.watch = pb::Watch::NewStub(c.channel);
    c.lease = pb::Lease::NewStub(c.channel);
    c.auth = pb::Auth::NewStub(c.channel);
    impl->conns.push_back(std::move(c));
  }
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::string Client::Describe() const {
  std::string out = "etcd ";
  for (size_t i = 0; i < impl_->conns.size(); ++i) {
    if (i) out += ",";
    out += impl_->conns[i].ep.url;
  }
  return out;
}

std::string Client::CurrentEndpoint() const {
  return impl_->conns[impl_->current.load() % impl_->conns.size()].ep.url;
}

Result<std::optional<KeyValue>> Client::Get(const std::string& key) {
  pb::RangeRequest req;
  req.set_key(key);
  pb::RangeResponse resp;
  auto s = impl_->Call(
      "get", [&](Conn& c, grpc::ClientContext& ctx) { return c.kv->Range(&ctx, req, &resp); });
  if (!s) return s.error();
  if (resp.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(FromPb(resp.kvs(0)));
}

Result<RangeResult> Client::List(const std::string& prefix) {
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(PrefixRangeEnd(prefix));
  req.set_sort_order(pb::RangeRequest::ASCEND);
  req.set_sort_target(pb::RangeRequest::KEY);
  pb::RangeResponse resp;
  auto s = impl_->Call(
      "list", [&](Conn& c, grpc::ClientContext& ctx) { return c.kv->Range(&ctx, req, &resp); });
  if (!s) return s.error();
  RangeResult out;
  out.revision = resp.header().revision();
  out.kvs.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) out.kvs.push_back(FromPb(kv));
  return out;
}

Result<LeaseGrant> Client::GrantLease(std::chrono::seconds ttl) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl.count());
  pb::LeaseGrantResponse resp;
  auto s = impl_->Call("lease grant", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.lease->LeaseGrant(&ctx, req, &resp);
  });
  if (!s) return s.error();
  if (!resp.error().empty()) return Error::Internal("etcd lease grant: " + resp.error());
  return LeaseGrant{resp.id(), std::chrono::seconds(resp.ttl())};
}

Status Client::RevokeLease(int64_t id) {
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  pb::LeaseRevokeResponse resp;
  auto s = impl_->Call("lease revoke", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.lease->LeaseRevoke(&ctx, req, &resp);
  });
  if (!s && s.error().code == Error::Code::kNotFound) return Status::Ok();
  return s;
}

Result<std::chrono::seconds> Client::KeepAlive(int64_t id) {
  pb::LeaseKeepAliveResponse resp;
  auto s = impl_->Call("lease keepalive", [&](Conn& c, grpc::ClientContext& ctx) {
    auto stream = c.lease->LeaseKeepAlive(&ctx);
    pb::LeaseKeepAliveRequest req;
    req.set_id(id);
    if (!stream->Write(req) || !stream->Read(&resp)) {
      grpc::Status st = stream->Finish();
      return st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "keepalive stream closed") : st;
    }
    // One refresh is all we want; cancel rather than wait for the server to close the stream.
    ctx.TryCancel();
    (void)stream->Finish();
    return grpc::Status::OK;
  });
  if (!s) return s.error();
  if (resp.ttl() <= 0) {
    return Error::NotFound("etcd " + CurrentEndpoint() + ": lease " + std::to_string(id) +
                           " has expired or was revoked");
  }
  return std::chrono::seconds(resp.ttl());
}

Result<std::chrono::seconds> Client::TimeToLive(int64_t id) {
  pb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  pb::LeaseTimeToLiveResponse resp;
  auto s = impl_->Call("lease ttl", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.lease->LeaseTimeToLive(&ctx, req, &resp);
  });
  if (!s) return s.error();
  if (resp.ttl() <= 0) {
    return Error::NotFound("etcd lease " + std::to_string(id) + " has expired or was revoked");
  }
  return std::chrono::seconds(resp.ttl());
}

Result<std::optional<int64_t>> Client::PutIf(const std::string& key, const std::string& value,
                                             int64_t lease, int64_t expected_mod_revision) {
  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(key);
  cmp->set_result(pb::Compare::EQUAL);
  if (expected_mod_revision == 0) {
    // flannel's create-if-absent: If(Version(key)==0).
    cmp->set_target(pb::Compare::VERSION);
    cmp->set_version(0);
  } else {
    cmp->set_target(pb::Compare::MOD);
    cmp->set_mod_revision(expected_mod_revision);
  }
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  pb::TxnResponse resp;
  auto s = impl_->Call("conditional put", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.kv->Txn(&ctx, req, &resp);
  });
  if (!s) return s.error();
  if (!resp.succeeded()) return std::optional<int64_t>();
  return std::optional<int64_t>(resp.header().revision());
}

Result<int64_t> Client::Put(const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  pb::PutResponse resp;
  auto s = impl_->Call(
      "put", [&](Conn& c, grpc::ClientContext& ctx) { return c.kv->Put(&ctx, req, &resp); });
  if (!s) return s.error();
  return resp.header().revision();
}

Result<int64_t> Client::Delete(const std::string& key, bool prefix) {
  pb::DeleteRangeRequest req;
  req.set_key(key);
  if (prefix) req.set_range_end(PrefixRangeEnd(key));
  pb::DeleteRangeResponse resp;
  auto s = impl_->Call("delete", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.kv->DeleteRange(&ctx, req, &resp);
  });
  if (!s) return s.error();
  return resp.header().revision();
}

Status Client::Compact(int64_t revision) {
  pb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  pb::CompactionResponse resp;
  return impl_->Call("compact", [&](Conn& c, grpc::ClientContext& ctx) {
    return c.kv->Compact(&ctx, req, &resp);
  });
}

void Client::Shutdown() { impl_->Shutdown(); }

Result<std::unique_ptr<RegistryWatch>> Client::Watch(const std::string& prefix,
                                                     int64_t start_revision) {
  const size_t idx = impl_->current.load() % impl_->conns.size();
  impl_->AwaitConnection(impl_->conns[idx]);
  auto tok = impl_->Token(impl_->conns[idx]);
  if (!tok) {
    impl_->MarkFailed(idx);
    return tok.error();
  }
  auto watch = std::make_unique<EtcdWatch>(impl_, idx, *tok);
  if (auto s = watch->Start(prefix, start_revision); !s) return s.error();
  return std::unique_ptr<RegistryWatch>(std::move(watch));
}

}  // namespace tartan::store::etcd3
