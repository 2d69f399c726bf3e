#include "cmd/options.hpp"
#include "store/etcd3/endpoint.hpp"

#include <gtest/gtest.h>

#include <regex>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tartan::cmd {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup FakeEnv(Env env) {
  return [env = std::move(env)](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

Result<CommandLine> Parse(const std::vector<std::string>& args, Env env = {}) {
  return ParseOptions(args, FakeEnv(std::move(env)));
}

// Parses arguments that must be accepted and asks to run; returns the options.
Options MustParse(const std::vector<std::string>& args, Env env = {}) {
  auto r = Parse(args, std::move(env));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) return {};
  EXPECT_EQ(r->request, Request::kRun);
  return r->options;
}

std::string Joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += a + " ";
  return out;
}

TEST(Options, DefaultsAreFlanneldsDefaults) {
  const Options o = MustParse({});
  EXPECT_EQ(o.etcd_endpoints, "http://127.0.0.1:4001,http://127.0.0.1:2379");
  ASSERT_EQ(o.etcd_endpoint_list.size(), 2u);
  EXPECT_EQ(o.etcd_endpoint_list[0],
            (EtcdEndpoint{"http://127.0.0.1:4001", false, "127.0.0.1", uint16_t{4001}}));
  EXPECT_EQ(o.etcd_endpoint_list[1],
            (EtcdEndpoint{"http://127.0.0.1:2379", false, "127.0.0.1", uint16_t{2379}}));
  EXPECT_EQ(o.etcd_prefix, "/coreos.com/network");
  EXPECT_EQ(o.etcd_keyfile, "");
  EXPECT_EQ(o.etcd_certfile, "");
  EXPECT_EQ(o.etcd_cafile, "");
  EXPECT_EQ(o.etcd_username, "");
  EXPECT_EQ(o.etcd_password, "");
  EXPECT_EQ(o.etcd_api, EtcdApi::kAuto);
  EXPECT_TRUE(o.iface.empty());
  EXPECT_TRUE(o.iface_regex.empty());
  EXPECT_FALSE(o.iface_can_reach.has_value());
  EXPECT_EQ(o.subnet_file, "/run/flannel/subnet.env");
  EXPECT_FALSE(o.public_ip.has_value());
  EXPECT_FALSE(o.public_ipv6.has_value());
  EXPECT_EQ(o.subnet_lease_renew_margin_minutes, 60);
  EXPECT_FALSE(o.ip_masq);
  EXPECT_TRUE(o.keep_pod_source);
  EXPECT_EQ(o.iptables_resync_seconds, 5);
  EXPECT_TRUE(o.iptables_forward_rules);
  EXPECT_EQ(ToString(o.healthz_ip), "0.0.0.0");
  EXPECT_EQ(o.healthz_port, 0);
  EXPECT_FALSE(o.kube_subnet_mgr);
  EXPECT_EQ(o.kube_api_url, "");
  EXPECT_EQ(o.kubeconfig_file, "");
  EXPECT_EQ(o.kube_annotation_prefix, "flannel.alpha.coreos.com");
  EXPECT_TRUE(o.set_node_network_unavailable);
  EXPECT_EQ(o.net_config_path, "/etc/kube-flannel/net-conf.json");
  EXPECT_EQ(o.verbosity, 0);
  EXPECT_TRUE(o.Validate().ok());
  EXPECT_EQ(o, Options{});
}

TEST(Options, DeploymentGuideStartLine) {
  const Options o = MustParse({
      "--public-ip=10.4.7.21",
      "--etcd-endpoints=https://10.4.7.12:2379,https://10.4.7.21:2379,https://10.4.7.22:2379",
      "--etcd-keyfile=./cert/client-key.pem",
      "--etcd-certfile=./cert/client.pem",
      "--etcd-cafile=./cert/ca.pem",
      "--iface=eth0",
      "--subnet-file=./subnet.env",
      "--healthz-port=2401",
  });
  EXPECT_EQ(o.public_ip, net::Ip4(10, 4, 7, 21));
  EXPECT_EQ(o.etcd_endpoints,
            "https://10.4.7.12:2379,https://10.4.7.21:2379,https://10.4.7.22:2379");
  const std::vector<EtcdEndpoint> want = {
      {"https://10.4.7.12:2379", true, "10.4.7.12", uint16_t{2379}},
      {"https://10.4.7.21:2379", true, "10.4.7.21", uint16_t{2379}},
      {"https://10.4.7.22:2379", true, "10.4.7.22", uint16_t{2379}},
  };
  EXPECT_EQ(o.etcd_endpoint_list, want);
  EXPECT_EQ(o.etcd_keyfile, "./cert/client-key.pem");
  EXPECT_EQ(o.etcd_certfile, "./cert/client.pem");
  EXPECT_EQ(o.etcd_cafile, "./cert/ca.pem");
  EXPECT_EQ(o.iface, std::vector<std::string>{"eth0"});
  EXPECT_EQ(o.subnet_file, "./subnet.env");
  EXPECT_EQ(o.healthz_port, 2401);
  // Everything not on the line keeps its default.
  EXPECT_EQ(o.etcd_prefix, "/coreos.com/network");
  EXPECT_FALSE(o.ip_masq);
  EXPECT_EQ(o.subnet_lease_renew_margin_minutes, 60);
  EXPECT_TRUE(o.Validate().ok());
}

struct FlagCase {
  std::vector<std::string> args;
  std::function<void(const Options&)> check;
};

TEST(Options, EachFlagSetsItsField) {
  const FlagCase cases[] = {
      {{"--etcd-prefix=/tartan/net"},
       [](const Options& o) { EXPECT_EQ(o.etcd_prefix, "/tartan/net"); }},
      {{"--etcd-keyfile=k.pem", "--etcd-certfile=c.pem"},
       [](const Options& o) {
         EXPECT_EQ(o.etcd_keyfile, "k.pem");
         EXPECT_EQ(o.etcd_certfile, "c.pem");
       }},
      {{"--etcd-cafile=ca.pem"}, [](const Options& o) { EXPECT_EQ(o.etcd_cafile, "ca.pem"); }},
      {{"--etcd-username=root"}, [](const Options& o) { EXPECT_EQ(o.etcd_username, "root"); }},
      {{"--etcd-password=s3=cr=t"},  // only the first '=' separates name and value
       [](const Options& o) { EXPECT_EQ(o.etcd_password, "s3=cr=t"); }},
      {{"--etcd-endpoints=http://etcd-0.example:2379"},
       [](const Options& o) {
         ASSERT_EQ(o.etcd_endpoint_list.size(), 1u);
         EXPECT_EQ(o.etcd_endpoint_list[0].host, "etcd-0.example");
         EXPECT_EQ(o.etcd_endpoint_list[0].port, 2379);
         EXPECT_FALSE(o.etcd_endpoint_list[0].tls);
       }},
      {{"--iface=10.4.7.21"},
       [](const Options& o) { EXPECT_EQ(o.iface, std::vector<std::string>{"10.4.7.21"}); }},
      {{"--iface-regex=^en.*"},
       [](const Options& o) { EXPECT_EQ(o.iface_regex, std::vector<std::string>{"^en.*"}); }},
      {{"--iface-can-reach=10.4.7.1"},
       [](const Options& o) {
         ASSERT_TRUE(o.iface_can_reach.has_value());
         EXPECT_EQ(*o.iface_can_reach, IpAddr(net::Ip4(10, 4, 7, 1)));
       }},
      {{"--iface-can-reach=fd00::1"},
       [](const Options& o) {
         ASSERT_TRUE(o.iface_can_reach.has_value());
         EXPECT_EQ(ToString(*o.iface_can_reach), "fd00::1");
       }},
      {{"--subnet-file=/tmp/s.env"},
       [](const Options& o) { EXPECT_EQ(o.subnet_file, "/tmp/s.env"); }},
      {{"--public-ip=192.0.2.1"},
       [](const Options& o) { EXPECT_EQ(o.public_ip, net::Ip4(192, 0, 2, 1)); }},
      {{"--public-ipv6=FD00:12:13::1"},
       [](const Options& o) {
         ASSERT_TRUE(o.public_ipv6.has_value());
         EXPECT_EQ(o.public_ipv6->ToString(), "fd00:12:13::1");
       }},
      {{"--subnet-lease-renew-margin=1"},
       [](const Options& o) { EXPECT_EQ(o.subnet_lease_renew_margin_minutes, 1); }},
      {{"--subnet-lease-renew-margin=1439"},
       [](const Options& o) { EXPECT_EQ(o.subnet_lease_renew_margin_minutes, 1439); }},
      {{"--ip-masq"}, [](const Options& o) { EXPECT_TRUE(o.ip_masq); }},
      {{"--keep-pod-source=false"}, [](const Options& o) { EXPECT_FALSE(o.keep_pod_source); }},
      {{"--etcd-api=v2"}, [](const Options& o) { EXPECT_EQ(o.etcd_api, EtcdApi::kV2); }},
      {{"--etcd-api", "v3"}, [](const Options& o) { EXPECT_EQ(o.etcd_api, EtcdApi::kV3); }},
      {{"--iptables-resync=30"},
       [](const Options& o) { EXPECT_EQ(o.iptables_resync_seconds, 30); }},
      {{"--iptables-forward-rules=false"},
       [](const Options& o) { EXPECT_FALSE(o.iptables_forward_rules); }},
      {{"--healthz-ip=127.0.0.1"},
       [](const Options& o) { EXPECT_EQ(ToString(o.healthz_ip), "127.0.0.1"); }},
      {{"--healthz-ip=::"}, [](const Options& o) { EXPECT_EQ(ToString(o.healthz_ip), "::"); }},
      {{"--healthz-port=65535"}, [](const Options& o) { EXPECT_EQ(o.healthz_port, 65535); }},
      {{"--kube-subnet-mgr"}, [](const Options& o) { EXPECT_TRUE(o.kube_subnet_mgr); }},
      {{"--kube-api-url=https://k8s:6443"},
       [](const Options& o) { EXPECT_EQ(o.kube_api_url, "https://k8s:6443"); }},
      {{"--kubeconfig-file=/root/.kube/config"},
       [](const Options& o) { EXPECT_EQ(o.kubeconfig_file, "/root/.kube/config"); }},
      {{"--kube-annotation-prefix=example.com"},
       [](const Options& o) { EXPECT_EQ(o.kube_annotation_prefix, "example.com"); }},
      {{"--set-node-network-unavailable=false"},
       [](const Options& o) { EXPECT_FALSE(o.set_node_network_unavailable); }},
      {{"--net-config-path=/etc/net.json"},
       [](const Options& o) { EXPECT_EQ(o.net_config_path, "/etc/net.json"); }},
      {{"-v=2"}, [](const Options& o) { EXPECT_EQ(o.verbosity, 2); }},
      {{"-v", "3"}, [](const Options& o) { EXPECT_EQ(o.verbosity, 3); }},
      {{"--v=4"}, [](const Options& o) { EXPECT_EQ(o.verbosity, 4); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(Joined(c.args));
    const Options o = MustParse(c.args);
    c.check(o);
    EXPECT_NE(o, Options{}) << "the flag changed nothing";
  }
}

TEST(Options, EtcdApiAndKeepPodSource) {
  EXPECT_EQ(MustParse({"--etcd-api=v2", "--etcd-api=auto"}).etcd_api, EtcdApi::kAuto);
  EXPECT_EQ(MustParse({}, {{"FLANNELD_ETCD_API", "v2"}}).etcd_api, EtcdApi::kV2);
  EXPECT_EQ(MustParse({"--etcd-api=v3"}, {{"FLANNELD_ETCD_API", "v2"}}).etcd_api, EtcdApi::kV3);
  // On by default and independent of --ip-masq; only an explicit false turns it off.
  EXPECT_TRUE(MustParse({"--ip-masq=false"}).keep_pod_source);
  EXPECT_TRUE(MustParse({"--keep-pod-source"}).keep_pod_source);
  EXPECT_FALSE(MustParse({"--keep-pod-source=0"}).keep_pod_source);
  EXPECT_FALSE(MustParse({}, {{"FLANNELD_KEEP_POD_SOURCE", "false"}}).keep_pod_source);
  EXPECT_TRUE(MustParse({"--keep-pod-source=true"}, {{"FLANNELD_KEEP_POD_SOURCE", "false"}})
                  .keep_pod_source);
}

TEST(Options, GoFlagSyntaxForms) {
  const std::vector<std::string> forms[] = {
      {"--public-ip=10.0.0.1"},
      {"--public-ip", "10.0.0.1"},
      {"-public-ip=10.0.0.1"},
      {"-public-ip", "10.0.0.1"},
  };
  for (const auto& args : forms) {
    SCOPED_TRACE(Joined(args));
    EXPECT_EQ(MustParse(args).public_ip, net::Ip4(10, 0, 0, 1));
  }
}

TEST(Options, GoBooleanSpellings) {
  struct BoolCase {
    std::string arg;
    bool want;
  };
  const BoolCase cases[] = {
      {"--ip-masq", true},        {"-ip-masq", true},         {"--ip-masq=true", true},
      {"--ip-masq=1", true},      {"--ip-masq=t", true},      {"--ip-masq=T", true},
      {"--ip-masq=TRUE", true},   {"--ip-masq=True", true},   {"--ip-masq=false", false},
      {"--ip-masq=0", false},     {"--ip-masq=f", false},     {"--ip-masq=F", false},
      {"--ip-masq=FALSE", false}, {"--ip-masq=False", false}, {"-ip-masq=false", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.arg);
    EXPECT_EQ(MustParse({c.arg}).ip_masq, c.want);
  }
}

TEST(Options, GoTakesTheNextArgumentAsValueEvenWithADash) {
  EXPECT_EQ(MustParse({"--etcd-prefix", "-odd"}).etcd_prefix, "-odd");
  EXPECT_EQ(MustParse({"--etcd-prefix="}).etcd_prefix, "");
}

TEST(Options, RepeatedFlags) {
  const Options o = MustParse({"--iface=eth0", "--iface-regex=^en", "-iface", "10.4.7.21",
                               "--iface=bond0", "--iface-regex=^wl"});
  EXPECT_EQ(o.iface, (std::vector<std::string>{"eth0", "10.4.7.21", "bond0"}));
  EXPECT_EQ(o.iface_regex, (std::vector<std::string>{"^en", "^wl"}));
  // A single-valued flag keeps its last value, as in Go.
  const Options last =
      MustParse({"--public-ip=10.0.0.1", "--public-ip=10.0.0.2", "--ip-masq", "--ip-masq=false"});
  EXPECT_EQ(last.public_ip, net::Ip4(10, 0, 0, 2));
  EXPECT_FALSE(last.ip_masq);
}

TEST(Options, DoubleDashEndsFlags) { EXPECT_TRUE(MustParse({"--ip-masq", "--"}).ip_masq); }

TEST(Options, GlogFlagsAreAcceptedAndIgnored) {
  const Options o = MustParse({"--logtostderr", "--alsologtostderr=true", "--log_dir=/var/log",
                               "--stderrthreshold=INFO", "-vmodule=agent=2", "--log_backtrace_at",
                               "main.go:1", "-logtostderr=false"});
  EXPECT_EQ(o, Options{});
}

TEST(Options, EnvironmentFallback) {
  const Options o = MustParse({}, {
                                      {"FLANNELD_PUBLIC_IP", "10.4.7.21"},
                                      {"FLANNELD_ETCD_ENDPOINTS", "https://10.4.7.12:2379"},
                                      {"FLANNELD_IP_MASQ", "true"},
                                      {"FLANNELD_IPTABLES_FORWARD_RULES", "false"},
                                      {"FLANNELD_IFACE", "eth0,eth1"},
                                      {"FLANNELD_IFACE_REGEX", "^(en|eth)[0-9]{1,2}$"},
                                      {"FLANNELD_SUBNET_LEASE_RENEW_MARGIN", "30"},
                                      {"FLANNELD_HEALTHZ_PORT", "2401"},
                                      {"FLANNELD_ETCD_PREFIX", "/x/network"},
                                      {"FLANNELD_V", "1"},
                                      {"FLANNELD_KUBE_SUBNET_MGR", "1"},
                                  });
  EXPECT_EQ(o.public_ip, net::Ip4(10, 4, 7, 21));
  ASSERT_EQ(o.etcd_endpoint_list.size(), 1u);
  EXPECT_TRUE(o.etcd_endpoint_list[0].tls);
  EXPECT_EQ(o.etcd_endpoints, "https://10.4.7.12:2379");
  EXPECT_TRUE(o.ip_masq);
  EXPECT_FALSE(o.iptables_forward_rules);
  // flanneld hands the whole variable to the list flag as one entry; a regex may hold commas.
  EXPECT_EQ(o.iface, std::vector<std::string>{"eth0,eth1"});
  EXPECT_EQ(o.iface_regex, std::vector<std::string>{"^(en|eth)[0-9]{1,2}$"});
  EXPECT_EQ(o.subnet_lease_renew_margin_minutes, 30);
  EXPECT_EQ(o.healthz_port, 2401);
  EXPECT_EQ(o.etcd_prefix, "/x/network");
  EXPECT_EQ(o.verbosity, 1);
  EXPECT_TRUE(o.kube_subnet_mgr);
}

TEST(Options, CommandLineWinsOverEnvironment) {
  const Env env = {
      {"FLANNELD_PUBLIC_IP", "10.0.0.9"},
      {"FLANNELD_IFACE", "eth9"},
      {"FLANNELD_IP_MASQ", "true"},
      // Would be an error if read; the command line's value means it is never read.
      {"FLANNELD_HEALTHZ_PORT", "not-a-port"},
      {"FLANNELD_SUBNET_FILE", "/from/env"},
  };
  const Options o = MustParse(
      {"--public-ip=10.0.0.1", "--iface=eth0", "--ip-masq=false", "--healthz-port=1"}, env);
  EXPECT_EQ(o.public_ip, net::Ip4(10, 0, 0, 1));
  EXPECT_EQ(o.iface, std::vector<std::string>{"eth0"});
  EXPECT_FALSE(o.ip_masq);
  EXPECT_EQ(o.healthz_port, 1);
  EXPECT_EQ(o.subnet_file, "/from/env");  // not on the command line: env applies
}

TEST(Options, EmptyVariableCountsAsUnset) {
  const Options o = MustParse({}, {{"FLANNELD_PUBLIC_IP", ""}, {"FLANNELD_ETCD_PREFIX", ""}});
  EXPECT_FALSE(o.public_ip.has_value());
  EXPECT_EQ(o.etcd_prefix, "/coreos.com/network");
}

TEST(Options, ReadsOnlyFlanneldVariables) {
  std::set<std::string> asked;
  auto r = ParseOptions({}, [&](std::string_view name) -> std::optional<std::string> {
    asked.insert(std::string(name));
    return std::nullopt;
  });
  ASSERT_TRUE(r.ok());
  for (const char* want :
       {"FLANNELD_ETCD_ENDPOINTS", "FLANNELD_PUBLIC_IP", "FLANNELD_PUBLIC_IPV6", "FLANNELD_IFACE",
        "FLANNELD_IFACE_REGEX", "FLANNELD_IFACE_CAN_REACH", "FLANNELD_SUBNET_LEASE_RENEW_MARGIN",
        "FLANNELD_IPTABLES_RESYNC", "FLANNELD_HEALTHZ_IP", "FLANNELD_KUBE_SUBNET_MGR", "FLANNELD_V",
        "FLANNELD_ETCD_API", "FLANNELD_KEEP_POD_SOURCE"}) {
    EXPECT_TRUE(asked.contains(want)) << want;
  }
  for (const char* not_read : {"FLANNELD_VERSION", "FLANNELD_HELP", "FLANNELD_LOGTOSTDERR"}) {
    EXPECT_FALSE(asked.contains(not_read)) << not_read;
  }
  for (const auto& name : asked) EXPECT_TRUE(name.starts_with("FLANNELD_")) << name;
}

TEST(Options, NullEnvLookupMeansNoEnvironment) {
  auto r = ParseOptions({}, EnvLookup{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options, Options{});
}

TEST(Options, HelpAndVersionRequests) {
  struct RequestCase {
    std::vector<std::string> args;
    Env env;
    Request want;
  };
  const RequestCase cases[] = {
      {{"--help"}, {}, Request::kHelp},
      {{"-help"}, {}, Request::kHelp},
      {{"-h"}, {}, Request::kHelp},
      {{"--h"}, {}, Request::kHelp},
      // Go stops at the help flag: what follows is not looked at.
      {{"--help", "--bogus"}, {}, Request::kHelp},
      {{"--ip-masq", "--help", "stray"}, {}, Request::kHelp},
      {{"--help=false"}, {}, Request::kRun},
      {{"--version"}, {}, Request::kVersion},
      {{"-version"}, {}, Request::kVersion},
      {{"--version=false"}, {}, Request::kRun},
      {{"--version", "--version=false"}, {}, Request::kRun},
      // flanneld answers --version before it reads the environment.
      {{"--version"}, {{"FLANNELD_HEALTHZ_PORT", "bad"}}, Request::kVersion},
      {{}, {{"FLANNELD_VERSION", "true"}, {"FLANNELD_HELP", "true"}}, Request::kRun},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(Joined(c.args));
    auto r = Parse(c.args, c.env);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->request, c.want);
  }
}

struct ErrorCase {
  std::vector<std::string> args;
  Env env;
  std::vector<std::string> want;  // substrings of the message
};

TEST(Options, ErrorsNameTheFlagAndTheValue) {
  const ErrorCase cases[] = {
      {{"--public-ip=10.4.7.300"},
       {},
       {R"(invalid value "10.4.7.300" for flag --public-ip)", "not an IPv4 address"}},
      {{"--public-ip=fd00::1"}, {}, {"--public-ip", "--public-ipv6"}},
      {{"--public-ipv6=10.0.0.1"}, {}, {"--public-ipv6", "not an IPv6 address"}},
      {{"--iface-can-reach=gateway"}, {}, {"--iface-can-reach", "not an IP address"}},
      {{"--healthz-ip=localhost"}, {}, {"--healthz-ip", "not an IP address"}},
      {{"--subnet-lease-renew-margin=0"}, {}, {"--subnet-lease-renew-margin", "1 to 1439"}},
      {{"--subnet-lease-renew-margin=1440"}, {}, {"--subnet-lease-renew-margin", "1 to 1439"}},
      {{"--subnet-lease-renew-margin=-5"}, {}, {"1 to 1439"}},
      {{"--subnet-lease-renew-margin=1h"}, {}, {"not a whole number"}},
      {{"--healthz-port=65536"}, {}, {"--healthz-port", "0 to 65535"}},
      {{"--healthz-port=-1"}, {}, {"--healthz-port", "0 to 65535"}},
      {{"--healthz-port=80x"}, {}, {"--healthz-port", "not a whole number"}},
      {{"--healthz-port="}, {}, {"--healthz-port", "not a whole number"}},
      {{"--healthz-port=+-1"}, {}, {"not a whole number"}},
      {{"--healthz-port=02401"}, {}, {"leading zero"}},
      {{"--healthz-port=99999999999999999999"}, {}, {"out of range"}},
      {{"--iptables-resync=0"}, {}, {"--iptables-resync", "at least 1 second"}},
      {{"-v=-1"}, {}, {"flag --v", "0 or more"}},
      {{"-v=high"}, {}, {"flag --v", "not a whole number"}},
      {{"--ip-masq=yes"}, {}, {R"(invalid value "yes" for flag --ip-masq)", "not a boolean"}},
      {{"--ip-masq="}, {}, {"--ip-masq", "not a boolean"}},
      {{"--etcd-api=v4"}, {}, {R"(invalid value "v4" for flag --etcd-api)", "auto, v2 or v3"}},
      {{"--etcd-api=V3"}, {}, {"--etcd-api", "auto, v2 or v3"}},
      {{"--etcd-api="}, {}, {"--etcd-api", "auto, v2 or v3"}},
      {{"--etcd-api"}, {}, {"flag --etcd-api needs a value"}},
      {{"--keep-pod-source=no"}, {}, {"--keep-pod-source", "not a boolean"}},
      {{"--version=maybe"}, {}, {"--version", "not a boolean"}},
      {{"--logtostderr=maybe"}, {}, {"--logtostderr", "not a boolean"}},
      // Go would set ip-masq true and silently drop "false".
      {{"--ip-masq", "false"}, {}, {R"(unexpected argument "false")", "--ip-masq=false"}},
      {{"run"}, {}, {R"(unexpected argument "run")", "only flags"}},
      {{"-"}, {}, {R"(unexpected argument "-")"}},
      {{"--", "extra"}, {}, {R"(unexpected argument "extra")"}},
      {{"--foo"}, {}, {"unknown flag --foo"}},
      {{"--foo=bar"}, {}, {"unknown flag --foo"}},
      {{"-foo", "x"}, {}, {"unknown flag -foo"}},
      {{"--public_ip=10.0.0.1"}, {}, {"unknown flag --public_ip", "did you mean --public-ip?"}},
      {{"---public-ip=1.2.3.4"}, {}, {"bad flag syntax"}},
      {{"--=x"}, {}, {"bad flag syntax"}},
      {{"--public-ip"}, {}, {"flag --public-ip needs a value"}},
      {{"-v"}, {}, {"flag --v needs a value"}},
      {{"--etcd-endpoints=10.4.7.12:2379"},
       {},
       {"--etcd-endpoints", "needs a scheme", "https://10.4.7.12:2379"}},
      {{"--etcd-endpoints=ftp://10.4.7.12:2379"}, {}, {"unsupported scheme"}},
      {{"--etcd-endpoints=http://a:2379,,http://b:2379"}, {}, {"empty entry"}},
      {{"--etcd-endpoints=http://a:2379,"}, {}, {"empty entry"}},
      {{"--etcd-endpoints="}, {}, {"empty entry"}},
      {{"--etcd-endpoints=http://:2379"}, {}, {"has no host"}},
      {{"--etcd-endpoints=http://a:0"}, {}, {"invalid port"}},
      {{"--etcd-endpoints=http://a:65536"}, {}, {"invalid port"}},
      {{"--etcd-endpoints=http://a:"}, {}, {"invalid port"}},
      {{"--etcd-endpoints=http://a:x"}, {}, {"invalid port"}},
      {{"--etcd-endpoints=http://fd00::1:2379"}, {}, {"must be in brackets"}},
      {{"--etcd-endpoints=http://[fd00::1:2379"}, {}, {"no closing ']'"}},
      {{"--etcd-endpoints=http://[zz::q]:2379"}, {}, {"invalid IPv6 address"}},
      {{"--etcd-endpoints=http://[fd00::1]x"}, {}, {"not a :port"}},
      {{"--etcd-endpoints=http://10.4.7.300:2379"}, {}, {"invalid IPv4 address"}},
      {{"--etcd-endpoints=http://bad host:2379"}, {}, {"invalid character"}},
      {{"--etcd-endpoints=http://a:2379/v2/keys"}, {}, {"has a path"}},
      {{"--etcd-endpoints=http://user:pw@a:2379"}, {}, {"--etcd-username"}},
      // The environment: the message names the variable.
      {{},
       {{"FLANNELD_HEALTHZ_PORT", "abc"}},
       {R"(invalid value "abc" in environment variable FLANNELD_HEALTHZ_PORT)", "--healthz-port",
        "not a whole number"}},
      {{}, {{"FLANNELD_IP_MASQ", "yes"}}, {"FLANNELD_IP_MASQ", "not a boolean"}},
      {{}, {{"FLANNELD_ETCD_API", "3"}}, {"FLANNELD_ETCD_API", "--etcd-api", "auto, v2 or v3"}},
      {{}, {{"FLANNELD_PUBLIC_IP", "10.4.7"}}, {"FLANNELD_PUBLIC_IP", "not an IPv4 address"}},
      {{}, {{"FLANNELD_ETCD_ENDPOINTS", "10.4.7.12:2379"}}, {"FLANNELD_ETCD_ENDPOINTS", "scheme"}},
      {{},
       {{"FLANNELD_SUBNET_LEASE_RENEW_MARGIN", "1440"}},
       {"FLANNELD_SUBNET_LEASE_RENEW_MARGIN", "1 to 1439"}},
      {{}, {{"FLANNELD_PUBLIC_IP", "10.0.0.1\x01"}}, {R"("10.0.0.1\x01")"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(Joined(c.args) + (c.env.empty() ? "" : c.env.begin()->first));
    auto r = Parse(c.args, c.env);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Error::Code::kInvalidArgument);
    for (const auto& want : c.want) {
      EXPECT_NE(r.error().message.find(want), std::string::npos)
          << "want \"" << want << "\" in: " << r.error().message;
    }
  }
}

TEST(Options, ErrorStopsBeforeALaterHelp) {
  auto r = Parse({"--bogus", "--help"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown flag --bogus"), std::string::npos);
}

TEST(Options, EtcdEndpointForms) {
  struct EndpointCase {
    std::string in;
    EtcdEndpoint want;
  };
  const EndpointCase cases[] = {
      {"http://10.0.0.1:2379", {"http://10.0.0.1:2379", false, "10.0.0.1", uint16_t{2379}}},
      {"https://etcd.example", {"https://etcd.example", true, "etcd.example", std::nullopt}},
      {"HTTPS://etcd.example:443/", {"HTTPS://etcd.example:443/", true, "etcd.example", 443}},
      {"http://[fd00::1]:2379", {"http://[fd00::1]:2379", false, "fd00::1", uint16_t{2379}}},
      {"http://[fd00::1]", {"http://[fd00::1]", false, "fd00::1", std::nullopt}},
      {" http://a_b-c:1 ", {"http://a_b-c:1", false, "a_b-c", uint16_t{1}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = ParseEtcdEndpoints(c.in);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->front(), c.want);
  }
  auto list = ParseEtcdEndpoints("http://a:1, https://b:2");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].host, "b");
  EXPECT_TRUE((*list)[1].tls);
}

// The flag is checked here, then the etcd client parses the same text again: whatever the flag
// accepts, the client must accept with the same meaning (default port 2379).
TEST(Options, EtcdEndpointsTheFlagAcceptsTheClientReadsAlike) {
  const std::string_view inputs[] = {"http://10.0.0.1:2379",      "https://etcd.example",
                                     "HTTPS://etcd.example:443/", "http://[fd00::1]:2379",
                                     "http://[fd00::1]",          " http://a_b-c:1 ,Https://b:2",
                                     kDefaultEtcdEndpoints};
  for (const std::string_view in : inputs) {
    SCOPED_TRACE(in);
    auto flag = ParseEtcdEndpoints(in);
    ASSERT_TRUE(flag.ok()) << flag.error().message;
    auto client = store::etcd3::ParseEndpoints(in);
    ASSERT_TRUE(client.ok()) << client.error().message;
    ASSERT_EQ(flag->size(), client->size());
    for (size_t i = 0; i < flag->size(); ++i) {
      EXPECT_EQ((*flag)[i].host, (*client)[i].host);
      EXPECT_EQ((*flag)[i].tls, (*client)[i].tls);
      EXPECT_EQ((*flag)[i].port.value_or(2379), (*client)[i].port);
    }
  }
}

// flanneld's flags for the masquerade's port mapping and the own-subnet blackhole route, from
// the command line or flanneld's variables, off by default.
TEST(Options, FullyRandomDisableAndBlackholeRoute) {
  const Options defaults = MustParse({});
  EXPECT_FALSE(defaults.ip_masq_fully_random_disable);
  EXPECT_FALSE(defaults.ip_blackhole_route);
  const Options flags = MustParse({"--ip-masq-fully-random-disable", "-ip-blackhole-route=true"});
  EXPECT_TRUE(flags.ip_masq_fully_random_disable);
  EXPECT_TRUE(flags.ip_blackhole_route);
  const Env env = {{"FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE", "true"},
                   {"FLANNELD_IP_BLACKHOLE_ROUTE", "1"}};
  const Options from_env = MustParse({}, env);
  EXPECT_TRUE(from_env.ip_masq_fully_random_disable);
  EXPECT_TRUE(from_env.ip_blackhole_route);
  // The command line wins over the variable.
  EXPECT_FALSE(MustParse({"--ip-blackhole-route=false"}, env).ip_blackhole_route);
}

TEST(Options, ValidateRefusesKubeSubnetManager) {
  auto r = Parse({"--kube-subnet-mgr"});
  ASSERT_TRUE(r.ok());                      // parsing accepts flanneld's flag ...
  const Status st = r->options.Validate();  // ... validation explains it is unsupported
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Error::Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("--kube-subnet-mgr is not supported"), std::string::npos);
  EXPECT_NE(st.error().message.find("etcd"), std::string::npos);
  EXPECT_TRUE(MustParse({"--kube-subnet-mgr=false"}).Validate().ok());
}

TEST(Options, ValidateChecksOptionsBuiltInCode) {
  struct ValidateCase {
    std::function<void(Options&)> edit;
    std::string want;  // empty: valid
  };
  const ValidateCase cases[] = {
      {[](Options&) {}, ""},
      {[](Options& o) { o.subnet_lease_renew_margin_minutes = 0; }, "1 to 1439"},
      {[](Options& o) { o.subnet_lease_renew_margin_minutes = 1440; }, "1 to 1439"},
      {[](Options& o) { o.iptables_resync_seconds = 0; }, "at least 1 second"},
      {[](Options& o) { o.verbosity = -1; }, "0 or more"},
      {[](Options& o) { o.etcd_endpoint_list.clear(); }, "--etcd-endpoints is empty"},
      {[](Options& o) { o.etcd_keyfile = "k.pem"; }, "give both or neither"},
      {[](Options& o) { o.etcd_certfile = "c.pem"; }, "give both or neither"},
      {[](Options& o) { o.iface_can_reach = net::Ip6::Parse("fd00::1").value(); },
       "--iface-can-reach=fd00::1 is an IPv6 address"},
      {[](Options& o) { o.iface_can_reach = net::Ip4(10, 4, 7, 1); }, ""},
      // Not consulted when --iface or --iface-regex decides: no reason to refuse.
      {[](Options& o) {
         o.iface_can_reach = net::Ip6::Parse("fd00::1").value();
         o.iface = {"eth0"};
       },
       ""},
      {[](Options& o) {
         o.iface_can_reach = net::Ip6::Parse("fd00::1").value();
         o.iface_regex = {"^eth"};
       },
       ""},
  };
  for (const auto& c : cases) {
    Options o;
    c.edit(o);
    const Status st = o.Validate();
    if (c.want.empty()) {
      EXPECT_TRUE(st.ok()) << st.error().message;
    } else {
      ASSERT_FALSE(st.ok()) << c.want;
      EXPECT_NE(st.error().message.find(c.want), std::string::npos) << st.error().message;
    }
  }
}

TEST(Options, UsageListsEveryFlagWithItsVariableAndDefault) {
  const std::string usage = Usage("tartand");
  for (const char* flag : {"--etcd-endpoints",
                           "--etcd-prefix",
                           "--etcd-keyfile",
                           "--etcd-certfile",
                           "--etcd-cafile",
                           "--etcd-username",
                           "--etcd-password",
                           "--etcd-api auto|v2|v3",
                           "--iface ",
                           "--iface-regex",
                           "--iface-can-reach",
                           "--subnet-file",
                           "--public-ip ",
                           "--public-ipv6",
                           "--subnet-lease-renew-margin",
                           "--ip-masq",
                           "--ip-masq-fully-random-disable",
                           "--ip-blackhole-route",
                           "--keep-pod-source",
                           "--iptables-resync",
                           "--iptables-forward-rules",
                           "--healthz-ip",
                           "--healthz-port",
                           "--kube-subnet-mgr",
                           "--kube-api-url",
                           "--kubeconfig-file",
                           "--net-config-path",
                           "--version",
                           "-h,--help",
                           "-v ",
                           "--logtostderr",
                           "--alsologtostderr",
                           "--log_dir",
                           "--stderrthreshold"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
  for (const char* text :
       {"FLANNELD_PUBLIC_IP", "FLANNELD_ETCD_ENDPOINTS", "FLANNELD_ETCD_API",
        "FLANNELD_KEEP_POD_SOURCE", "FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE",
        "FLANNELD_IP_BLACKHOLE_ROUTE", "http://127.0.0.1:4001,http://127.0.0.1:2379",
        "/run/flannel/subnet.env", "ignored", "not supported", "Usage: tartand"}) {
    EXPECT_NE(usage.find(text), std::string::npos) << text;
  }
}

TEST(Options, VersionComesFromTheBuild) {
  const std::string_view v = Version();
  EXPECT_FALSE(v.empty());
  // A release number, then what git describe adds on an untagged commit (-<n>-g<hash>).
  EXPECT_TRUE(std::regex_match(std::string(v), std::regex(R"(\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?)")))
      << v;
}

}  // namespace
}  // namespace tartan::cmd

namespace tartan::cmd {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr ToolFlag kToolFlags[] = {{"output", false}, {"local", true}};

Result<ToolCommandLine> ParseTool(const std::vector<std::string>& args, Env env = {}) {
  return ParseToolOptions(args, FakeEnv(std::move(env)), kToolFlags);
}

// tartanctl and tartand read the etcd flags from the one table: the same line and the same
// FLANNELD_* variables give both the same facts.
TEST(ToolOptions, SameEtcdFlagsAndEnvironmentAsTartand) {
  const std::vector<std::string> line = {"--etcd-endpoints=https://10.4.7.12:2379",
                                         "-etcd-prefix",
                                         "/x/network",
                                         "--etcd-cafile=/ca.pem",
                                         "--etcd-certfile",
                                         "/c.pem",
                                         "--etcd-keyfile=/k.pem",
                                         "--etcd-api=v2",
                                         "--subnet-file=/run/s.env",
                                         "--healthz-port=8471",
                                         "--iface=eth1",
                                         "--ip-masq"};
  auto d = Parse(line);
  auto c = ParseTool(line);
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->options.etcd_endpoint_list, d->options.etcd_endpoint_list);
  EXPECT_EQ(c->options.etcd_prefix, "/x/network");
  EXPECT_EQ(c->options.etcd_prefix, d->options.etcd_prefix);
  EXPECT_EQ(c->options.etcd_cafile, d->options.etcd_cafile);
  EXPECT_EQ(c->options.etcd_certfile, d->options.etcd_certfile);
  EXPECT_EQ(c->options.etcd_keyfile, d->options.etcd_keyfile);
  EXPECT_EQ(c->options.etcd_api, EtcdApi::kV2);
  EXPECT_EQ(c->options.subnet_file, d->options.subnet_file);
  EXPECT_EQ(c->options.healthz_port, 8471);
  EXPECT_EQ(c->options.iface, d->options.iface);
  EXPECT_TRUE(c->positional.empty());

  const Env env = {{"FLANNELD_ETCD_ENDPOINTS", "http://10.0.0.9:2379"},
                   {"FLANNELD_ETCD_PREFIX", "/env/network"},
                   {"FLANNELD_ETCD_USERNAME", "u"},
                   {"FLANNELD_ETCD_PASSWORD", "p"},
                   {"FLANNELD_SUBNET_FILE", "/env.env"},
                   {"FLANNELD_HEALTHZ_IP", "127.0.0.1"},
                   {"FLANNELD_HEALTHZ_PORT", "9000"}};
  auto de = Parse({}, env);
  auto ce = ParseTool({"status"}, env);
  ASSERT_TRUE(de.ok());
  ASSERT_TRUE(ce.ok()) << ce.error().message;
  EXPECT_EQ(ce->options, de->options);
  EXPECT_EQ(ce->positional, std::vector<std::string>{"status"});
}

TEST(ToolOptions, EveryFlagTartanctlReadsIsATartandFlagWithItsVariable) {
  for (std::string_view name : {"etcd-endpoints", "etcd-prefix", "etcd-keyfile", "etcd-certfile",
                                "etcd-cafile", "etcd-username", "etcd-password", "etcd-api",
                                "subnet-file", "healthz-ip", "healthz-port", "iface"}) {
    EXPECT_TRUE(IsSharedFlag(name)) << name;
    EXPECT_TRUE(Contains(Usage(), "--" + std::string(name))) << name;
    EXPECT_TRUE(Contains(SharedFlagsUsage(), "--" + std::string(name))) << name;
  }
  EXPECT_FALSE(IsSharedFlag("ip-masq"));
  EXPECT_FALSE(Contains(SharedFlagsUsage(), "--ip-masq"));
  EXPECT_TRUE(Contains(SharedFlagsUsage(), "FLANNELD_ETCD_ENDPOINTS"));
}

TEST(ToolOptions, OnlySharedFlagsComeFromTheEnvironment) {
  // A tartand-only variable is not tartanctl's business: even a bad value does not stop it.
  auto c = ParseTool({"status"}, {{"FLANNELD_IP_MASQ", "maybe"}, {"FLANNELD_ETCD_PREFIX", "/p"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->options.ip_masq);
  EXPECT_EQ(c->options.etcd_prefix, "/p");
  // A bad shared variable is an error naming it.
  auto bad = ParseTool({"status"}, {{"FLANNELD_ETCD_API", "v4"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.error().message, "FLANNELD_ETCD_API"));
}

TEST(ToolOptions, SubcommandsAndToolFlagsAnywhere) {
  auto c = ParseTool({"--output", "json", "status", "--local", "--etcd-prefix=/p", "extra"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->positional, (std::vector<std::string>{"status", "extra"}));
  EXPECT_EQ(c->Flag("output"), "json");
  EXPECT_EQ(c->Flag("local"), "true");
  EXPECT_EQ(c->Flag("nothing"), std::nullopt);
  EXPECT_EQ(c->options.etcd_prefix, "/p");
  EXPECT_FALSE(ParseTool({"status", "--bogus"}).ok());
  EXPECT_FALSE(ParseTool({"status", "--local=perhaps"}).ok());
  auto h = ParseTool({"status", "--help"});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->request, Request::kHelp);
}

}  // namespace
}  // namespace tartan::cmd
