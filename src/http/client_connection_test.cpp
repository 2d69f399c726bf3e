// http::Connection against a listening socket in this process: a wait that runs out is told
// apart from a connection that broke, also when the break is noticed after the deadline.
#include "http/client_connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <thread>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"

namespace tartan::http {
namespace {

struct Listener {
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  int port = 0;
  Listener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd.get(), 4), 0);
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
  }
  UniqueFd Accept() { return UniqueFd(::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC)); }
};

Connection Open(const Listener& l) {
  const Deadline soon = Clock::now() + std::chrono::seconds(5);
  auto c = Connection::Open("127.0.0.1", l.port, nullptr, soon, soon, {});
  EXPECT_TRUE(c.ok()) << c.error().message;
  return std::move(c).value();
}

TEST(Connection, NothingWithinTheDeadlineIsDeadlineExceededNotUnavailable) {
  Listener l;
  Connection c = Open(l);
  UniqueFd server = l.Accept();
  ASSERT_TRUE(server);
  char buf[16];
  auto r = c.Read(buf, sizeof buf, Clock::now() + std::chrono::milliseconds(20), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kDeadlineExceeded) << r.error().message;
}

// The process was stopped (SIGSTOP, a paused VM) past its deadline while the peer closed: the
// close is what the next read reports, not a quiet wait.
TEST(Connection, APeerCloseNoticedAfterTheDeadlineIsReportedAsTheEnd) {
  Listener l;
  Connection c = Open(l);
  UniqueFd server = l.Accept();
  ASSERT_TRUE(server);
  ASSERT_EQ(::send(server.get(), "partial", 7, MSG_NOSIGNAL), 7);
  ASSERT_EQ(::shutdown(server.get(), SHUT_WR), 0);  // FIN after the bytes
  // FIN_WAIT2: the client's kernel has acknowledged the FIN, so the bytes and the end are
  // there to read without waiting.
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  while (true) {
    tcp_info info{};
    socklen_t len = sizeof info;
    ASSERT_EQ(::getsockopt(server.get(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    if (info.tcpi_state == TCP_FIN_WAIT2) break;
    ASSERT_LT(Clock::now(), give_up) << "the FIN was never acknowledged";
    std::this_thread::yield();
  }
  char buf[16];
  const Deadline past = Clock::now() - std::chrono::seconds(1);
  auto first = c.Read(buf, sizeof buf, past, {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 7u);
  auto end = c.Read(buf, sizeof buf, past, {});
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(*end, 0u);
}

}  // namespace
}  // namespace tartan::http
