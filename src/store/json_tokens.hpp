// nlohmann's SAX callbacks, shared by the readers that take etcd's replies apart as a stream
// of tokens (etcd2::codec::ParseListing, etcd3::gateway::ParseRange: no document tree of a
// listing of thousands of leases). Each value becomes one call of the reader's Value(kind),
// with its scalar kept here for the reader to take; the end of an object or an array one call
// of End(); a key is kept while the reader's FollowsKeys() says so. A parse error leaves
// object_ false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace tartan::store {

enum class TokenKind { kNull, kBool, kInt, kUint, kString, kObject, kArray, kOther };

// Reader: bool Value(TokenKind), bool End(), bool FollowsKeys() const (friends of this class).
template <typename Reader>
class TokenCallbacks : public nlohmann::json::json_sax_t {
 public:
  bool null() final { return self().Value(TokenKind::kNull); }
  bool boolean(bool v) final {
    bool_ = v;
    return self().Value(TokenKind::kBool);
  }
  bool number_integer(number_integer_t v) final {
    int_ = v;
    return self().Value(TokenKind::kInt);
  }
  bool number_unsigned(number_unsigned_t v) final {
    uint_ = v;
    return self().Value(TokenKind::kUint);
  }
  bool number_float(number_float_t, const string_t&) final {
    return self().Value(TokenKind::kOther);
  }
  bool string(string_t& v) final {
    string_ = &v;
    return self().Value(TokenKind::kString);
  }
  bool binary(binary_t&) final { return self().Value(TokenKind::kOther); }
  bool start_object(std::size_t) final { return self().Value(TokenKind::kObject); }
  bool start_array(std::size_t) final { return self().Value(TokenKind::kArray); }
  bool key(string_t& k) final {
    if (self().FollowsKeys()) key_ = std::move(k);
    return true;
  }
  bool end_object() final { return self().End(); }
  bool end_array() final { return self().End(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) final {
    object_ = false;
    return false;
  }

 protected:
  bool object_ = false;  // the body is a JSON object, read to its end
  std::string key_;      // the member whose value comes next
  bool bool_ = false;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  string_t* string_ = nullptr;  // the value's own string: a reader may move it away

 private:
  Reader& self() { return static_cast<Reader&>(*this); }
};

}  // namespace tartan::store
