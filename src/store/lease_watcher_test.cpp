#include "store/lease_watcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <thread>

#include "store/memory/memory_registry.hpp"
#include "store/store_reset.hpp"
#include "store/store_test_util.hpp"

namespace tartan::store {
namespace {

using testing::Attrs;
constexpr char kDir[] = "/coreos.com/network/subnets/";

std::vector<std::string> Describe(const LeaseBatch& b) {
  std::vector<std::string> out;
  for (const auto& l : b.snapshot) out.push_back("S " + l.subnet.ToString());
  for (const auto& e : b.events) {
    const char* t = e.type == LeaseEvent::Type::kAdded     ? "+ "
                    : e.type == LeaseEvent::Type::kChanged ? "~ "
                                                           : "- ";
    out.push_back(t + e.lease.subnet.ToString() + " " +
                  (e.lease.attrs.public_ip ? e.lease.attrs.public_ip->ToString() : "-"));
  }
  return out;
}

struct WatchFixture {
  std::shared_ptr<MemoryRegistry> reg = MemoryRegistry::Create();
  std::mutex log_mu;
  std::vector<std::string> log;
  std::stop_source stop;
  std::unique_ptr<LeaseWatch> watch;

  explicit WatchFixture(std::chrono::milliseconds store_check = std::chrono::seconds(10),
                        std::function<void(bool)> on_settled = {}) {
    StoreOptions o;
    o.store_check = store_check;
    o.on_settled = std::move(on_settled);
    o.settle_after = std::chrono::milliseconds(20);
    o.log = [this](std::string_view l) {
      std::lock_guard lock(log_mu);
      log.emplace_back(l);
    };
    o.backoff = {std::chrono::milliseconds(5), std::chrono::milliseconds(20)};
    store = NewSubnetStore(reg, o);
  }
  void Start() { watch = store->WatchLeases(stop.get_token()); }
  // Start, and the listing read: what follows is news.
  void StartPastListing() {
    Start();
    ASSERT_TRUE(watch->Next().ok());
  }
  int64_t Put(const std::string& seg, const std::string& value, int64_t lease = 9) {
    return reg->Put(kDir + seg, value, lease);
  }
  // A peer's lease on `seg` with public IP `ip`.
  int64_t PutLease(const std::string& seg, const std::string& ip, int64_t lease = 9) {
    return Put(seg, Attrs(ip).ToJson(), lease);
  }
  void Delete(const std::string& seg) { reg->Delete(kDir + seg); }
  // The next batch, as Describe() puts it.
  void ExpectNext(const std::vector<std::string>& want) {
    auto b = watch->Next();
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(Describe(*b), want);
  }
  // Next() on another thread, for a test that changes the store while the watch waits.
  std::future<Result<LeaseBatch>> NextAsync() {
    return std::async(std::launch::async, [this] { return watch->Next(); });
  }
  std::unique_ptr<SubnetStore> store;
};

using V = std::vector<std::string>;

// Describe, in sorted order: for batches whose order is not the point.
V Sorted(V v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(LeaseWatch, SnapshotThenAddChangeRemove) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  f.Start();
  auto snap = f.watch->Next();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_TRUE(snap->is_snapshot);
  EXPECT_EQ(Describe(*snap), (V{"S 10.5.1.0-24", "S 10.5.2.0-24"}));

  f.PutLease("10.5.3.0-24", "192.0.2.3");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"+ 10.5.3.0-24 192.0.2.3"}));

  f.PutLease("10.5.1.0-24", "192.0.2.1", 10);  // renewal: same attrs, new lease
  f.PutLease("10.5.2.0-24", "192.0.2.22");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"~ 10.5.2.0-24 192.0.2.22"}));

  f.Delete("10.5.3.0-24");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"- 10.5.3.0-24 192.0.2.3"}));
}

TEST(LeaseWatch, GarbageKeyAndValueChangeNothingElse) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.Put("10.5.2.0-24", "{not json");
  f.PutLease("bogus", "192.0.2.9");
  f.Start();
  auto snap = f.watch->Next();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Describe(*snap), (V{"S 10.5.1.0-24"}));

  f.Put("10.5.1.0-24", "garbage now");  // a known peer's value turns bad: keep it
  f.Put("10.5.99.0-99", "{}");
  f.Delete("bogus");
  f.PutLease("10.5.4.0-24", "192.0.2.4");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"+ 10.5.4.0-24 192.0.2.4"}));
  std::lock_guard lock(f.log_mu);
  EXPECT_GE(f.log.size(), 4u);
}

TEST(LeaseWatch, ResumesAfterAnOutageWithoutLosingOrRepeatingEvents) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  f.reg->SetAvailable(false);
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  f.reg->SetAvailable(true);
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.2.0-24 192.0.2.2"}));
  f.PutLease("10.5.3.0-24", "192.0.2.3");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"+ 10.5.3.0-24 192.0.2.3"}));
}

// etcd restored from an older backup or wiped: the store's revision goes back, so resuming at
// our last revision + 1 would wait until the new store happens to catch up and miss everything
// in between. The watcher lists again and reports the difference, our own key's loss included.
TEST(LeaseWatch, AStoreRestoredOrWipedIsListedAgainAtOnce) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  f.PutLease("10.5.3.0-24", "192.0.2.3");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  f.reg->SetAvailable(false);
  f.reg->Wipe();
  f.PutLease("10.5.2.0-24", "192.0.2.22");  // revision 2, far behind 4
  f.reg->SetAvailable(true);
  ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the watch waits for the wiped store to reach the old revision";
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_EQ(Sorted(Describe(*b)),
            (V{"- 10.5.1.0-24 192.0.2.1", "- 10.5.3.0-24 192.0.2.3", "~ 10.5.2.0-24 192.0.2.22"}));
  // And the watch goes on from the new store's revision.
  f.PutLease("10.5.4.0-24", "192.0.2.4");
  ASSERT_NO_FATAL_FAILURE(f.ExpectNext(V{"+ 10.5.4.0-24 192.0.2.4"}));
}

// A restore the watch itself never saw (its connection survived, as through a proxy): the
// periodic look at the store finds the revision gone back and lists again.
TEST(LeaseWatch, AnIdleWatchNoticesARestoreByLookingAtTheStore) {
  WatchFixture f(std::chrono::milliseconds(20));
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  const MemoryRegistry::State backup = f.reg->Save();
  f.PutLease("10.5.3.0-24", "192.0.2.3");
  f.PutLease("10.5.2.0-24", "192.0.2.22");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  ASSERT_EQ(next.wait_for(std::chrono::milliseconds(60)), std::future_status::timeout);
  f.reg->Restore(backup, "", /*break_watches=*/false);
  ASSERT_EQ(next.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the restore went unnoticed";
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_EQ(Sorted(Describe(*b)), (V{"- 10.5.3.0-24 192.0.2.3", "~ 10.5.2.0-24 192.0.2.2"}));
  // The watch goes on from the restored store's revision.
  f.PutLease("10.5.4.0-24", "192.0.2.4");
  b = f.watch->Next();
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.4.0-24 192.0.2.4"}));
}

// Restored to the very state we know but under another cluster ID: nothing to report about
// peers, yet the caller must hear it (its own etcd lease may be unknown to the new cluster).
TEST(LeaseWatch, AChangedClusterIdIsAResetEvenWithNothingElseChanged) {
  WatchFixture f(std::chrono::milliseconds(20));
  f.reg->SetClusterId("1111");
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  f.reg->Restore(f.reg->Save(), "2222", /*break_watches=*/true);
  ASSERT_EQ(next.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->store_reset);
  EXPECT_TRUE(b->events.empty());
  std::lock_guard lock(f.log_mu);
  EXPECT_TRUE(std::any_of(f.log.begin(), f.log.end(), [](const std::string& l) {
    return l.find("cluster ID changed from 1111 to 2222") != std::string::npos;
  }));
}

// A store that only went on (an outage, a compaction) is never taken for a reset.
TEST(LeaseWatch, AnOutageAndACompactionAreNoReset) {
  WatchFixture f(std::chrono::milliseconds(10));
  f.reg->SetClusterId("1111");
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  f.reg->SetAvailable(false);
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  f.reg->Compact(f.reg->revision());
  f.reg->SetAvailable(true);
  auto b = f.watch->Next();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.2.0-24 192.0.2.2"}));
  auto next = f.NextAsync();
  // Many looks at the store later, still nothing to say.
  EXPECT_EQ(next.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  f.PutLease("10.5.3.0-24", "192.0.2.3");
  b = next.get();
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->store_reset);
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.3.0-24 192.0.2.3"}));
}

// Restored while etcd was down, and other hosts wrote to it first, past our revision: no
// header can tell. After a broken watch the watcher lists again instead of resuming, so the key
// missing from the backup is still reported gone.
TEST(LeaseWatch, AfterAnOutageTheWatcherListsAgainInsteadOfResuming) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  const MemoryRegistry::State backup = f.reg->Save();
  f.PutLease("10.5.3.0-24", "192.0.2.3");  // revision 4
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  const int64_t before = f.reg->call_count();
  f.reg->SetAvailable(false);
  ASSERT_TRUE(testing::WaitUntil([&] { return f.reg->call_count() >= before + 2; }));
  f.reg->Restore(backup, "", /*break_watches=*/true);  // revision 3
  f.PutLease("10.5.1.0-24", "192.0.2.11");             // 4
  f.PutLease("10.5.5.0-24", "192.0.2.5");              // 5: past where we were
  f.reg->SetAvailable(true);
  ASSERT_EQ(next.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(Sorted(Describe(*b)),
            (V{"+ 10.5.5.0-24 192.0.2.5", "- 10.5.3.0-24 192.0.2.3", "~ 10.5.1.0-24 192.0.2.11"}));
}

TEST(StoreReset, Decision) {
  EXPECT_FALSE(StoreResetReason({"", 0}, {"7", 12}));    // nothing followed yet
  EXPECT_FALSE(StoreResetReason({"7", 12}, {"7", 12}));  // the same store
  EXPECT_FALSE(StoreResetReason({"7", 12}, {"7", 40}));  // it went on
  EXPECT_FALSE(StoreResetReason({"7", 12}, {"", 12}));   // no ID in the answer
  EXPECT_FALSE(StoreResetReason({"7", 12}, {"7", 0}));   // no revision in the answer
  EXPECT_TRUE(StoreResetReason({"7", 12}, {"7", 11}));   // went back
  EXPECT_TRUE(StoreResetReason({"7", 12}, {"", 3}));     // went back, ID unknown
  EXPECT_TRUE(StoreResetReason({"7", 12}, {"8", 400}));  // another cluster, however far on
  EXPECT_EQ(*StoreResetReason({"7", 12}, {"7", 3}),
            "etcd's store is at revision 3, behind revision 12 already seen");
}

TEST(LeaseWatch, CompactionReListsAndReportsOnlyTheDifference) {
  WatchFixture f;
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  f.PutLease("10.5.3.0-24", "192.0.2.3");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  f.reg->SetAvailable(false);
  f.Delete("10.5.1.0-24");
  f.PutLease("10.5.2.0-24", "192.0.2.22");
  f.PutLease("10.5.3.0-24", "192.0.2.3", 44);  // renewed only
  f.PutLease("10.5.4.0-24", "192.0.2.4");
  f.reg->Compact(f.reg->revision());
  f.reg->SetAvailable(true);
  auto b = f.watch->Next();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_FALSE(b->is_snapshot);
  EXPECT_EQ(Describe(*b),
            (V{"- 10.5.1.0-24 192.0.2.1", "~ 10.5.2.0-24 192.0.2.22", "+ 10.5.4.0-24 192.0.2.4"}));
}

TEST(LeaseWatch, StopUnblocksNextPromptly) {
  WatchFixture f;
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  auto next = f.NextAsync();
  ASSERT_EQ(next.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  f.stop.request_stop();
  ASSERT_EQ(next.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto r = next.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kCancelled);
}

TEST(LeaseWatch, BacksOffWhileTheStoreIsDown) {
  WatchFixture f;
  f.reg->SetAvailable(false);
  f.Start();
  auto next = f.NextAsync();
  const int64_t before = f.reg->call_count();
  ASSERT_EQ(next.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  // Backoff capped at 20 ms: at most ~15 attempts in 300 ms, not a spin.
  EXPECT_LT(f.reg->call_count() - before, 30);
  f.reg->SetAvailable(true);
  auto r = next.get();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_snapshot);
}

// Memory handed back once the receiver has had time to apply a listing or a burst: once
// after the start-up listing (startup = true), then after each burst, never while busy.
TEST(LeaseWatch, SettlesOnceQuietAfterTheListingAndAfterEachBurst) {
  std::mutex mu;
  std::vector<bool> calls;
  auto count = [&] {
    std::lock_guard lock(mu);
    return calls.size();
  };
  WatchFixture f(std::chrono::seconds(10), [&](bool startup) {
    std::lock_guard lock(mu);
    calls.push_back(startup);
  });
  f.PutLease("10.5.1.0-24", "192.0.2.1");
  ASSERT_NO_FATAL_FAILURE(f.StartPastListing());
  EXPECT_EQ(count(), 0u) << "not before the receiver had the listing";
  auto next = f.NextAsync();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (count() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(count(), 1u);
  f.PutLease("10.5.2.0-24", "192.0.2.2");
  auto b = next.get();
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(Describe(*b), (V{"+ 10.5.2.0-24 192.0.2.2"}));
  next = f.NextAsync();
  while (count() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.stop.request_stop();
  EXPECT_FALSE(next.get().ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace tartan::store
