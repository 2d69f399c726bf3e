#include "store/etcd3/gateway.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tartan::store::etcd3::gateway {
namespace {

using nlohmann::json;

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 1) {
    const std::string in = all.substr(0, n);
    auto out = Base64Decode(Base64Encode(in));
    ASSERT_TRUE(out.has_value()) << n;
    EXPECT_EQ(*out, in) << n;
  }
  EXPECT_EQ(Base64Encode("/coreos.com/network/config"), "L2NvcmVvcy5jb20vbmV0d29yay9jb25maWc=");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
}

TEST(Base64, RejectsWhatGoWouldNotWrite) {
  for (const char* bad :
       {"Y", "YQ=", "Y===", "YQ=a", "Y Q==", "YR==", "YWJ=", "=YQ=", "YQ==YQ=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(GatewayRequests, AreProto3JsonWithBase64BytesAndStringInt64) {
  EXPECT_EQ(json::parse(RangeRequest("/a/", "/a0")),
            json::parse(R"({"key":"L2Ev","range_end":"L2Ew","sort_order":"ASCEND",
                            "sort_target":"KEY"})"));
  EXPECT_EQ(json::parse(RangeRequest("k")), json::parse(R"({"key":"aw=="})"));
  EXPECT_EQ(json::parse(PutIfRequest("k", "v", 7587899155970478088, 0)), json::parse(R"({
      "compare":[{"key":"aw==","result":"EQUAL","target":"VERSION","version":"0"}],
      "success":[{"request_put":{"key":"aw==","value":"dg==","lease":"7587899155970478088"}}]})"));
  EXPECT_EQ(json::parse(PutIfRequest("k", "v", 0, 42)), json::parse(R"({
      "compare":[{"key":"aw==","result":"EQUAL","target":"MOD","mod_revision":"42"}],
      "success":[{"request_put":{"key":"aw==","value":"dg=="}}]})"));
  EXPECT_EQ(json::parse(LeaseGrantRequest(86400)), json::parse(R"({"TTL":"86400"})"));
  EXPECT_EQ(json::parse(LeaseIdRequest(-5)), json::parse(R"({"ID":"-5"})"));
  EXPECT_EQ(json::parse(LeaseIdRequest(INT64_MIN)),
            json::parse(R"({"ID":"-9223372036854775808"})"));
  // Any key bytes (quotes, backslashes, not UTF-8) travel base64-encoded: still valid JSON.
  const std::string odd("a\"\\\xff\n", 5);
  const json range = json::parse(RangeRequest(odd, odd + "0"));
  EXPECT_EQ(Base64Decode(range.at("key").get<std::string>()), odd);
  EXPECT_EQ(Base64Decode(range.at("range_end").get<std::string>()), odd + "0");
  EXPECT_EQ(Base64Decode(json::parse(CountRequest(odd)).at("key").get<std::string>()), odd);
  EXPECT_EQ(json::parse(WatchCreateRequest("/a/", "/a0", 12)),
            json::parse(R"({"create_request":{"key":"L2Ev","range_end":"L2Ew",
                            "start_revision":"12"}})"));
  EXPECT_EQ(json::parse(AuthenticateRequest("flannel", "p\"w")),
            json::parse(R"({"name":"flannel","password":"p\"w"})"));
}

// Bodies as etcd 3.4's gateway sent them (captured with curl).
TEST(GatewayResponses, RangeAsEtcdSendsIt) {
  auto r = ParseRange(
      R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
      R"("revision":"2","raft_term":"2"},"kvs":[{"key":"YQ==","create_revision":"2",)"
      R"("mod_revision":"2","version":"1","value":"Yg==","lease":"7587899155970478088"}],)"
      R"("count":"1"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revision, 2);
  // Above INT64_MAX: kept as text, only compared (a restore under other flags changes it).
  EXPECT_EQ(r->cluster_id, "14841639068965178418");
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0], (KeyValue{"a", "b", 7587899155970478088, 2, 2}));

  // Empty listing: "kvs" and "count" are left out as zero values.
  auto empty = ParseRange(R"({"header":{"revision":"9"}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->revision, 9);
  EXPECT_EQ(empty->cluster_id, "");
  EXPECT_TRUE(empty->kvs.empty());

  EXPECT_FALSE(ParseRange(R"({"header":{"revision":"9","cluster_id":{}}})").ok());
  EXPECT_EQ(json::parse(CountRequest("/k")), json::parse(R"({"key":"L2s=","count_only":true})"));
}

// The range reply is read as a token stream (no document tree); it must read as the tree
// did: the "result" wrapper wins, a repeated member counts once (the last), unknown members
// at any depth are skipped.
TEST(GatewayResponses, RangeReadAsAStreamMeansWhatTheTreeMeant) {
  auto wrapped =
      ParseRange(R"({"header":"ignored","kvs":7,"result":{"kvs":[{"key":"YQ==","value":"Yg=="}],)"
                 R"("header":{"revision":5}}})");
  ASSERT_TRUE(wrapped.ok()) << wrapped.error().message;
  EXPECT_EQ(wrapped->revision, 5);
  ASSERT_EQ(wrapped->kvs.size(), 1u);
  EXPECT_EQ(wrapped->kvs[0].key, "a");

  auto repeated = ParseRange(R"({"kvs":[{"key":"YQ=="},{"key":"Yg=="}],"header":{"revision":"3"},)"
                             R"("kvs":[{"key":"Yw==","lease":"4","lease":"5"}]})");
  ASSERT_TRUE(repeated.ok()) << repeated.error().message;
  ASSERT_EQ(repeated->kvs.size(), 1u);
  EXPECT_EQ(repeated->kvs[0], (KeyValue{"c", "", 5, 0, 0}));

  auto nested = ParseRange(
      R"({"extra":{"kvs":[1,2,{"key":"@"}],"header":[]},"kvs":[{"key":"YQ==","x":{"key":7},)"
      R"("value":null,"mod_revision":9}],"header":{"cluster_id":12,"revision":"1"},"more":[[{}]]})");
  ASSERT_TRUE(nested.ok()) << nested.error().message;
  EXPECT_EQ(nested->cluster_id, "12");
  ASSERT_EQ(nested->kvs.size(), 1u);
  EXPECT_EQ(nested->kvs[0], (KeyValue{"a", "", 0, 0, 9}));

  EXPECT_FALSE(ParseRange(R"({"kvs":null,"header":{}} trailing)").ok());
  EXPECT_FALSE(ParseRange(R"({"kvs":[null]})").ok());
  EXPECT_FALSE(ParseRange(R"({"kvs":[{"key":"YQ=="}],"result":{"kvs":[{"key":[]}]}})").ok());
  EXPECT_TRUE(ParseRange(R"({"kvs":null})").ok());

  // A listing of many leases, as the start-up listing of a large cluster.
  std::string big = R"({"header":{"revision":"77"},"kvs":[)";
  for (int i = 0; i < 5000; ++i) {
    if (i) big += ",";
    big += R"({"key":")" + Base64Encode("/coreos.com/network/subnets/10.1." + std::to_string(i)) +
           R"(","value":")" + Base64Encode(R"({"PublicIP":"192.0.2.1"})") + R"(","lease":")" +
           std::to_string(i + 1) + R"(","mod_revision":")" + std::to_string(i + 2) + R"("})";
  }
  big += "]}";
  auto many = ParseRange(big);
  ASSERT_TRUE(many.ok()) << many.error().message;
  ASSERT_EQ(many->kvs.size(), 5000u);
  EXPECT_EQ(many->kvs[4999].key, "/coreos.com/network/subnets/10.1.4999");
  EXPECT_EQ(many->kvs[4999].lease, 5000);
  EXPECT_EQ(many->revision, 77);
}

TEST(GatewayResponses, TxnLeaseAndAuth) {
  auto txn = ParseTxn(R"({"header":{"revision":"2"},"succeeded":true,)"
                      R"("responses":[{"response_put":{"header":{"revision":"2"}}}]})");
  ASSERT_TRUE(txn.ok());
  EXPECT_TRUE(txn->succeeded);
  EXPECT_EQ(txn->revision, 2);
  auto failed = ParseTxn(R"({"header":{"revision":"3"}})");
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);

  auto grant = ParseLease(R"({"header":{"revision":"1"},"ID":"7587899155970478086","TTL":"60"})");
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->id, 7587899155970478086);
  EXPECT_EQ(grant->ttl, 60);
  // keepalive is a stream: wrapped in "result", newline-terminated; an unknown lease has no TTL.
  auto alive = ParseLease("{\"result\":{\"header\":{},\"ID\":\"12\",\"TTL\":\"30\"}}\n");
  ASSERT_TRUE(alive.ok()) << alive.error().message;
  EXPECT_EQ(alive->ttl, 30);
  auto gone = ParseLease("{\"result\":{\"header\":{\"revision\":\"1\"},\"ID\":\"12345\"}}\n");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->ttl, 0);

  auto token = ParseAuthToken(R"({"header":{},"token":"abc.12"})");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "abc.12");
  EXPECT_FALSE(ParseAuthToken(R"({"header":{}})").ok());
}

TEST(GatewayResponses, ErrorsInBothShapesAndBareStatuses) {
  EXPECT_EQ(ParseError(R"({"error":"etcdserver: requested lease not found",)"
                       R"("message":"etcdserver: requested lease not found","code":5})",
                       404),
            (RpcError{kNotFound, "etcdserver: requested lease not found"}));
  EXPECT_EQ(
      ParseError(R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",)"
                 R"("http_status":"Service Unavailable"}})",
                 200),
      (RpcError{kUnavailable, "etcdserver: no leader"}));
  EXPECT_EQ(ParseError("<html>bad gateway</html>", 503).code, kUnavailable);
  EXPECT_EQ(ParseError("", 404).code, kNotFound);
  EXPECT_STREQ(RpcCodeName(kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_STREQ(RpcCodeName(99), "UNKNOWN_CODE");
}

TEST(GatewayResponses, WatchMessagesCreatedEventsDeleteCompactionCancel) {
  auto created = ParseWatchMessage(R"({"result":{"header":{"revision":"2"},"created":true}})");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->events.empty());

  auto events = ParseWatchMessage(
      R"({"result":{"header":{"revision":"4"},"events":[)"
      R"({"kv":{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2","value":"Yw=="}},)"
      R"({"type":"DELETE","kv":{"key":"YQ==","mod_revision":"4"}}]}})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events->events[0].kv.value, "c");
  EXPECT_EQ(events->events[0].kv.mod_revision, 3);
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events->events[1].kv.key, "a");
  EXPECT_EQ(events->events[1].kv.mod_revision, 4);

  auto compacted = ParseWatchMessage(
      R"({"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"7"}})");
  ASSERT_TRUE(compacted.ok());
  EXPECT_EQ(compacted->compact_revision, 7);

  auto cancelled = ParseWatchMessage(
      R"({"result":{"header":{},"canceled":true,"cancel_reason":"etcdserver: no leader"}})");
  ASSERT_TRUE(cancelled.ok());
  EXPECT_TRUE(cancelled->canceled);
  EXPECT_EQ(cancelled->cancel_reason, "etcdserver: no leader");

  auto error = ParseWatchMessage(R"({"error":{"grpc_code":16,"message":"invalid auth token"}})");
  ASSERT_TRUE(error.ok());
  ASSERT_TRUE(error->error.has_value());
  EXPECT_EQ(error->error->code, kUnauthenticated);
}

TEST(GatewayResponses, MalformedBodiesAreErrorsNamingTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {"not json", "JSON"},
      {"[1]", "JSON object"},
      {R"({"header":{"revision":"x"}})", "revision"},
      {R"({"header":{"revision":true}})", "revision"},
      {R"({"header":[]})", "header"},
      {R"({"kvs":{}})", "kvs"},
      {R"({"kvs":[{"key":"@@@@"}]})", "key"},
      {R"({"kvs":[{"key":"YQ==","value":7}]})", "value"},
      {R"({"kvs":[{"key":"YQ==","lease":"99999999999999999999"}]})", "lease"},
      {R"({"result":"x"})", "result"},
  };
  for (const Case& c : cases) {
    auto r = ParseRange(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.error().message.find(c.field), std::string::npos)
        << c.body << ": " << r.error().message;
  }
  EXPECT_FALSE(ParseWatchMessage(R"({"result":{"events":[{"type":"MERGE","kv":{}}]}})").ok());
  EXPECT_FALSE(ParseWatchMessage(R"({"result":{"events":[{}]}})").ok());
  EXPECT_FALSE(ParseWatchMessage(R"({"nothing":1})").ok());
}

TEST(StreamMessages, SplitAtNewlinesSkipBlanksAndTakeAnUnterminatedLastOne) {
  std::string buf = "{\"a\":1}\n\n  \r\n{\"b\":";
  size_t scanned = 0;
  EXPECT_EQ(NextStreamMessage(buf, scanned, false), "{\"a\":1}");
  EXPECT_EQ(NextStreamMessage(buf, scanned, false), std::nullopt);  // {"b": is incomplete
  EXPECT_EQ(scanned, buf.size());
  buf += "2}\n";
  EXPECT_EQ(NextStreamMessage(buf, scanned, false), "{\"b\":2}");
  EXPECT_TRUE(buf.empty());

  // etcd 3.4's gateway: the error object that ends a failed stream has no newline.
  std::string last = R"({"error":{"grpc_code":7,"message":"etcdserver: permission denied"}})";
  size_t s2 = 0;
  EXPECT_EQ(NextStreamMessage(last, s2, false), std::nullopt);
  auto taken = NextStreamMessage(last, s2, true);
  ASSERT_TRUE(taken.has_value());
  auto msg = ParseWatchMessage(*taken);
  ASSERT_TRUE(msg.ok());
  ASSERT_TRUE(msg->error.has_value());
  EXPECT_EQ(msg->error->code, kPermissionDenied);
  EXPECT_EQ(NextStreamMessage(last, s2, true), std::nullopt);

  std::string blank = " \r";
  size_t s3 = 0;
  EXPECT_EQ(NextStreamMessage(blank, s3, true), std::nullopt);
}

}  // namespace
}  // namespace tartan::store::etcd3::gateway
