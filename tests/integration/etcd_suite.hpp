// A test suite that shares one real etcd among its tests (starting one per test costs a second
// or more) and gives every test a key prefix of its own, so that tests do not see each other.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fixtures/etcd_fixture.hpp"
#include "store/etcd_http/options.hpp"

namespace tartan::testing {

// `Suite` is the deriving fixture (one etcd per suite); `Base` is ::testing::Test or a
// ::testing::TestWithParam<...>. The suite's SetUpTestSuite calls StartEtcd.
template <typename Suite, typename Base = ::testing::Test>
class EtcdSuite : public Base {
 protected:
  static void StartEtcd(const EtcdOptions& options = {}) {
    auto c = EtcdCluster::Start(options);
    ASSERT_TRUE(c.ok()) << c.error().message;
    cluster_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // prefix_ = `root` + the test's name ('/' of a parameterised name made '_').
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& ch : name) ch = ch == '/' ? '_' : ch;
    prefix_ = PrefixRoot() + name;
  }
  virtual std::string PrefixRoot() const { return "/t/"; }

  // A client of either API (etcd2::Client, etcd3::Client) on the suite's etcd.
  template <typename ClientT>
  static std::shared_ptr<ClientT> Connect() {
    store::etcd_http::ClientOptions o;
    o.endpoints = cluster_->Endpoints();
    auto c = ClientT::Create(o);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? *c : nullptr;
  }
  std::string Key(const std::string& seg) const { return prefix_ + "/subnets/" + seg; }

  static inline EtcdCluster* cluster_ = nullptr;
  std::string prefix_;
};

}  // namespace tartan::testing
