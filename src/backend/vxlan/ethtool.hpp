// The one ethtool knob tartan needs: TX checksum offload on the vxlan device.
#pragma once

#include <string>

#include "common/result.hpp"

namespace tartan::backend {

// ETHTOOL_STXCSUM through SIOCETHTOOL, in the calling thread's network namespace.
Status SetTxChecksumOffload(const std::string& dev, bool on);

// ETHTOOL_GTXCSUM: whether any TX checksum offload is on for `dev` (what `tartanctl doctor`
// checks against the kernel bug SetTxChecksumOffload works around).
Result<bool> GetTxChecksumOffload(const std::string& dev);

}  // namespace tartan::backend
