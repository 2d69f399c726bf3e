// The JSON of etcd's v2 keys API (`/v2/keys/...`, what flanneld <= v0.17 speaks): responses
// ({"action","node","prevNode"}), error objects ({"errorCode","message","cause","index"}), and
// the escaping of keys and form values going out. Shapes as etcd 3.4 (`--enable-v2`) writes
// them; see codec_test.cpp for bodies captured from it.
//
// Pure (no I/O), unit-tested and fuzzed: everything here reads what a server sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace tartan::store::etcd2::codec {

// etcd v2 error codes tartan acts on (etcd's error/error.go).
enum ErrorCode : int {
  kKeyNotFound = 100,
  kTestFailed = 101,  // prevIndex/prevValue compare failed
  kNotFile = 102,
  kNotDir = 104,
  kNodeExist = 105,  // prevExist=false on an existing key
  kRootReadOnly = 107,
  kDirNotEmpty = 108,
  kUnauthorized = 110,
  kRaftInternal = 300,  // etcd's own failures: timeouts, no leader
  kLeaderElect = 301,
  kWatcherCleared = 400,
  kEventIndexCleared = 401,  // waitIndex older than the 1000 events etcd keeps
};

struct ApiError {
  int code = 0;
  std::string message;
  std::string cause;
  int64_t index = 0;  // etcd's index when it answered

  // "Key not found (errorCode 100; cause: /x)"
  std::string Text() const;
  bool operator==(const ApiError&) const = default;
};

struct Node {
  std::string key;
  std::string value;
  bool dir = false;
  bool has_ttl = false;  // a TTL was set (the key expires); false: permanent
  int64_t ttl = 0;       // seconds left when etcd answered
  int64_t modified_index = 0;
  int64_t created_index = 0;
  std::vector<Node> nodes;  // a directory's children (listings with recursive=true nest)

  bool operator==(const Node&) const = default;
};

struct Response {
  std::string action;  // get, set, create, update, compareAndSwap, delete, expire, ...
  Node node;
  std::optional<Node> prev_node;
};

// A success body. Fails with kInvalidArgument, naming the field, on anything else (an error
// object included), or on directories nested deeper than 64.
Result<Response> ParseResponse(std::string_view body);

// An error body; std::nullopt when the body is not one (etcd without v2 answers /v2/keys with
// "404 page not found", a proxy with its own page).
std::optional<ApiError> ParseError(std::string_view body);

// What a watch event means for one key.
enum class EventKind { kPut, kDelete, kOther };
EventKind Classify(std::string_view action);

// The keys (not directories) of a listing's node tree, sorted by key.
std::vector<Node> Leaves(const Node& root);

// A listing (GET <dir>?recursive=true), read as a stream of tokens straight into its leaves:
// the reply of thousands of leases never exists as a JSON tree or a tree of Nodes. Same
// result and errors as ParseResponse followed by Leaves (the fuzzer checks it); a prevNode is
// checked but not kept.
struct Listing {
  std::string action;
  std::vector<Node> leaves;  // sorted by key; never directories, `nodes` always empty
};
Result<Listing> ParseListing(std::string_view body);

// The X-Etcd-Index header: a non-negative decimal integer.
Result<int64_t> ParseIndex(std::string_view text);

// A key as a URL path: every byte but letters, digits, "-._~" and "/" percent-encoded (keys
// such as "10.12.13.0-24&fd00:12:13::-56" carry '&' and ':').
std::string EscapePath(std::string_view key);
// A query or application/x-www-form-urlencoded value: every byte but letters, digits and
// "-._~" percent-encoded.
std::string EscapeForm(std::string_view value);

}  // namespace tartan::store::etcd2::codec
