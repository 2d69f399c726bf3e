#include "cni/delegate_exec.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tartan::cni {
namespace {

namespace fs = std::filesystem;

class DelegateExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tartan-cni-exec-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "a");
    fs::create_directories(dir_ / "b");
    // main() ignores SIGPIPE; the test process must too, for the early-exit case.
    ::signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Script(const std::string& rel, const std::string& body, bool exec = true) {
    fs::path p = dir_ / rel;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    ::chmod(p.c_str(), exec ? 0755 : 0644);
    return p.string();
  }

  fs::path dir_;
};

TEST_F(DelegateExecTest, FindsTheFirstExecutableInPath) {
  Script("a/bridge", "exit 0\n", /*exec=*/false);  // not executable: skipped
  std::string b = Script("b/bridge", "exit 0\n");
  auto found = FindPlugin("bridge", (dir_ / "a").string() + "::" + (dir_ / "b").string());
  ASSERT_TRUE(found.ok()) << found.error().msg;
  EXPECT_EQ(*found, b);

  auto missing = FindPlugin("portmap", (dir_ / "a").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, static_cast<uint32_t>(ErrorCode::kInternal));
  EXPECT_NE(missing.error().msg.find("\"portmap\""), std::string::npos);
  // A directory of that name is not a plugin.
  fs::create_directories(dir_ / "a" / "dir");
  EXPECT_FALSE(FindPlugin("dir", (dir_ / "a").string()).ok());
}

TEST_F(DelegateExecTest, PassesStdinEnvironmentAndCommand) {
  std::string p = Script("a/echo",
                         "cat > \"$0.stdin\"\n"
                         "printf '{\"cmd\":\"%s\",\"extra\":\"%s\"}' \"$CNI_COMMAND\" "
                         "\"$TARTAN_CNI_TEST_VAR\"\n");
  ::setenv("TARTAN_CNI_TEST_VAR", "kept", 1);
  ::setenv("CNI_COMMAND", "ADD", 1);
  auto out = ExecPlugin(p, "DEL", R"({"name":"x"})");
  ::unsetenv("CNI_COMMAND");
  ASSERT_TRUE(out.ok()) << out.error().msg;
  EXPECT_EQ(*out, R"({"cmd":"DEL","extra":"kept"})");
  std::ifstream in(p + ".stdin");
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, R"({"name":"x"})");
}

TEST_F(DelegateExecTest, KeepsTheDelegatesErrorCode) {
  std::string p = Script("a/fail",
                         "printf '{\"code\":11,\"msg\":\"busy\",\"details\":\"d\"}'\n"
                         "exit 1\n");
  auto out = ExecPlugin(p, "ADD", "{}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), (CniError{11, "busy", "d"}));
}

TEST_F(DelegateExecTest, FailureWithoutJsonIsInternal) {
  auto out = ExecPlugin(Script("a/silent", "exit 3\n"), "ADD", "{}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, 999u);
  EXPECT_NE(out.error().msg.find("exit status 3"), std::string::npos);

  out = ExecPlugin(Script("a/garbage", "echo oops; exit 1\n"), "ADD", "{}");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().msg.find("oops"), std::string::npos);

  out = ExecPlugin(Script("a/killed", "kill -9 $$\n"), "ADD", "{}");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().msg.find("signal 9"), std::string::npos);
}

TEST_F(DelegateExecTest, PluginThatIgnoresALargeStdin) {
  std::string big(1 << 20, 'x');
  auto out = ExecPlugin(Script("a/early", "echo '{}'\n"), "ADD", big);
  ASSERT_TRUE(out.ok()) << out.error().msg;
  EXPECT_EQ(*out, "{}\n");
}

TEST_F(DelegateExecTest, UnstartablePlugin) {
  std::string p = (dir_ / "a" / "nope").string();
  std::ofstream(p) << "\x7f"
                      "ELF garbage";
  ::chmod(p.c_str(), 0755);
  auto out = ExecPlugin(p, "ADD", "{}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, 999u);
}

}  // namespace
}  // namespace tartan::cni
