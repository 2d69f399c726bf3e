// One client connection, plain TCP or TLS (OpenSSL), with every wait bounded by a deadline and
// interruptible by "cancel" file descriptors (eventfds): a stopping agent never waits on a
// peer that does not answer. Owns its socket and TLS session (RAII); movable.
//
// TLS is set up only when a TlsContext is used: a client that speaks plain HTTP never
// initialises OpenSSL, which is most of OpenSSL's resident memory.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace tartan::http {

using Clock = std::chrono::steady_clock;
// std::nullopt: no deadline (a watch stream may be quiet for days).
using Deadline = std::optional<Clock::time_point>;

struct TlsFiles {
  std::string ca_file;    // PEM roots that verify the server; the system's when empty
  std::string cert_file;  // PEM client certificate (chain), presented when set
  std::string key_file;   // PEM key of cert_file
};

// An OpenSSL client context with the roots and client certificate loaded. Errors name the
// flag the file came from (ca_flag etc.), so the operator knows which file is wrong.
class TlsContext {
 public:
  struct FlagNames {
    const char* ca = "CA file";
    const char* cert = "certificate file";
    const char* key = "key file";
  };
  static Result<std::shared_ptr<TlsContext>> Create(const TlsFiles& files, FlagNames names);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  void* native() const { return ctx_; }  // SSL_CTX*

 private:
  TlsContext() = default;
  void* ctx_ = nullptr;
};

class Connection {
 public:
  // Resolves `host` (a name or an address literal; name resolution itself is not bounded by
  // the deadline), connects within `connect_deadline` and, with `tls`, completes the
  // handshake within `handshake_deadline`, verifying the server's certificate against `host`.
  // TCP keepalive is on, so a peer that vanished is noticed under a quiet stream (~30 s).
  static Result<Connection> Open(const std::string& host, int port,
                                 const std::shared_ptr<TlsContext>& tls, Deadline connect_deadline,
                                 Deadline handshake_deadline, std::span<const int> cancel_fds);

  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  Status WriteAll(std::string_view data, Deadline deadline, std::span<const int> cancel_fds);
  // Reads what is available (at most `cap` bytes), waiting for at least one byte. 0 means the
  // peer closed the connection: over TLS only after its close_notify (then clean_close() is
  // true); a TLS stream cut without one is kUnavailable, as the data may be truncated.
  // Errors: kDeadlineExceeded (nothing within `deadline`: the connection may be intact),
  // kUnavailable (I/O error, a TLS stream cut), kCancelled.
  Result<size_t> Read(char* buf, size_t cap, Deadline deadline, std::span<const int> cancel_fds);
  // Whether the end Read reported is authenticated as the peer's (a TLS close_notify). A plain
  // TCP FIN is not: anyone on the path can forge or provoke it.
  bool clean_close() const { return clean_close_; }

 private:
  Connection() = default;
  // Waits until the socket is readable (or writable) or a cancel fd fires or the deadline.
  Status Wait(bool for_write, Deadline deadline, std::span<const int> cancel_fds) const;

  UniqueFd fd_;
  void* ssl_ = nullptr;  // SSL*
  bool clean_close_ = false;
};

}  // namespace tartan::http
