// Bodies captured from etcd 3.4.23 started with --enable-v2, through curl.
#include "store/etcd2/codec.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tartan::store::etcd2::codec {
namespace {

TEST(Etcd2Codec, CreateWithTtl) {
  // PUT /v2/keys/coreos.com/network/subnets/10.5.1.0-24?prevExist=false&ttl=86400
  auto r = ParseResponse(
      R"({"action":"create","node":{"key":"/coreos.com/network/subnets/10.5.1.0-24","value":"{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"host-gw\"}","expiration":"2026-11-30T06:04:07.756998076Z","ttl":86400,"modifiedIndex":5,"createdIndex":5}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->action, "create");
  EXPECT_EQ(r->node.key, "/coreos.com/network/subnets/10.5.1.0-24");
  EXPECT_EQ(r->node.value, R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})");
  EXPECT_TRUE(r->node.has_ttl);
  EXPECT_EQ(r->node.ttl, 86400);
  EXPECT_EQ(r->node.modified_index, 5);
  EXPECT_EQ(r->node.created_index, 5);
  EXPECT_FALSE(r->node.dir);
  EXPECT_FALSE(r->prev_node.has_value());
  EXPECT_EQ(Classify(r->action), EventKind::kPut);
}

TEST(Etcd2Codec, CompareAndSwapRefreshCarriesPrevNode) {
  // PUT ...?refresh=true&prevIndex=6&ttl=86400
  auto r = ParseResponse(
      R"({"action":"compareAndSwap","node":{"key":"/coreos.com/network/subnets/10.5.1.0-24","value":"{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"host-gw\"}","expiration":"2026-11-30T06:04:08.011316012Z","ttl":86400,"modifiedIndex":7,"createdIndex":5},"prevNode":{"key":"/coreos.com/network/subnets/10.5.1.0-24","value":"{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"host-gw\"}","expiration":"2026-11-30T06:04:07.947743656Z","ttl":86400,"modifiedIndex":6,"createdIndex":5}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->node.modified_index, 7);
  EXPECT_EQ(r->node.created_index, 5);
  ASSERT_TRUE(r->prev_node.has_value());
  EXPECT_EQ(r->prev_node->modified_index, 6);
  EXPECT_EQ(Classify(r->action), EventKind::kPut);
}

TEST(Etcd2Codec, PermanentKeyHasNoTtl) {
  auto r = ParseResponse(
      R"({"action":"set","node":{"key":"/coreos.com/network/subnets/10.5.2.0-24","value":"{\"PublicIP\":\"192.0.2.9\"}","modifiedIndex":9,"createdIndex":9}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->node.has_ttl);
  EXPECT_EQ(r->node.value, R"({"PublicIP":"192.0.2.9"})");
}

TEST(Etcd2Codec, RecursiveSortedListing) {
  auto r = ParseResponse(
      R"({"action":"get","node":{"key":"/coreos.com/network/subnets","dir":true,"nodes":[{"key":"/coreos.com/network/subnets/10.5.1.0-24","value":"{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"host-gw\"}","expiration":"2026-11-29T06:14:08.060894035Z","ttl":600,"modifiedIndex":8,"createdIndex":5},{"key":"/coreos.com/network/subnets/10.5.2.0-24","value":"{\"PublicIP\":\"192.0.2.9\"}","modifiedIndex":9,"createdIndex":9}],"modifiedIndex":5,"createdIndex":5}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->node.dir);
  auto leaves = Leaves(r->node);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(leaves[0].key, "/coreos.com/network/subnets/10.5.1.0-24");
  EXPECT_TRUE(leaves[0].has_ttl);
  EXPECT_EQ(leaves[0].ttl, 600);
  EXPECT_EQ(leaves[1].key, "/coreos.com/network/subnets/10.5.2.0-24");
  EXPECT_FALSE(leaves[1].has_ttl);
}

TEST(Etcd2Codec, EmptyDirectoryAndNestedDirectories) {
  auto empty = ParseResponse(
      R"({"action":"get","node":{"key":"/coreos.com/network/subnets","dir":true,"modifiedIndex":5,"createdIndex":5}})");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(Leaves(empty->node).empty());

  auto nested = ParseResponse(
      R"({"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/z","value":"1","modifiedIndex":3,"createdIndex":3},{"key":"/d/a","dir":true,"nodes":[{"key":"/d/a/b","value":"2","modifiedIndex":4,"createdIndex":4}],"modifiedIndex":2,"createdIndex":2}],"modifiedIndex":1,"createdIndex":1}})");
  ASSERT_TRUE(nested.ok()) << nested.error().message;
  auto leaves = Leaves(nested->node);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(leaves[0].key, "/d/a/b");
  EXPECT_EQ(leaves[1].key, "/d/z");
}

TEST(Etcd2Codec, KeysWithAmpersandComeBackUnescaped) {
  auto r = ParseResponse(
      R"({"action":"set","node":{"key":"/coreos.com/network/subnets/10.12.13.0-24\u0026fd00:12:13::-56","value":"{\"a\":\"b\u0026c=d+e f\"}","expiration":"2026-11-29T06:15:32.57196133Z","ttl":5,"modifiedIndex":1037,"createdIndex":1037}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->node.key, "/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::-56");
  EXPECT_EQ(r->node.value, R"({"a":"b&c=d+e f"})");
}

TEST(Etcd2Codec, WatchEvents) {
  auto expire = ParseResponse(
      R"({"action":"expire","node":{"key":"/coreos.com/network/subnets/10.5.3.0-24","modifiedIndex":13,"createdIndex":12},"prevNode":{"key":"/coreos.com/network/subnets/10.5.3.0-24","value":"{\"PublicIP\":\"192.0.2.3\"}","expiration":"2026-11-29T06:04:20.827487343Z","modifiedIndex":12,"createdIndex":12}})");
  ASSERT_TRUE(expire.ok()) << expire.error().message;
  EXPECT_EQ(Classify(expire->action), EventKind::kDelete);
  EXPECT_EQ(expire->node.modified_index, 13);
  EXPECT_TRUE(expire->prev_node->has_ttl) << "expiration alone marks a TTL";

  auto cad = ParseResponse(
      R"({"action":"compareAndDelete","node":{"key":"/coreos.com/network/subnets/10.5.2.0-24","modifiedIndex":10,"createdIndex":9},"prevNode":{"key":"/coreos.com/network/subnets/10.5.2.0-24","value":"{\"PublicIP\":\"192.0.2.9\"}","modifiedIndex":9,"createdIndex":9}})");
  ASSERT_TRUE(cad.ok()) << cad.error().message;
  EXPECT_EQ(Classify(cad->action), EventKind::kDelete);
  EXPECT_EQ(Classify("delete"), EventKind::kDelete);
  EXPECT_EQ(Classify("update"), EventKind::kPut);
  EXPECT_EQ(Classify("get"), EventKind::kOther);
}

TEST(Etcd2Codec, ErrorObjects) {
  struct Case {
    const char* body = nullptr;
    ApiError want;
  };
  const Case cases[] = {
      {R"({"errorCode":100,"message":"Key not found","cause":"/coreos.com","index":3})",
       {kKeyNotFound, "Key not found", "/coreos.com", 3}},
      {R"({"errorCode":105,"message":"Key already exists","cause":"/coreos.com/network/subnets/10.5.1.0-24","index":5})",
       {kNodeExist, "Key already exists", "/coreos.com/network/subnets/10.5.1.0-24", 5}},
      {R"({"errorCode":101,"message":"Compare failed","cause":"[99 != 5]","index":5})",
       {kTestFailed, "Compare failed", "[99 != 5]", 5}},
      {R"({"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [25/9]","index":1024})",
       {kEventIndexCleared, "The event in requested index is outdated and cleared",
        "the requested history has been cleared [25/9]", 1024}},
      {R"({"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0})",
       {kUnauthorized, "The request requires user authentication", "Insufficient credentials", 0}},
  };
  for (const Case& c : cases) {
    auto e = ParseError(c.body);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(*e, c.want) << c.body;
    EXPECT_FALSE(ParseResponse(c.body).ok()) << "an error is not a result: " << c.body;
  }
  EXPECT_EQ(ParseError(cases[2].body)->Text(), "Compare failed (errorCode 101; cause: [99 != 5])");
}

TEST(Etcd2Codec, NonJsonBodiesAreNotErrors) {
  // What etcd 3.4 without --enable-v2 answers on /v2/keys.
  EXPECT_FALSE(ParseError("404 page not found\n").has_value());
  EXPECT_FALSE(ParseError("").has_value());
  EXPECT_FALSE(ParseError(R"({"message":"x"})").has_value());
  EXPECT_FALSE(ParseError(R"({"errorCode":"100"})").has_value());
  EXPECT_FALSE(ParseResponse("404 page not found\n").ok());
}

TEST(Etcd2Codec, RejectsMalformedResults) {
  for (const char* bad : {
           "",
           "[]",
           R"({"node":{"key":"/a"}})",                                      // no action
           R"({"action":"get"})",                                           // no node
           R"({"action":"get","node":[]})",                                 // node not an object
           R"({"action":"get","node":{"key":1}})",                          // key not a string
           R"({"action":"get","node":{"key":"/a","modifiedIndex":"5"}})",   // index as a string
           R"({"action":"get","node":{"key":"/a","modifiedIndex":-1.5}})",  // not an integer
           R"({"action":"get","node":{"key":"/a","ttl":true}})",
           R"({"action":"get","node":{"key":"/a","dir":"yes"}})",
           R"({"action":"get","node":{"key":"/a","nodes":{}}})",
           R"({"action":"get","node":{"key":"/a","modifiedIndex":18446744073709551615}})",
       }) {
    EXPECT_FALSE(ParseResponse(bad).ok()) << bad;
  }
}

TEST(Etcd2Codec, BoundsNesting) {
  std::string deep = R"({"action":"get","node":)";
  for (int i = 0; i < 100; ++i) deep += R"({"key":"/d","dir":true,"nodes":[)";
  deep += R"({"key":"/d/x","value":"1"})";
  for (int i = 0; i < 100; ++i) deep += "]}";
  deep += "}";
  auto r = ParseResponse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos) << r.error().message;
}

// What ParseResponse followed by Leaves makes of `body`, in ParseListing's terms.
Result<Listing> ByTree(std::string_view body) {
  auto r = ParseResponse(body);
  if (!r) return r.error();
  return Listing{r->action, Leaves(r->node)};
}

void ExpectSameAsTree(std::string_view body) {
  auto want = ByTree(body);
  auto got = ParseListing(body);
  ASSERT_EQ(got.ok(), want.ok()) << body << "\n"
                                 << (got.ok() ? want.error().message : got.error().message);
  if (!want.ok()) {
    EXPECT_EQ(got.error().message, want.error().message) << body;
    return;
  }
  EXPECT_EQ(got->action, want->action) << body;
  EXPECT_EQ(got->leaves, want->leaves) << body;
}

constexpr const char* kListing =
    R"({"action":"get","node":{"key":"/coreos.com/network/subnets","dir":true,"nodes":[{"key":"/coreos.com/network/subnets/10.5.2.0-24","value":"{\"PublicIP\":\"192.0.2.9\"}","modifiedIndex":9,"createdIndex":9},{"key":"/coreos.com/network/subnets/10.5.1.0-24","value":"{\"PublicIP\":\"192.0.2.1\",\"BackendType\":\"host-gw\"}","expiration":"2026-11-29T06:14:08.060894035Z","ttl":600,"modifiedIndex":8,"createdIndex":5}],"modifiedIndex":5,"createdIndex":5}})";

TEST(Etcd2Listing, ReadsLeavesSorted) {
  auto l = ParseListing(kListing);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->action, "get");
  ASSERT_EQ(l->leaves.size(), 2u);
  EXPECT_EQ(l->leaves[0].key, "/coreos.com/network/subnets/10.5.1.0-24");
  EXPECT_EQ(l->leaves[0].value, R"({"PublicIP":"192.0.2.1","BackendType":"host-gw"})");
  EXPECT_TRUE(l->leaves[0].has_ttl);
  EXPECT_EQ(l->leaves[0].ttl, 600);
  EXPECT_EQ(l->leaves[0].modified_index, 8);
  EXPECT_EQ(l->leaves[0].created_index, 5);
  EXPECT_EQ(l->leaves[1].key, "/coreos.com/network/subnets/10.5.2.0-24");
  EXPECT_FALSE(l->leaves[1].has_ttl);
  EXPECT_FALSE(l->leaves[1].dir);
  ExpectSameAsTree(kListing);
}

TEST(Etcd2Listing, SameAsTreeOnShapesEtcdWrites) {
  for (
      const char* body : {
          // An empty directory, nested directories, a single key.
          R"({"action":"get","node":{"key":"/coreos.com/network/subnets","dir":true,"modifiedIndex":5,"createdIndex":5}})",
          R"({"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/z","value":"1","modifiedIndex":3,"createdIndex":3},{"key":"/d/a","dir":true,"nodes":[{"key":"/d/a/b","value":"2","modifiedIndex":4,"createdIndex":4}],"modifiedIndex":2,"createdIndex":2}],"modifiedIndex":1,"createdIndex":1}})",
          R"({"action":"get","node":{"key":"/a","value":"1","modifiedIndex":3,"createdIndex":3}})",
          R"({"action":"expire","node":{"key":"/a","modifiedIndex":13,"createdIndex":12},"prevNode":{"key":"/a","value":"x","expiration":"2026-11-29T06:04:20.827487343Z","modifiedIndex":12,"createdIndex":12}})",
      }) {
    ExpectSameAsTree(body);
  }
}

TEST(Etcd2Listing, SameAsTreeOnHostileShapes) {
  for (
      const char* body : {
          "",
          "[]",
          "5",
          "{",
          R"({"action":"get","node":{}} x)",
          "404 page not found\n",
          R"({"errorCode":100,"message":"Key not found","cause":"/c","index":3})",
          R"({"errorCode":null,"action":"get","node":{}})",
          R"({"node":{"key":"/a"}})",
          R"({"action":"get"})",
          R"({"action":"","node":{}})",
          R"({"action":5,"node":{}})",
          R"({"action":"get","node":[]})",
          R"({"action":"get","node":null})",
          R"({"action":"get","node":{"key":1}})",
          R"({"action":"get","node":{"key":"/a","modifiedIndex":"5"}})",
          R"({"action":"get","node":{"key":"/a","modifiedIndex":-1.5}})",
          R"({"action":"get","node":{"key":"/a","modifiedIndex":-7}})",
          R"({"action":"get","node":{"key":"/a","ttl":true}})",
          R"({"action":"get","node":{"key":"/a","ttl":null,"expiration":null}})",
          R"({"action":"get","node":{"key":"/a","expiration":{"x":[1]}}})",
          R"({"action":"get","node":{"key":"/a","dir":"yes"}})",
          R"({"action":"get","node":{"key":"/a","nodes":{}}})",
          R"({"action":"get","node":{"key":"/a","modifiedIndex":18446744073709551615}})",
          R"({"action":"get","node":{"key":"/a","createdIndex":9223372036854775808}})",
          R"({"action":"get","node":{"key":"/a"},"prevNode":5})",
          R"({"action":"get","node":{"key":"/a"},"prevNode":{"key":2}})",
          R"({"action":"get","node":{"key":"/a"},"prevNode":null})",
          // A node's first problem in the tree's order of fields, not the text's.
          R"({"action":"get","node":{"dir":true,"nodes":[7],"value":3,"key":false}})",
          R"({"action":"get","node":{"dir":true,"nodes":[{"key":"/b","dir":1},{"key":2}]}})",
          // Repeated members: the last one counts, with its problems.
          R"({"action":"get","action":"set","node":{"key":1,"key":"/a"}})",
          R"({"action":"get","node":{"key":"/a"},"node":{"key":"/b","value":"2"}})",
          R"({"action":"get","node":{"key":"/a"},"node":7})",
          R"({"action":"get","node":{"dir":true,"nodes":[{"key":"/x"}],"nodes":[{"key":"/y"}]}})",
          R"({"action":"get","node":{"dir":true,"nodes":[{"key":5}],"nodes":null}})",
          R"({"action":"get","node":{"dir":true,"nodes":[{"key":"/x"}],"nodes":3}})",
          R"({"action":"get","node":{"key":"/a","dir":true,"dir":false,"nodes":[{"key":"/a/b"}]}})",
          R"({"action":"get","node":{"key":"/a","ttl":"x","ttl":5}})",
          R"({"action":"get","node":{"key":"/a","ttl":5,"ttl":null}})",
          // Children of a key (not a directory) are checked but are not leaves.
          R"({"action":"get","node":{"key":"/a","nodes":[{"key":"/a/b","value":"1"}]}})",
          R"({"action":"get","node":{"key":"/a","nodes":[{"key":[]}]}})",
          // Equal keys keep their order; members nobody reads may hold anything.
          R"({"action":"get","node":{"dir":true,"nodes":[{"key":"/k","value":"1"},{"key":"/k","value":"2"}]}})",
          R"({"action":"get","x":{"node":{"key":3}},"node":{"key":"/a","y":[[{"nodes":5}]]}})",
      }) {
    ExpectSameAsTree(body);
  }
}

TEST(Etcd2Listing, BoundsNestingAsTheTreeDoes) {
  for (int levels : {63, 64, 65, 100}) {
    std::string deep = R"({"action":"get","node":)";
    for (int i = 0; i < levels; ++i) deep += R"({"key":"/d","dir":true,"nodes":[)";
    deep += R"({"key":"/d/x","value":"1"})";
    for (int i = 0; i < levels; ++i) deep += "]}";
    deep += "}";
    ExpectSameAsTree(deep);
    EXPECT_EQ(ParseListing(deep).ok(), levels <= 64) << levels;
  }
  // Deep nesting where nothing is read costs a counter, not a stack of states.
  std::string junk = R"({"action":"get","junk":)" + std::string(100000, '[') +
                     std::string(100000, ']') + R"(,"node":{"key":"/a"}})";
  auto l = ParseListing(junk);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->leaves.size(), 1u);
}

TEST(Etcd2Listing, SameAsTreeOnMutatedReplies) {
  // Deterministic mutations of real replies: cut, bytes replaced by JSON's punctuation and
  // tokens, spans duplicated; whatever comes out, both readers must agree.
  const std::vector<std::string> seeds = {
      kListing,
      R"({"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/z","value":"1","modifiedIndex":3,"createdIndex":3},{"key":"/d/a","dir":true,"nodes":[{"key":"/d/a/b","value":"2","ttl":5,"modifiedIndex":4,"createdIndex":4}],"modifiedIndex":2,"createdIndex":2}],"modifiedIndex":1,"createdIndex":1},"prevNode":{"key":"/d","dir":true}})",
  };
  const std::vector<std::string> tokens = {"{",           "}",
                                           "[",           "]",
                                           ",",           ":",
                                           "\"",          "null",
                                           "true",        "-1",
                                           "1.5",         "18446744073709551615",
                                           "\"nodes\":[", "\"dir\":true,",
                                           "\"key\":",    "\"errorCode\":1,"};
  std::mt19937 rng(13);
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0:
          body.resize(at);
          break;
        case 1:
          body.replace(at, 1 + rng() % 4, tokens[rng() % tokens.size()]);
          break;
        case 2:
          body.insert(at, tokens[rng() % tokens.size()]);
          break;
        default: {
          const size_t from = rng() % body.size();
          body.insert(at, body.substr(from, 1 + rng() % 40));
          break;
        }
      }
    }
    ExpectSameAsTree(body);
    if (HasFailure()) return;
    ok += ParseListing(body).ok() ? 1 : 0;
  }
  EXPECT_GT(ok, 100) << "the mutations should leave some replies readable";
}

TEST(Etcd2Codec, Index) {
  EXPECT_EQ(*ParseIndex("1024"), 1024);
  EXPECT_EQ(*ParseIndex("0"), 0);
  for (const char* bad : {"", "-1", "12a", " 1", "99999999999999999999"}) {
    EXPECT_FALSE(ParseIndex(bad).ok()) << bad;
  }
}

TEST(Etcd2Codec, Escaping) {
  EXPECT_EQ(EscapePath("/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::-56"),
            "/coreos.com/network/subnets/10.12.13.0-24%26fd00%3A12%3A13%3A%3A-56");
  EXPECT_EQ(EscapePath("/a b/%/?#"), "/a%20b/%25/%3F%23");
  EXPECT_EQ(EscapeForm(R"({"PublicIP":"192.0.2.1"})"), "%7B%22PublicIP%22%3A%22192.0.2.1%22%7D");
  EXPECT_EQ(EscapeForm("a+b&c=d/e\xff"), "a%2Bb%26c%3Dd%2Fe%FF");
}

}  // namespace
}  // namespace tartan::store::etcd2::codec
