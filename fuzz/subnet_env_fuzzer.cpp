// subnet.env is read back at start to reuse the previous subnet, and may have been edited
// by hand: the parser must survive any bytes, and what it accepts must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model/subnet_env.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto env = tartan::model::SubnetEnv::Parse(input);
  if (!env.ok()) return 0;
  const std::string text = env->Format();
  auto again = tartan::model::SubnetEnv::Parse(text);
  if (!again.ok() || !(*again == *env) || again->Format() != text) std::abort();
  return 0;
}
