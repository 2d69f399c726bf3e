#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/unique_fd.hpp"

namespace tartan::sd {
namespace {

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);  // GNU: returns the text; thread-safe
}

}  // namespace

Status NotifyTo(std::string_view socket, std::string_view state) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Only absolute paths and abstract names: a relative path would depend on our cwd, and
  // systemd never hands one out.
  if (socket.size() < 2 || (socket[0] != '/' && socket[0] != '@')) {
    return Error::InvalidArgument("NOTIFY_SOCKET \"" + std::string(socket) +
                                  "\": not an absolute path or @abstract name");
  }
  if (socket.size() > sizeof(addr.sun_path) - 1) {
    return Error::InvalidArgument("NOTIFY_SOCKET \"" + std::string(socket) + "\": too long");
  }
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());
  if (socket[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL, no terminator
  } else {
    ++len;  // a path is NUL-terminated
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::Unavailable(std::string("notify socket: ") + ErrnoText(errno));
  // MSG_NOSIGNAL: a vanished listener must not raise SIGPIPE (ignored anyway in tartand).
  ssize_t n = 0;
  do {
    n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return Error::Unavailable("sending \"" + std::string(state) + "\" to NOTIFY_SOCKET " +
                              std::string(socket) + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

Status Notify(std::string_view state) {
  const char* socket = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): read-only
  if (socket == nullptr || *socket == '\0') return Status::Ok();
  return NotifyTo(socket, state);
}

}  // namespace tartan::sd
