#include "store/etcd2/codec.hpp"
#include "store/json_tokens.hpp"

#include <algorithm>
#include <array>
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

// ParseListing's token reader. It keeps one state per open node (at most kMaxDepth + 1), and
// the leaves found so far; it mirrors ToNode's rules exactly, including the corners a server
// never writes but a fuzzer does: a repeated member counts once (the last, as in the tree,
// and with it the last one's errors), children are checked even under a node that is not a
// directory, and a node's first problem is reported in ToNode's order of fields, whichever
// came first in the text.
class ListingReader final : public TokenCallbacks<ListingReader> {
 public:
  Result<Listing> Take() && {
    if (!object_) return Bad("not a JSON object");
    if (error_code_) return Bad("an error object where a result was expected");
    if (action_error_) return Bad(action_error_);
    if (listing_.action.empty()) return Bad("no action");
    if (!node_is_object_) return Bad("no node");
    if (node_error_) return Bad(*node_error_);
    if (prev_error_) return Bad(*prev_error_);
    std::stable_sort(listing_.leaves.begin(), listing_.leaves.end(),
                     [](const Node& a, const Node& b) { return a.key < b.key; });
    return std::move(listing_);
  }

  // TokenCallbacks' (json_tokens.hpp).
  friend class TokenCallbacks<ListingReader>;

 private:
  using Kind = TokenKind;
  // What an open object or array is: the reply, a node, a node's "nodes" array.
  enum class Frame { kBody, kNode, kNodes };
  // Where a node's problem goes: the response's node, its prevNode, or the parent's children.
  enum class Role { kRoot, kPrev, kChild };
  // One member of a node: the last occurrence's problem, if any.
  enum Field { kKey, kValue, kDir, kTtl, kModified, kCreated, kFieldCount };
  struct OpenNode {
    Node node;  // `nodes` stays empty: children go to *out
    Role role = Role::kRoot;
    int depth = 0;
    std::vector<Node>* out = nullptr;  // where this node's leaves go
    size_t start = 0;                  // out->size() when the node began
    std::array<const char*, kFieldCount> error{};
    bool ttl = false;                        // a non-null "ttl"
    bool expiration = false;                 // a non-null "expiration"
    std::optional<std::string> nodes_error;  // of its last "nodes": its first bad child
  };

  bool FollowsKeys() const { return skip_ == 0; }

  bool Value(Kind kind) {
    if (skip_ > 0) {
      if (kind == Kind::kObject || kind == Kind::kArray) ++skip_;
      return true;
    }
    if (frames_.empty()) {
      if (kind != Kind::kObject) return false;  // object_ stays false
      object_ = true;
      frames_.push_back(Frame::kBody);
      return true;
    }
    bool opened = false;  // a container this reader follows into
    switch (frames_.back()) {
      case Frame::kBody:
        opened = BodyMember(kind);
        break;
      case Frame::kNode:
        opened = NodeMember(nodes_.back(), kind);
        break;
      case Frame::kNodes:
        opened = Child(nodes_.back(), kind);
        break;
    }
    if (!opened && (kind == Kind::kObject || kind == Kind::kArray)) skip_ = 1;
    return true;
  }

  bool BodyMember(Kind kind) {
    if (key_ == "errorCode") {
      error_code_ = true;
    } else if (key_ == "action") {
      action_error_ = nullptr;
      listing_.action.clear();
      if (kind == Kind::kString) {
        listing_.action = std::move(*string_);
      } else if (kind != Kind::kNull) {
        action_error_ = "action is not a string";
      }
    } else if (key_ == "node") {
      listing_.leaves.clear();
      node_error_.reset();
      node_is_object_ = kind == Kind::kObject;
      if (node_is_object_) return OpenNodeObject(Role::kRoot, 0, &listing_.leaves);
    } else if (key_ == "prevNode") {
      prev_leaves_.clear();
      prev_error_.reset();
      if (kind == Kind::kObject) return OpenNodeObject(Role::kPrev, 0, &prev_leaves_);
      if (kind != Kind::kNull) prev_error_ = "node is not an object";
    }
    return false;
  }

  bool OpenNodeObject(Role role, int depth, std::vector<Node>* out) {
    OpenNode n;
    n.role = role;
    n.depth = depth;
    n.out = out;
    n.start = out->size();
    nodes_.push_back(std::move(n));
    frames_.push_back(Frame::kNode);
    return true;
  }

  bool NodeMember(OpenNode& n, Kind kind) {
    if (key_ == "key" || key_ == "value") {
      const bool is_key = key_ == "key";
      String(kind, is_key ? "key is not a string" : "value is not a string",
             is_key ? n.node.key : n.node.value, n.error[is_key ? kKey : kValue]);
    } else if (key_ == "dir") {
      n.error[kDir] = nullptr;
      n.node.dir = kind == Kind::kBool && bool_;
      if (kind != Kind::kNull && kind != Kind::kBool) n.error[kDir] = "dir is not a boolean";
    } else if (key_ == "ttl") {
      n.ttl = kind != Kind::kNull;
      Int(kind, "ttl is not an integer", "ttl out of range", n.node.ttl, n.error[kTtl]);
    } else if (key_ == "expiration") {
      n.expiration = kind != Kind::kNull;
    } else if (key_ == "modifiedIndex") {
      Int(kind, "modifiedIndex is not an integer", "modifiedIndex out of range",
          n.node.modified_index, n.error[kModified]);
    } else if (key_ == "createdIndex") {
      Int(kind, "createdIndex is not an integer", "createdIndex out of range", n.node.created_index,
          n.error[kCreated]);
    } else if (key_ == "nodes") {
      // Only the last "nodes" counts: what an earlier one found is dropped.
      n.out->resize(n.start);
      n.nodes_error.reset();
      if (kind == Kind::kArray) {
        frames_.push_back(Frame::kNodes);
        return true;
      }
      if (kind != Kind::kNull) n.nodes_error = "nodes is not an array";
    }
    return false;
  }

  bool Child(OpenNode& parent, Kind kind) {
    if (parent.nodes_error) return false;  // the first bad child is the one reported
    const int depth = parent.depth + 1;
    if (depth > kMaxDepth) {
      parent.nodes_error = "directories nest deeper than " + std::to_string(kMaxDepth);
      return false;
    }
    if (kind != Kind::kObject) {
      parent.nodes_error = "node is not an object";
      return false;
    }
    return OpenNodeObject(Role::kChild, depth, parent.out);
  }

  bool End() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    const Frame frame = frames_.back();
    frames_.pop_back();
    if (frame != Frame::kNode) return true;
    OpenNode n = std::move(nodes_.back());
    nodes_.pop_back();
    std::optional<std::string> error;
    for (const char* e : n.error) {
      if (e != nullptr) {
        error = e;
        break;
      }
    }
    if (!error) error = std::move(n.nodes_error);
    if (!error && !n.node.dir) {
      // A key: whatever an erroneous "nodes" under it held is not a leaf.
      n.node.has_ttl = n.ttl || n.expiration;
      n.out->resize(n.start);
      n.out->push_back(std::move(n.node));
    }
    if (error) {
      switch (n.role) {
        case Role::kRoot:
          node_error_ = std::move(error);
          break;
        case Role::kPrev:
          prev_error_ = std::move(error);
          break;
        case Role::kChild:
          nodes_.back().nodes_error = std::move(error);
          break;
      }
    }
    if (n.role == Role::kPrev) prev_leaves_.clear();
    return true;
  }

  // As StringField: null is empty.
  void String(Kind kind, const char* bad, std::string& out, const char*& error) {
    error = nullptr;
    out.clear();
    if (kind == Kind::kString) {
      out = std::move(*string_);
    } else if (kind != Kind::kNull) {
      error = bad;
    }
  }

  // As IntField: null is 0.
  void Int(Kind kind, const char* bad, const char* range, int64_t& out, const char*& error) {
    error = nullptr;
    out = 0;
    if (kind == Kind::kInt) {
      out = int_;
    } else if (kind == Kind::kUint) {
      if (uint_ > static_cast<uint64_t>(INT64_MAX)) {
        error = range;
      } else {
        out = static_cast<int64_t>(uint_);
      }
    } else if (kind != Kind::kNull) {
      error = bad;
    }
  }

  bool error_code_ = false;
  const char* action_error_ = nullptr;
  bool node_is_object_ = false;
  std::optional<std::string> node_error_;
  std::optional<std::string> prev_error_;
  Listing listing_;
  std::vector<Node> prev_leaves_;  // a prevNode is only checked
  std::vector<Frame> frames_;
  std::vector<OpenNode> nodes_;
  size_t skip_ = 0;  // depth inside a value no one looks at
};

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

Result<Listing> ParseListing(std::string_view body) {
  ListingReader reader;
  // Errors are reported through the reader (parse_error), never thrown.
  (void)json::sax_parse(body.begin(), body.end(), &reader, json::input_format_t::json,
                        /*strict=*/true);
  return std::move(reader).Take();
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
