// Reading and writing networking sysctls (/proc/sys/net/...).
//
// /proc/sys/net shows the network namespace of the thread that opens the file, so these act on
// the caller's namespace. Only keys under net. are accepted: tartan has no business elsewhere.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tartan::kernel {

class Sysctl {
 public:
  // `root` is the directory standing for /proc/sys; tests point it at a temporary tree.
  explicit Sysctl(std::string root = "/proc/sys") : root_(std::move(root)) {}

  // `key` in dotted ("net.ipv4.ip_forward") or slashed ("net/ipv4/ip_forward") form; the
  // interface part of a dotted key may not contain dots ("net.ipv4.conf.flannel.1.rp_filter"
  // is ambiguous), use the slashed form for those. The value comes back without the newline.
  Result<std::string> Read(std::string_view key) const;
  Status Write(std::string_view key, std::string_view value) const;

  // The file path for `key`, or InvalidArgument when it is not under net/ or tries to escape.
  Result<std::string> PathOf(std::string_view key) const;

 private:
  std::string root_;
};

}  // namespace tartan::kernel
