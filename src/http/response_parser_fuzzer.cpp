// Feeds arbitrary bytes, split at a point the input chooses, to the HTTP response parser: it
// must never crash, read out of bounds or produce more body than it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/response_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % size;
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  tartan::http::ResponseParser parser({.max_head = 4096, .max_body = 1 << 20});
  std::string body;
  size_t fed = 0;
  for (std::string_view piece :
       {wire.substr(0, split), wire.substr(std::min(split, wire.size()))}) {
    auto used = parser.Feed(piece, body);
    if (!used) return 0;
    if (*used > piece.size()) __builtin_trap();
    fed += *used;
    if (parser.done()) break;
  }
  (void)parser.FeedEof();
  if (body.size() > fed) __builtin_trap();
  return 0;
}
