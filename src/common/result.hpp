// Errors as values at module boundaries.
//
// std::expected would do, but the fuzz targets are built with clang 14, whose libstdc++ 12
// headers hide <expected>; this small type works with both compilers and keeps one
// vocabulary everywhere (see docs/adr/0003-errors-as-values.md).
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tartan {

// What went wrong, in words an operator can act on. `code` lets callers branch without
// parsing the message.
struct Error {
  enum class Code {
    kInvalidArgument,  // input that does not parse or breaks a rule
    kNotFound,
    kAlreadyExists,
    kUnavailable,  // a peer (etcd, the kernel) did not answer; worth a retry
    // The caller's own deadline passed while waiting, with nothing seen to fail (a long-poll
    // that got no event); told apart from kUnavailable so that a broken connection noticed
    // late (after a SIGSTOP, a paused VM) is not taken for a quiet one.
    kDeadlineExceeded,
    kPermissionDenied,
    kFailedPrecondition,
    kExhausted,  // e.g. out of subnets
    kCancelled,
    kInternal,
  };

  Code code = Code::kInternal;
  std::string message;

  static Error InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Error NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Error AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Error Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Error DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Error PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Error FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Error Exhausted(std::string m) { return {Code::kExhausted, std::move(m)}; }
  static Error Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Error Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  // Prefixes context: Error::NotFound("x").Context("reading config") -> "reading config: x".
  [[nodiscard]] Error Context(const std::string& what) const {
    return {code, what + ": " + message};
  }

  bool operator==(const Error&) const = default;
};

// Either a T or an E (an Error, or another layer's error such as cni::CniError). Accessing the
// wrong alternative is a programming error (asserts).
template <typename T, typename E>
class [[nodiscard]] BasicResult {
 public:
  BasicResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  BasicResult(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, E> v_;
};

template <typename T>
using Result = BasicResult<T, Error>;

// A Result that carries no value.
template <typename E>
class [[nodiscard]] BasicStatus {
 public:
  BasicStatus() = default;
  BasicStatus(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  static BasicStatus Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  E error_;
  bool ok_ = true;
};

using Status = BasicStatus<Error>;

}  // namespace tartan
