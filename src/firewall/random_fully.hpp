// Whether MASQUERADE --random-fully can be used on this node.
//
// The option needs iptables >= 1.6.2 (the tools learnt to parse it then) and Linux >= 3.13
// (NF_NAT_RANGE_PROTO_RANDOM_FULLY). flanneld asks only the tool's version (go-iptables'
// HasRandomFully); an older tool fails the whole iptables-restore with an unknown option, and
// an older kernel refuses the rule, so either would leave the node without its masquerade
// rules. The check reads versions only: it adds, changes and tests no rule in any table.
#pragma once

#include <string>
#include <string_view>

#include "firewall/command.hpp"

namespace tartan::firewall {

struct RandomFullySupport {
  bool supported = false;
  std::string why_not;  // for the log when not supported: which version is too old, or unknown
};

// `tool_version` is what `iptables-restore --version` prints ("iptables-restore v1.8.9
// (nf_tables)"), `kernel_release` what `uname -r` does ("6.1.0-18-amd64"). An unreadable
// tool version counts as unsupported (like go-iptables); an unreadable kernel release does not
// (its format is not ours to police, and every kernel of the last ten years is new enough).
RandomFullySupport RandomFullySupported(std::string_view tool_version,
                                        std::string_view kernel_release);

// Runs `<restore_command> --version` through `runner` and reads the kernel release (uname).
RandomFullySupport DetectRandomFully(CommandRunner& runner, const std::string& restore_command);

}  // namespace tartan::firewall
