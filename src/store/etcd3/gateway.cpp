#include "store/etcd3/gateway.hpp"
#include "store/json_tokens.hpp"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

namespace tartan::store::etcd3::gateway {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Dump(const json& j) {
  // Keys and values travel base64-encoded; only user names and passwords are text, and a
  // byte that is not UTF-8 there cannot be expressed in proto3 JSON at all.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Int(int64_t v) { return std::to_string(v); }

Error Bad(const std::string& what) {
  return Error::InvalidArgument("unexpected etcd gateway response: " + what);
}

// proto3 JSON writes int64 as a string and int32 as a number; accept either for both.
Result<int64_t> IntField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return Bad(std::string(name) + " out of range");
    return static_cast<int64_t>(u);
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      return Bad(std::string(name) + " is not an integer");
    }
    return v;
  }
  return Bad(std::string(name) + " is not an integer");
}

Result<bool> BoolField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) return Bad(std::string(name) + " is not a boolean");
  return it->get<bool>();
}

Result<std::string> StringField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(std::string(name) + " is not a string");
  return it->get<std::string>();
}

Result<std::string> BytesField(const json& obj, const char* name) {
  auto s = StringField(obj, name);
  if (!s) return s.error();
  auto bytes = Base64Decode(*s);
  if (!bytes) return Bad(std::string(name) + " is not base64");
  return *bytes;
}

// Parses `body` as one JSON object, unwrapping {"result":{...}}.
Result<json> Object(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  if (auto it = j.find("result"); it != j.end()) {
    if (!it->is_object()) return Bad("result is not an object");
    json inner = std::move(*it);
    return inner;
  }
  return j;
}

Result<int64_t> HeaderRevision(const json& obj) {
  auto it = obj.find("header");
  if (it == obj.end()) return int64_t{0};
  if (!it->is_object()) return Bad("header is not an object");
  return IntField(*it, "revision");
}

Result<KeyValue> ParseKv(const json& j) {
  if (!j.is_object()) return Bad("kv is not an object");
  KeyValue kv;
  auto key = BytesField(j, "key");
  if (!key) return key.error();
  kv.key = std::move(*key);
  auto value = BytesField(j, "value");
  if (!value) return value.error();
  kv.value = std::move(*value);
  auto lease = IntField(j, "lease");
  auto create = IntField(j, "create_revision");
  auto mod = IntField(j, "mod_revision");
  if (!lease) return lease.error();
  if (!create) return create.error();
  if (!mod) return mod.error();
  kv.lease = *lease;
  kv.create_revision = *create;
  kv.mod_revision = *mod;
  return kv;
}

// A range reply read as a stream of tokens, straight into a Range: a listing of thousands of
// leases never exists as a document tree (each kv would cost ~1 KiB of tree on top of its
// ~250 bytes of JSON). Same results and errors as reading the tree: {"result":{...}} wins
// over the top-level fields, a repeated member counts once (the last), an error anywhere
// else in the body does not matter.
class RangeReader final : public TokenCallbacks<RangeReader> {
 public:
  Result<Range> Take() && {
    if (!object_) return Bad("not a JSON object");
    Target& t = result_.seen ? result_ : top_;
    if (t.error) return Bad(*t.error);
    return std::move(t.range);
  }

  // TokenCallbacks' (json_tokens.hpp).
  friend class TokenCallbacks<RangeReader>;

 private:
  using Kind = TokenKind;
  // What an open object or array is: the reply's body (top level or "result"), its header,
  // the kvs array, one kv, or anything else (read and ignored).
  enum class Frame { kBody, kHeader, kKvs, kKv, kSkip };
  struct Target {
    Range range;
    std::optional<std::string> error;  // the first problem; later members are not looked at
    bool seen = false;
  };
  struct Open {
    Frame frame;
    Target* target;
  };

  bool FollowsKeys() const { return true; }

  bool Value(Kind kind) {
    if (stack_.empty()) {
      if (kind != Kind::kObject) return false;  // object_ stays false
      object_ = true;
      top_.seen = true;
      stack_.push_back({Frame::kBody, &top_});
      return true;
    }
    const Open open = stack_.back();
    Frame push = Frame::kSkip;
    Target* target = open.target;
    switch (open.frame) {
      case Frame::kSkip:
        break;
      case Frame::kBody:
        if (target == &top_ && key_ == "result") {
          result_ = Target{};
          result_.seen = true;
          target = &result_;
          if (kind == Kind::kObject) {
            push = Frame::kBody;
          } else {
            result_.error = "result is not an object";
          }
        } else if (target->error) {
        } else if (key_ == "header") {
          if (kind == Kind::kObject) {
            // A repeated header counts as the last one.
            target->range.revision = 0;
            target->range.cluster_id.clear();
            push = Frame::kHeader;
          } else {
            target->error = "header is not an object";
          }
        } else if (key_ == "kvs") {
          target->range.kvs.clear();
          if (kind == Kind::kArray) {
            push = Frame::kKvs;
          } else if (kind != Kind::kNull) {
            target->error = "kvs is not an array";
          }
        }
        break;
      case Frame::kHeader:
        if (target->error) break;
        if (key_ == "revision") {
          Int(kind, "revision", target->range.revision, *target);
        } else if (key_ == "cluster_id") {
          if (kind == Kind::kNull) {
            target->range.cluster_id.clear();
          } else if (kind == Kind::kString) {
            target->range.cluster_id = *string_;
          } else if (kind == Kind::kUint) {
            target->range.cluster_id = std::to_string(uint_);
          } else {
            target->error = "header.cluster_id is not a string";
          }
        }
        break;
      case Frame::kKvs:
        if (target->error) break;
        if (kind == Kind::kObject) {
          kv_ = KeyValue{};
          push = Frame::kKv;
        } else {
          target->error = "kv is not an object";
        }
        break;
      case Frame::kKv:
        if (target->error) break;
        if (key_ == "key" || key_ == "value") {
          Bytes(kind, key_ == "key" ? "key" : "value", key_ == "key" ? kv_.key : kv_.value,
                *target);
        } else if (key_ == "lease") {
          Int(kind, "lease", kv_.lease, *target);
        } else if (key_ == "create_revision") {
          Int(kind, "create_revision", kv_.create_revision, *target);
        } else if (key_ == "mod_revision") {
          Int(kind, "mod_revision", kv_.mod_revision, *target);
        }
        break;
    }
    if (kind == Kind::kObject || kind == Kind::kArray) stack_.push_back({push, target});
    return true;
  }

  bool End() {
    const Open open = stack_.back();
    stack_.pop_back();
    if (open.frame == Frame::kKv && !open.target->error) {
      open.target->range.kvs.push_back(std::move(kv_));
    }
    return true;
  }

  // As IntField: an integer, or a string holding one; null is 0.
  void Int(Kind kind, const char* name, int64_t& out, Target& t) {
    if (kind == Kind::kNull) {
      out = 0;
    } else if (kind == Kind::kInt) {
      out = int_;
    } else if (kind == Kind::kUint) {
      if (uint_ > static_cast<uint64_t>(INT64_MAX)) {
        t.error = std::string(name) + " out of range";
      } else {
        out = static_cast<int64_t>(uint_);
      }
    } else if (kind == Kind::kString) {
      const std::string& s = *string_;
      int64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
        t.error = std::string(name) + " is not an integer";
      } else {
        out = v;
      }
    } else {
      t.error = std::string(name) + " is not an integer";
    }
  }

  // As BytesField: base64 text; null is empty.
  void Bytes(Kind kind, const char* name, std::string& out, Target& t) {
    if (kind == Kind::kNull) {
      out.clear();
    } else if (kind != Kind::kString) {
      t.error = std::string(name) + " is not a string";
    } else if (auto bytes = Base64Decode(*string_)) {
      out = std::move(*bytes);
    } else {
      t.error = std::string(name) + " is not base64";
    }
  }

  Target top_;
  Target result_;
  std::vector<Open> stack_;
  KeyValue kv_;
};

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const unsigned char c = static_cast<unsigned char>(text[i + k]);
      int d = 0;
      if (k >= 4 - static_cast<size_t>(pad)) {
        if (c != '=') return std::nullopt;
      } else {
        d = kValue[c];
        if (d < 0) return std::nullopt;
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    // Bits below the last full byte must be zero (canonical encoding only).
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) return std::nullopt;
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

const char* RpcCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN_CODE";
  return kNames[code];
}

// The requests of the idle store checks and of renewals (range, count, lease ID) are written
// directly: base64 and decimal text need no escaping, and the JSON serializer's code is then
// not mapped back by every check (docs/adr/0020). The tests read them back as JSON.
std::string RangeRequest(std::string_view key, std::string_view range_end) {
  std::string out = "{\"key\":\"" + Base64Encode(key) + '"';
  if (!range_end.empty()) {
    out += ",\"range_end\":\"" + Base64Encode(range_end) +
           R"(","sort_order":"ASCEND","sort_target":"KEY")";
  }
  out += '}';
  return out;
}

std::string CountRequest(std::string_view key) {
  return "{\"key\":\"" + Base64Encode(key) + R"(","count_only":true})";
}

std::string PutRequest(std::string_view key, std::string_view value, int64_t lease) {
  json j = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) j["lease"] = Int(lease);
  return Dump(j);
}

std::string DeleteRangeRequest(std::string_view key, std::string_view range_end) {
  json j = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) j["range_end"] = Base64Encode(range_end);
  return Dump(j);
}

std::string PutIfRequest(std::string_view key, std::string_view value, int64_t lease,
                         int64_t expected_mod_revision) {
  json cmp = {{"key", Base64Encode(key)}, {"result", "EQUAL"}};
  if (expected_mod_revision == 0) {
    // flannel's create-if-absent: If(Version(key)==0).
    cmp["target"] = "VERSION";
    cmp["version"] = "0";
  } else {
    cmp["target"] = "MOD";
    cmp["mod_revision"] = Int(expected_mod_revision);
  }
  json put = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) put["lease"] = Int(lease);
  json j = {{"compare", json::array({cmp})},
            {"success", json::array({json{{"request_put", put}}})}};
  return Dump(j);
}

std::string LeaseGrantRequest(int64_t ttl_seconds) { return Dump({{"TTL", Int(ttl_seconds)}}); }
std::string LeaseIdRequest(int64_t id) { return "{\"ID\":\"" + Int(id) + "\"}"; }
std::string CompactionRequest(int64_t revision) {
  return Dump({{"revision", Int(revision)}, {"physical", true}});
}
std::string AuthenticateRequest(std::string_view name, std::string_view password) {
  return Dump({{"name", std::string(name)}, {"password", std::string(password)}});
}
std::string WatchCreateRequest(std::string_view key, std::string_view range_end,
                               int64_t start_revision) {
  json create = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) create["range_end"] = Base64Encode(range_end);
  if (start_revision != 0) create["start_revision"] = Int(start_revision);
  return Dump({{"create_request", create}});
}

RpcError ParseError(std::string_view body, int http_status) {
  RpcError e;
  // Without a readable body, the HTTP status is all there is.
  e.code = http_status == 503   ? kUnavailable
           : http_status == 504 ? kDeadlineExceeded
           : http_status == 401 ? kUnauthenticated
           : http_status == 403 ? kPermissionDenied
           : http_status == 404 ? kNotFound
                                : kUnknown;
  e.message = "HTTP status " + std::to_string(http_status);
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return e;
  const json* src = &j;
  if (auto it = j.find("error"); it != j.end() && it->is_object()) src = &*it;  // stream form
  for (const char* name : {"code", "grpc_code"}) {
    if (auto it = src->find(name); it != src->end() && it->is_number_integer()) {
      e.code = it->get<int>();
    }
  }
  for (const char* name : {"message", "error"}) {
    if (auto it = src->find(name);
        it != src->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      e.message = it->get<std::string>();
      break;
    }
  }
  return e;
}

Result<Range> ParseRange(std::string_view body) {
  RangeReader reader;
  // Errors are reported through the reader (parse_error), never thrown.
  (void)json::sax_parse(body.begin(), body.end(), &reader, json::input_format_t::json,
                        /*strict=*/true);
  return std::move(reader).Take();
}

Result<int64_t> ParseRevision(std::string_view body) {
  auto j = Object(body);
  if (!j) return j.error();
  return HeaderRevision(*j);
}

Result<Txn> ParseTxn(std::string_view body) {
  auto j = Object(body);
  if (!j) return j.error();
  auto rev = HeaderRevision(*j);
  if (!rev) return rev.error();
  auto ok = BoolField(*j, "succeeded");
  if (!ok) return ok.error();
  return Txn{*rev, *ok};
}

Result<LeaseInfo> ParseLease(std::string_view body) {
  // A streaming reply (keepalive) may carry a trailing newline; the first line is the message.
  if (const size_t nl = body.find('\n'); nl != std::string_view::npos) body = body.substr(0, nl);
  auto j = Object(body);
  if (!j) return j.error();
  LeaseInfo out;
  auto id = IntField(*j, "ID");
  auto ttl = IntField(*j, "TTL");
  auto err = StringField(*j, "error");
  if (!id) return id.error();
  if (!ttl) return ttl.error();
  if (!err) return err.error();
  out.id = *id;
  out.ttl = *ttl;
  out.error = std::move(*err);
  return out;
}

Result<std::string> ParseAuthToken(std::string_view body) {
  auto j = Object(body);
  if (!j) return j.error();
  auto token = StringField(*j, "token");
  if (!token) return token.error();
  if (token->empty()) return Bad("no token");
  return *token;
}

Result<WatchMessage> ParseWatchMessage(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("watch message is not a JSON object");
  WatchMessage out;
  if (auto it = j.find("error"); it != j.end()) {
    out.error = ParseError(line, 500);
    return out;
  }
  auto r = j.find("result");
  if (r == j.end() || !r->is_object()) return Bad("watch message has no result");
  const json& m = *r;
  auto rev = HeaderRevision(m);
  auto created = BoolField(m, "created");
  auto canceled = BoolField(m, "canceled");
  auto reason = StringField(m, "cancel_reason");
  auto compact = IntField(m, "compact_revision");
  if (!rev) return rev.error();
  if (!created) return created.error();
  if (!canceled) return canceled.error();
  if (!reason) return reason.error();
  if (!compact) return compact.error();
  out.revision = *rev;
  out.created = *created;
  out.canceled = *canceled;
  out.cancel_reason = std::move(*reason);
  out.compact_revision = *compact;
  if (auto it = m.find("events"); it != m.end() && !it->is_null()) {
    if (!it->is_array()) return Bad("events is not an array");
    for (const json& e : *it) {
      if (!e.is_object()) return Bad("event is not an object");
      auto type = StringField(e, "type");
      if (!type) return type.error();
      WatchEvent ev;
      if (type->empty() || *type == "PUT") {
        ev.type = WatchEvent::Type::kPut;
      } else if (*type == "DELETE") {
        ev.type = WatchEvent::Type::kDelete;
      } else {
        return Bad("event type " + type->substr(0, 32));
      }
      auto kv_it = e.find("kv");
      if (kv_it == e.end()) return Bad("event without kv");
      auto kv = ParseKv(*kv_it);
      if (!kv) return kv.error();
      ev.kv = std::move(*kv);
      out.events.push_back(std::move(ev));
    }
  }
  return out;
}

std::optional<std::string> NextStreamMessage(std::string& buffer, size_t& scanned,
                                             bool stream_ended) {
  while (true) {
    size_t nl = buffer.find('\n', std::min(scanned, buffer.size()));
    if (nl == std::string::npos) {
      scanned = buffer.size();
      if (!stream_ended || buffer.find_first_not_of(" \t\r") == std::string::npos) {
        if (stream_ended) buffer.clear();
        return std::nullopt;
      }
      nl = buffer.size();
    }
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, std::min(nl + 1, buffer.size()));
    scanned = 0;
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  }
}

}  // namespace tartan::store::etcd3::gateway
