// CNI errors as values: the spec's well-known error codes, and a Result that carries one.
//
// tartan::Result's Error has tartan's codes; a CNI plugin answers with the spec's numbers
// (1 incompatible version ... 11 try again later, 999 internal), which the runtime acts on
// (11 = retry, 3 = nothing to clean up), so this layer keeps the CNI code from the place the
// failure is found to the JSON printed on stdout.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "common/result.hpp"

namespace tartan::cni {

// The spec's well-known codes (SPEC.md, "Error"). 100+ is plugin specific; none is used.
enum class ErrorCode : uint32_t {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodingFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  kInternal = 999,
};

struct CniError {
  uint32_t code = static_cast<uint32_t>(ErrorCode::kInternal);
  std::string msg;
  std::string details;

  static CniError Make(ErrorCode c, std::string m, std::string d = {}) {
    return {static_cast<uint32_t>(c), std::move(m), std::move(d)};
  }
  // Keeps the code (a delegate's own included), prefixes the message.
  [[nodiscard]] CniError Context(const std::string& what) const {
    return {code, what + ": " + msg, details};
  }
  bool operator==(const CniError&) const = default;
};

// A tartan::Error from the shared modules (subnet.env reading, file I/O) in CNI terms.
CniError FromError(const Error& e);

template <typename T>
using CniResult = BasicResult<T, CniError>;
using CniStatus = BasicStatus<CniError>;

// strerror without the shared buffer (strerror_r).
std::string ErrnoText(int err);

// The error object the spec prints on stdout: {"cniVersion","code","msg"[,"details"]}.
std::string ErrorJson(const CniError& e, const std::string& cni_version);

}  // namespace tartan::cni
