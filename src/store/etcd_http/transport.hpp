// The part of an etcd client that does not depend on which etcd API it speaks (the v3 JSON
// gateway, etcd2/'s v2 keys API): the member list and which member is current, the TLS
// context, one keep-alive connection pool per member, request/response exchanges bounded by a
// deadline, failover to the next member, and Shutdown cancelling everything in flight
// (docs/adr/0010, 0011).
//
// A protocol plugs in per call: how to build the request for a member (adding its credentials)
// and what a complete reply means (an answer, a retry after refreshing credentials, an error to
// return, or a reason to try the next member).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "http/client_connection.hpp"
#include "http/response_parser.hpp"
#include "store/etcd_http/endpoint.hpp"
#include "store/etcd_http/options.hpp"

namespace tartan::store::etcd_http {

using http::Clock;

// A listing of thousands of leases is a few MiB; anything near this is not etcd talking.
constexpr uint64_t kMaxBody = 256ull << 20;

// A request that changes etcd. If it may have reached a member, repeating it elsewhere can
// apply it twice (a second lease granted, our own create-if-absent failing its condition): it
// fails over only when it certainly did not arrive. Reads are repeated freely.
enum class Idempotent { kYes, kNo };

struct Request {
  std::string method = "GET";
  std::string target;        // path and query, already escaped
  std::string content_type;  // sent when non-empty
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // sent in order, after the framing
};

struct Reply {
  http::ResponseHead head;
  std::string body;
  int status() const { return head.status; }
};

// What a protocol makes of one complete reply from a member.
struct Verdict {
  enum class Kind {
    kAnswer,        // hand the reply to the caller
    kRetry,         // ask the same member once more (the credentials were refreshed)
    kFail,          // return `error`
    kTryElsewhere,  // this member is down, leaderless or slow: try the next one
  };
  Kind kind = Kind::kAnswer;
  // kFail: the error returned. kTryElsewhere: returned instead of failing over when the
  // request changes etcd and may have been applied.
  Error error;
  std::string failure;       // kTryElsewhere: this member's part of the final error message
  bool not_applied = false;  // kTryElsewhere: etcd guarantees the request was not applied

  static Verdict Answer() { return {}; }
  static Verdict Retry() { return {Kind::kRetry, {}, {}, false}; }
  static Verdict Fail(Error e) { return {Kind::kFail, std::move(e), {}, false}; }
  static Verdict TryElsewhere(Error e, std::string failure, bool not_applied) {
    return {Kind::kTryElsewhere, std::move(e), std::move(failure), not_applied};
  }
};

// One call through Transport::Call.
struct CallSpec {
  const char* what = "";  // "get", "conditional put": for messages
  Idempotent idempotent = Idempotent::kYes;
  // The request bytes for member `idx` (see Transport::Serialize). Errors: kUnavailable moves
  // on to the next member, kCancelled stops, anything else is returned.
  std::function<Result<std::string>(size_t idx)> prepare;
  // Judges a complete reply; `attempt` counts kRetry verdicts on this member (0 first).
  std::function<Verdict(size_t idx, const Reply& reply, int attempt)> judge;
};

struct Answer {
  Reply reply;
  size_t idx = 0;  // the member that answered
};

Result<UniqueFd> NewEventFd();
void Signal(const UniqueFd& fd);

// "Basic <base64(user:password)>", HTTP basic authentication's Authorization value.
std::string BasicAuthorization(std::string_view user, std::string_view password);

class Transport {
 public:
  // Parses endpoints and loads the TLS files (only when an https:// endpoint is given);
  // connects nothing.
  static Result<std::shared_ptr<Transport>> Create(const ClientOptions& options);

  const ClientOptions& options() const { return opts_; }
  const std::vector<Endpoint>& endpoints() const { return eps_; }
  // The member the next call goes to first (the last one that answered).
  size_t Current() const { return current_.load() % eps_.size(); }
  // Moves on from `idx` unless another call already did.
  void MarkFailed(size_t idx);
  // "etcd <url>: <what>"
  std::string Where(size_t idx, std::string_view what) const;
  // "etcd <url>,<url>"
  std::string Describe() const;

  bool shut_down() const { return shut_down_; }
  // Cancels every wait of every exchange and stream (they poll the shutdown eventfd), drops
  // idle connections and makes later calls fail with kCancelled. Irreversible.
  void Shutdown();

  // The HTTP/1.1 request bytes of `r` for member `idx` (Host, Content-Type, Content-Length).
  std::string Serialize(size_t idx, const Request& r) const;

  // One request to member `idx`. An idempotent one goes on an idle keep-alive connection when
  // there is one; a reused connection that the member closed while it was idle fails before
  // any reply byte: that one attempt is repeated on a fresh connection (not after a timeout:
  // the member may be busy with the request). A request that is not idempotent always goes on
  // a fresh connection and is never repeated: a reused connection failing before the reply
  // may have delivered it. Without a deadline (a long-poll), connecting and sending are still
  // bounded by request_timeout; only the wait for the reply is not. `extra_cancel` (an
  // eventfd, or -1) interrupts it like Shutdown does. On failure, `maybe_sent` tells whether
  // the request may have reached the member.
  Result<Reply> Exchange(size_t idx, const std::string& request, http::Deadline deadline,
                         int extra_cancel = -1, bool* maybe_sent = nullptr,
                         Idempotent idempotent = Idempotent::kYes);

  // Sends the request on the current member, moving on to the next one while members are
  // unreachable or judged so (for a non-idempotent request, only while it certainly did not
  // arrive). Returns the first reply judged an answer, or kUnavailable naming every member
  // tried, or kCancelled after Shutdown.
  Result<Answer> Call(const CallSpec& spec);

  // A connection of its own to member `idx`, for a stream (a v3 watch): TCP within 1 s or the
  // deadline, TLS within the deadline.
  Result<http::Connection> Connect(size_t idx, Clock::time_point deadline, int extra_cancel);
  // The fds every wait polls: the shutdown eventfd and `extra` (when >= 0).
  std::span<const int> Cancels(int extra, int (&storage)[2]) const;

 private:
  Transport() = default;
  std::optional<http::Connection> TakeIdle(size_t idx);
  void PutIdle(size_t idx, http::Connection c);
  Status ReadResponse(http::Connection& c, http::ResponseParser& parser, std::string& body,
                      http::Deadline deadline, int extra_cancel, bool& extra);

  ClientOptions opts_;
  std::vector<Endpoint> eps_;
  std::shared_ptr<http::TlsContext> tls_;  // set when some endpoint is https://
  std::atomic<size_t> current_{0};

  // Signalled once by Shutdown(); every wait of every call polls it, so a stop is never held
  // by a request to an unreachable member.
  UniqueFd shutdown_fd_;
  std::atomic<bool> shut_down_{false};

  std::mutex pool_mu_;
  std::vector<std::vector<http::Connection>> idle_;  // per endpoint; guarded by pool_mu_
};

}  // namespace tartan::store::etcd_http
