#include "cni/plugin.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

namespace tartan::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Call {
  std::string type, path, command;
  json conf;
};

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tartan-cni-plugin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    subnet_env_ = (dir_ / "subnet.env").string();
    data_dir_ = (dir_ / "data" / "flannel").string();
    std::ofstream(subnet_env_) << "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n"
                                  "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n";
    env_ = {{"CNI_COMMAND", "ADD"},
            {"CNI_CONTAINERID", "c1"},
            {"CNI_NETNS", "/var/run/netns/p"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", (dir_ / "bin").string()}};
    // ADD looks for the delegate before it saves anything; the runner here is a fake.
    fs::create_directories(dir_ / "bin");
    for (const char* name : {"bridge", "ipvlan"}) {
      std::ofstream(dir_ / "bin" / name) << "#!/bin/sh\nexit 1\n";
      fs::permissions(dir_ / "bin" / name, fs::perms::owner_all);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Config(const std::string& version = "1.0.0", const std::string& extra = "") {
    return R"({"cniVersion":")" + version + R"(","name":"cbr0","type":"flannel","subnetFile":")" +
           subnet_env_ + R"(","dataDir":")" + data_dir_ + "\"" + extra + "}";
  }

  Output Invoke(const std::string& command, const std::string& stdin_text) {
    env_["CNI_COMMAND"] = command;
    auto getenv = [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
    DelegateRunner runner = [this](const std::string& type, const std::string& path,
                                   const std::string& cmd,
                                   const std::string& conf) -> CniResult<std::string> {
      calls_.push_back({type, path, cmd, json::parse(conf)});
      if (auto it = fail_.find(cmd); it != fail_.end()) return it->second;
      return std::string(R"({"cniVersion":"1.0.0","ips":[{"address":"10.244.3.2/24"}]})");
    };
    return cni::Run(getenv, stdin_text, runner, "about line");
  }

  std::string Saved(const std::string& id = "c1") { return data_dir_ + "/" + id; }

  fs::path dir_;
  std::string subnet_env_, data_dir_;
  std::map<std::string, std::string> env_;
  std::vector<Call> calls_;
  std::map<std::string, CniError> fail_;
};

json ErrorOf(const Output& o) { return json::parse(o.out); }

TEST_F(PluginTest, AddSavesTheDelegateAndPrintsItsResult) {
  Output o = Invoke("ADD", Config());
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(json::parse(o.out)["ips"][0]["address"], "10.244.3.2/24");
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].type, "bridge");
  EXPECT_EQ(calls_[0].command, "ADD");
  EXPECT_EQ(calls_[0].path, (dir_ / "bin").string());
  EXPECT_EQ(calls_[0].conf["ipam"]["ranges"][0][0]["subnet"], "10.244.3.0/24");
  EXPECT_EQ(calls_[0].conf["ipMasq"], true);

  std::ifstream in(Saved());
  json saved = json::parse(in);
  EXPECT_EQ(saved, calls_[0].conf);
  struct stat st;
  ASSERT_EQ(::stat(Saved().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(data_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(PluginTest, AddWithoutSubnetEnvIsTryAgainLaterAndMakesNothing) {
  fs::remove(subnet_env_);
  Output o = Invoke("ADD", Config());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 11);
  EXPECT_EQ(ErrorOf(o)["cniVersion"], "1.0.0");
  EXPECT_TRUE(calls_.empty());
  EXPECT_FALSE(fs::exists(data_dir_));
}

TEST_F(PluginTest, BadConfigsMakeNothing) {
  for (const auto& text : {std::string("{nope"), std::string(R"({"cniVersion":"1.0.0"})"),
                           Config("1.0.0", R"(,"delegate":{"name":"x"})"),
                           Config("1.0.0", R"(,"ipam":{"routes":5})"), Config("9.9.9")}) {
    Output o = Invoke("ADD", text);
    EXPECT_EQ(o.exit_code, 1) << text;
    EXPECT_TRUE(ErrorOf(o).contains("code")) << o.out;
  }
  EXPECT_TRUE(calls_.empty());
  EXPECT_FALSE(fs::exists(data_dir_));
}

TEST_F(PluginTest, FailedDelegateAddIsUndone) {
  fail_["ADD"] = CniError{11, "address pool busy", ""};
  Output o = Invoke("ADD", Config());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 11);  // the delegate's code
  EXPECT_NE(ErrorOf(o)["msg"].get<std::string>().find("address pool busy"), std::string::npos);
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].command, "DEL");
  EXPECT_EQ(calls_[1].conf, calls_[0].conf);
  EXPECT_FALSE(fs::exists(Saved()));
}

TEST_F(PluginTest, DelegateNotInstalledMakesNothing) {
  Output o = Invoke("ADD", Config("1.0.0", R"(,"delegate":{"type":"macvlan"})"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(ErrorOf(o)["msg"].get<std::string>().find("macvlan"), std::string::npos);
  EXPECT_TRUE(calls_.empty());
  EXPECT_FALSE(fs::exists(Saved()));
}

TEST_F(PluginTest, FailedUndoKeepsTheSavedDelegateForTheRuntimesDel) {
  fail_["ADD"] = CniError{999, "boom", ""};
  fail_["DEL"] = CniError{999, "boom too", ""};
  EXPECT_EQ(Invoke("ADD", Config()).exit_code, 1);
  EXPECT_TRUE(fs::exists(Saved()));
}

TEST_F(PluginTest, DelReplaysTheSavedDelegate) {
  ASSERT_EQ(Invoke("ADD", Config()).exit_code, 0);
  // DEL does not read subnet.env: the node's agent may be gone.
  fs::remove(subnet_env_);
  env_.erase("CNI_NETNS");
  Output o = Invoke("DEL", Config());
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "");
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].command, "DEL");
  EXPECT_EQ(calls_[1].conf, calls_[0].conf);
  EXPECT_FALSE(fs::exists(Saved()));
  // Again: nothing saved, success, no delegate run.
  o = Invoke("DEL", Config());
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(calls_.size(), 2u);
}

TEST_F(PluginTest, FailedDelKeepsTheFileForARetry) {
  ASSERT_EQ(Invoke("ADD", Config()).exit_code, 0);
  fail_["DEL"] = CniError{11, "locked", ""};
  Output o = Invoke("DEL", Config());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 11);
  EXPECT_TRUE(fs::exists(Saved()));
  fail_.clear();
  EXPECT_EQ(Invoke("DEL", Config()).exit_code, 0);
  EXPECT_FALSE(fs::exists(Saved()));
}

TEST_F(PluginTest, DelWithUnreadableSavedFileSucceeds) {
  fs::create_directories(data_dir_);
  std::ofstream(Saved()) << "not json";
  Output o = Invoke("DEL", Config());
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(calls_.empty());
  EXPECT_FALSE(fs::exists(Saved()));
}

TEST_F(PluginTest, CheckRunsTheDelegatesCheckWithPrevResult) {
  ASSERT_EQ(Invoke("ADD", Config()).exit_code, 0);
  const std::string prev = R"(,"prevResult":{"cniVersion":"1.0.0","ips":[]})";
  Output o = Invoke("CHECK", Config("1.0.0", prev));
  ASSERT_EQ(o.exit_code, 0) << o.out;
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].command, "CHECK");
  EXPECT_EQ(calls_[1].conf["prevResult"], json::parse(R"({"cniVersion":"1.0.0","ips":[]})"));
  EXPECT_EQ(calls_[1].conf["type"], "bridge");

  fail_["CHECK"] = CniError{999, "veth gone", ""};
  o = Invoke("CHECK", Config("1.0.0", prev));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(ErrorOf(o)["msg"].get<std::string>().find("veth gone"), std::string::npos);
}

TEST(CniCheck, RoutesGetTheirGateway) {
  json r = json::parse(R"({"cniVersion":"1.0.0",
      "ips":[{"address":"10.244.3.2/24","gateway":"10.244.3.1"},
             {"address":"fd00::2/64","gateway":"fd00::1"}],
      "routes":[{"dst":"10.244.0.0/16"},{"dst":"0.0.0.0/0","gw":"10.244.3.9"},{"dst":"fd00::/56"}]})");
  json out = WithRouteGateways(r);
  EXPECT_EQ(out["routes"], json::parse(R"([{"dst":"10.244.0.0/16","gw":"10.244.3.1"},
      {"dst":"0.0.0.0/0","gw":"10.244.3.9"},{"dst":"fd00::/56","gw":"fd00::1"}])"));
  // Nothing to fill from: unchanged.
  json bare = json::parse(R"({"routes":[{"dst":"10.0.0.0/8"}],"ips":[{"address":"10.0.0.2/8"}]})");
  EXPECT_EQ(WithRouteGateways(bare), bare);
  EXPECT_EQ(WithRouteGateways(json::object()), json::object());
}

TEST_F(PluginTest, CheckOfAnUnknownContainer) {
  Output o = Invoke("CHECK", Config("1.0.0", R"(,"prevResult":{"cniVersion":"1.0.0"})"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 3);
  // Before 0.4.0 there is no CHECK.
  o = Invoke("CHECK", Config("0.3.1", R"(,"prevResult":{"cniVersion":"0.3.1"})"));
  EXPECT_EQ(ErrorOf(o)["code"], 1);
}

TEST_F(PluginTest, VersionAboutAndUnknownCommands) {
  Output o = Invoke("VERSION", "");
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(json::parse(o.out)["supportedVersions"].size(), 6u);

  env_.erase("CNI_COMMAND");
  o = cni::Run(
      [this](const char* n) -> const char* {
        auto it = env_.find(n);
        return it == env_.end() ? nullptr : it->second.c_str();
      },
      "", nullptr, "about line");
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("about line"), std::string::npos);
  EXPECT_NE(o.err.find("0.3.1, 0.4.0, 1.0.0"), std::string::npos);

  o = Invoke("GC", Config());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 4);
}

TEST_F(PluginTest, MissingEnvironmentIsCode4) {
  env_.erase("CNI_PATH");
  Output o = Invoke("ADD", Config());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(ErrorOf(o)["code"], 4);
  EXPECT_NE(ErrorOf(o)["msg"].get<std::string>().find("CNI_PATH"), std::string::npos);
}

}  // namespace
}  // namespace tartan::cni
