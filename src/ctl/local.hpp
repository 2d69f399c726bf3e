// `tartanctl status --local`: the agent's own view, from /status on its health port
// (--healthz-ip/--healthz-port, as given to tartand).
#pragma once

#include <cstdint>
#include <string>

#include "cmd/options.hpp"
#include "common/result.hpp"

namespace tartan::ctl {

// The body of GET <path> from the agent's health port; 0.0.0.0 (tartand's default, listening
// everywhere) is asked at 127.0.0.1. FailedPrecondition when --healthz-port is 0.
Result<std::string> FetchFromAgent(const cmd::Options& options, const std::string& path);

// The human form of /status's JSON; the text of the JSON error when it does not parse.
// `now_unix` turns the lease's expiry into time left.
std::string FormatLocalStatus(const std::string& status_json, int64_t now_unix);

}  // namespace tartan::ctl
