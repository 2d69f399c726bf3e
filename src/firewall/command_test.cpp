#include "firewall/command.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace tartan::firewall {
namespace {

// These run coreutils programs: the runner itself is what is under test.

TEST(SpawnCommandRunner, FeedsStdinAndCapturesStdout) {
  SpawnCommandRunner runner;
  // Larger than any pipe buffer, so writing stdin and reading stdout must interleave.
  std::string big;
  for (int i = 0; big.size() < (1u << 20); ++i)
    big += "-A POSTROUTING -j RETURN " + std::to_string(i) + "\n";
  auto r = runner.Run({"cat"}, big);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, big);
  EXPECT_EQ(r->err, "");
}

TEST(SpawnCommandRunner, ReportsExitCodeAndStderr) {
  SpawnCommandRunner runner;
  auto r = runner.Run({"cat", "/nonexistent/tartan-test"}, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("/nonexistent/tartan-test"), std::string::npos) << r->err;
  EXPECT_EQ(r->out, "");
}

TEST(SpawnCommandRunner, ChildIgnoringStdinDoesNotKillUs) {
  SpawnCommandRunner runner;
  // `true` exits without reading: our writes hit a closed socket (EPIPE, not SIGPIPE).
  auto r = runner.Run({"true"}, std::string(4u << 20, 'x'));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
}

TEST(SpawnCommandRunner, ArgumentsAreNotInterpretedByAShell) {
  SpawnCommandRunner runner;
  auto r = runner.Run({"echo", "$HOME; false", "*"}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "$HOME; false *\n");
  EXPECT_EQ(r->exit_code, 0);
}

TEST(SpawnCommandRunner, MissingProgramIsNotFound) {
  SpawnCommandRunner runner;
  auto r = runner.Run({"tartan-test-no-such-program"}, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kNotFound);
  EXPECT_NE(r.error().message.find("tartan-test-no-such-program"), std::string::npos);
  EXPECT_FALSE(runner.Run({}, {}).ok());
}

TEST(SpawnCommandRunner, HungChildIsKilledAtTheDeadline) {
  SpawnCommandRunner runner(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto r = runner.Run({"sleep", "30"}, {});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kUnavailable);
  EXPECT_NE(r.error().message.find("sleep 30: no answer after 300 ms"), std::string::npos)
      << r.error().message;
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(FindExecutable, SearchesPathInOrder) {
  auto sh = FindExecutable("sh", "/nonexistent:/usr/bin:/bin");
  ASSERT_TRUE(sh.has_value());
  EXPECT_TRUE(*sh == "/usr/bin/sh" || *sh == "/bin/sh") << *sh;
  EXPECT_FALSE(FindExecutable("sh", "/nonexistent").has_value());
  EXPECT_FALSE(FindExecutable("", "/bin").has_value());
  // A directory is not an executable, even though it is "executable" for access().
  EXPECT_FALSE(FindExecutable("bin", "/").has_value());
  EXPECT_EQ(FindExecutable("/bin/sh", "").value_or(""), "/bin/sh");
  EXPECT_FALSE(FindExecutable("/nonexistent/sh", "/bin").has_value());
}

}  // namespace
}  // namespace tartan::firewall
