// What goes on the wire, without a network: request framing and basic authentication.
#include "store/etcd_http/transport.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "store/etcd_http/loopback_server.hpp"

namespace tartan::store::etcd_http {
namespace {

std::shared_ptr<Transport> Make(const std::string& endpoints) {
  ClientOptions o;
  o.endpoints = endpoints;
  auto t = Transport::Create(o);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : nullptr;
}

TEST(EtcdTransport, SerializesPostsAsTheV3ClientAlwaysSentThem) {
  auto t = Make("http://127.0.0.1:2379");
  Request r;
  r.method = "POST";
  r.target = "/v3/kv/range";
  r.content_type = "application/json";
  r.body = R"({"key":"YQ=="})";
  r.headers = {{"Authorization", "tok"}};
  EXPECT_EQ(t->Serialize(0, r),
            "POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nContent-Type: "
            "application/json\r\nContent-Length: 14\r\nAuthorization: tok\r\n\r\n"
            R"({"key":"YQ=="})");
}

TEST(EtcdTransport, SerializesGetsWithoutBodyAndPutsWithForms) {
  auto t = Make("http://[::1]:4001,http://127.0.0.1:2379");
  Request get;
  get.target = "/v2/keys/a?quorum=true";
  EXPECT_EQ(t->Serialize(0, get),
            "GET /v2/keys/a?quorum=true HTTP/1.1\r\nHost: [::1]:4001\r\n\r\n");
  Request del;
  del.method = "DELETE";
  del.target = "/v2/keys/a?prevIndex=3";
  EXPECT_EQ(t->Serialize(1, del),
            "DELETE /v2/keys/a?prevIndex=3 HTTP/1.1\r\nHost: 127.0.0.1:2379\r\n\r\n");
  Request put;
  put.method = "PUT";
  put.target = "/v2/keys/a";
  put.content_type = "application/x-www-form-urlencoded";
  put.body = "value=1&ttl=5";
  EXPECT_EQ(t->Serialize(1, put),
            "PUT /v2/keys/a HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nContent-Type: "
            "application/x-www-form-urlencoded\r\nContent-Length: 13\r\n\r\nvalue=1&ttl=5");
}

TEST(EtcdTransport, TakesAParsedEndpointListAsItIs) {
  ClientOptions o;
  o.endpoints = "not parsed when the list is given";
  // Used as given: not re-derived from the URL (tls stays false here).
  o.endpoint_list = {Endpoint{.url = "https://e1:2379", .host = "e1", .port = 2379, .tls = false},
                     Endpoint{.url = "http://[::1]:4001", .host = "::1", .port = 4001}};
  auto t = Transport::Create(o);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ((*t)->endpoints(), o.endpoint_list);
}

TEST(EtcdTransport, BasicAuthorization) {
  // RFC 7617's example.
  EXPECT_EQ(BasicAuthorization("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(BasicAuthorization("", ""), "Basic Og==");
}

TEST(EtcdTransport, DescribesAndFailsOverInOrder) {
  auto t = Make("http://a:1,http://b:2,http://c:3");
  EXPECT_EQ(t->Describe(), "etcd http://a:1,http://b:2,http://c:3");
  EXPECT_EQ(t->Current(), 0u);
  t->MarkFailed(0);
  EXPECT_EQ(t->Current(), 1u);
  t->MarkFailed(0);  // a stale failure report does not skip the member that took over
  EXPECT_EQ(t->Current(), 1u);
  t->MarkFailed(1);
  t->MarkFailed(2);
  EXPECT_EQ(t->Current(), 0u);
  EXPECT_EQ(t->Where(1, "get"), "etcd http://b:2: get");
}

TEST(EtcdTransport, ShutdownRefusesCallsAtOnce) {
  auto t = Make("http://127.0.0.1:1");
  t->Shutdown();
  CallSpec spec;
  spec.what = "get";
  spec.prepare = [](size_t) -> Result<std::string> {
    return std::string("GET / HTTP/1.1\r\n\r\n");
  };
  spec.judge = [](size_t, const Reply&, int) { return Verdict::Answer(); };
  auto a = t->Call(spec);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Error::Code::kCancelled);
}

// A member that takes a request on a kept-alive connection and then closes it without a reply
// (it crashed, or a proxy timed the connection out just as the request arrived): a read is
// repeated once on a fresh connection, a change is never sent twice.
TEST(EtcdTransport, ANonIdempotentRequestIsNeverRepeatedAfterAReusedConnectionFails) {
  std::atomic<int> grants{0}, reads{0};
  testing::LoopbackServer server([&](const std::string& req) {
    if (req.find("/v3/lease/grant") != std::string::npos) {
      // Received (and, for all we know, applied) but the connection dies before the reply.
      return ++grants == 1 ? testing::Script::Close() : testing::Script::Reply(200, "{}");
    }
    return ++reads == 2 ? testing::Script::Close() : testing::Script::Reply(200, "{}");
  });
  ClientOptions o;
  o.endpoints = server.url();
  o.request_timeout = std::chrono::seconds(5);
  auto t = Transport::Create(o);
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto& net = **t;
  Request read;
  read.method = "POST";
  read.target = "/v3/kv/range";
  read.body = "{}";
  Request grant = read;
  grant.target = "/v3/lease/grant";

  // A read on a fresh connection, kept alive.
  auto r1 = net.Exchange(0, net.Serialize(0, read), Clock::now() + o.request_timeout);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(server.connections(), 1);
  // The grant must not ride the kept-alive connection and must not be re-sent.
  bool maybe_sent = false;
  auto g = net.Exchange(0, net.Serialize(0, grant), Clock::now() + o.request_timeout, -1,
                        &maybe_sent, Idempotent::kNo);
  EXPECT_FALSE(g.ok());
  EXPECT_TRUE(maybe_sent);
  EXPECT_EQ(grants.load(), 1);
  // Reads still reuse the idle connection, and one that dies under them is repeated once.
  auto r2 = net.Exchange(0, net.Serialize(0, read), Clock::now() + o.request_timeout);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_EQ(reads.load(), 3);

  // Through Call too: the grant fails, named as possibly applied, and is sent once.
  grants = 0;
  CallSpec spec;
  spec.what = "grant";
  spec.idempotent = Idempotent::kNo;
  spec.prepare = [&](size_t idx) -> Result<std::string> { return net.Serialize(idx, grant); };
  spec.judge = [](size_t, const Reply&, int) { return Verdict::Answer(); };
  auto c = net.Call(spec);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("may have been applied"), std::string::npos)
      << c.error().message;
  EXPECT_EQ(grants.load(), 1);
}

}  // namespace
}  // namespace tartan::store::etcd_http
