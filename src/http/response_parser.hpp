// An incremental HTTP/1.1 response parser for the client side of tartan's etcd connections:
// status line, headers, then a body framed by Content-Length, chunked transfer coding (with
// trailers) or the end of the connection. Bytes go in as they arrive, in pieces of any size;
// decoded body bytes come out as they are complete, so a streaming response (etcd's watch)
// is consumed message by message. Pure: no I/O, fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace tartan::http {

struct ResponseHead {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order; names as sent

  // The first header with this name, compared case-insensitively.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct ParserLimits {
  size_t max_head = 64 * 1024;       // status line + headers (and trailers)
  uint64_t max_body = 256ull << 20;  // decoded body bytes
};

class ResponseParser {
 public:
  explicit ResponseParser(ParserLimits limits = {}) : limits_(limits) {}

  // The response to a HEAD request has no body whatever its headers say; tartan sends none,
  // so this is only for completeness of the framing rules.
  void ExpectNoBody() { no_body_ = true; }

  // Consumes `data`, appending decoded body bytes to `body`. Fails (kInvalidArgument) on input
  // that is not HTTP/1.x, on a framing error, or past a limit; the parser is then unusable.
  // Bytes after the end of the response are not consumed: Feed returns how many were.
  Result<size_t> Feed(std::string_view data, std::string& body);

  // The connection reached end-of-file. `clean_close`: the end is authenticated as the peer's
  // own (a TLS close_notify). Only such an end completes a body framed by the connection's
  // end: a plain TCP FIN (or a TLS stream cut without close_notify) cannot be told from a
  // truncation by a reset, a crashed proxy or an attacker, and etcd (Go's net/http) always
  // frames HTTP/1.1 replies by Content-Length or chunked coding, so a close-framed body is
  // refused there rather than taken as whole (kUnavailable). Anything else unfinished is an
  // error too ("connection closed mid-response").
  Status FeedEof(bool clean_close = false);

  bool head_done() const { return state_ > State::kHead; }
  const ResponseHead& head() const { return head_; }
  bool done() const { return state_ == State::kDone; }
  // Whether the connection can carry another request once this response is done.
  bool keep_alive() const { return keep_alive_; }
  // Any byte of a response seen (distinguishes a closed idle connection from a broken reply).
  bool started() const { return started_; }

 private:
  enum class State {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilEof,
    kDone
  };

  Status ParseHead(std::string_view text);
  Status StartBody();
  // Takes one CRLF- (or LF-) terminated line from buf_+data; std::nullopt when incomplete.
  std::optional<std::string> TakeLine(std::string_view data, size_t& used);

  ParserLimits limits_;
  State state_ = State::kHead;
  ResponseHead head_;
  std::string buf_;  // partial head, chunk-size line or trailer
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  bool keep_alive_ = true;
  bool no_body_ = false;
  bool started_ = false;
};

}  // namespace tartan::http
