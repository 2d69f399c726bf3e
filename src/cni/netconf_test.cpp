#include "cni/netconf.hpp"

#include <gtest/gtest.h>

#include <map>

namespace tartan::cni {
namespace {

using nlohmann::json;

constexpr uint32_t Code(ErrorCode c) { return static_cast<uint32_t>(c); }

Getenv EnvOf(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

const char kEnv[] =
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\n"
    "FLANNEL_IPMASQ=true\n";

model::SubnetEnv Env(const char* text = kEnv) {
  auto env = ParseFlannelEnv(text, "subnet.env");
  EXPECT_TRUE(env.ok()) << (env.ok() ? "" : env.error().msg);
  return *env;
}

NetConf Conf(const std::string& text) {
  auto c = ParseNetConf(text);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().msg);
  return *c;
}

TEST(CniErrorJson, HasTheSpecFields) {
  auto j = json::parse(ErrorJson(CniError::Make(ErrorCode::kTryAgainLater, "m", "d"), "0.4.0"));
  EXPECT_EQ(j, json::parse(R"({"cniVersion":"0.4.0","code":11,"msg":"m","details":"d"})"));
  // No details -> no key; no known version -> the highest one spoken.
  j = json::parse(ErrorJson(CniError::Make(ErrorCode::kInvalidNetworkConfig, "x"), ""));
  EXPECT_EQ(j, json::parse(R"({"cniVersion":"1.0.0","code":7,"msg":"x"})"));
  // A message quoting a file's bytes stays valid JSON.
  EXPECT_NO_THROW(json::parse(ErrorJson(CniError::Make(ErrorCode::kInternal, "\xff\xfe"), "")));
}

TEST(CniVersion, ListsTheVersionsSpoken) {
  auto j = json::parse(VersionJson());
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["supportedVersions"],
            json::parse(R"(["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0"])"));
}

TEST(CniVersion, CheckVersion) {
  EXPECT_TRUE(CheckVersion("0.3.1", "ADD").ok());
  EXPECT_TRUE(CheckVersion("1.0.0", "DEL").ok());
  EXPECT_TRUE(CheckVersion("", "ADD").ok());  // 0.1.0
  auto s = CheckVersion("1.1.0", "ADD");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code(ErrorCode::kIncompatibleVersion));
  EXPECT_NE(s.error().details.find("config is \"1.1.0\""), std::string::npos);
  EXPECT_FALSE(CheckVersion("banana", "ADD").ok());
  // CHECK arrived with 0.4.0.
  EXPECT_TRUE(CheckVersion("0.4.0", "CHECK").ok());
  EXPECT_TRUE(CheckVersion("1.0.0", "CHECK").ok());
  s = CheckVersion("0.3.1", "CHECK");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code(ErrorCode::kIncompatibleVersion));
  EXPECT_FALSE(CheckVersion("", "CHECK").ok());
}

TEST(CniInvocation, ReadsAndValidates) {
  auto inv = ReadInvocation(EnvOf({{"CNI_COMMAND", "ADD"},
                                   {"CNI_CONTAINERID", "abc-1.x_y"},
                                   {"CNI_NETNS", "/var/run/netns/p"},
                                   {"CNI_IFNAME", "eth0"},
                                   {"CNI_PATH", "/usr/lib/cni"}}));
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->container_id, "abc-1.x_y");

  // Every missing variable is named at once.
  inv = ReadInvocation(EnvOf({{"CNI_COMMAND", "ADD"}, {"CNI_IFNAME", "eth0"}}));
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.error().code, Code(ErrorCode::kInvalidEnvironment));
  EXPECT_EQ(inv.error().msg, "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_PATH] missing");

  // DEL does not need CNI_NETNS (the namespace may be gone).
  EXPECT_TRUE(ReadInvocation(EnvOf({{"CNI_COMMAND", "DEL"},
                                    {"CNI_CONTAINERID", "c"},
                                    {"CNI_IFNAME", "eth0"},
                                    {"CNI_PATH", "/x"}}))
                  .ok());
  // VERSION needs nothing else.
  EXPECT_TRUE(ReadInvocation(EnvOf({{"CNI_COMMAND", "VERSION"}})).ok());
  EXPECT_FALSE(ReadInvocation(EnvOf({})).ok());
}

TEST(CniInvocation, ContainerIdCannotLeaveDataDir) {
  for (const char* id : {"../etc", "..", ".", "a/b", "-x", "a b"}) {
    auto inv = ReadInvocation(EnvOf({{"CNI_COMMAND", "DEL"},
                                     {"CNI_CONTAINERID", id},
                                     {"CNI_IFNAME", "eth0"},
                                     {"CNI_PATH", "/x"}}));
    ASSERT_FALSE(inv.ok()) << id;
    EXPECT_EQ(inv.error().code, Code(ErrorCode::kInvalidEnvironment)) << id;
  }
}

TEST(CniInvocation, InterfaceNames) {
  for (const char* name : {"eth0:1", "a/b", "sixteen-chars-xx", "..", "a b"}) {
    auto inv = ReadInvocation(EnvOf({{"CNI_COMMAND", "DEL"},
                                     {"CNI_CONTAINERID", "c"},
                                     {"CNI_IFNAME", name},
                                     {"CNI_PATH", "/x"}}));
    ASSERT_FALSE(inv.ok()) << name;
    EXPECT_EQ(inv.error().code, Code(ErrorCode::kInvalidEnvironment)) << name;
  }
}

TEST(CniNetConf, DefaultsAreFlannels) {
  NetConf c = Conf(R"({"cniVersion":"0.3.1","name":"cbr0","type":"flannel"})");
  EXPECT_EQ(c.name, "cbr0");
  EXPECT_EQ(c.cni_version, "0.3.1");
  EXPECT_EQ(c.subnet_file, "/run/flannel/subnet.env");
  EXPECT_EQ(c.data_dir, "/var/lib/cni/flannel");
  EXPECT_TRUE(c.delegate.is_null());

  c = Conf(R"({"name":"n","subnetFile":"/s","dataDir":"/d","delegate":{"hairpinMode":true},
               "ipam":{"dataDir":"/i"},"runtimeConfig":{"portMappings":[]},"other":1})");
  EXPECT_EQ(c.subnet_file, "/s");
  EXPECT_EQ(c.data_dir, "/d");
  EXPECT_EQ(c.delegate, json::parse(R"({"hairpinMode":true})"));
  EXPECT_EQ(c.ipam, json::parse(R"({"dataDir":"/i"})"));
  EXPECT_EQ(c.runtime_config, json::parse(R"({"portMappings":[]})"));
}

TEST(CniNetConf, BadConfigsGetSpecCodes) {
  struct Case {
    const char* text;
    ErrorCode code;
  } cases[] = {
      {"", ErrorCode::kDecodingFailure},
      {"{", ErrorCode::kDecodingFailure},
      {"[]", ErrorCode::kDecodingFailure},
      {R"({"name":5})", ErrorCode::kDecodingFailure},
      {R"({"name":"n","delegate":"bridge"})", ErrorCode::kDecodingFailure},
      {R"({"name":"n","subnetFile":7})", ErrorCode::kDecodingFailure},
      {R"({"name":"n","ipam":[]})", ErrorCode::kDecodingFailure},
      {R"({"type":"flannel"})", ErrorCode::kInvalidNetworkConfig},
      {R"({"name":""})", ErrorCode::kInvalidNetworkConfig},
      {R"({"name":"a/b"})", ErrorCode::kInvalidNetworkConfig},
      {R"({"name":"n","dataDir":""})", ErrorCode::kInvalidNetworkConfig},
  };
  for (const auto& c : cases) {
    auto r = ParseNetConf(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code, Code(c.code)) << c.text << ": " << r.error().msg;
  }
}

TEST(CniNetConf, DelegateRulesOfFlannel) {
  EXPECT_TRUE(ValidateDelegate(Conf(R"({"name":"n"})")).ok());
  EXPECT_TRUE(ValidateDelegate(Conf(R"({"name":"n","delegate":{"type":"ipvlan"}})")).ok());
  for (const char* text :
       {R"({"name":"n","delegate":{"type":1}})", R"({"name":"n","delegate":{"name":"x"}})",
        R"({"name":"n","delegate":{"ipam":{}}})"}) {
    auto s = ValidateDelegate(Conf(text));
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code, Code(ErrorCode::kInvalidNetworkConfig));
  }
}

TEST(CniSubnetEnv, ReadsTartansAndFlannelsFile) {
  model::SubnetEnv env = Env();
  EXPECT_EQ(env.subnet->ToString(), "10.244.7.0/24");
  EXPECT_EQ(env.network->ToString(), "10.244.0.0/16");
  EXPECT_EQ(env.mtu, 1450);
  EXPECT_TRUE(env.ipmasq);
}

TEST(CniSubnetEnv, MissingKeysAreNamed) {
  auto r = ParseFlannelEnv("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n", "/f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code(ErrorCode::kDecodingFailure));
  EXPECT_EQ(r.error().msg, "/f is missing FLANNEL_MTU, FLANNEL_IPMASQ");
  r = ParseFlannelEnv("FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n", "/f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().msg,
            "/f is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, "
            "FLANNEL_IPV6_SUBNET");
  r = ParseFlannelEnv("FLANNEL_SUBNET=banana\n", "/f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code(ErrorCode::kDecodingFailure));
  // export-prefixed lines count as present, as the parser reads them.
  EXPECT_TRUE(
      ParseFlannelEnv("export FLANNEL_NETWORK=10.1.0.0/16\nexport FLANNEL_SUBNET=10.1.2.1/24\n"
                      "export FLANNEL_MTU=1400\nexport FLANNEL_IPMASQ=false\n",
                      "/f")
          .ok());
}

TEST(CniSubnetEnv, MissingFileIsTryAgainLater) {
  auto r = ReadFlannelEnv("/nonexistent-tartan-test/subnet.env");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code(ErrorCode::kTryAgainLater));
  EXPECT_NE(r.error().msg.find("/nonexistent-tartan-test/subnet.env"), std::string::npos);
}

TEST(CniDelegate, FlannelsDefaultRendering) {
  auto d = BuildDelegate(Conf(R"({"cniVersion":"0.3.1","name":"cbr0","type":"flannel"})"), Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, json::parse(R"({
    "cniVersion":"0.3.1","name":"cbr0","type":"bridge","ipMasq":false,"mtu":1450,
    "isGateway":true,
    "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.7.0/24"}]],
            "routes":[{"dst":"10.244.0.0/16"}]}})"));
}

TEST(CniDelegate, IpMasqIsTheOppositeOfTartans) {
  auto d = BuildDelegate(Conf(R"({"name":"n"})"),
                         Env("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.2.1/24\n"
                             "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["ipMasq"], true);
  EXPECT_EQ((*d)["mtu"], 1500);
  EXPECT_FALSE(d->contains("cniVersion"));  // not given, not invented
}

TEST(CniDelegate, UserKeysWin) {
  // kube-flannel's own configuration.
  auto d = BuildDelegate(Conf(R"({"cniVersion":"1.0.0","name":"cbr0","type":"flannel",
               "delegate":{"hairpinMode":true,"isDefaultGateway":true,"ipMasq":true,"mtu":1400,
                           "isGateway":false,"bridge":"mynet0"}})"),
                         Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["hairpinMode"], true);
  EXPECT_EQ((*d)["isDefaultGateway"], true);
  EXPECT_EQ((*d)["ipMasq"], true);
  EXPECT_EQ((*d)["mtu"], 1400);
  EXPECT_EQ((*d)["isGateway"], false);
  EXPECT_EQ((*d)["bridge"], "mynet0");
  EXPECT_EQ((*d)["cniVersion"], "1.0.0");
  EXPECT_EQ((*d)["type"], "bridge");
}

TEST(CniDelegate, OtherDelegateTypesGetNoIsGateway) {
  auto d =
      BuildDelegate(Conf(R"({"name":"n","delegate":{"type":"ipvlan","master":"eth0"}})"), Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["type"], "ipvlan");
  EXPECT_FALSE(d->contains("isGateway"));
  EXPECT_EQ((*d)["ipam"]["type"], "host-local");
}

TEST(CniDelegate, DelegateCniVersionIsTheConfigurations) {
  auto d = BuildDelegate(Conf(R"({"cniVersion":"0.4.0","name":"n","delegate":
                                  {"cniVersion":"0.3.1"}})"),
                         Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["cniVersion"], "0.4.0");
}

TEST(CniDelegate, TopLevelIpamIsTheBase) {
  auto d =
      BuildDelegate(Conf(R"({"name":"n","ipam":{"dataDir":"/tmp/x","routes":[{"dst":"0.0.0.0/0"}],
               "ranges":[[{"subnet":"192.168.0.0/24"}]]},"runtimeConfig":{"a":1}})"),
                    Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["ipam"], json::parse(R"({"type":"host-local","dataDir":"/tmp/x",
      "ranges":[[{"subnet":"10.244.7.0/24"}]],
      "routes":[{"dst":"0.0.0.0/0"},{"dst":"10.244.0.0/16"}]})"));
  EXPECT_EQ((*d)["runtimeConfig"], json::parse(R"({"a":1})"));
  // An ipam type of the user's is kept.
  d = BuildDelegate(Conf(R"({"name":"n","ipam":{"type":"static"}})"), Env());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["ipam"]["type"], "static");
}

TEST(CniDelegate, BadRoutesAreInvalidConfig) {
  for (const char* text : {R"({"name":"n","ipam":{"routes":{}}})",
                           R"({"name":"n","ipam":{"routes":[{"gw":"1.2.3.4"}]}})"}) {
    auto d = BuildDelegate(Conf(text), Env());
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().code, Code(ErrorCode::kInvalidNetworkConfig));
  }
}

TEST(CniDelegate, DualStack) {
  auto d =
      BuildDelegate(Conf(R"({"name":"n"})"),
                    Env("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.2.1/24\n"
                        "FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:2::1/64\n"
                        "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["ipam"]["ranges"],
            json::parse(R"([[{"subnet":"10.1.2.0/24"}],[{"subnet":"fd00:0:0:2::/64"}]])"));
  EXPECT_EQ((*d)["ipam"]["routes"], json::parse(R"([{"dst":"10.1.0.0/16"},{"dst":"fd00::/56"}])"));
}

TEST(CniDelegate, TypeMustBeAPluginName) {
  EXPECT_EQ(*DelegateType(json::parse(R"({"type":"bridge"})")), "bridge");
  for (const char* t :
       {R"({"type":"../../bin/sh"})", R"({"type":""})", R"({})", R"({"type":".."})"}) {
    auto r = DelegateType(json::parse(t));
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.error().code, Code(ErrorCode::kInvalidNetworkConfig));
  }
}

}  // namespace
}  // namespace tartan::cni
