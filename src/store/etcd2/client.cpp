#include "store/etcd2/client.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "common/unique_fd.hpp"
#include "store/etcd_http/transport.hpp"

namespace tartan::store::etcd2 {

namespace {

using etcd_http::Clock;
using etcd_http::Idempotent;
using etcd_http::Verdict;

constexpr char kKeys[] = "/v2/keys";
constexpr char kForm[] = "application/x-www-form-urlencoded";

// A watch reply that ends without an event: etcd ends a long-poll that way when it cannot
// keep up with the events for it. Polling again resumes from the same index; only a member
// that keeps doing so is given up on.
constexpr int kMaxEmptyPolls = 3;

std::string Excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 120)) {
    out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + (body.size() > 120 ? "..." : "");
}

// etcd's own failures that another member may not have: a timeout inside raft, no leader,
// a leader election, watchers dropped while the member recovers.
bool TryElsewhere(const codec::ApiError& e) {
  return e.code == codec::kRaftInternal || e.code == codec::kLeaderElect ||
         e.code == codec::kWatcherCleared;
}

bool NotApplied(const codec::ApiError& e) {
  return e.cause.find("no leader") != std::string::npos ||
         e.cause.find("not capable") != std::string::npos;
}

std::string NoV2(const std::string& where) {
  return where +
         ": HTTP 404 on /v2/keys: this member does not serve the etcd v2 API (etcd needs "
         "--enable-v2; etcd >= 3.6 has no v2 API at all). flanneld <= v0.17 keeps its network "
         "in the v2 key space, flanneld >= v0.18 in the v3 one";
}

std::string DirOf(const std::string& prefix) {
  std::string dir = prefix;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// What one call made of a reply that etcd answered in its own terms.
struct V2Reply {
  std::optional<codec::Response> result;  // a 2xx result (not for a listing)
  std::optional<codec::Listing> listing;  // a listing's 2xx result
  std::optional<codec::ApiError> error;   // or one of etcd's v2 errors
  int64_t etcd_index = 0;                 // X-Etcd-Index (0 when absent)
  std::string cluster_id;                 // X-Etcd-Cluster-Id ("" when absent)
  size_t idx = 0;                         // the member that answered
};

}  // namespace

struct Client::Impl {
  std::shared_ptr<etcd_http::Transport> net;
  std::string authorization;  // "Basic ..." when a username is given

  // A pseudo-lease: v2 has no lease objects, only keys with a TTL. The id stands for the one
  // key written with it (see docs/adr/0011).
  struct Held {
    std::chrono::seconds ttl{0};
    bool attached = false;
    std::string key;
    int64_t index = 0;    // modifiedIndex of our last write or refresh of `key`
    int64_t created = 0;  // its createdIndex
    std::string value;    // what we wrote
    // A refresh may have been applied without our seeing its reply: the key's modifiedIndex
    // may have moved on without us. It is recognised again by createdIndex and value.
    bool uncertain = false;
  };
  std::mutex mu;
  std::map<int64_t, Held> leases;  // guarded by mu
  int64_t next_id = 1;             // guarded by mu

  const ClientOptions& opts() const { return net->options(); }
  std::string Where(size_t idx, const std::string& what) const { return net->Where(idx, what); }

  Error ToError(const std::string& where, const codec::ApiError& e) const {
    const std::string m = where + ": " + e.Text();
    switch (e.code) {
      case codec::kUnauthorized:
        if (opts().username.empty()) {
          return Error::PermissionDenied(m +
                                         " [etcd auth is enabled: give --etcd-username and "
                                         "--etcd-password]");
        }
        return Error::PermissionDenied(m + " [user \"" + opts().username +
                                       "\": wrong password, or no permission on this key]");
      case codec::kKeyNotFound:
        return Error::NotFound(m);
      case codec::kTestFailed:
      case codec::kNodeExist:
      case codec::kNotFile:
      case codec::kNotDir:
      case codec::kRootReadOnly:
      case codec::kDirNotEmpty:
        return Error::FailedPrecondition(m);
      case codec::kRaftInternal:
      case codec::kLeaderElect:
      case codec::kWatcherCleared:
      case codec::kEventIndexCleared:
        return Error::Unavailable(m);
      default:
        if (e.code >= 200 && e.code < 300) return Error::InvalidArgument(m);  // bad request
        return Error::Internal(m);
    }
  }

  etcd_http::Request MakeRequest(std::string method, std::string target, std::string form) const {
    etcd_http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    if (!form.empty()) {
      r.content_type = kForm;
      r.body = std::move(form);
    }
    if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
    return r;
  }

  // What a reply means, for both unary calls and watches: an answer in etcd's v2 terms, a
  // member to move on from, or an error to return.
  Verdict Judge(size_t idx, const std::string& what, const etcd_http::Reply& reply) const {
    if (reply.status() >= 200 && reply.status() < 300) return Verdict::Answer();
    if (auto e = codec::ParseError(reply.body)) {
      if (TryElsewhere(*e)) {
        return Verdict::TryElsewhere(ToError(Where(idx, what), *e),
                                     Where(idx, what) + ": " + e->Text(), NotApplied(*e));
      }
      return Verdict::Answer();
    }
    if (reply.status() == 404)
      return Verdict::Fail(Error::FailedPrecondition(NoV2(Where(idx, what))));
    const std::string m = Where(idx, what) + ": HTTP " + std::to_string(reply.status()) + " " +
                          reply.head.reason + ": " + Excerpt(reply.body);
    if (reply.status() >= 500) {
      return Verdict::TryElsewhere(Error::Unavailable(m), m, /*not_applied=*/false);
    }
    return Verdict::Fail(Error::Internal(m));
  }

  // Decodes an answered reply. A body that does not decode is the member's fault. A listing
  // is read straight into its leaves (codec::ParseListing): no tree of the whole reply.
  Result<V2Reply> Decode(size_t idx, const std::string& what, const etcd_http::Reply& reply,
                         bool listing = false) {
    V2Reply out;
    out.idx = idx;
    if (auto h = reply.head.Header("X-Etcd-Index")) {
      auto index = codec::ParseIndex(*h);
      if (!index) return Error::Unavailable(Where(idx, what) + ": " + index.error().message);
      out.etcd_index = *index;
    }
    if (auto h = reply.head.Header("X-Etcd-Cluster-Id")) out.cluster_id = std::string(*h);
    if (reply.status() >= 200 && reply.status() < 300 && listing) {
      auto l = codec::ParseListing(reply.body);
      if (!l) return Error::Unavailable(Where(idx, what) + ": " + l.error().message);
      out.listing = std::move(*l);
    } else if (reply.status() >= 200 && reply.status() < 300) {
      auto r = codec::ParseResponse(reply.body);
      if (!r) return Error::Unavailable(Where(idx, what) + ": " + r.error().message);
      out.result = std::move(*r);
    } else {
      out.error = codec::ParseError(reply.body);  // Judge only answers with one
      if (out.etcd_index == 0) out.etcd_index = out.error->index;
    }
    return out;
  }

  Result<V2Reply> Call(const std::string& what, const std::string& method,
                       const std::string& target, const std::string& form, Idempotent idempotent,
                       bool listing = false) {
    etcd_http::CallSpec spec;
    spec.what = what.c_str();
    spec.idempotent = idempotent;
    spec.prepare = [&](size_t idx) -> Result<std::string> {
      return net->Serialize(idx, MakeRequest(method, target, form));
    };
    spec.judge = [&](size_t idx, const etcd_http::Reply& reply, int) {
      return Judge(idx, what, reply);
    };
    auto a = net->Call(spec);
    if (!a) return a.error();
    return Decode(a->idx, what, a->reply, listing);
  }

  // The lease a node is attached to, in Registry terms (see client.hpp).
  int64_t LeaseOf(const codec::Node& n) {
    {
      std::lock_guard lock(mu);
      for (auto& [id, h] : leases) {
        if (!h.attached || h.key != n.key) continue;
        if (h.index == n.modified_index) return id;
        if (h.uncertain && n.has_ttl && n.created_index == h.created && n.value == h.value) {
          h.index = n.modified_index;
          h.uncertain = false;
          return id;
        }
      }
    }
    if (!n.has_ttl) return 0;
    // Someone else's key with a TTL: an id no GrantLease returns, stable while the key lives.
    return n.created_index > 0 ? -n.created_index : -1;
  }

  KeyValue ToKeyValue(const codec::Node& n) {
    KeyValue kv;
    kv.key = n.key;
    kv.value = n.value;
    kv.lease = LeaseOf(n);
    kv.create_revision = n.created_index;
    kv.mod_revision = n.modified_index;
    return kv;
  }
  KeyValue ToKeyValue(codec::Node&& n) {
    KeyValue kv;
    kv.lease = LeaseOf(n);
    kv.key = std::move(n.key);
    kv.value = std::move(n.value);
    kv.create_revision = n.created_index;
    kv.mod_revision = n.modified_index;
    return kv;
  }

  static std::string Path(const std::string& key) { return kKeys + codec::EscapePath(key); }
};

namespace {

class V2Watch : public RegistryWatch {
 public:
  V2Watch(std::shared_ptr<Client::Impl> impl, std::string prefix, int64_t start, UniqueFd cancel)
      : impl_(std::move(impl)),
        prefix_(std::move(prefix)),
        next_index_(std::max<int64_t>(start, 1)),
        cancel_fd_(std::move(cancel)) {}

  ~V2Watch() override { Stop(); }

  Result<WatchBatch> Next() override { return Wait(std::nullopt); }
  // A bounded long-poll: after `max_wait` the poll is dropped and the next one asks again from
  // the same index (etcd v2 sends a poll's headers at once but the body only with an event, so
  // a store reset is seen through Registry::Probe, not here).
  Result<WatchBatch> NextWithin(std::chrono::milliseconds max_wait) override {
    return Wait(Clock::now() + max_wait);
  }

  Result<WatchBatch> Wait(http::Deadline deadline) {
    const std::string target =
        Client::Impl::Path(DirOf(prefix_)) + "?wait=true&recursive=true&waitIndex=";
    int empty_polls = 0;
    while (true) {
      if (cancelled_ || impl_->net->shut_down()) return Cancelled();
      // Each long-poll goes to the current member, so a watch follows the client's failover.
      const size_t idx = impl_->net->Current();
      const std::string request = impl_->net->Serialize(
          idx, impl_->MakeRequest("GET", target + std::to_string(next_index_), ""));
      auto reply = impl_->net->Exchange(idx, request, deadline, cancel_fd_.get());
      if (cancelled_ || impl_->net->shut_down()) return Cancelled();
      if (!reply) {
        if (reply.error().code == Error::Code::kCancelled) return Cancelled();
        // No event within the wait: the next poll resumes at the index. Only the wait running
        // out counts: a connection found broken after the deadline (the process was stopped
        // while etcd restarted) is a broken watch, or the next poll would go to a wiped or
        // restored etcd as if nothing had happened.
        if (deadline && reply.error().code == Error::Code::kDeadlineExceeded) return WatchBatch{};
        impl_->net->MarkFailed(idx);
        return Error::Unavailable(impl_->Where(idx, "watch") + ": " + reply.error().message);
      }
      const Verdict v = impl_->Judge(idx, "watch", *reply);
      if (v.kind != Verdict::Kind::kAnswer) {
        // Whatever it is, the cure is a new watch, possibly elsewhere; only a member without
        // v2 is not worth retrying.
        if (v.kind == Verdict::Kind::kTryElsewhere) impl_->net->MarkFailed(idx);
        Error e = v.error;
        if (e.code != Error::Code::kFailedPrecondition) e.code = Error::Code::kUnavailable;
        return e;
      }
      if (reply->status() >= 200 && reply->status() < 300 &&
          reply->body.find_first_not_of(" \t\r\n") == std::string::npos) {
        if (++empty_polls >= kMaxEmptyPolls) {
          impl_->net->MarkFailed(idx);
          return Error::Unavailable(impl_->Where(idx, "watch") +
                                    ": the member keeps ending the watch without an event");
        }
        continue;
      }
      auto decoded = impl_->Decode(idx, "watch", *reply);
      if (!decoded) {
        impl_->net->MarkFailed(idx);
        return Error::Unavailable(decoded.error().message);
      }
      if (decoded->error) {
        const codec::ApiError& e = *decoded->error;
        if (e.code == codec::kEventIndexCleared) {
          // etcd keeps the last 1000 events; older ones are gone and the caller lists again.
          WatchBatch b;
          b.compact_revision = std::max<int64_t>(e.index, 1);
          return b;
        }
        Error err = impl_->ToError(impl_->Where(idx, "watch"), e);
        if (err.code != Error::Code::kPermissionDenied) err.code = Error::Code::kUnavailable;
        return err;
      }
      const codec::Response& r = *decoded->result;
      const codec::Node& n = r.node;
      next_index_ = std::max(next_index_, n.modified_index + 1);
      const codec::EventKind kind = codec::Classify(r.action);
      if (n.dir) {
        // A directory deleted or expired with everything below it (ours included) comes as
        // one event for the directory: the keys that went are only known by listing again.
        if (kind == codec::EventKind::kDelete) {
          WatchBatch b;
          b.compact_revision = n.modified_index;
          return b;
        }
        continue;
      }
      if (kind == codec::EventKind::kOther || !n.key.starts_with(prefix_)) continue;
      WatchBatch b;
      b.revision = n.modified_index;
      WatchEvent ev;
      if (kind == codec::EventKind::kPut) {
        ev.type = WatchEvent::Type::kPut;
        ev.kv = impl_->ToKeyValue(n);
      } else {
        ev.type = WatchEvent::Type::kDelete;
        ev.kv.key = n.key;
        ev.kv.mod_revision = n.modified_index;
      }
      b.events.push_back(std::move(ev));
      return b;
    }
  }

  void Cancel() override { Stop(); }

 private:
  void Stop() {
    cancelled_ = true;
    etcd_http::Signal(cancel_fd_);
  }

  Error Cancelled() const {
    return Error::Cancelled(impl_->net->Describe() + ": watch of " + prefix_ + " (cancelled)");
  }

  std::shared_ptr<Client::Impl> impl_;
  std::string prefix_;
  int64_t next_index_;
  UniqueFd cancel_fd_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::shared_ptr<Client>> Client::Create(const ClientOptions& options) {
  auto net = etcd_http::Transport::Create(options);
  if (!net) return net.error();
  auto impl = std::make_shared<Impl>();
  impl->net = std::move(*net);
  if (!options.username.empty()) {
    impl->authorization = etcd_http::BasicAuthorization(options.username, options.password);
  }
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::string Client::Describe() const { return impl_->net->Describe() + " (v2 API)"; }

std::string Client::CurrentEndpoint() const {
  return impl_->net->endpoints()[impl_->net->Current()].url;
}

void Client::Shutdown() { impl_->net->Shutdown(); }

Result<std::optional<codec::Node>> Client::GetNode(const std::string& key) {
  auto r = impl_->Call("get " + key, "GET", Impl::Path(key) + "?quorum=true", "", Idempotent::kYes);
  if (!r) return r.error();
  if (r->error) {
    if (r->error->code == codec::kKeyNotFound) return std::optional<codec::Node>();
    return impl_->ToError(impl_->Where(r->idx, "get " + key), *r->error);
  }
  return std::optional<codec::Node>(std::move(r->result->node));
}

Result<std::optional<std::chrono::seconds>> Client::RemainingTtl(const KeyValue& kv) {
  auto n = GetNode(kv.key);
  if (!n) return n.error();
  if (!*n || (*n)->dir || !(*n)->has_ttl || (*n)->created_index != kv.create_revision) {
    return std::optional<std::chrono::seconds>();
  }
  return std::optional<std::chrono::seconds>(std::chrono::seconds((*n)->ttl));
}

Result<std::optional<KeyValue>> Client::Get(const std::string& key) {
  auto n = GetNode(key);
  if (!n) return n.error();
  if (!*n || (*n)->dir) return std::optional<KeyValue>();
  return std::optional<KeyValue>(impl_->ToKeyValue(**n));
}

Result<RangeResult> Client::List(const std::string& prefix) {
  const std::string what = "list " + prefix;
  auto r = impl_->Call(what, "GET",
                       Impl::Path(DirOf(prefix)) + "?recursive=true&sorted=true&quorum=true", "",
                       Idempotent::kYes, /*listing=*/true);
  if (!r) return r.error();
  RangeResult out;
  out.cluster_id = r->cluster_id;
  if (r->error) {
    // No directory yet: nothing leased, as of the index etcd answered at.
    if (r->error->code != codec::kKeyNotFound) {
      return impl_->ToError(impl_->Where(r->idx, what), *r->error);
    }
    out.revision = r->etcd_index;
    return out;
  }
  if (r->etcd_index <= 0) {
    return Error::Unavailable(impl_->Where(r->idx, what) + ": no X-Etcd-Index in the reply");
  }
  // The listing reflects the store at X-Etcd-Index: a watch from there + 1 misses nothing.
  out.revision = r->etcd_index;
  std::vector<codec::Node>& leaves = r->listing->leaves;
  size_t wanted = 0;
  for (const codec::Node& n : leaves) wanted += n.key.starts_with(prefix) ? 1 : 0;
  out.kvs.reserve(wanted);
  for (codec::Node& n : leaves) {
    if (n.key.starts_with(prefix)) out.kvs.push_back(impl_->ToKeyValue(std::move(n)));
  }
  return out;
}

Result<StoreMark> Client::Probe(const std::string& key) {
  // A quorum read goes through raft: its X-Etcd-Index is at least any index seen before.
  const std::string what = "probe " + key;
  auto r = impl_->Call(what, "GET", Impl::Path(key) + "?quorum=true", "", Idempotent::kYes);
  if (!r) return r.error();
  if (r->error && r->error->code != codec::kKeyNotFound) {
    return impl_->ToError(impl_->Where(r->idx, what), *r->error);
  }
  if (r->etcd_index <= 0) {
    return Error::Unavailable(impl_->Where(r->idx, what) + ": no X-Etcd-Index in the reply");
  }
  return StoreMark{r->cluster_id, r->etcd_index};
}

Result<LeaseGrant> Client::GrantLease(std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return Error::InvalidArgument("etcd v2 lease TTL must be positive");
  if (impl_->net->shut_down()) return Error::Cancelled("etcd lease grant: stopping");
  std::lock_guard lock(impl_->mu);
  const int64_t id = impl_->next_id++;
  impl_->leases[id].ttl = ttl;
  return LeaseGrant{id, ttl};
}

Status Client::RevokeLease(int64_t id) {
  Impl::Held held;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->leases.find(id);
    if (it == impl_->leases.end()) return Status::Ok();
    if (!it->second.attached) {
      impl_->leases.erase(it);
      return Status::Ok();
    }
    held = it->second;
  }
  // Only the key as we last wrote it: once anyone re-wrote it, it is not ours to delete.
  const std::string what = "revoke " + held.key;
  auto r =
      impl_->Call(what, "DELETE", Impl::Path(held.key) + "?prevIndex=" + std::to_string(held.index),
                  "", Idempotent::kNo);
  if (!r) return r.error();
  if (r->error && r->error->code != codec::kKeyNotFound && r->error->code != codec::kTestFailed) {
    return impl_->ToError(impl_->Where(r->idx, what), *r->error);
  }
  std::lock_guard lock(impl_->mu);
  impl_->leases.erase(id);
  return Status::Ok();
}

Result<std::chrono::seconds> Client::KeepAlive(int64_t id) {
  for (int attempt = 0;; ++attempt) {
    Impl::Held held;
    {
      std::lock_guard lock(impl_->mu);
      auto it = impl_->leases.find(id);
      if (it == impl_->leases.end()) {
        return Error::NotFound("etcd v2 lease " + std::to_string(id) +
                               " has expired or was revoked");
      }
      held = it->second;
    }
    if (!held.attached) return held.ttl;
    // A refresh resets the TTL without changing the value or waking watchers; prevIndex makes
    // it fail on a key someone else re-wrote.
    const std::string what = "refresh " + held.key;
    auto r = impl_->Call(what, "PUT", Impl::Path(held.key),
                         "refresh=true&prevIndex=" + std::to_string(held.index) +
                             "&ttl=" + std::to_string(held.ttl.count()),
                         Idempotent::kNo);
    if (!r) {
      if (r.error().code == Error::Code::kUnavailable) {
        std::lock_guard lock(impl_->mu);
        if (auto it = impl_->leases.find(id); it != impl_->leases.end())
          it->second.uncertain = true;
      }
      return r.error();
    }
    if (r->error) {
      const int code = r->error->code;
      if (code != codec::kKeyNotFound && code != codec::kTestFailed) {
        return impl_->ToError(impl_->Where(r->idx, what), *r->error);
      }
      if (code == codec::kTestFailed && held.uncertain && attempt == 0) {
        // Our last refresh may have landed unseen: find out whether the key is still ours.
        auto n = GetNode(held.key);
        if (!n) return n.error();
        if (*n && impl_->LeaseOf(**n) == id) continue;
      }
      std::lock_guard lock(impl_->mu);
      impl_->leases.erase(id);
      return Error::NotFound(impl_->Where(r->idx, what) + ": " + r->error->Text() +
                             ": the key expired, was deleted, or was re-written by someone else");
    }
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->leases.find(id); it != impl_->leases.end()) {
      it->second.index = r->result->node.modified_index;
      it->second.uncertain = false;
    }
    return held.ttl;
  }
}

Result<std::optional<int64_t>> Client::PutIf(const std::string& key, const std::string& value,
                                             int64_t lease, int64_t expected_mod_revision) {
  std::chrono::seconds ttl{0};
  if (lease != 0) {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->leases.find(lease);
    if (it == impl_->leases.end()) {
      return Error::NotFound("etcd v2 lease " + std::to_string(lease) +
                             " has expired or was revoked");
    }
    ttl = it->second.ttl;
  }
  std::string form = "value=" + codec::EscapeForm(value);
  form += expected_mod_revision == 0 ? "&prevExist=false"
                                     : "&prevIndex=" + std::to_string(expected_mod_revision);
  // Without a TTL the key is permanent: that is what a reservation is.
  if (lease != 0) form += "&ttl=" + std::to_string(ttl.count());
  const std::string what = "conditional put " + key;
  auto r = impl_->Call(what, "PUT", Impl::Path(key), form, Idempotent::kNo);
  if (!r) return r.error();
  if (r->error) {
    const int code = r->error->code;
    if (code == codec::kNodeExist || code == codec::kTestFailed || code == codec::kKeyNotFound) {
      return std::optional<int64_t>();
    }
    return impl_->ToError(impl_->Where(r->idx, what), *r->error);
  }
  const codec::Node& n = r->result->node;
  if (lease != 0) {
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->leases.find(lease); it != impl_->leases.end()) {
      Impl::Held& h = it->second;
      h.attached = true;
      h.key = key;
      h.index = n.modified_index;
      h.created = n.created_index;
      h.value = value;
      h.uncertain = false;
    }
  }
  return std::optional<int64_t>(n.modified_index);
}

Result<std::unique_ptr<RegistryWatch>> Client::Watch(const std::string& prefix,
                                                     int64_t start_revision) {
  if (impl_->net->shut_down()) return Error::Cancelled("etcd watch: stopping");
  auto cancel = etcd_http::NewEventFd();
  if (!cancel) return cancel.error();
  return std::unique_ptr<RegistryWatch>(
      std::make_unique<V2Watch>(impl_, prefix, start_revision, std::move(*cancel)));
}

Result<int64_t> Client::Set(const std::string& key, const std::string& value,
                            std::chrono::seconds ttl) {
  std::string form = "value=" + codec::EscapeForm(value);
  if (ttl.count() > 0) form += "&ttl=" + std::to_string(ttl.count());
  const std::string what = "set " + key;
  auto r = impl_->Call(what, "PUT", Impl::Path(key), form, Idempotent::kYes);
  if (!r) return r.error();
  if (r->error) return impl_->ToError(impl_->Where(r->idx, what), *r->error);
  return r->result->node.modified_index;
}

Result<int64_t> Client::Delete(const std::string& key, bool recursive) {
  const std::string what = "delete " + key;
  auto r = impl_->Call(what, "DELETE", Impl::Path(key) + (recursive ? "?recursive=true" : ""), "",
                       Idempotent::kYes);
  if (!r) return r.error();
  if (r->error) return impl_->ToError(impl_->Where(r->idx, what), *r->error);
  return r->result->node.modified_index;
}

}  // namespace tartan::store::etcd2
