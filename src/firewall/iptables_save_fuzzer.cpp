// iptables-save output is parsed on every resync; whatever another tool left in the tables
// must not crash the agent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "firewall/iptables_save.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto dump = tartan::firewall::ParseIptablesSave(text, "nat");
  if (dump.ok()) {
    for (const auto& [name, chain] : dump->chains) {
      for (const auto& rule : chain.rules) {
        // Normalising a normalised rule changes nothing.
        if (tartan::firewall::NormalizeRule(rule) != rule) __builtin_trap();
      }
    }
  }
  return 0;
}
