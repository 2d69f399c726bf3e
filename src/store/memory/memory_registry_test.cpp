#include "store/memory/memory_registry.hpp"

#include <gtest/gtest.h>

namespace tartan::store {
namespace {

TEST(MemoryRegistry, PutIfIsCreateIfAbsentOrCompareModRevision) {
  auto reg = MemoryRegistry::Create();
  auto g = reg->GrantLease(std::chrono::seconds(30));
  ASSERT_TRUE(g.ok());
  auto created = reg->PutIf("/k", "a", g->id, 0);
  ASSERT_TRUE(created.ok() && created->has_value());
  auto again = reg->PutIf("/k", "b", g->id, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  auto updated = reg->PutIf("/k", "c", 0, **created);
  ASSERT_TRUE(updated.ok() && updated->has_value());
  auto kv = reg->Get("/k");
  ASSERT_TRUE(kv.ok() && *kv);
  EXPECT_EQ((*kv)->value, "c");
  EXPECT_EQ((*kv)->lease, 0);
}

TEST(MemoryRegistry, RevokingALeaseDeletesItsKeys) {
  auto reg = MemoryRegistry::Create();
  auto g = reg->GrantLease(std::chrono::seconds(30));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(reg->PutIf("/p/a", "1", g->id, 0).ok());
  reg->Put("/p/b", "2");
  ASSERT_TRUE(reg->RevokeLease(g->id).ok());
  auto list = reg->List("/p/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->kvs.size(), 1u);
  EXPECT_EQ(list->kvs[0].key, "/p/b");
  auto ka = reg->KeepAlive(g->id);
  ASSERT_FALSE(ka.ok());
  EXPECT_EQ(ka.error().code, Error::Code::kNotFound);
}

}  // namespace
}  // namespace tartan::store
