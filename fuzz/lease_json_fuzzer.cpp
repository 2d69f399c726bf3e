// Lease values come from etcd, written by any host: the parser must turn any bytes into a
// value or an error, and what it accepts must round-trip through ToJson unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model/lease.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto attrs = tartan::model::LeaseAttrs::Parse(input);
  if (!attrs.ok()) return 0;
  const std::string json = attrs->ToJson();
  auto again = tartan::model::LeaseAttrs::Parse(json);
  if (!again.ok() || !(*again == *attrs) || again->ToJson() != json) std::abort();
  return 0;
}
