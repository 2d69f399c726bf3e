// CPU per udp peer change (UdpBackend::PeerChanged's table work) at 100, 1000 and 5000 peers,
// and the workers' lookup per packet. No root, no network: the table and its writer only; the
// "publish" does what DataPlane::SetPeers does (a mutex and a generation bump).
//
//   in place:  PeerTableWriter::Set, the path a lease event takes (ADR 0016, second addendum)
//   rebuild:   a whole new table per event, the shape of the previous scheme, for comparison
//
// Results are recorded in the ADR's addendum.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

#include "backend/udp/packet.hpp"

namespace {

using tartan::backend::udp::PeerTable;
using tartan::backend::udp::PeerTableWriter;
using tartan::net::Ip4;
using tartan::net::Ip4Net;
using Clock = std::chrono::steady_clock;

Ip4Net Sub(uint32_t i) { return Ip4Net(Ip4(10u << 24 | (i + 2) << 8), 24); }
const Ip4Net kOwn(Ip4(10u << 24 | 1u << 8), 24);

struct Published {
  std::mutex mu;
  std::shared_ptr<const PeerTable> table;
  std::atomic<uint64_t> generation{0};
  void Set(std::shared_ptr<const PeerTable> t) {
    {
      std::lock_guard l(mu);
      table = std::move(t);
    }
    generation.fetch_add(1, std::memory_order_release);
  }
};

double Micros(Clock::time_point t0, int n) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

}  // namespace

int main() {
  constexpr int kEvents = 20000;
  for (uint32_t n : {100u, 1000u, 5000u}) {
    // In place: every event moves one peer to a new address; every third one instead removes
    // a peer and adds it back (a lease expiring and re-acquired).
    Published pub;
    PeerTableWriter w([&](std::shared_ptr<const PeerTable> t) { pub.Set(std::move(t)); });
    w.SetOwn(kOwn);
    for (uint32_t i = 0; i < n; ++i) w.Set(Sub(i), Ip4(172u << 24 | i));
    const uint64_t before = w.publishes();
    auto t0 = Clock::now();
    for (int e = 0; e < kEvents; ++e) {
      const uint32_t i = static_cast<uint32_t>(e) % n;
      if (e % 3 == 2) {
        w.Remove(Sub(i));
        w.Set(Sub(i), Ip4(172u << 24 | i));
      } else {
        w.Set(Sub(i), Ip4(192u << 24 | static_cast<uint32_t>(e)));
      }
    }
    const double in_place = Micros(t0, kEvents);
    const uint64_t rebuilt = w.publishes() - before;

    // Rebuild: a std::map of the peers and a new table from it per event.
    std::map<Ip4Net, Ip4> peers;
    for (uint32_t i = 0; i < n; ++i) peers[Sub(i)] = Ip4(172u << 24 | i);
    Published pub2;
    const int rebuild_events = kEvents / 10;
    t0 = Clock::now();
    for (int e = 0; e < rebuild_events; ++e) {
      peers[Sub(static_cast<uint32_t>(e) % n)] = Ip4(192u << 24 | static_cast<uint32_t>(e));
      std::vector<PeerTable::Peer> v;
      v.reserve(peers.size());
      for (const auto& [k, ip] : peers) v.push_back({k, ip});
      pub2.Set(std::make_shared<const PeerTable>(kOwn, v));
    }
    const double rebuild = Micros(t0, rebuild_events);

    // The workers' lookup, on the table the writer published.
    const PeerTable& t = *w.table();
    constexpr int kLookups = 10000000;
    uint64_t sum = 0;
    uint32_t x = 1;
    t0 = Clock::now();
    for (int k = 0; k < kLookups; ++k) {
      x = x * 1103515245u + 12345u;
      sum += t.Lookup(Sub((x >> 8) % n).ip().value() | 7);
    }
    const double lookup_ns = Micros(t0, kLookups) * 1000;
    std::printf(
        "%5u peers: in place %6.3f us per change (%llu tables built in %d changes), "
        "rebuild %8.2f us per change; lookup %5.1f ns (%llu)\n",
        n, in_place, static_cast<unsigned long long>(rebuilt), kEvents, rebuild, lookup_ns,
        static_cast<unsigned long long>(sum % 10));
  }
}
