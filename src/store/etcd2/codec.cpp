#include "store/etcd2/codec.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace tartan::store::etcd2::codec {

using nlohmann::json;

namespace {

// etcd's own trees are a few levels deep (/coreos.com/network/subnets/<key>).
constexpr int kMaxDepth = 64;

Error Bad(const std::string& what) {
  return Error::InvalidArgument("unexpected etcd v2 response: " + what);
}

std::optional<json> Parse(std::string_view body) {
  try {
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
  } catch (...) {
    return std::nullopt;
  }
}

Result<int64_t> IntField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<int64_t>();
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return Bad(std::string(name) + " out of range");
    return static_cast<int64_t>(u);
  }
  return Bad(std::string(name) + " is not an integer");
}

Result<std::string> StringField(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(std::string(name) + " is not a string");
  return it->get<std::string>();
}

Result<Node> ToNode(const json& j, int depth) {
  if (depth > kMaxDepth) return Bad("directories nest deeper than " + std::to_string(kMaxDepth));
  if (!j.is_object()) return Bad("node is not an object");
  Node n;
  auto key = StringField(j, "key");
  if (!key) return key.error();
  n.key = std::move(*key);
  auto value = StringField(j, "value");
  if (!value) return value.error();
  n.value = std::move(*value);
  if (auto it = j.find("dir"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("dir is not a boolean");
    n.dir = it->get<bool>();
  }
  if (auto it = j.find("ttl"); it != j.end() && !it->is_null()) {
    auto ttl = IntField(j, "ttl");
    if (!ttl) return ttl.error();
    n.has_ttl = true;
    n.ttl = *ttl;
  }
  // etcd writes "expiration" with "ttl"; a node with only one of them still expires.
  if (auto it = j.find("expiration"); it != j.end() && !it->is_null()) n.has_ttl = true;
  auto mod = IntField(j, "modifiedIndex");
  if (!mod) return mod.error();
  n.modified_index = *mod;
  auto created = IntField(j, "createdIndex");
  if (!created) return created.error();
  n.created_index = *created;
  if (auto it = j.find("nodes"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Bad("nodes is not an array");
    n.nodes.reserve(it->size());
    for (const json& child : *it) {
      auto c = ToNode(child, depth + 1);
      if (!c) return c.error();
      n.nodes.push_back(std::move(*c));
    }
  }
  return n;
}

void CollectLeaves(const Node& n, std::vector<Node>& out) {
  if (!n.dir) {
    Node leaf = n;
    leaf.nodes.clear();
    out.push_back(std::move(leaf));
    return;
  }
  for (const Node& child : n.nodes) CollectLeaves(child, out);
}

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string Escape(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace

std::string ApiError::Text() const {
  std::string out = message.empty() ? "etcd v2 error" : message;
  out += " (errorCode " + std::to_string(code);
  if (!cause.empty()) out += "; cause: " + cause;
  out += ")";
  return out;
}

Result<Response> ParseResponse(std::string_view body) {
  auto j = Parse(body);
  if (!j) return Bad("not a JSON object");
  if (j->contains("errorCode")) return Bad("an error object where a result was expected");
  Response r;
  auto action = StringField(*j, "action");
  if (!action) return action.error();
  if (action->empty()) return Bad("no action");
  r.action = std::move(*action);
  auto node = j->find("node");
  if (node == j->end() || !node->is_object()) return Bad("no node");
  auto n = ToNode(*node, 0);
  if (!n) return n.error();
  r.node = std::move(*n);
  if (auto prev = j->find("prevNode"); prev != j->end() && !prev->is_null()) {
    auto p = ToNode(*prev, 0);
    if (!p) return p.error();
    r.prev_node = std::move(*p);
  }
  return r;
}

std::optional<ApiError> ParseError(std::string_view body) {
  auto j = Parse(body);
  if (!j) return std::nullopt;
  auto code = j->find("errorCode");
  if (code == j->end() || !code->is_number_integer()) return std::nullopt;
  ApiError e;
  const auto raw = code->get<int64_t>();
  if (raw < 0 || raw > 100000) return std::nullopt;
  e.code = static_cast<int>(raw);
  if (auto m = StringField(*j, "message"); m) e.message = std::move(*m);
  if (auto c = StringField(*j, "cause"); c) e.cause = std::move(*c);
  if (auto i = IntField(*j, "index"); i) e.index = *i;
  return e;
}

EventKind Classify(std::string_view action) {
  if (action == "set" || action == "create" || action == "update" || action == "compareAndSwap") {
    return EventKind::kPut;
  }
  if (action == "delete" || action == "expire" || action == "compareAndDelete") {
    return EventKind::kDelete;
  }
  return EventKind::kOther;
}

std::vector<Node> Leaves(const Node& root) {
  std::vector<Node> out;
  CollectLeaves(root, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const Node& a, const Node& b) { return a.key < b.key; });
  return out;
}

Result<int64_t> ParseIndex(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return Bad("X-Etcd-Index \"" + std::string(text.substr(0, 32)) + "\" is not an index");
  }
  return v;
}

std::string EscapePath(std::string_view key) { return Escape(key, /*keep_slash=*/true); }
std::string EscapeForm(std::string_view value) { return Escape(value, /*keep_slash=*/false); }

}  // namespace tartan::store::etcd2::codec
