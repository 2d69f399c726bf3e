#include "http/response_parser.hpp"

#include <gtest/gtest.h>

namespace tartan::http {
namespace {

// Feeds `wire` in pieces of `step` bytes; returns the body, or the first error's message.
struct Outcome {
  bool ok = false;
  std::string body;
  std::string error;
  size_t consumed = 0;
};

Outcome FeedInPieces(ResponseParser& p, std::string_view wire, size_t step, bool eof = false,
                     bool clean_close = true) {
  Outcome o;
  for (size_t i = 0; i < wire.size() && !p.done(); i += step) {
    auto used = p.Feed(wire.substr(i, step), o.body);
    if (!used) {
      o.error = used.error().message;
      return o;
    }
    o.consumed += *used;
  }
  if (eof) {
    if (auto s = p.FeedEof(clean_close); !s) {
      o.error = s.error().message;
      return o;
    }
  }
  o.ok = true;
  return o;
}

TEST(ResponseParser, ContentLengthBodyInEveryPieceSize) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"
      "{\"a\":\"b\"}\n"
      "HTTP/1.1 200 OK\r\n";  // the next response's start is not consumed
  for (size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    auto o = FeedInPieces(p, wire, step);
    ASSERT_TRUE(o.ok) << step << ": " << o.error;
    EXPECT_TRUE(p.done()) << step;
    EXPECT_EQ(o.body, "{\"a\":\"b\"}\n") << step;
    EXPECT_EQ(p.head().status, 200);
    EXPECT_EQ(p.head().Header("content-type"), "application/json");
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(o.consumed, wire.size() - std::string("HTTP/1.1 200 OK\r\n").size()) << step;
  }
}

TEST(ResponseParser, ChunkedWithExtensionsAndTrailersAsEtcdSendsErrors) {
  const std::string wire =
      "HTTP/1.1 404 Not Found\r\nTrailer: Grpc-Trailer-Content-Type\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "6c;ext=1\r\n"
      "{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: requested "
      "lease not found\",\"code\":5}\r\n"
      "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n";
  for (size_t step : {1, 2, 3, 7, 64, 4096}) {
    ResponseParser p;
    auto o = FeedInPieces(p, wire, step);
    ASSERT_TRUE(o.ok) << step << ": " << o.error;
    EXPECT_TRUE(p.done());
    EXPECT_EQ(p.head().status, 404);
    EXPECT_EQ(o.body.size(), 0x6cu);
    EXPECT_EQ(o.body.front(), '{');
    EXPECT_EQ(o.body.back(), '}');
  }
}

TEST(ResponseParser, StreamingBodyIsDeliveredAsItArrives) {
  ResponseParser p;
  std::string body;
  ASSERT_TRUE(p.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body).ok());
  EXPECT_TRUE(p.head_done());
  EXPECT_FALSE(p.done());
  ASSERT_TRUE(p.Feed("5\r\nhel", body).ok());
  EXPECT_EQ(body, "hel");
  ASSERT_TRUE(p.Feed("lo\r\n3\r\n!\n\n\r\n", body).ok());
  EXPECT_EQ(body, "hello!\n\n");
  EXPECT_FALSE(p.done());
  auto eof = p.FeedEof();
  EXPECT_FALSE(eof.ok());
  EXPECT_EQ(eof.error().code, Error::Code::kUnavailable);
}

TEST(ResponseParser, BodyUntilCloseAndConnectionClose) {
  ResponseParser p;
  auto o = FeedInPieces(p, "HTTP/1.0 200 OK\r\n\r\npartial body", 5, /*eof=*/true);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.body, "partial body");
  EXPECT_FALSE(p.keep_alive());

  // The same bytes ended by a plain FIN or a TLS stream cut without close_notify: the body may
  // be truncated, so it is not taken as whole.
  ResponseParser cut;
  auto t = FeedInPieces(cut, "HTTP/1.0 200 OK\r\n\r\npartial body", 5, /*eof=*/true,
                        /*clean_close=*/false);
  ASSERT_FALSE(t.ok);
  EXPECT_NE(t.error.find("truncated"), std::string::npos) << t.error;
  EXPECT_FALSE(cut.done());
  ResponseParser cut2;
  std::string body;
  ASSERT_TRUE(cut2.Feed("HTTP/1.1 200 OK\r\n\r\n{\"kvs\":[", body).ok());
  auto e = cut2.FeedEof();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Error::Code::kUnavailable);

  ResponseParser q;
  auto c = FeedInPieces(q, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 4);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_TRUE(q.done());
  EXPECT_FALSE(q.keep_alive());
}

TEST(ResponseParser, InterimResponsesAreSkippedAndNoBodyStatusesEndAtOnce) {
  ResponseParser p;
  auto o = FeedInPieces(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 3);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.head().status, 204);
  EXPECT_EQ(o.body, "");
}

TEST(ResponseParser, EofBeforeAnyByteIsTellableFromABrokenReply) {
  ResponseParser idle;
  EXPECT_FALSE(idle.started());
  auto s = idle.FeedEof();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("before a response"), std::string::npos);

  ResponseParser cut;
  std::string body;
  ASSERT_TRUE(cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body).ok());
  EXPECT_TRUE(cut.started());
  auto t = cut.FeedEof();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("mid-response"), std::string::npos);
}

TEST(ResponseParser, RejectsWhatIsNotHttp) {
  struct Case {
    const char* name;
    std::string wire;
  };
  const Case cases[] = {
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"no status code", "HTTP/1.1 OK\r\n\r\n"},
      {"status out of range", "HTTP/1.1 999 What\r\n\r\n"},
      {"header without colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"},
      {"folded header", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"},
      {"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"},
      {"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
      {"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"},
  };
  for (const Case& c : cases) {
    ResponseParser p;
    auto o = FeedInPieces(p, c.wire, 1);
    EXPECT_FALSE(o.ok) << c.name;
    EXPECT_NE(o.error.find("HTTP"), std::string::npos) << c.name << ": " << o.error;
  }
}

TEST(ResponseParser, EnforcesTheHeadAndBodyLimits) {
  ResponseParser head({.max_head = 64});
  auto h = FeedInPieces(head, "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n", 8);
  EXPECT_FALSE(h.ok);

  ResponseParser declared({.max_body = 10});
  auto d = FeedInPieces(declared, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 100);
  EXPECT_FALSE(d.ok);

  ResponseParser chunked({.max_body = 10});
  auto c = FeedInPieces(chunked,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
                        100);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("limit"), std::string::npos) << c.error;
}

}  // namespace
}  // namespace tartan::http
