// Every decoder of etcd v2 replies on arbitrary bytes: errors are fine, crashes are not; the
// leaves of a listing are never directories and come sorted, and the listing's token reader
// finds the same leaves and the same error as the tree; escaping leaves only safe bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/etcd2/codec.hpp"

using namespace tartan::store::etcd2::codec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The listing's token reader agrees with the tree, errors included.
  auto listing = ParseListing(in);
  if (auto r = ParseResponse(in); r.ok()) {
    const auto leaves = Leaves(r->node);
    for (size_t i = 0; i < leaves.size(); ++i) {
      if (leaves[i].dir || (i > 0 && leaves[i - 1].key > leaves[i].key)) __builtin_trap();
    }
    (void)Classify(r->action);
    if (!listing.ok() || listing->action != r->action || listing->leaves != leaves) {
      __builtin_trap();
    }
  } else if (listing.ok() || listing.error().message != r.error().message) {
    __builtin_trap();
  }
  if (auto e = ParseError(in)) (void)e->Text();
  (void)ParseIndex(in);
  for (char c : EscapeForm(in)) {
    if (c == '&' || c == '=' || c == '+' || c == ' ' || c == '/') __builtin_trap();
  }
  return 0;
}
