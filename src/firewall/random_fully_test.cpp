#include "firewall/random_fully.hpp"

#include <gtest/gtest.h>

namespace tartan::firewall {
namespace {

TEST(RandomFully, SupportedFromIptables162OnLinux313) {
  for (const char* tool : {"iptables-restore v1.8.9 (nf_tables)\n",
                           "iptables-restore v1.8.9 (legacy)", "iptables-restore v1.6.2",
                           "iptables-restore v1.10.0 (nf_tables)", "iptables-restore v2.0"}) {
    for (const char* kernel : {"6.1.0-18-amd64", "3.13.0-170-generic", "4.19.0", "10.0"}) {
      const RandomFullySupport s = RandomFullySupported(tool, kernel);
      EXPECT_TRUE(s.supported) << tool << " / " << kernel << ": " << s.why_not;
      EXPECT_EQ(s.why_not, "");
    }
  }
}

TEST(RandomFully, AnOldToolOrKernelSaysWhich) {
  const RandomFullySupport old_tool = RandomFullySupported("iptables-restore v1.6.1", "6.1.0");
  EXPECT_FALSE(old_tool.supported);
  EXPECT_EQ(old_tool.why_not,
            "iptables 1.6.1 is older than 1.6.2, the first to know --random-fully");
  EXPECT_FALSE(RandomFullySupported("iptables-restore v1.4.21", "6.1.0").supported);

  const RandomFullySupport old_kernel =
      RandomFullySupported("iptables-restore v1.8.4", "3.10.0-1160.el7.x86_64");
  EXPECT_FALSE(old_kernel.supported);
  EXPECT_EQ(old_kernel.why_not,
            "Linux 3.10.0 is older than 3.13, the first with fully random NAT port mapping");
}

TEST(RandomFully, AnUnreadableToolVersionIsNotTrusted) {
  for (const char* tool : {"", "iptables-restore: unknown option --version", "vX.Y"}) {
    const RandomFullySupport s = RandomFullySupported(tool, "6.1.0");
    EXPECT_FALSE(s.supported) << tool;
    EXPECT_NE(s.why_not.find("cannot tell the iptables version"), std::string::npos) << s.why_not;
  }
  // An odd kernel release is not held against it.
  EXPECT_TRUE(RandomFullySupported("iptables-restore v1.8.9", "custom-build").supported);
}

}  // namespace
}  // namespace tartan::firewall
