#include "kernel/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

namespace tartan::kernel {
namespace {

Error SysError(std::string_view what) {
  int err = errno;
  std::string msg = std::string(what) + ": " + std::strerror(err);
  if (err == ENOENT) return Error::NotFound(std::move(msg));
  if (err == EACCES || err == EPERM || err == EROFS) return Error::PermissionDenied(std::move(msg));
  if (err == EINVAL) return Error::InvalidArgument(std::move(msg));
  return Error::Internal(std::move(msg));
}

}  // namespace

Result<std::string> Sysctl::PathOf(std::string_view key) const {
  std::string rel(key);
  if (rel.find('/') == std::string::npos) {
    for (char& c : rel) {
      if (c == '.') c = '/';
    }
  }
  auto bad = [&](const char* why) {
    return Error::InvalidArgument("sysctl \"" + std::string(key) + "\": " + why);
  };
  if (rel.rfind("net/", 0) != 0) return bad("only keys under net. are allowed");
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string_view part(rel.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return bad("malformed key");
    start = end + 1;
  }
  return root_ + "/" + rel;
}

Result<std::string> Sysctl::Read(std::string_view key) const {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  std::string what = "reading " + *path;
  UniqueFd fd(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return SysError(what);
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError(what);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Status Sysctl::Write(std::string_view key, std::string_view value) const {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  std::string what = "writing \"" + std::string(value) + "\" to " + *path;
  // No O_CREAT: a sysctl that does not exist is an error, not a new file.
  UniqueFd fd(::open(path->c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
  if (!fd.valid()) return SysError(what);
  std::string line(value);
  line += '\n';
  // procfs takes a sysctl in one write; a short write would leave a partial value.
  ssize_t n;
  do {
    n = ::write(fd.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return SysError(what);
  if (static_cast<size_t>(n) != line.size()) return Error::Internal(what + ": short write");
  return Status::Ok();
}

}  // namespace tartan::kernel
