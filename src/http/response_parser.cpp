#include "http/response_parser.hpp"

#include <algorithm>
#include <charconv>

namespace tartan::http {

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Whether a comma-separated header value lists `token` (case-insensitively).
bool ListsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

Error Bad(const std::string& what) {
  return Error::InvalidArgument("malformed HTTP response: " + what);
}

}  // namespace

std::optional<std::string_view> ResponseHead::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

Status ResponseParser::ParseHead(std::string_view text) {
  head_ = ResponseHead{};
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    if (first) {
      first = false;
      // "HTTP/1.1 200 OK"
      if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
        return Bad("status line \"" + std::string(line.substr(0, 64)) + "\"");
      }
      int status = 0;
      auto [end, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
      if (ec != std::errc() || end != line.data() + 12 || status < 100 || status > 599 ||
          (line.size() > 12 && line[12] != ' ')) {
        return Bad("status code in \"" + std::string(line.substr(0, 64)) + "\"");
      }
      head_.status = status;
      head_.reason = std::string(line.size() > 13 ? line.substr(13) : std::string_view());
      keep_alive_ = line[7] == '1';  // HTTP/1.0 closes unless it says otherwise
      continue;
    }
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') return Bad("folded header line");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Bad("header line \"" + std::string(line.substr(0, 64)) + "\"");
    }
    std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return Bad("space in a header name");
    head_.headers.emplace_back(std::string(name), std::string(Trim(line.substr(colon + 1))));
  }
  if (first) return Bad("empty head");
  return Status::Ok();
}

Status ResponseParser::StartBody() {
  if (auto conn = head_.Header("Connection")) {
    if (ListsToken(*conn, "close")) keep_alive_ = false;
    if (ListsToken(*conn, "keep-alive")) keep_alive_ = true;
  }
  const int s = head_.status;
  if (no_body_ || s == 204 || s == 304) {
    state_ = State::kDone;
    return Status::Ok();
  }
  if (auto te = head_.Header("Transfer-Encoding")) {
    // Chunked must be the last coding; anything else is delimited by the connection's end.
    std::string_view v = Trim(*te);
    const size_t comma = v.rfind(',');
    if (IEquals(Trim(comma == std::string_view::npos ? v : v.substr(comma + 1)), "chunked")) {
      state_ = State::kChunkSize;
    } else {
      keep_alive_ = false;
      state_ = State::kUntilEof;
    }
    return Status::Ok();
  }
  std::optional<uint64_t> length;
  for (const auto& [k, v] : head_.headers) {
    if (!IEquals(k, "Content-Length")) continue;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
      return Bad("Content-Length \"" + v.substr(0, 32) + "\"");
    }
    if (length && *length != n) return Bad("conflicting Content-Length headers");
    length = n;
  }
  if (length) {
    if (*length > limits_.max_body) {
      return Error::InvalidArgument("HTTP response body of " + std::to_string(*length) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(limits_.max_body));
    }
    remaining_ = *length;
    state_ = remaining_ == 0 ? State::kDone : State::kLength;
    return Status::Ok();
  }
  keep_alive_ = false;
  state_ = State::kUntilEof;
  return Status::Ok();
}

std::optional<std::string> ResponseParser::TakeLine(std::string_view data, size_t& used) {
  const size_t eol = data.find('\n');
  if (eol == std::string_view::npos) {
    buf_.append(data);
    used = data.size();
    return std::nullopt;
  }
  buf_.append(data.substr(0, eol));
  used = eol + 1;
  std::string line = std::move(buf_);
  buf_.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<size_t> ResponseParser::Feed(std::string_view data, std::string& body) {
  size_t pos = 0;
  if (!data.empty()) started_ = true;
  auto add_body = [&](std::string_view bytes) -> Status {
    body_bytes_ += bytes.size();
    if (body_bytes_ > limits_.max_body) {
      return Error::InvalidArgument("HTTP response body exceeds the limit of " +
                                    std::to_string(limits_.max_body) + " bytes");
    }
    body.append(bytes);
    return Status::Ok();
  };
  while (pos < data.size() && state_ != State::kDone) {
    std::string_view rest = data.substr(pos);
    switch (state_) {
      case State::kHead: {
        // The head ends at the first empty line; look across the previous piece's tail.
        const size_t old = buf_.size();
        buf_.append(rest);
        size_t end = std::string::npos, skip = 0;
        const size_t from = old >= 3 ? old - 3 : 0;
        for (size_t i = from; i < buf_.size(); ++i) {
          if (buf_[i] != '\n') continue;
          if (i + 1 < buf_.size() && buf_[i + 1] == '\n') {
            end = i + 1, skip = 1;
            break;
          }
          if (i + 2 < buf_.size() && buf_[i + 1] == '\r' && buf_[i + 2] == '\n') {
            end = i + 1, skip = 2;
            break;
          }
        }
        if (end == std::string::npos) {
          if (buf_.size() > limits_.max_head) return Bad("head longer than the limit");
          pos = data.size();
          break;
        }
        if (end > limits_.max_head) return Bad("head longer than the limit");
        const size_t consumed_here = end + skip - old;
        std::string text = buf_.substr(0, end);
        buf_.clear();
        pos += consumed_here;
        if (auto s = ParseHead(text); !s) return s.error();
        if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
          continue;  // an interim response: the real one follows
        }
        if (head_.status == 101) return Bad("unexpected protocol switch");
        state_ = State::kUntilEof;  // placeholder, StartBody decides
        if (auto s = StartBody(); !s) return s.error();
        break;
      }
      case State::kLength:
      case State::kChunkData: {
        // `remaining_` more body bytes of the whole body or of this chunk.
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        if (auto s = add_body(rest.substr(0, n)); !s) return s.error();
        remaining_ -= n;
        pos += n;
        if (remaining_ == 0) {
          state_ = state_ == State::kLength ? State::kDone : State::kChunkDataEnd;
        }
        break;
      }
      case State::kUntilEof: {
        if (auto s = add_body(rest); !s) return s.error();
        pos = data.size();
        break;
      }
      case State::kChunkSize: {
        size_t used = 0;
        auto line = TakeLine(rest, used);
        pos += used;
        if (!line) {
          if (buf_.size() > 1024) return Bad("chunk-size line too long");
          break;
        }
        std::string_view v = *line;
        if (const size_t semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
        v = Trim(v);
        uint64_t size = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), size, 16);
        if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
          return Bad("chunk size \"" + std::string(v.substr(0, 32)) + "\"");
        }
        if (size > limits_.max_body) return Bad("chunk larger than the body limit");
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kChunkDataEnd: {
        size_t used = 0;
        auto line = TakeLine(rest, used);
        pos += used;
        if (!line) {
          if (buf_.size() > 2) return Bad("no line end after chunk data");
          break;
        }
        if (!line->empty()) return Bad("no line end after chunk data");
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        size_t used = 0;
        auto line = TakeLine(rest, used);
        pos += used;
        if (!line) {
          if (buf_.size() > limits_.max_head) return Bad("trailer longer than the limit");
          break;
        }
        if (line->empty()) state_ = State::kDone;  // trailer fields themselves are ignored
        break;
      }
      case State::kDone:
        break;
    }
  }
  return pos;
}

Status ResponseParser::FeedEof(bool clean_close) {
  if (state_ == State::kUntilEof && clean_close) {
    state_ = State::kDone;
    keep_alive_ = false;
    return Status::Ok();
  }
  if (state_ == State::kUntilEof) {
    keep_alive_ = false;
    return Error::Unavailable(
        "connection closed during a body framed by the connection's end, without a TLS "
        "close_notify: the reply may be truncated");
  }
  if (state_ == State::kDone) return Status::Ok();
  keep_alive_ = false;
  return Error::Unavailable(state_ == State::kHead && !started_
                                ? "connection closed before a response"
                                : "connection closed mid-response");
}

}  // namespace tartan::http
