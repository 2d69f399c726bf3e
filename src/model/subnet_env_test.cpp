#include "model/subnet_env.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tartan::model {
namespace {

namespace fs = std::filesystem;

net::Ip4Net V4(const char* s) { return *net::Ip4Net::Parse(s); }
net::Ip6Net V6(const char* s) { return *net::Ip6Net::Parse(s); }

SubnetEnv V4Env() {
  SubnetEnv env;
  env.network = V4("10.5.0.0/16");
  env.subnet = V4("10.5.72.0/24");
  env.mtu = 1450;
  env.ipmasq = false;
  return env;
}

// ---- Format --------------------------------------------------------------------------------

TEST(SubnetEnvFormatTest, WritesFlannelsText) {
  struct Case {
    const char* name;
    SubnetEnv env;
    const char* text;
  };
  SubnetEnv dual = V4Env();
  dual.ipv6_network = V6("fd00:12::/48");
  dual.ipv6_subnet = V6("fd00:12:13::/56");
  dual.ipmasq = true;
  SubnetEnv v6_only;
  v6_only.ipv6_network = V6("fd00::/48");
  v6_only.ipv6_subnet = V6("fd00:0:0:7::/64");
  v6_only.mtu = 1500;
  SubnetEnv noncanonical = V4Env();
  noncanonical.network = V4("10.5.9.9/16");
  noncanonical.subnet = V4("10.5.72.1/24");
  SubnetEnv host = V4Env();
  host.subnet = V4("10.5.72.9/32");
  SubnetEnv pair = V4Env();
  pair.subnet = V4("10.5.72.8/31");
  const std::vector<Case> cases = {
      {"ipv4", V4Env(),
       "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\n"
       "FLANNEL_IPMASQ=false\n"},
      {"dual-stack", dual,
       "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\n"
       "FLANNEL_IPV6_NETWORK=fd00:12::/48\nFLANNEL_IPV6_SUBNET=fd00:12:13::1/56\n"
       "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"},
      {"ipv6 only", v6_only,
       "FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:7::1/64\n"
       "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n"},
      {"empty", SubnetEnv{}, "FLANNEL_MTU=0\nFLANNEL_IPMASQ=false\n"},
      {"host bits ignored", noncanonical,
       "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\n"
       "FLANNEL_IPMASQ=false\n"},
      {"/32 has no .1", host,
       "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.9/32\nFLANNEL_MTU=1450\n"
       "FLANNEL_IPMASQ=false\n"},
      {"/31", pair,
       "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.9/31\nFLANNEL_MTU=1450\n"
       "FLANNEL_IPMASQ=false\n"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.env.Format(), c.text) << c.name;
}

// ---- Parse ---------------------------------------------------------------------------------

TEST(SubnetEnvParseTest, ReadsFlannelsTextBack) {
  auto env = SubnetEnv::Parse(
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\n"
      "FLANNEL_IPMASQ=false\n");
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(*env, V4Env());
  EXPECT_EQ(env->subnet->ToString(), "10.5.72.0/24");
}

TEST(SubnetEnvParseTest, RoundTrips) {
  SubnetEnv dual = V4Env();
  dual.ipv6_network = V6("fd00:12::/48");
  dual.ipv6_subnet = V6("fd00:12:13::/56");
  dual.ipmasq = true;
  SubnetEnv host = V4Env();
  host.subnet = V4("10.5.72.9/32");
  host.ipv6_network = V6("fd00::/64");
  host.ipv6_subnet = V6("fd00::5/128");
  SubnetEnv edge;
  edge.network = V4("255.255.255.0/24");
  edge.subnet = V4("255.255.255.252/30");
  edge.mtu = 65536;
  for (const SubnetEnv& env : {V4Env(), dual, host, edge, SubnetEnv{}}) {
    auto back = SubnetEnv::Parse(env.Format());
    ASSERT_TRUE(back.ok()) << env.Format() << back.error().message;
    EXPECT_EQ(*back, env) << env.Format();
  }
}

TEST(SubnetEnvParseTest, ToleratesWhatDotenvReadersTolerate) {
  auto env = SubnetEnv::Parse(
      "# written by hand\n"
      "\n"
      "   \n"
      "  # indented comment\n"
      "FLANNEL_NETWORK = 10.5.0.0/16\r\n"
      "export FLANNEL_SUBNET=\"10.5.72.1/24\"\n"
      "FLANNEL_MTU='1450'\n"
      "SOMETHING_ELSE=whatever at all\n"
      "FLANNEL_IPMASQ=True\n"
      "FLANNEL_IPMASQ=0");  // the last one wins; no final newline
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(*env, V4Env());

  struct Bool {
    const char* text;
    bool want;
  };
  for (const Bool& b : std::vector<Bool>{{"1", true},
                                         {"t", true},
                                         {"T", true},
                                         {"TRUE", true},
                                         {"true", true},
                                         {"True", true},
                                         {"0", false},
                                         {"f", false},
                                         {"F", false},
                                         {"FALSE", false},
                                         {"false", false},
                                         {"False", false}}) {
    auto e = SubnetEnv::Parse(std::string("FLANNEL_IPMASQ=") + b.text + "\n");
    ASSERT_TRUE(e.ok()) << b.text;
    EXPECT_EQ(e->ipmasq, b.want) << b.text;
  }
}

TEST(SubnetEnvParseTest, NormalisesSubnetAndNetworkToTheirNetworkAddress) {
  auto env = SubnetEnv::Parse(
      "FLANNEL_NETWORK=10.5.3.4/16\nFLANNEL_SUBNET=10.5.72.0/24\n"
      "FLANNEL_IPV6_NETWORK=fd00::9/48\nFLANNEL_IPV6_SUBNET=fd00:12:13::1/56\n");
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(env->network, V4("10.5.0.0/16"));
  EXPECT_EQ(env->subnet, V4("10.5.72.0/24"));
  EXPECT_EQ(env->ipv6_network, V6("fd00::/48"));
  EXPECT_EQ(env->ipv6_subnet, V6("fd00:12:13::/56"));
  EXPECT_EQ(env->mtu, 0);
  EXPECT_FALSE(env->ipmasq);
}

TEST(SubnetEnvParseTest, MalformedKnownLineIsAnErrorNamingIt) {
  struct Case {
    const char* text;
    const char* line;  // expected in the message
  };
  for (const Case& c : std::vector<Case>{
           {"FLANNEL_NETWORK=10.5.0.0\n", "line 1"},
           {"FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/33\n", "line 2"},
           {"\n\nFLANNEL_SUBNET=10.5.256.1/24\n", "line 3"},
           {"FLANNEL_IPV6_NETWORK=10.5.0.0/16\n", "FLANNEL_IPV6_NETWORK"},
           {"FLANNEL_IPV6_SUBNET=fd00::1/129\n", "FLANNEL_IPV6_SUBNET"},
           {"FLANNEL_IPV6_SUBNET=::ffff:10.0.0.1/120\n", "IPv4-mapped"},
           {"FLANNEL_MTU=-1\n", "FLANNEL_MTU"},
           {"FLANNEL_MTU=1450x\n", "FLANNEL_MTU"},
           {"FLANNEL_MTU=\n", "FLANNEL_MTU"},
           {"FLANNEL_MTU=99999999999\n", "FLANNEL_MTU"},
           {"FLANNEL_IPMASQ=yes\n", "FLANNEL_IPMASQ"},
           {"FLANNEL_MTU=1450\nnot a key value line\n", "line 2"},
       }) {
    auto env = SubnetEnv::Parse(c.text);
    ASSERT_FALSE(env.ok()) << c.text;
    EXPECT_EQ(env.error().code, Error::Code::kInvalidArgument);
    EXPECT_NE(env.error().message.find(c.line), std::string::npos) << env.error().message;
  }
}

// ---- WriteSubnetEnv / ReadSubnetEnv ---------------------------------------------------------

class SubnetEnvFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tartan-subnet-env-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static mode_t Mode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  // Only the target remains: no temp files left behind.
  std::vector<std::string> Entries(const fs::path& d) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(d)) out.push_back(e.path().filename().string());
    return out;
  }

  fs::path dir_;
};

TEST_F(SubnetEnvFileTest, WritesContentWithMode0644UnderARestrictiveUmask) {
  const fs::path path = dir_ / "subnet.env";
  mode_t old = ::umask(077);
  Status s = WriteSubnetEnv(path.string(), V4Env());
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Slurp(path), V4Env().Format());
  EXPECT_EQ(Mode(path), 0644u);
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{"subnet.env"});
}

TEST_F(SubnetEnvFileTest, CreatesMissingParentsWithMode0755) {
  const fs::path path = dir_ / "run" / "flannel" / "subnet.env";
  mode_t old = ::umask(077);
  Status s = WriteSubnetEnv(path.string(), V4Env());
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Slurp(path), V4Env().Format());
  EXPECT_EQ(Mode(dir_ / "run"), 0755u);
  EXPECT_EQ(Mode(dir_ / "run" / "flannel"), 0755u);
}

TEST_F(SubnetEnvFileTest, ReplacesAnExistingFile) {
  const fs::path path = dir_ / "subnet.env";
  {
    std::ofstream out(path);
    out << "FLANNEL_NETWORK=192.168.0.0/16\nold junk that is longer than the new content......\n";
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  SubnetEnv env = V4Env();
  env.ipmasq = true;
  Status s = WriteSubnetEnv(path.string(), env);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Slurp(path), env.Format());
  EXPECT_EQ(Mode(path), 0644u);
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{"subnet.env"});

  auto back = ReadSubnetEnv(path.string());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, env);
}

TEST_F(SubnetEnvFileTest, ParentThatIsAFileIsAnErrorNamingThePath) {
  {
    std::ofstream out(dir_ / "plain");
    out << "x";
  }
  const fs::path path = dir_ / "plain" / "sub" / "subnet.env";
  Status s = WriteSubnetEnv(path.string(), V4Env());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(path.string()), std::string::npos) << s.error().message;
}

TEST_F(SubnetEnvFileTest, UnwritableDirectoryIsAnErrorNamingThePath) {
  const fs::path locked = dir_ / "locked";
  ASSERT_TRUE(fs::create_directory(locked));
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
  const std::string path = (locked / "subnet.env").string();

  if (::geteuid() != 0) {
    Status s = WriteSubnetEnv(path, V4Env());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Error::Code::kPermissionDenied);
    EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
    return;
  }
  // root ignores permission bits; try it as nobody in a child process instead.
  fs::permissions(dir_, fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    Status s = WriteSubnetEnv(path, V4Env());
    if (s.ok()) ::_exit(1);
    bool good = s.error().code == Error::Code::kPermissionDenied &&
                s.error().message.find(path) != std::string::npos;
    ::_exit(good ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: write succeeded, 2: wrong error code or message, 3: could not drop privileges";
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(locked));
}

TEST_F(SubnetEnvFileTest, PathNamingADirectoryIsAnError) {
  Status s = WriteSubnetEnv((dir_ / "d/").string(), V4Env());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Error::Code::kInvalidArgument);
  Status e = WriteSubnetEnv("", V4Env());
  EXPECT_FALSE(e.ok());
}

TEST_F(SubnetEnvFileTest, ReadingAMissingFileIsNotFound) {
  auto env = ReadSubnetEnv((dir_ / "nope.env").string());
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, Error::Code::kNotFound);
  EXPECT_NE(env.error().message.find("nope.env"), std::string::npos);
}

TEST_F(SubnetEnvFileTest, ReadingAMalformedFileNamesFileAndLine) {
  const fs::path path = dir_ / "bad.env";
  {
    std::ofstream out(path);
    out << "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=bogus\n";
  }
  auto env = ReadSubnetEnv(path.string());
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, Error::Code::kInvalidArgument);
  EXPECT_NE(env.error().message.find(path.string()), std::string::npos) << env.error().message;
  EXPECT_NE(env.error().message.find("line 2"), std::string::npos) << env.error().message;
}

TEST_F(SubnetEnvFileTest, ReadingAHugeFileIsRefused) {
  const fs::path path = dir_ / "huge.env";
  {
    std::ofstream out(path);
    for (int i = 0; i < 20000; ++i) out << "# padding padding padding\n";
  }
  auto env = ReadSubnetEnv(path.string());
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, Error::Code::kInvalidArgument);
}

}  // namespace
}  // namespace tartan::model
