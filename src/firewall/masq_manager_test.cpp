#include "firewall/masq_manager.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>

namespace tartan::firewall {
namespace {

net::Ip4Net N(const char* text) { return net::Ip4Net::Parse(text).value(); }

// Answers iptables-save from per-table text and records every call.
struct FakeTools {
  std::map<std::string, std::string> saved;  // table -> iptables-save output
  CommandOutput save_failure;                // used when exit_code != 0
  CommandOutput restore_result;
  std::optional<Error> spawn_error;
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> restore_inputs;
  // What `iptables-restore --version` prints; such calls are counted, not recorded in calls.
  std::string restore_version = "iptables-restore v1.8.9 (nf_tables)\n";
  int version_calls = 0;
};

class FakeRunner : public CommandRunner {
 public:
  explicit FakeRunner(std::shared_ptr<FakeTools> tools) : tools_(std::move(tools)) {}
  Result<CommandOutput> Run(const std::vector<std::string>& argv, std::string_view input) override {
    if (tools_->spawn_error) return *tools_->spawn_error;
    if (argv.size() == 2 && argv[1] == "--version") {
      ++tools_->version_calls;
      return CommandOutput{0, tools_->restore_version, ""};
    }
    tools_->calls.push_back(argv);
    if (argv[0] == "iptables-save") {
      if (tools_->save_failure.exit_code != 0) return tools_->save_failure;
      EXPECT_EQ(argv.size(), 3u);
      EXPECT_EQ(argv[1], "-t");
      EXPECT_TRUE(input.empty());
      return CommandOutput{0, tools_->saved[argv[2]], ""};
    }
    tools_->restore_inputs.emplace_back(input);
    return tools_->restore_result;
  }

 private:
  std::shared_ptr<FakeTools> tools_;
};

struct Fixture {
  std::shared_ptr<FakeTools> tools = std::make_shared<FakeTools>();
  MasqManager Make(MasqOptions options = {}) {
    auto m = MasqManager::Create(N("10.244.0.0/16"), N("10.244.1.0/24"), options,
                                 std::make_unique<FakeRunner>(tools));
    EXPECT_TRUE(m.ok()) << m.error().message;
    return std::move(m).value();
  }
  // What iptables-save would print after `script` ran on an empty table (enough for the
  // scripts tartan writes on a fresh node: declarations, then -I/-A lines).
  static std::string AfterFreshApply(const std::string& script) {
    std::string table, decls, rules, builtins;
    std::map<std::string, std::vector<std::string>> chains;
    std::vector<std::string> order;
    size_t start = 0;
    while (start < script.size()) {
      size_t nl = script.find('\n', start);
      std::string line = script.substr(start, nl - start);
      start = nl + 1;
      if (line[0] == '*') {
        table = line.substr(1);
      } else if (line[0] == ':') {
        decls += line + "\n";
      } else if (line.rfind("-I ", 0) == 0 || line.rfind("-A ", 0) == 0) {
        const size_t sp = line.find(' ', 3);
        const std::string chain = line.substr(3, sp - 3);
        std::string rule = line.substr(sp + 1);
        if (line[1] == 'I') rule = rule.substr(2);  // "1 "
        if (!chains.count(chain)) order.push_back(chain);
        auto& v = chains[chain];
        if (line[1] == 'I') {
          v.insert(v.begin(), rule);
        } else {
          v.push_back(rule);
        }
      }
    }
    std::string out = "*" + table + "\n";
    for (const char* b : {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}) {
      out += ":" + std::string(b) + " ACCEPT [0:0]\n";
    }
    out += decls;
    for (const auto& c : order) {
      for (const auto& r : chains[c]) out += "-A " + c + " " + r + "\n";
    }
    return out + "COMMIT\n";
  }
};

TEST(MasqManager, CreateRejectsBadNetworks) {
  auto tools = std::make_shared<FakeTools>();
  struct Case {
    const char* network;
    const char* subnet;
  };
  for (const Case& c : {Case{"10.244.0.0/16", "10.245.1.0/24"}, Case{"10.244.0.0/16", "10.0.0.0/8"},
                        Case{"0.0.0.0/0", "10.0.1.0/24"}}) {
    auto m =
        MasqManager::Create(N(c.network), N(c.subnet), {}, std::make_unique<FakeRunner>(tools));
    ASSERT_FALSE(m.ok()) << c.network << " " << c.subnet;
    EXPECT_EQ(m.error().code, Error::Code::kInvalidArgument);
  }
  EXPECT_TRUE(tools->calls.empty());
}

TEST(MasqManager, CreateFindsToolsInPathOrSaysWhichIsMissing) {
  MasqOptions o;
  o.save_command = "tartan-test-no-such-iptables-save";
  auto m = MasqManager::Create(N("10.244.0.0/16"), N("10.244.1.0/24"), o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Error::Code::kFailedPrecondition);
  EXPECT_NE(m.error().message.find("tartan-test-no-such-iptables-save not found"),
            std::string::npos)
      << m.error().message;
  // Any executable stands in for the tools here; only the lookup is under test.
  o.save_command = "true";
  o.restore_command = "/bin/true";
  auto ok = MasqManager::Create(N("10.244.0.0/16"), N("10.244.1.0/24"), o);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->save_command().front(), '/');
  EXPECT_EQ(ok->restore_command(), "/bin/true");
}

TEST(MasqManager, FreshNodeOneSaveAndOneRestorePerTable) {
  Fixture f;
  MasqManager m = f.Make();
  auto r = m.Ensure();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->restores, 2);
  EXPECT_TRUE(r->changed());
  EXPECT_EQ(r->repairs.size(), 5u);
  const std::vector<std::vector<std::string>> calls = {
      {"iptables-save", "-t", "nat"},
      {"iptables-restore", "--noflush", "--wait=5"},
      {"iptables-save", "-t", "filter"},
      {"iptables-restore", "--noflush", "--wait=5"},
  };
  EXPECT_EQ(f.tools->calls, calls);
  ASSERT_EQ(f.tools->restore_inputs.size(), 2u);
  EXPECT_EQ(f.tools->restore_inputs[0], PlanEnsure(m.tables()[0], TableDump{}).script);
  EXPECT_EQ(f.tools->restore_inputs[1].substr(0, 22), "*filter\n:FLANNEL-FWD -");
}

TEST(MasqManager, SteadyStateIsReadOnly) {
  Fixture f;
  MasqManager m = f.Make();
  ASSERT_TRUE(m.Ensure().ok());
  f.tools->saved["nat"] = Fixture::AfterFreshApply(f.tools->restore_inputs[0]);
  f.tools->saved["filter"] = Fixture::AfterFreshApply(f.tools->restore_inputs[1]);
  f.tools->calls.clear();
  auto r = m.Ensure();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->changed());
  EXPECT_TRUE(r->repairs.empty());
  const std::vector<std::vector<std::string>> calls = {{"iptables-save", "-t", "nat"},
                                                       {"iptables-save", "-t", "filter"}};
  EXPECT_EQ(f.tools->calls, calls);
}

TEST(MasqManager, OptionsChooseTheTables) {
  struct Case {
    MasqOptions options;
    std::vector<std::string> tables;
  };
  const Case cases[] = {
      {MasqOptions{}, {"nat", "filter"}},
      {MasqOptions{.masquerade = true, .forward_rules = false}, {"nat"}},
      {MasqOptions{.masquerade = false, .forward_rules = true, .keep_pod_source = false},
       {"filter"}},
      {MasqOptions{.masquerade = false, .forward_rules = false, .keep_pod_source = true}, {"nat"}},
  };
  for (const auto& c : cases) {
    Fixture f;
    MasqManager m = f.Make(c.options);
    ASSERT_TRUE(m.Ensure().ok());
    std::vector<std::string> read;
    for (const auto& call : f.tools->calls) {
      if (call[0] == "iptables-save") read.push_back(call[2]);
    }
    EXPECT_EQ(read, c.tables);
  }
}

TEST(MasqManager, KeepsAnythingOnlyWhenSomeRuleIsAskedFor) {
  EXPECT_TRUE(MasqOptions{}.keeps_anything());
  EXPECT_TRUE((MasqOptions{.masquerade = false, .forward_rules = false, .keep_pod_source = true}
                   .keeps_anything()));
  EXPECT_TRUE((MasqOptions{.masquerade = true, .forward_rules = false, .keep_pod_source = false}
                   .keeps_anything()));
  EXPECT_TRUE((MasqOptions{.masquerade = false, .forward_rules = true, .keep_pod_source = false}
                   .keeps_anything()));
  const MasqOptions none{.masquerade = false, .forward_rules = false, .keep_pod_source = false};
  EXPECT_FALSE(none.keeps_anything());
  // Should a manager be made anyway, it has no table and runs no tool.
  Fixture f;
  MasqManager m = f.Make(none);
  EXPECT_TRUE(m.tables().empty());
  auto r = m.Ensure();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed());
  EXPECT_TRUE(f.tools->calls.empty());
}

// tartand's default without --ip-masq: the keep-pod-source rule, nothing else in nat.
TEST(MasqManager, KeepPodSourceWithoutMasqueradeWritesOnlyThatRule) {
  Fixture f;
  MasqManager m = f.Make({.masquerade = false, .forward_rules = false, .keep_pod_source = true});
  f.tools->saved["nat"] =
      "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.244.1.0/24 ! -o cni0 -j MASQUERADE\n"
      "COMMIT\n";
  auto r = m.Ensure();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->restores, 1);
  ASSERT_EQ(f.tools->restore_inputs.size(), 1u);
  EXPECT_EQ(f.tools->restore_inputs[0],
            "*nat\n-I POSTROUTING 1 -s 10.244.0.0/16 -d 10.244.0.0/16 -m mark ! --mark "
            "0x4000/0x4000 -m comment --comment \"tartan: keep pod source addresses\" -j ACCEPT\n"
            "COMMIT\n");
  const std::vector<std::vector<std::string>> calls = {
      {"iptables-save", "-t", "nat"}, {"iptables-restore", "--noflush", "--wait=5"}};
  EXPECT_EQ(f.tools->calls, calls);
}

TEST(MasqManager, SaveFailureNamesTheCommandAndItsStderr) {
  Fixture f;
  MasqManager m = f.Make();
  f.tools->save_failure = {4, "",
                           "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation "
                           "id: Permission denied (you must be root)\n"};
  auto r = m.Ensure();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kUnavailable);
  EXPECT_EQ(r.error().message,
            "iptables-save -t nat exited 4: iptables-save v1.8.9 (nf_tables): Could not fetch "
            "rule set generation id: Permission denied (you must be root)");
  EXPECT_TRUE(f.tools->restore_inputs.empty());
}

TEST(MasqManager, RestoreFailureNamesTheCommandAndItsStderr) {
  Fixture f;
  MasqManager m = f.Make();
  f.tools->restore_result = {1, "",
                             "iptables-restore: line 2 failed: Bad rule (does a matching rule "
                             "exist in that chain?).\n"};
  auto r = m.Ensure();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "iptables-restore --noflush (table nat) exited 1: iptables-restore: line 2 failed: "
            "Bad rule (does a matching rule exist in that chain?).");
  // The failing table stops the pass; the next resync retries from a fresh read.
  EXPECT_EQ(f.tools->restore_inputs.size(), 1u);
}

TEST(MasqManager, SpawnAndParseErrorsPropagate) {
  Fixture f;
  MasqManager m = f.Make();
  f.tools->saved["nat"] = "*nat\n-A POSTROUTING -j RETURN\nCOMMIT\n";
  auto r = m.Ensure();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::Code::kInvalidArgument);
  EXPECT_EQ(r.error().message.rfind("iptables-save -t nat: iptables-save line 2", 0), 0u)
      << r.error().message;

  f.tools->spawn_error = Error::NotFound("cannot run iptables-save: No such file or directory");
  auto s = m.Ensure();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Error::Code::kNotFound);
}

// --random-fully is written only when the restore tool (and the kernel) know it; otherwise the
// rules go without it and the manager says why, instead of a restore that fails every resync.
TEST(MasqManager, RandomFullyOnlyWhereTheToolKnowsIt) {
  auto masquerade_rules = [](const MasqManager& m) {
    std::string all;
    for (const auto& chain : m.tables()[0].chains) {
      for (const auto& rule : chain.rules) all += rule + "\n";
    }
    return all;
  };
  {
    Fixture f;
    MasqManager m = f.Make();
    EXPECT_EQ(f.tools->version_calls, 1);
    EXPECT_EQ(m.random_fully_note(), "");
    EXPECT_NE(masquerade_rules(m).find("-j MASQUERADE --random-fully"), std::string::npos);
  }
  {
    Fixture f;
    f.tools->restore_version = "iptables-restore v1.4.21\n";
    MasqManager m = f.Make();
    EXPECT_EQ(m.random_fully_note(),
              "MASQUERADE without --random-fully: iptables 1.4.21 is older than 1.6.2, the first "
              "to know --random-fully");
    const std::string rules = masquerade_rules(m);
    EXPECT_EQ(rules.find("--random-fully"), std::string::npos) << rules;
    EXPECT_NE(rules.find("-j MASQUERADE"), std::string::npos) << rules;
  }
  {
    // --ip-masq-fully-random-disable: not asked, not checked, nothing to say.
    Fixture f;
    MasqManager m = f.Make(MasqOptions{.random_fully = false});
    EXPECT_EQ(f.tools->version_calls, 0);
    EXPECT_EQ(m.random_fully_note(), "");
    EXPECT_EQ(masquerade_rules(m).find("--random-fully"), std::string::npos);
  }
  {
    // No masquerading at all (only the keep-pod-source rule): no MASQUERADE, no check.
    Fixture f;
    MasqManager m = f.Make(MasqOptions{.masquerade = false});
    EXPECT_EQ(f.tools->version_calls, 0);
    EXPECT_EQ(m.random_fully_note(), "");
  }
}

TEST(MasqManager, PlanDoesNotWrite) {
  Fixture f;
  MasqManager m = f.Make();
  auto plans = m.Plan();
  ASSERT_TRUE(plans.ok());
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_FALSE((*plans)[0].empty());
  EXPECT_TRUE(f.tools->restore_inputs.empty());
}

TEST(MasqManager, RemoveDeletesWhatEnsureAdded) {
  Fixture f;
  MasqManager m = f.Make();
  ASSERT_TRUE(m.Ensure().ok());
  f.tools->saved["nat"] = Fixture::AfterFreshApply(f.tools->restore_inputs[0]);
  f.tools->saved["filter"] = Fixture::AfterFreshApply(f.tools->restore_inputs[1]);
  f.tools->restore_inputs.clear();
  auto r = m.Remove();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->restores, 2);
  ASSERT_EQ(f.tools->restore_inputs.size(), 2u);
  EXPECT_EQ(f.tools->restore_inputs[1],
            "*filter\n"
            "-D FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n"
            "-F FLANNEL-FWD\n"
            "-X FLANNEL-FWD\n"
            "COMMIT\n");
  // Nothing left: Remove is idempotent.
  f.tools->saved.clear();
  f.tools->restore_inputs.clear();
  auto again = m.Remove();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->restores, 0);
}

}  // namespace
}  // namespace tartan::firewall
