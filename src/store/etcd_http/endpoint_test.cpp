#include "store/etcd_http/endpoint.hpp"

#include <gtest/gtest.h>

namespace tartan::store::etcd_http {
namespace {

TEST(ParseEndpoints, AcceptsFlannelForms) {
  struct Case {
    const char* text;
    std::vector<std::pair<std::string, bool>> targets;  // Target(), tls
  };
  const Case cases[] = {
      {"http://127.0.0.1:4001,http://127.0.0.1:2379",
       {{"127.0.0.1:4001", false}, {"127.0.0.1:2379", false}}},
      {"https://10.4.7.12:2379, https://10.4.7.21:2379/",
       {{"10.4.7.12:2379", true}, {"10.4.7.21:2379", true}}},
      {"http://etcd.example", {{"etcd.example:2379", false}}},
      // tartand's flag parser accepts any case of the scheme, as flanneld does.
      {"HTTPS://etcd.example:443/,Http://a:1", {{"etcd.example:443", true}, {"a:1", false}}},
      {"https://[fd00::1]:2379,", {{"[fd00::1]:2379", true}}},
  };
  for (const Case& c : cases) {
    auto eps = ParseEndpoints(c.text);
    ASSERT_TRUE(eps.ok()) << c.text << ": " << eps.error().message;
    ASSERT_EQ(eps->size(), c.targets.size()) << c.text;
    for (size_t i = 0; i < c.targets.size(); ++i) {
      EXPECT_EQ((*eps)[i].Target(), c.targets[i].first) << c.text;
      EXPECT_EQ((*eps)[i].tls, c.targets[i].second) << c.text;
    }
  }
}

TEST(ParseEndpoints, RejectsWithAMessageNamingTheEndpoint) {
  const char* bad[] = {"",
                       " , ",
                       "127.0.0.1:2379",
                       "unix:///x",
                       "http://:2379",
                       "http://h:0",
                       "http://h:99999",
                       "http://h:12ab",
                       "http://fd00::1:2379",
                       "http://[fd00::1",
                       "http://h:2379/v2/keys"};
  for (const char* text : bad) {
    auto eps = ParseEndpoints(text);
    ASSERT_FALSE(eps.ok()) << text;
    EXPECT_EQ(eps.error().code, Error::Code::kInvalidArgument) << text;
  }
  auto eps = ParseEndpoints("http://ok:1,ftp://nope:2");
  ASSERT_FALSE(eps.ok());
  EXPECT_NE(eps.error().message.find("ftp://nope:2"), std::string::npos) << eps.error().message;
}

}  // namespace
}  // namespace tartan::store::etcd_http
