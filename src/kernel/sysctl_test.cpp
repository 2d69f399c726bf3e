#include "kernel/sysctl.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tartan::kernel {
namespace {

namespace fs = std::filesystem;

TEST(SysctlPath, PathOfAcceptsOnlyNetKeys) {
  Sysctl s("/proc/sys");
  struct Case {
    const char* key;
    const char* want;  // nullptr: rejected
  };
  const Case cases[] = {
      {"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
      {"net/ipv4/conf/flannel.1/rp_filter", "/proc/sys/net/ipv4/conf/flannel.1/rp_filter"},
      {"net.ipv4.conf.all.forwarding", "/proc/sys/net/ipv4/conf/all/forwarding"},
      {"kernel.hostname", nullptr},
      {"vm/swappiness", nullptr},
      {"net/../kernel/hostname", nullptr},
      {"net//ipv4", nullptr},
      {"net/ipv4/", nullptr},
      {"", nullptr},
      {"network.x", nullptr},
  };
  for (const Case& c : cases) {
    auto p = s.PathOf(c.key);
    if (c.want == nullptr) {
      EXPECT_FALSE(p.ok()) << c.key;
      if (!p.ok()) {
        EXPECT_EQ(p.error().code, Error::Code::kInvalidArgument);
      }
    } else {
      ASSERT_TRUE(p.ok()) << c.key << ": " << p.error().message;
      EXPECT_EQ(*p, c.want);
    }
  }
}

class SysctlTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("tartan-sysctl-" + std::to_string(::getpid()));
    fs::create_directories(root_ / "net/ipv4");
    std::ofstream(root_ / "net/ipv4/ip_forward") << "0\n";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(SysctlTree, ReadsWithoutNewlineAndWritesWithOne) {
  Sysctl s(root_.string());
  auto v = s.Read("net.ipv4.ip_forward");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(*v, "0");
  ASSERT_TRUE(s.Write("net.ipv4.ip_forward", "1").ok());
  std::ifstream in(root_ / "net/ipv4/ip_forward");
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(raw, "1\n");
  EXPECT_EQ(*s.Read("net/ipv4/ip_forward"), "1");
}

TEST_F(SysctlTree, MissingKeyIsNotFoundAndIsNeverCreated) {
  Sysctl s(root_.string());
  auto v = s.Read("net.ipv4.nope");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Error::Code::kNotFound);
  EXPECT_NE(v.error().message.find("net/ipv4/nope"), std::string::npos);
  Status w = s.Write("net.ipv4.nope", "1");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Error::Code::kNotFound);
  EXPECT_FALSE(fs::exists(root_ / "net/ipv4/nope"));
}

}  // namespace
}  // namespace tartan::kernel
