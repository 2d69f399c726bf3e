#include "common/sd_notify.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "common/unique_fd.hpp"

namespace tartan::sd {
namespace {

// A datagram socket bound like systemd's notify socket: a path in a private temporary
// directory, or an abstract name unique to this process.
class Listener {
 public:
  explicit Listener(bool abstract) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (abstract) {
      name_ = "@tartan-sd-notify-test-" + std::to_string(::getpid());
      std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    } else {
      char tmpl[] = "/tmp/tartan-sd-notify-XXXXXX";
      EXPECT_NE(::mkdtemp(tmpl), nullptr);
      dir_ = tmpl;
      name_ = dir_ + "/notify";
      std::memcpy(addr.sun_path, name_.c_str(), name_.size() + 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + 1);
    }
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), len), 0) << errno;
  }
  ~Listener() {
    if (!dir_.empty()) {
      ::unlink(name_.c_str());
      ::rmdir(dir_.c_str());
    }
  }
  const std::string& name() const { return name_; }
  // The one datagram queued, without waiting: Notify has returned, so it is there or lost.
  std::string Received() const {
    char buf[512];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? "<nothing: errno " + std::to_string(errno) + ">"
                 : std::string(buf, static_cast<size_t>(n));
  }

 private:
  UniqueFd fd_;
  std::string dir_;
  std::string name_;
};

TEST(SdNotify, SendsTheStateToAPathSocket) {
  Listener l(false);
  ASSERT_TRUE(NotifyTo(l.name(), "READY=1\nSTATUS=ready").ok());
  EXPECT_EQ(l.Received(), "READY=1\nSTATUS=ready");
}

TEST(SdNotify, SendsTheStateToAnAbstractSocket) {
  Listener l(true);
  ASSERT_TRUE(NotifyTo(l.name(), "STOPPING=1").ok());
  EXPECT_EQ(l.Received(), "STOPPING=1");
}

// The tests run on one thread, so changing the environment races with nothing.
// NOLINTBEGIN(concurrency-mt-unsafe)
TEST(SdNotify, UsesNotifySocketFromTheEnvironment) {
  Listener l(false);
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", l.name().c_str(), 1), 0);
  Status s = Notify("READY=1");
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(l.Received(), "READY=1");
}

TEST(SdNotify, WithoutNotifySocketDoesNothing) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(Notify("READY=1").ok());
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", "", 1), 0);
  EXPECT_TRUE(Notify("READY=1").ok());
  ::unsetenv("NOTIFY_SOCKET");
}
// NOLINTEND(concurrency-mt-unsafe)

TEST(SdNotify, RejectsAddressesSystemdNeverGives) {
  EXPECT_FALSE(NotifyTo("relative/path", "READY=1").ok());
  EXPECT_FALSE(NotifyTo("@", "READY=1").ok());
  EXPECT_FALSE(NotifyTo("/" + std::string(200, 'x'), "READY=1").ok());
}

TEST(SdNotify, ReportsANoListenerSocketAsAnError) {
  Listener l(false);
  const std::string gone = l.name() + "-gone";
  Status s = NotifyTo(gone, "READY=1");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(gone), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace tartan::sd
