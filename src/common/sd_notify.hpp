// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=value\n..." lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for
// an abstract socket). Used by tartand under Type=notify: READY=1 once the lease and the peer
// routes are in place, STOPPING=1 when a stop signal arrives.
#pragma once

#include <string_view>

#include "common/result.hpp"

namespace tartan::sd {

// Sends `state` to $NOTIFY_SOCKET; does nothing (Ok) when the variable is unset or empty, as
// when not started by systemd. Errors are values: callers log them, readiness is best-effort.
Status Notify(std::string_view state);

// The same to an explicit socket address (what $NOTIFY_SOCKET holds), for tests.
Status NotifyTo(std::string_view socket, std::string_view state);

}  // namespace tartan::sd
