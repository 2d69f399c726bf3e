// Subnet keys come from etcd, written by any host (or by hand): the parser must survive
// arbitrary bytes, and a key it accepts must survive a format/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model/lease.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto key = tartan::model::SubnetKey::Parse(input);
  if (!key.ok()) return 0;
  const std::string text = key->ToString();
  auto again = tartan::model::SubnetKey::Parse(text);
  if (!again.ok() || !(*again == *key) || again->ToString() != text) std::abort();
  return 0;
}
