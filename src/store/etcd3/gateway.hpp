// The JSON shapes of etcd's v3 gRPC gateway (`/v3/kv/range`, `/v3/watch`, ...): request
// bodies out, tartan values in. The gateway is etcd's own translation of its gRPC API, so the
// data, revisions and semantics are those of the v3 API that flanneld >= v0.18 uses; only the
// encoding differs: proto3 JSON, where bytes are base64, 64-bit integers are strings, and
// fields holding their zero value are left out.
//
// Pure (no I/O), unit-tested and fuzzed: everything here reads what a server sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "store/registry.hpp"

namespace tartan::store::etcd3::gateway {

std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding (what Go's encoding/json writes); std::nullopt if invalid.
std::optional<std::string> Base64Decode(std::string_view text);

// gRPC status codes, as etcd reports them in error bodies.
enum RpcCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};
const char* RpcCodeName(int code);

// An error etcd returned: {"error":"...","code":N,"message":"..."} for a unary call, or
// {"error":{"grpc_code":N,"message":"..."}} inside a stream.
struct RpcError {
  int code = kUnknown;
  std::string message;
  bool operator==(const RpcError&) const = default;
};

// ---- requests ---------------------------------------------------------------------------------
// `range_end` empty: the single key; see PrefixRangeEnd in client.hpp for prefixes.
std::string RangeRequest(std::string_view key, std::string_view range_end = {});
// A range that only counts `key`: the cheapest linearizable read, for its header.
std::string CountRequest(std::string_view key);
std::string PutRequest(std::string_view key, std::string_view value, int64_t lease);
std::string DeleteRangeRequest(std::string_view key, std::string_view range_end = {});
// If(mod_revision == expected) or, for expected 0, If(version == 0): Then(Put).
std::string PutIfRequest(std::string_view key, std::string_view value, int64_t lease,
                         int64_t expected_mod_revision);
std::string LeaseGrantRequest(int64_t ttl_seconds);
std::string LeaseIdRequest(int64_t id);  // revoke, keepalive, timetolive
std::string CompactionRequest(int64_t revision);
std::string AuthenticateRequest(std::string_view name, std::string_view password);
std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               int64_t start_revision);

// ---- responses --------------------------------------------------------------------------------
// Each fails with kInvalidArgument, naming the field, on a body that is not the expected shape.
// A body may come wrapped as {"result":{...}} (streaming calls); both forms are accepted.

RpcError ParseError(std::string_view body, int http_status);

struct Range {
  int64_t revision = 0;
  std::string cluster_id;  // header.cluster_id, as etcd writes it (a decimal uint64); "" if absent
  std::vector<KeyValue> kvs;
};
Result<Range> ParseRange(std::string_view body);

// put, deleterange, compaction: the store revision after the call.
Result<int64_t> ParseRevision(std::string_view body);

struct Txn {
  int64_t revision = 0;
  bool succeeded = false;
};
Result<Txn> ParseTxn(std::string_view body);

// grant, keepalive, timetolive. ttl <= 0 means the lease does not exist (any more).
struct LeaseInfo {
  int64_t id = 0;
  int64_t ttl = 0;
  std::string error;  // LeaseGrantResponse.error
};
Result<LeaseInfo> ParseLease(std::string_view body);

Result<std::string> ParseAuthToken(std::string_view body);

// One message of the watch stream (one line of the response body).
struct WatchMessage {
  int64_t revision = 0;  // header.revision
  bool created = false;
  bool canceled = false;
  std::string cancel_reason;
  int64_t compact_revision = 0;
  std::vector<WatchEvent> events;
  std::optional<RpcError> error;  // the stream ended with this error
};
Result<WatchMessage> ParseWatchMessage(std::string_view line);

// Splits a streaming reply's body into messages: takes the next newline-terminated, non-blank
// line off the front of `buffer`. Once the stream has ended (`stream_ended`), a last message
// without a newline is taken too: etcd 3.4's gateway ends a failed stream with an error
// object and no newline. std::nullopt when no whole message is buffered. `scanned` (start 0)
// remembers how far `buffer` is known to hold no newline, so a long message is scanned once.
std::optional<std::string> NextStreamMessage(std::string& buffer, size_t& scanned,
                                             bool stream_ended);

}  // namespace tartan::store::etcd3::gateway
