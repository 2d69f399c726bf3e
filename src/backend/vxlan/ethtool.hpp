// The one ethtool knob tartan needs: TX checksum offload on the vxlan device.
#pragma once

#include <string>

#include "common/result.hpp"

namespace tartan::backend {

// ETHTOOL_STXCSUM through SIOCETHTOOL, in the calling thread's network namespace.
Status SetTxChecksumOffload(const std::string& dev, bool on);

}  // namespace tartan::backend
