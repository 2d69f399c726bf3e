// Running a delegate plugin the way the CNI runtime libraries do: found by name in CNI_PATH,
// started with this process's environment (CNI_COMMAND set to the delegated command), the
// configuration on its stdin, its result read from stdout, its stderr passed through.
#pragma once

#include <string>

#include "cni/cni_error.hpp"

namespace tartan::cni {

// The first `<dir>/<name>` over the ':'-separated `cni_path` that is an executable regular
// file. Not found -> 999 naming the path searched.
CniResult<std::string> FindPlugin(const std::string& name, const std::string& cni_path);

// Runs `plugin` with `command` and `stdin_data`. Exit 0 -> its stdout. Otherwise the error
// the plugin printed (its code and message kept), or 999 when it printed none. stdout is
// bounded (a plugin printing more than 16 MiB is broken).
CniResult<std::string> ExecPlugin(const std::string& plugin, const std::string& command,
                                  const std::string& stdin_data);

}  // namespace tartan::cni
