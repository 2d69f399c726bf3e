// The build's version, for --version and a build-info metric (cmake/TartanVersion.cmake).
#pragma once

#include <string_view>

namespace tartan {

// "0.1.0", "0.1.0-3-gabc1234" (git describe) or the release tarball's VERSION; no leading "v".
std::string_view Version();

}  // namespace tartan
