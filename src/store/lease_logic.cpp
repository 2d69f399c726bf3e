#include "store/lease_logic.hpp"

#include <algorithm>
#include <vector>

#include "common/log_limit.hpp"
#include "model/lease_filter.hpp"

namespace tartan::store {

namespace {

using Clock = std::chrono::system_clock;

// A granted etcd lease not yet attached to a key is revoked on every exit path, so a failed
// attempt leaves nothing behind in etcd.
class PendingGrant {
 public:
  PendingGrant(Registry& registry, std::chrono::seconds ttl) : registry_(registry), ttl_(ttl) {}
  ~PendingGrant() {
    if (grant_.id != 0) (void)registry_.RevokeLease(grant_.id);
  }
  Result<LeaseGrant> Get() {
    if (grant_.id != 0) return grant_;
    // The TTL runs from when etcd granted it, which is no earlier than this request: counting
    // from here keeps our idea of the expiry on the safe side however long acquisition takes.
    requested_at_ = Clock::now();
    auto g = registry_.GrantLease(ttl_);
    if (!g) return g.error();
    grant_ = *g;
    return grant_;
  }
  LeaseGrant Release() { return std::exchange(grant_, LeaseGrant{}); }
  Clock::time_point requested_at() const { return requested_at_; }

 private:
  Registry& registry_;
  std::chrono::seconds ttl_;
  LeaseGrant grant_;
  Clock::time_point requested_at_{};
};

model::Lease MakeLease(const model::SubnetKey& subnet, const model::LeaseAttrs& attrs,
                       const LeaseGrant& grant, int64_t revision,
                       Clock::time_point granted_from = {}) {
  model::Lease lease;
  lease.subnet = subnet;
  lease.attrs = attrs;
  lease.etcd_lease_id = grant.id;
  if (grant.id != 0) {
    lease.expiration =
        (granted_from == Clock::time_point{} ? Clock::now() : granted_from) + grant.ttl;
  }
  lease.revision = revision;
  return lease;
}

bool Overlaps(const model::SubnetKey& a, const model::SubnetKey& b) {
  // 0.0.0.0/0 beside an IPv6 part is an IPv6-only key: it holds no IPv4 space.
  auto ipv6_only = [](const model::SubnetKey& k) { return k.ipv6 && k.ipv4.prefix_len() == 0; };
  if (!ipv6_only(a) && !ipv6_only(b) && a.ipv4.Overlaps(b.ipv4)) return true;
  return a.ipv6 && b.ipv6 && a.ipv6->Overlaps(*b.ipv6);
}

// What the shared-IP guard says (docs/adr/0013), by verdict: the suffix of "reusing lease",
// the line while watching, and the refusal.
std::string SharedIpLine(const DupIpVerdict& v, const std::string& key,
                         const model::LeaseAttrs& attrs, std::chrono::seconds heartbeat) {
  const std::string ip =
      attrs.public_ip ? attrs.public_ip->ToString() : attrs.public_ipv6->ToString();
  const std::string since = std::to_string(v.since_refresh.count()) + "s";
  switch (v.kind) {
    case DupIpVerdict::Kind::kOurs:
      return {};
    case DupIpVerdict::Kind::kOwnerGone:
      return " (not refreshed for " + since + ": its previous holder is gone)";
    case DupIpVerdict::Kind::kWatch:
      return "lease " + key + " has our public IP " + ip + " and was refreshed " + since +
             " ago: watching whether another host renews it";
    case DupIpVerdict::Kind::kOtherHostAlive:
      break;
  }
  return "not using lease " + key + " although it has our public IP " + ip +
         ": another host renews it (last " + since +
         " ago). Two hosts cannot share a public IP; fix --public-ip/--iface on one of them. "
         "This host stays not ready and takes the lease over if its holder stops renewing it "
         "for " +
         std::to_string(DupIpWindow(heartbeat).count()) + "s";
}

}  // namespace

std::string SubnetsDir(std::string_view prefix) {
  std::string dir(prefix);
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  return dir + "/subnets/";
}

std::string LeaseKeyPath(std::string_view prefix, const model::SubnetKey& subnet) {
  return SubnetsDir(prefix) + subnet.ToString();
}

Result<model::SubnetKey> ParseLeaseKey(std::string_view key, std::string_view subnets_dir) {
  if (key.substr(0, subnets_dir.size()) != subnets_dir) {
    return Error::InvalidArgument("key \"" + std::string(key) + "\" is not under " +
                                  std::string(subnets_dir));
  }
  auto subnet = model::SubnetKey::Parse(key.substr(subnets_dir.size()));
  if (!subnet) return subnet.error().Context("key \"" + std::string(key) + "\"");
  return subnet;
}

Result<model::Lease> ParseLease(const KeyValue& kv, std::string_view subnets_dir) {
  auto subnet = ParseLeaseKey(kv.key, subnets_dir);
  if (!subnet) return subnet.error();
  auto attrs = model::LeaseAttrs::Parse(kv.value);
  if (!attrs) return attrs.error().Context("value of \"" + kv.key + "\"");
  model::Lease lease;
  lease.subnet = *subnet;
  lease.attrs = std::move(attrs).value();
  lease.etcd_lease_id = kv.lease;
  lease.revision = kv.mod_revision;
  return lease;
}

bool LeaseFits(const model::NetworkConfig& config, const model::SubnetKey& subnet) {
  if (config.enable_ipv4 && !config.Fits(subnet.ipv4)) return false;
  if (config.enable_ipv6) return subnet.ipv6 && config.Fits(*subnet.ipv6);
  return !subnet.ipv6;
}

bool SameHost(const model::LeaseAttrs& existing, const model::LeaseAttrs& ours) {
  if (ours.public_ip) return existing.public_ip == ours.public_ip;
  return ours.public_ipv6 && existing.public_ipv6 == ours.public_ipv6;
}

void GarbageLog::Report(const KeyValue& kv, const Error& why) {
  {
    std::lock_guard lock(mu_);
    if (!seen_.emplace(kv.key, kv.value).second) return;
  }
  // The message embeds the key (and parts of the value) as another node or a person wrote
  // them: cut, so one absurd entry costs one short line.
  if (log_) {
    log_("skipping unparseable lease entry (other peers are unaffected): " +
         log::Cut(why.message, 2 * log::kMaxQuoted));
  }
}

Result<DupIpVerdict> SharedIpGuard::Check(Registry& registry, const KeyValue& kv,
                                          bool recorded_as_ours) {
  watching_.reset();
  DupIpInput in;
  in.recorded_as_ours = recorded_as_ours;
  in.heartbeat = heartbeat_;
  in.granted = granted_;
  if (!recorded_as_ours) {
    auto ttl = registry.RemainingTtl(kv);
    if (!ttl) {
      if (ttl.error().code != Error::Code::kFailedPrecondition) return ttl.error();
      DupIpVerdict v;
      v.kind = DupIpVerdict::Kind::kOwnerGone;
      return v;
    }
    if (!*ttl) {
      // Gone (expired, revoked, replaced) since it was listed: the next listing shows what is.
      DupIpVerdict v;
      v.recheck_at = std::chrono::steady_clock::now();
      watching_ = v;
      return v;
    }
    auto& samples = samples_[{kv.key, registry.OwnerToken(kv)}];
    samples.push_back({std::chrono::steady_clock::now(), **ttl});
    // Only the latest estimate matters once a refresh was seen; keep a bounded history.
    if (samples.size() > 64) samples.erase(samples.begin(), samples.begin() + 32);
    in.samples = samples;
  }
  in.now = std::chrono::steady_clock::now();
  DupIpVerdict v = DecideDupIp(in);
  if (v.kind == DupIpVerdict::Kind::kWatch) watching_ = v;
  return v;
}

Result<model::Lease> AcquireLeaseOnce(Registry& registry, std::string_view prefix,
                                      const model::NetworkConfig& config,
                                      const AcquireRequest& request,
                                      const model::RandomIndex& random_index, int max_attempts,
                                      const LogFn& log, GarbageLog& garbage, SharedIpGuard* guard) {
  const std::string dir = SubnetsDir(prefix);
  const model::LeaseShape shape = registry.LeaseValueShape();
  const std::string value = request.attrs.ToJson(shape);
  PendingGrant grant(registry, request.ttl);

  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    auto listing = registry.List(dir);
    if (!listing) return listing.error();

    std::vector<model::SubnetKey> taken;
    std::vector<model::Lease> ours;
    std::vector<KeyValue> ours_kv;  // as listed, beside `ours`
    for (const KeyValue& kv : listing->kvs) {
      auto subnet = ParseLeaseKey(kv.key, dir);
      if (!subnet) {
        garbage.Report(kv, subnet.error());
        continue;
      }
      // Only a key that could be a lease of this network holds address space (a key whose value
      // is garbage included); "0.0.0.0-0" or the whole Network must not stop allocation.
      if (auto held = model::HeldSubnet(config, *subnet, /*reservation=*/kv.lease == 0)) {
        taken.push_back(*held);
      }
      auto lease = ParseLease(kv, dir);
      if (!lease) {
        garbage.Report(kv, lease.error());
        continue;
      }
      // The key our owner record names is ours under another public IP too: this host's
      // address changed while it ran (the agent follows its interface) and the lease is
      // written again with the new one, keeping the subnet the pods have addresses from. A
      // reservation (token 0) an operator gave another host is not claimed this way.
      const bool recorded = request.owner && request.owner->subnet == lease->subnet &&
                            request.owner->token != 0 &&
                            request.owner->token == registry.OwnerToken(kv);
      if (SameHost(lease->attrs, request.attrs) || recorded) {
        if (LeaseFits(config, lease->subnet)) {
          ours.push_back(*lease);
          ours_kv.push_back(kv);
        } else if (log) {
          log("ignoring lease " + kv.key + " with our public IP: it does not fit the config");
        }
      }
    }

    // (1) Our own lease. A reservation wins: it is what the operator pinned for this host.
    if (!ours.empty()) {
      auto it = std::find_if(ours.begin(), ours.end(),
                             [](const model::Lease& l) { return l.is_reservation(); });
      if (it == ours.end() && request.owner) {
        it = std::find_if(ours.begin(), ours.end(),
                          [&](const model::Lease& l) { return l.subnet == request.owner->subnet; });
      }
      const model::Lease& existing = it != ours.end() ? *it : ours.front();
      const KeyValue& existing_kv =
          ours_kv[static_cast<size_t>(it != ours.end() ? it - ours.begin() : 0)];
      const std::string key = LeaseKeyPath(prefix, existing.subnet);
      if (existing.is_reservation()) {
        // Never attach a TTL to a reservation (flannel v3 does, and the pin silently expires).
        int64_t revision = existing.revision;
        // Compared as written in this key space: a value in another era's shape (or spacing)
        // that says the same is left alone.
        if (existing.attrs.ToJson(shape) != value) {
          auto put = registry.PutIf(key, value, 0, existing.revision);
          if (!put) return put.error();
          if (!*put) continue;  // changed under us: look again
          revision = **put;
        }
        if (log) log("using reservation " + key);
        return MakeLease(existing.subnet, request.attrs, LeaseGrant{}, revision);
      }
      std::string taking_over;
      if (guard && request.guard_shared_ip) {
        const bool recorded =
            request.owner && request.owner->subnet == existing.subnet &&
            (request.after_store_reset || request.owner->token == registry.OwnerToken(existing_kv));
        auto verdict = guard->Check(registry, existing_kv, recorded);
        if (!verdict) return verdict.error();
        switch (verdict->kind) {
          case DupIpVerdict::Kind::kOurs:
            break;
          case DupIpVerdict::Kind::kOwnerGone:
            taking_over = SharedIpLine(*verdict, key, request.attrs, guard->heartbeat());
            break;
          case DupIpVerdict::Kind::kWatch:
            return Error::FailedPrecondition(
                SharedIpLine(*verdict, key, request.attrs, guard->heartbeat()));
          case DupIpVerdict::Kind::kOtherHostAlive:
            return Error::AlreadyExists(
                SharedIpLine(*verdict, key, request.attrs, guard->heartbeat()));
        }
      }
      auto g = grant.Get();
      if (!g) return g.error();
      auto put = registry.PutIf(key, value, g->id, existing.revision);
      if (!put) return put.error();
      if (!*put) continue;
      if (existing.etcd_lease_id != g->id) (void)registry.RevokeLease(existing.etcd_lease_id);
      if (log) log(std::string("reusing lease ").append(key).append(taking_over));
      const auto from = grant.requested_at();
      KeyValue written = existing_kv;
      written.lease = g->id;
      written.mod_revision = **put;
      model::Lease reused = MakeLease(existing.subnet, request.attrs, grant.Release(), **put, from);
      reused.owner_token = registry.OwnerToken(written);
      return reused;
    }

    // (2) The subnet a previous run wrote to subnet.env, (3) a new one.
    std::optional<model::SubnetKey> candidate;
    bool from_previous = false;
    if (request.previous_subnet && attempt == 0 && LeaseFits(config, *request.previous_subnet) &&
        std::none_of(taken.begin(), taken.end(), [&](const model::SubnetKey& t) {
          return Overlaps(t, *request.previous_subnet);
        })) {
      candidate = request.previous_subnet;
      from_previous = true;
    } else {
      auto allocated = model::AllocateSubnet(config, taken, random_index);
      if (!allocated) return allocated.error();
      candidate = *allocated;
    }
    const std::string key = LeaseKeyPath(prefix, *candidate);
    auto g = grant.Get();
    if (!g) return g.error();
    auto put = registry.PutIf(key, value, g->id, 0);
    if (!put) return put.error();
    if (!*put) {
      // flannel exits here; another node won this subnet, so pick again from a fresh listing.
      if (log) log("lost the race for " + key + " to another node; trying another subnet");
      continue;
    }
    if (log)
      log(std::string(from_previous ? "reacquired previous subnet " : "acquired new lease ") + key);
    const auto from = grant.requested_at();
    KeyValue written{key, value, g->id, **put, **put};
    model::Lease created = MakeLease(*candidate, request.attrs, grant.Release(), **put, from);
    created.owner_token = registry.OwnerToken(written);
    return created;
  }
  return Error::Unavailable("gave up acquiring a lease under " + dir + " after " +
                            std::to_string(max_attempts) +
                            " attempts: other nodes kept taking the chosen subnets");
}

Result<model::Lease> RenewLeaseOnce(Registry& registry, std::string_view prefix,
                                    const model::Lease& lease) {
  const std::string key = LeaseKeyPath(prefix, lease.subnet);
  auto current = registry.Get(key);
  if (!current) return current.error();
  if (!*current) return Error::NotFound("lease " + key + " has been revoked (key deleted)");
  if ((*current)->lease != lease.etcd_lease_id) {
    return Error::NotFound("lease " + key + " has been revoked (re-written by someone else)");
  }
  model::Lease renewed = lease;
  renewed.revision = (*current)->mod_revision;
  if (lease.is_reservation()) return renewed;
  const auto asked_at = Clock::now();  // the refreshed TTL runs from no earlier than this
  auto ttl = registry.KeepAlive(lease.etcd_lease_id);
  if (!ttl) {
    if (ttl.error().code == Error::Code::kNotFound) {
      return Error::NotFound("lease " + key + " has been revoked (etcd lease expired)");
    }
    return ttl.error();
  }
  renewed.expiration = asked_at + *ttl;
  return renewed;
}

}  // namespace tartan::store
