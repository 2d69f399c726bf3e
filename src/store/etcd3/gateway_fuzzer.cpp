// Every decoder of etcd gateway replies on arbitrary bytes: errors are fine, crashes are not;
// what decodes as a range must survive re-encoding its keys.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/etcd3/gateway.hpp"

using namespace tartan::store::etcd3::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto r = ParseRange(in); r.ok()) {
    for (const auto& kv : r->kvs) {
      auto back = Base64Decode(Base64Encode(kv.key));
      if (!back || *back != kv.key) __builtin_trap();
    }
  }
  (void)ParseRevision(in);
  (void)ParseTxn(in);
  (void)ParseLease(in);
  (void)ParseAuthToken(in);
  (void)ParseWatchMessage(in);
  (void)ParseError(in, 500);
  (void)Base64Decode(in);
  return 0;
}
